// lb/io/access_log.h — one access-log line (SPEC section 8) per HTTP request or
// TCP session, shared by both session types so the two cannot drift apart.
// Pure formatting: the caller appends to its worker's AccessLogBuffer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lb {

struct AccessRecord {
  std::string_view listener;
  std::string_view client;                 // address only, no port
  int client_port = -1;                    // < 0: null
  std::optional<std::string_view> method;  // null when no request head was read
  std::optional<std::string_view> path;
  int status = 0;
  uint64_t bytes_in = 0;   // from the client
  uint64_t bytes_out = 0;  // to the client
  double duration_ms = 0;
  std::optional<std::string_view> pool;    // null when no pool was chosen
  std::optional<std::string_view> server;  // null when no server was tried
  uint32_t attempts = 0;
  double upstream_ms = -1;  // < 0: null (no response / no connection)
  std::optional<std::string_view> route;      // the matched route's name; null when the default pool served it
  std::optional<std::string_view> host;       // without port
  std::optional<std::string_view> query;      // raw query string, null when none
  std::optional<std::string_view> protocol;   // "HTTP/1.0" | "HTTP/1.1" | "HTTP/2" | "TCP"
  std::optional<std::string_view> tls;        // "TLSv1.3", null without TLS
  std::optional<std::string_view> user_agent;
  std::optional<std::string_view> request_id;
  std::optional<std::string_view> trace_id;   // null until tracing exists
  bool aborted = false;                       // the response (or session) was cut short
};

// "HTTP/1.1" style protocol name of a request of version 1.minor.
std::string_view http1_protocol_name(uint8_t minor);

// Appends the record as one JSON object and a newline.
void append_access_record(std::string& out, const AccessRecord& r);

}  // namespace lb
