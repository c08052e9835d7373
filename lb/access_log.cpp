// lb/access_log.cpp — access-log line formatting.
#include "lb/access_log.h"

#include <cstdio>

#include "lb/log.h"

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

void append_access_record(std::string& out, const AccessRecord& r) {
  out += "{\"ts\":\"";
  out += rfc3339_now();
  out += "\",\"listener\":";
  append_json_string(out, r.listener);
  out += ",\"client\":";
  append_json_string(out, r.client);
  out += ",\"method\":";
  append_optional(out, r.method);
  out += ",\"path\":";
  append_optional(out, r.path);
  out += ",\"status\":" + std::to_string(r.status);
  out += ",\"bytes_in\":" + std::to_string(r.bytes_in);
  out += ",\"bytes_out\":" + std::to_string(r.bytes_out);
  out += ",\"duration_ms\":";
  append_ms(out, r.duration_ms);
  out += ",\"pool\":";
  append_optional(out, r.pool);
  out += ",\"server\":";
  append_optional(out, r.server);
  out += ",\"attempts\":" + std::to_string(r.attempts);
  out += ",\"upstream_ms\":";
  if (r.upstream_ms < 0) out += "null";
  else append_ms(out, r.upstream_ms);
  out += "}\n";
}

}  // namespace lb
