// lb/exchange/routing.cpp — route matching and hash-key extraction.
#include "lb/exchange/routing.h"

#include "algorithms/hash.h"
#include "lb/io/net_util.h"

namespace lb {

static std::string_view strip_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t end = host.find(']');
    return end == std::string_view::npos ? host : host.substr(0, end + 1);
  }
  size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool host_matches(std::string_view pattern, std::string_view host) {
  host = strip_port(host);
  if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && http::iequals(host.substr(host.size() - suffix.size()), suffix);
  }
  return http::iequals(pattern, host);
}

std::optional<uint32_t> route_request(const ListenerRuntime& listener, const http::RequestHead& head) {
  for (const auto& route : listener.routes) {
    const conf::Route& r = *route.config;
    if (r.host && !host_matches(*r.host, head.host)) continue;
    if (r.path_prefix && head.path.substr(0, r.path_prefix->size()) != *r.path_prefix) continue;
    bool headers_match = true;
    for (const auto& [name, value] : r.headers) {
      const http::Header* h = head.headers.find(name);
      if (!h || h->value != value) {
        headers_match = false;
        break;
      }
    }
    if (headers_match) return route.pool;
  }
  return listener.default_pool;
}

static std::optional<std::string_view> cookie_value(const http::Headers& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (!http::iequals(h.name, "cookie")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    }
  }
  return std::nullopt;
}

uint64_t request_hash(const conf::KeySpec& key, const http::RequestHead& head, const sockaddr* client) {
  using Kind = conf::KeySpec::Kind;
  switch (key.kind) {
    case Kind::client_ip: break;
    case Kind::header:
      if (const http::Header* h = head.headers.find(key.name)) return algo::hash_bytes(h->value);
      break;
    case Kind::cookie:
      if (auto v = cookie_value(head.headers, key.name)) return algo::hash_bytes(*v);
      break;
    case Kind::path: return algo::hash_bytes(head.path);
    case Kind::uri: return algo::hash_bytes(head.origin_target);
  }
  return hash_client_ip(client);
}

}  // namespace lb
