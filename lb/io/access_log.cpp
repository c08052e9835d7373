// lb/io/access_log.cpp — access-log line formatting.
#include "lb/io/access_log.h"

#include <cstdio>

#include "lb/io/log.h"

namespace lb {

namespace {
void append_optional(std::string& out, const std::optional<std::string_view>& v) {
  if (v) append_json_string(out, *v);
  else out += "null";
}
void append_ms(std::string& out, double ms) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.3f", ms);
  out += buf;
}
}  // namespace

std::string_view http1_protocol_name(uint8_t minor) { return minor == 0 ? "HTTP/1.0" : "HTTP/1.1"; }

void append_access_record(std::string& out, const AccessRecord& r) {
  // Field order is stable (log tooling may rely on it); absent values are null.
  auto key = [&out](const char* name) {
    out += ",\"";
    out += name;
    out += "\":";
  };
  auto text = [&](const char* name, const std::optional<std::string_view>& v) {
    key(name);
    append_optional(out, v);
  };
  auto number = [&](const char* name, uint64_t v) {
    key(name);
    out += std::to_string(v);
  };
  out += "{\"ts\":\"";
  out += rfc3339_now();
  out += "\"";
  text("listener", r.listener);
  text("client", r.client);
  key("client_port");
  out += r.client_port < 0 ? std::string("null") : std::to_string(r.client_port);
  text("protocol", r.protocol);
  text("tls", r.tls);
  text("method", r.method);
  text("host", r.host);
  text("path", r.path);
  text("query", r.query);
  text("route", r.route);
  number("status", static_cast<uint64_t>(r.status));
  number("bytes_in", r.bytes_in);
  number("bytes_out", r.bytes_out);
  key("duration_ms");
  append_ms(out, r.duration_ms);
  text("pool", r.pool);
  text("server", r.server);
  number("attempts", r.attempts);
  key("upstream_ms");
  if (r.upstream_ms < 0) out += "null";
  else append_ms(out, r.upstream_ms);
  key("aborted");
  out += r.aborted ? "true" : "false";
  text("user_agent", r.user_agent);
  text("request_id", r.request_id);
  text("trace_id", r.trace_id);
  out += "}\n";
}

}  // namespace lb
