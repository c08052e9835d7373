// algorithms/balancer.h — the balancer seam: one narrow interface for every
// selection algorithm of SPEC section 4.
//
// Algorithms are pure: no libuv, no sockets, no clock reads (time arrives in
// PickContext), no global random state, no pointer values in hashes. A
// Balancer instance is owned by exactly one worker thread and is never shared,
// so its mutable rotation state needs no synchronisation. Live server signals
// (availability, active count, latency) are read through MemberState at pick
// time; the expensive structures (ring, Maglev table) are built in rebuild().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace lb::algo {

enum class Kind {
  round_robin,
  weighted_round_robin,
  least_connections,
  least_response_time,
  ip_hash,
  consistent_hash,
  maglev,
  random_two_choices,
};

// A server as the algorithm sees it at rebuild time.
struct Member {
  std::string key;      // stable identity, hashed by ring/maglev: the address text "host:port"
  uint32_t weight = 1;  // 1..1000
};

// Decaying latency estimate kept per server by the caller (see latency.h).
struct LatencyEstimate {
  double ewma_ms = 0;        // 0 = no sample yet
  uint64_t updated_ns = 0;   // caller's monotonic clock at the last sample
};

// Live view of the members passed to the last rebuild(), by index.
class MemberState {
 public:
  virtual ~MemberState() = default;
  // False when down, draining, in maintenance, circuit-open, at
  // max_connections, or already tried for this request.
  virtual bool available(size_t index) const = 0;
  virtual uint32_t active(size_t index) const = 0;  // active connections/requests
  virtual uint32_t weight(size_t index) const = 0;  // current effective weight (runtime changes, slow start), >= 1
  virtual LatencyEstimate latency(size_t index) const = 0;
};

struct PickContext {
  uint64_t hash = 0;    // hash of the request's key (ip_hash, consistent_hash, maglev):
                        // hash_client_address() for the client IP, hash_bytes() of the
                        // header/cookie/path/uri value otherwise (see hash.h)
  uint64_t now_ns = 0;  // caller's monotonic clock
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Replaces the member set; called when servers are added/removed or hash weights change.
  virtual void rebuild(std::span<const Member> members) = 0;
  // Index of the chosen member, or nullopt when no member is available.
  virtual std::optional<size_t> pick(const PickContext& ctx, const MemberState& state) = 0;
};

struct Options {
  double hash_balance_factor = 0;  // consistent_hash bounded load; 0 = off
  uint64_t seed = 0x9e3779b97f4a7c15ULL;  // random_two_choices PRNG seed (deterministic)
};

std::unique_ptr<Balancer> make_balancer(Kind kind, const Options& options = {});

// Stable 64-bit hash of bytes (same value in every process and build).
uint64_t hash_bytes(std::string_view bytes);

}  // namespace lb::algo
