// lb/security/cidr_set.h — a set of IPv4 and IPv6 ranges (CIDR blocks),
// compiled once per configuration into sorted, merged, disjoint intervals
// per family, so a lookup is one binary search: 10,000 ranges cost a few
// more comparisons than 10 (SPEC 11 "access", "trusted_proxies").
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are looked up as IPv4.
//
// Threading: immutable after build; contains() is const and lock-free.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lb {

class CidrSet {
 public:
  // Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128).
  // Returns false with `error` set for anything else (bits past the prefix
  // length must be zero: "10.0.0.1/8" is refused as ambiguous).
  bool add(std::string_view cidr, std::string& error);
  // Sorts and merges what add() collected; call once, before contains().
  void build();

  bool contains(const sockaddr* addr) const;
  bool empty() const { return v4_.empty() && v6_.empty(); }
  size_t ranges() const { return v4_.size() + v6_.size(); }

 private:
  using V6 = std::array<uint8_t, 16>;  // big-endian, compares lexicographically
  struct Range4 {
    uint32_t lo, hi;
  };
  struct Range6 {
    V6 lo, hi;
  };
  bool contains4(uint32_t ip) const;
  bool contains6(const V6& ip) const;

  std::vector<Range4> v4_;
  std::vector<Range6> v6_;
};

// An "access" rule (SPEC 11): deny wins; a non-empty allow admits only its ranges.
struct AccessList {
  CidrSet allow, deny;
  bool admits(const sockaddr* addr) const {
    if (deny.contains(addr)) return false;
    return allow.empty() || allow.contains(addr);
  }
};

// Parses an IP literal (no port, no brackets) into a sockaddr; false if not one.
bool parse_ip(std::string_view text, sockaddr_storage& out);

}  // namespace lb
