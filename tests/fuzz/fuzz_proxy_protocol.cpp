// tests/fuzz/fuzz_proxy_protocol.cpp — libFuzzer target for the PROXY
// protocol v1/v2 parser (lb::proxy_protocol::parse). Invariants:
//  * done → 0 < consumed <= len; the same header alone parses the same;
//    every strict prefix of it is incomplete (a client sending the header in
//    pieces is never refused or mis-parsed), and extra bytes after it change
//    nothing;
//  * incomplete → every prefix is incomplete too (no verdict flips back);
//  * addresses are AF_INET or AF_INET6 pairs of one family, and re-encoding
//    them (encode_v1 / encode_v2) parses back to the same addresses.
#include "lb/l4/proxy_protocol.h"
#include "tests/fuzz/fuzz_util.h"

#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <string>

using lb::proxy_protocol::ParseResult;
using Status = ParseResult::Status;

namespace {


bool same_addr(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    auto &x = reinterpret_cast<const sockaddr_in&>(a), &y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  auto &x = reinterpret_cast<const sockaddr_in6&>(a), &y = reinterpret_cast<const sockaddr_in6&>(b);
  return x.sin6_port == y.sin6_port && std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
}

bool same(const ParseResult& a, const ParseResult& b) {
  if (a.status != b.status || a.consumed != b.consumed || a.has_addresses != b.has_addresses) return false;
  return !a.has_addresses || (same_addr(a.src, b.src) && same_addr(a.dst, b.dst));
}

void check_roundtrip(const ParseResult& r, const std::string& encoded) {
  ParseResult back = lb::proxy_protocol::parse(encoded.data(), encoded.size());
  FUZZ_CHECK(back.status == Status::done && back.consumed == encoded.size());
  FUZZ_CHECK(back.has_addresses);
  FUZZ_CHECK(same_addr(back.src, r.src) && same_addr(back.dst, r.dst));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* in = reinterpret_cast<const char*>(data);
  ParseResult r = lb::proxy_protocol::parse(in, size);
  if (r.status == Status::incomplete) {
    for (size_t n = 0; n < size; ++n) FUZZ_CHECK(lb::proxy_protocol::parse(in, n).status == Status::incomplete);
    return 0;
  }
  if (r.status == Status::invalid) return 0;

  FUZZ_CHECK(r.consumed > 0 && r.consumed <= size);
  // Exactly the header, and the header plus unrelated bytes, parse the same.
  std::string exact(in, r.consumed);
  FUZZ_CHECK(same(lb::proxy_protocol::parse(exact.data(), exact.size()), r));
  std::string longer = exact + "GET / HTTP/1.1\r\n";
  FUZZ_CHECK(same(lb::proxy_protocol::parse(longer.data(), longer.size()), r));
  for (size_t n = 0; n < r.consumed; ++n) FUZZ_CHECK(lb::proxy_protocol::parse(in, n).status == Status::incomplete);

  if (!r.has_addresses) return 0;
  FUZZ_CHECK(r.src.ss_family == r.dst.ss_family);
  FUZZ_CHECK(r.src.ss_family == AF_INET || r.src.ss_family == AF_INET6);
  const auto* src = reinterpret_cast<const sockaddr*>(&r.src);
  const auto* dst = reinterpret_cast<const sockaddr*>(&r.dst);
  check_roundtrip(r, lb::proxy_protocol::encode_v1(src, dst));
  check_roundtrip(r, lb::proxy_protocol::encode_v2(src, dst));
  return 0;
}
