// lb/upstream/sticky.cpp — sticky-session cookie values and lookups.
#include "lb/upstream/sticky.h"

#include <openssl/evp.h>

namespace lb {

std::string sticky_server_id(std::string_view pool, std::string_view address) {
  std::string input = "lb-sticky";
  input.push_back('\0');
  input.append(pool);
  input.push_back('\0');
  input.append(address);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 8; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

std::string sticky_set_cookie(const conf::StickyConfig& s, std::string_view server_id) {
  std::string out = s.cookie;
  out += '=';
  out += server_id;
  out += "; Path=/";
  // Rounded up: Max-Age=0 would tell the browser to delete the cookie.
  if (s.max_age) out += "; Max-Age=" + std::to_string((s.max_age->count() + 999) / 1000);
  if (s.secure) out += "; Secure";
  if (s.http_only) out += "; HttpOnly";
  switch (s.same_site) {
    case conf::StickyConfig::SameSite::strict: out += "; SameSite=Strict"; break;
    case conf::StickyConfig::SameSite::lax: out += "; SameSite=Lax"; break;
    case conf::StickyConfig::SameSite::none: out += "; SameSite=None"; break;
    case conf::StickyConfig::SameSite::unset: break;
  }
  return out;
}

std::optional<uint32_t> sticky_lookup(const PoolRuntime& pool, std::string_view value) {
  if (value.size() != 16) return std::nullopt;
  for (uint32_t i = 0; i < pool.servers.size(); ++i)
    if (pool.servers[i].sticky_id == value) return i;
  return std::nullopt;
}

}  // namespace lb
