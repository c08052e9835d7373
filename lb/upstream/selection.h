// lb/upstream/selection.h — choosing a server of a pool for one request or session.
//
// PoolSelector is ONE worker's handle on a pool's balancers (primaries and
// backups): the policies (tables, process-wide rotation counters) are shared
// through the Runtime, the small per-worker state (tie cursors, PRNG) is
// owned here, so picking takes no lock. Availability (operator state, health, circuit, max_connections, servers
// already tried by this request) is read from the shared live state at pick
// time; backups are consulted only when no primary is available, and
// `when_all_down: panic` then ignores health.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "algorithms/balancer.h"
#include "lb/core/runtime.h"

namespace lb {

// Servers one request has already tried. Holds the first kCapacity tries:
// past that (attempts > 7) a retry may revisit a server, which is still
// better than refusing to retry; kept small because it lives in every session.
class TriedSet {
 public:
  bool contains(uint32_t server) const {
    for (uint8_t i = 0; i < size_; ++i)
      if (items_[i] == server) return true;
    return false;
  }
  void add(uint32_t server) {
    if (size_ < kCapacity) items_[size_++] = server;
  }
  uint8_t size() const { return size_; }
  void clear() { size_ = 0; }

 private:
  static constexpr uint8_t kCapacity = 8;
  uint32_t items_[kCapacity];
  uint8_t size_ = 0;
};

struct Pick {
  uint32_t server = 0;  // index into pool.servers
  bool trial = false;   // a half-open circuit's trial request: pass to report_outcome
};

class PoolSelector {
 public:
  // `seed` varies per worker so random_two_choices draws differ between workers.
  // `pool` must have its policies built (build_pool_policies).
  PoolSelector(const PoolRuntime& pool, uint64_t seed);

  // The chosen server, or nullopt when none is available (the caller answers
  // 503 / closes, and counts no_server_total). Servers whose circuit refuses
  // the request at the last moment are added to `tried`. The caller
  // increments `active` when it uses the server.
  // With `allow_trial` false, servers whose breaker is not closed are skipped:
  // an upgraded (WebSocket) exchange must not be a half-open circuit's trial.
  std::optional<Pick> pick(uint64_t hash, uint64_t now_ns, TriedSet& tried, bool allow_trial = true);

  // A sticky session's server (SPEC 10), if it may serve the request: not
  // in maintenance (draining servers keep their sessions), up, its circuit
  // not open, under max_connections and not tried yet. Else nullopt, and
  // the caller picks with the algorithm.
  std::optional<Pick> pick_sticky(uint32_t server, uint64_t now_ns, const TriedSet& tried, bool allow_trial = true);

  // Side-effect free: could pick() find a server outside `tried` right now?
  // (Decides whether a failed try is worth retrying; O(servers), failure path only.)
  bool has_candidate(uint64_t now_ns, const TriedSet& tried) const;
  // The same, counting servers at max_connections as available: true when
  // only the connection caps stand between the request and a server (the
  // condition for waiting in the pool's queue, SPEC 11).
  bool has_candidate_if_uncapped(uint64_t now_ns, const TriedSet& tried) const;

  // Whether the pool currently has any server that could be picked.
  const PoolRuntime& pool() const { return pool_; }

 private:
  std::optional<uint32_t> pick_server(uint64_t hash, uint64_t now_ns, const TriedSet& tried);
  // Closes the open circuit of a primary that is the pool's last one up; true if one was found.
  bool revive_last_primary(uint64_t now_ns);
  std::optional<uint32_t> pick_from(algo::Balancer& balancer, const std::vector<uint32_t>& servers,
                                    uint64_t hash, uint64_t now_ns, const TriedSet& tried, bool ignore_health);

  const PoolRuntime& pool_;
  algo::Balancer primary_;
  algo::Balancer backup_;
};

// Builds pool.primary_policy and pool.backup_policy from the member lists
// (main thread, once per Runtime).
void build_pool_policies(PoolRuntime& pool);

algo::Kind to_algo_kind(conf::Algorithm a);
// True for the algorithms that place a request by its hash (hash_key).
bool uses_request_hash(conf::Algorithm a);

}  // namespace lb
