// algorithms/hash.h — stable hashing shared by the hash-based balancers and by
// lb/ when it turns a request key into PickContext::hash.
//
// Every function here is pure and gives the same value in every process, build
// and CPU (bytes are read little-endian explicitly), so two lb processes with
// the same configuration map every key the same way. hash_bytes() itself is
// declared in balancer.h; this header adds the seeded form and helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "algorithms/balancer.h"

namespace lb::algo {

// XXH64 of `bytes` with `seed`. hash_bytes(b) == hash_bytes(b, 0).
uint64_t hash_bytes(std::string_view bytes, uint64_t seed);

// Strong 64-bit finalizer (splitmix64). Used to derive further deterministic
// probe positions from a hash, e.g. mix64(hash + attempt).
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// splitmix64 as a generator: each next() is mix64 of a Weyl sequence. The
// one PRNG of the project (balancer choices, backoff jitter, request ids):
// fast, no syscall, no lock; not for anything secret.
struct SplitMix64 {
  uint64_t state = 0;
  uint64_t next() {  // mix64 adds the increment: this is exactly splitmix64
    uint64_t z = state;
    state += 0x9e3779b97f4a7c15ULL;
    return mix64(z);
  }
};

// Hash of a client's network address for ip_hash (and for hash_key
// "client_ip"): the raw address bytes in network order, 4 for IPv4 and 16 for
// IPv6 (e.g. &sockaddr_in::sin_addr, &sockaddr_in6::sin6_addr). The port is
// not part of it. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as seen on
// dual-stack sockets) hashes like the plain IPv4 address, so a client keeps
// its server whichever way it arrived.
uint64_t hash_client_address(const void* addr_bytes, size_t len);

}  // namespace lb::algo
