// lb/security/cidr_set.cpp — parsing, merging and looking up CIDR ranges.
#include "lb/security/cidr_set.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace lb {

namespace {

bool is_v4_mapped(const uint8_t* b) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(b, kPrefix, 12) == 0;
}

uint32_t load_be32(const uint8_t* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

}  // namespace

bool parse_ip(std::string_view text, sockaddr_storage& out) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  std::memset(&out, 0, sizeof out);
  auto* in4 = reinterpret_cast<sockaddr_in*>(&out);
  if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    return true;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    return true;
  }
  return false;
}

bool CidrSet::add(std::string_view cidr, std::string& error) {
  std::string_view ip = cidr;
  int bits = -1;
  if (size_t slash = cidr.find('/'); slash != std::string_view::npos) {
    ip = cidr.substr(0, slash);
    std::string_view len = cidr.substr(slash + 1);
    auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
    if (ec != std::errc() || end != len.data() + len.size() || len.empty()) {
      error = "invalid prefix length in \"" + std::string(cidr) + "\"";
      return false;
    }
  }
  sockaddr_storage ss;
  if (!parse_ip(ip, ss)) {
    error = "invalid IP address in \"" + std::string(cidr) + "\" (expected e.g. \"10.0.0.0/8\" or \"2001:db8::/32\")";
    return false;
  }
  if (ss.ss_family == AF_INET) {
    if (bits < 0) bits = 32;
    if (bits > 32) {
      error = "prefix length of \"" + std::string(cidr) + "\" must be 0..32";
      return false;
    }
    uint32_t addr = ntohl(reinterpret_cast<sockaddr_in*>(&ss)->sin_addr.s_addr);
    uint32_t host_mask = bits == 0 ? 0xffffffffu : (bits == 32 ? 0u : (0xffffffffu >> bits));
    if (addr & host_mask) {
      error = "\"" + std::string(cidr) + "\" has bits set past its prefix length";
      return false;
    }
    v4_.push_back({addr, addr | host_mask});
    return true;
  }
  if (bits < 0) bits = 128;
  if (bits > 128) {
    error = "prefix length of \"" + std::string(cidr) + "\" must be 0..128";
    return false;
  }
  V6 lo;
  std::memcpy(lo.data(), &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, 16);
  V6 hi = lo;
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(bits - i * 8, 0, 8);  // prefix bits in this byte
    uint8_t host = static_cast<uint8_t>(keep == 8 ? 0 : (0xff >> keep));
    if (lo[i] & host) {
      error = "\"" + std::string(cidr) + "\" has bits set past its prefix length";
      return false;
    }
    hi[i] = static_cast<uint8_t>(lo[i] | host);
  }
  // An IPv4-mapped range is an IPv4 range.
  if (bits >= 96 && is_v4_mapped(lo.data())) {
    v4_.push_back({load_be32(lo.data() + 12), load_be32(hi.data() + 12)});
    return true;
  }
  v6_.push_back({lo, hi});
  return true;
}

void CidrSet::build() {
  auto merge = [](auto& v, auto next_of) {
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.lo < b.lo; });
    size_t out = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      // Adjacent or overlapping ranges merge (hi + 1 == next lo counts as adjacent).
      if (out > 0 && (v[i].lo <= v[out - 1].hi || next_of(v[out - 1].hi) == v[i].lo)) {
        v[out - 1].hi = std::max(v[out - 1].hi, v[i].hi);
      } else {
        v[out++] = v[i];
      }
    }
    v.resize(out);
  };
  merge(v4_, [](uint32_t x) { return x == 0xffffffffu ? x : x + 1; });
  merge(v6_, [](V6 x) {
    for (int i = 15; i >= 0; --i)
      if (++x[i] != 0) break;
    return x;
  });
}

bool CidrSet::contains4(uint32_t ip) const {
  // The last range starting at or before ip.
  auto it = std::upper_bound(v4_.begin(), v4_.end(), ip, [](uint32_t x, const Range4& r) { return x < r.lo; });
  return it != v4_.begin() && ip <= std::prev(it)->hi;
}

bool CidrSet::contains6(const V6& ip) const {
  auto it = std::upper_bound(v6_.begin(), v6_.end(), ip, [](const V6& x, const Range6& r) { return x < r.lo; });
  return it != v6_.begin() && ip <= std::prev(it)->hi;
}

bool CidrSet::contains(const sockaddr* addr) const {
  if (addr->sa_family == AF_INET) {
    if (v4_.empty()) return false;
    return contains4(ntohl(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr));
  }
  if (addr->sa_family == AF_INET6) {
    const auto* b = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr);
    if (is_v4_mapped(b)) return !v4_.empty() && contains4(load_be32(b + 12));
    if (v6_.empty()) return false;
    V6 ip;
    std::memcpy(ip.data(), b, 16);
    return contains6(ip);
  }
  return false;
}

}  // namespace lb
