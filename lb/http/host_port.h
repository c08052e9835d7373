// lb/http/host_port.h — a Host header value split into host and port, the one
// place that knows its shapes: "name", "name:port", "[v6]", "[v6]:port". A
// bracketed host keeps its brackets; an unclosed bracket is all host. Routing
// (normalize_host), redirects (which keep or replace the port) and the access
// log all split with this, so they cannot disagree on what the host is.
#pragma once

#include <string_view>

namespace lb::http {

struct HostPort {
  std::string_view host;
  std::string_view port;  // empty when none
};

inline HostPort split_host_port(std::string_view value) {
  if (!value.empty() && value.front() == '[') {
    size_t close = value.find(']');
    if (close == std::string_view::npos) return {value, {}};
    std::string_view rest = value.substr(close + 1);
    return {value.substr(0, close + 1), rest.starts_with(':') ? rest.substr(1) : std::string_view{}};
  }
  size_t colon = value.rfind(':');
  if (colon == std::string_view::npos) return {value, {}};
  return {value.substr(0, colon), value.substr(colon + 1)};
}

}  // namespace lb::http
