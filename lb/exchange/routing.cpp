// lb/exchange/routing.cpp — hash-key extraction.
#include "lb/exchange/routing.h"

#include "algorithms/hash.h"
#include "lb/io/net_util.h"

namespace lb {

std::optional<std::string_view> cookie_value(const http::Headers& headers, std::string_view name) {
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
    case Kind::jwt_claim: break;  // a rate-limit key only: conf/ refuses it as a hash_key
  }
  return hash_client_ip(client);
}

}  // namespace lb
