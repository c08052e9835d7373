// algorithms/balancer.h — the balancer seam: one narrow interface for every
// selection algorithm of SPEC section 4.
//
// Algorithms are pure: no libuv, no sockets, no clock reads (time arrives in
// PickContext), no global random state, no pointer values in hashes. Each
// algorithm is split in two (SPEC section 4, second edition):
//  - a Policy, built once per member list (per configuration) and shared
//    read-only by every worker: member count, weights, the ketama ring, the
//    Maglev table, the smooth-WRR schedule; round_robin and
//    weighted_round_robin also keep their process-wide rotation counter there
//    (one relaxed atomic), so consecutive picks from any mix of workers rotate;
//  - a LocalState per worker for what may stay per worker (least_* tie
//    cursors, the random_two_choices PRNG, the bounded-load walk's scratch),
//    so those picks take no shared write at all.
// Balancer bundles the two for one caller. Live server signals (availability,
// active count, latency) are read through MemberState at pick time.
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

// A server as the algorithm sees it when the policy is built.
struct Member {
  std::string key;      // stable identity, hashed by ring/maglev: the address text "host:port"
  uint32_t weight = 1;  // 1..1000
};

// Decaying latency estimate kept per server by the caller (see latency.h).
struct LatencyEstimate {
  double ewma_ms = 0;        // 0 = no sample yet
  uint64_t updated_ns = 0;   // caller's monotonic clock at the last sample
};

// Live view of the members the policy was built over, by index.
class MemberState {
 public:
  virtual ~MemberState() = default;
  // False when down, draining, in maintenance, circuit-open, at
  // max_connections, or already tried for this request.
  virtual bool available(size_t index) const = 0;
  virtual uint32_t active(size_t index) const = 0;  // active connections/requests
  virtual uint32_t weight(size_t index) const = 0;  // current effective weight (runtime changes, slow start), >= 1
  // The weight before slow start (configured or set at runtime), >= weight().
  // weighted_round_robin lays out its schedule by it and thins slow-starting
  // members' turns down to weight().
  virtual uint32_t base_weight(size_t index) const { return weight(index); }
  virtual LatencyEstimate latency(size_t index) const = 0;
};

struct PickContext {
  uint64_t hash = 0;    // hash of the request's key (ip_hash, consistent_hash, maglev):
                        // hash_client_address() for the client IP, hash_bytes() of the
                        // header/cookie/path/uri value otherwise (see hash.h)
  uint64_t now_ns = 0;  // caller's monotonic clock
};

// Per-worker mutable part of a policy (tie-rotation cursor, PRNG state,
// scratch space): owned by one thread, made by Policy::make_local().
class LocalState {
 public:
  virtual ~LocalState() = default;
};

struct Options {
  double hash_balance_factor = 0;  // consistent_hash bounded load; 0 = off
  uint64_t seed = 0x9e3779b97f4a7c15ULL;  // random_two_choices PRNG seed (deterministic)
};

// The shared part of an algorithm over one member list: built once (per
// configuration, by make_policy) and then read by any number of threads at
// once. Whatever must change per pick lives either in the LocalState of the
// calling worker or, for the process-wide rotations (round_robin,
// weighted_round_robin), in a relaxed atomic counter inside the policy.
class Policy {
 public:
  virtual ~Policy() = default;
  // Fresh per-worker state for this policy; null when the algorithm needs none.
  virtual std::unique_ptr<LocalState> make_local(uint64_t /*seed*/) const { return nullptr; }
  // Index of the chosen member, or nullopt when no member is available.
  // Thread-safe: each concurrent caller passes its own `local` (from make_local).
  virtual std::optional<size_t> pick(const PickContext& ctx, const MemberState& state,
                                     LocalState* local) const = 0;
};

// Builds the shared policy of `kind` over `members` (rings and Maglev tables
// are built here, once).
std::shared_ptr<const Policy> make_policy(Kind kind, std::span<const Member> members,
                                          const Options& options = {});

// One worker's handle on a policy: the shared policy plus this worker's
// LocalState. Not thread-safe itself; make one per worker.
class Balancer {
 public:
  // `policy` null = built here over no members. options.seed seeds the local state.
  Balancer(Kind kind, const Options& options, std::shared_ptr<const Policy> policy = nullptr);
  // Replaces the member set with a privately built policy (and fresh local state).
  void rebuild(std::span<const Member> members);
  std::optional<size_t> pick(const PickContext& ctx, const MemberState& state) {
    return policy_->pick(ctx, state, local_.get());
  }
  const std::shared_ptr<const Policy>& policy() const { return policy_; }

 private:
  Kind kind_;
  Options options_;
  std::shared_ptr<const Policy> policy_;
  std::unique_ptr<LocalState> local_;
};

// A balancer with its own policy (tests, single-threaded use); rebuild() it.
std::unique_ptr<Balancer> make_balancer(Kind kind, const Options& options = {});

// Stable 64-bit hash of bytes (same value in every process and build).
uint64_t hash_bytes(std::string_view bytes);

}  // namespace lb::algo
