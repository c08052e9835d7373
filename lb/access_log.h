// lb/access_log.h — one access-log line (SPEC section 8) per HTTP request or
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
  std::string_view client;
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
};

// Appends the record as one JSON object and a newline.
void append_access_record(std::string& out, const AccessRecord& r);

}  // namespace lb
