// lb/upstream/selection.cpp — PoolSelector: availability rules and primary/backup/panic fallback.
#include "lb/upstream/selection.h"

#include "lb/io/log.h"
#include "lb/upstream/server_health.h"

namespace lb {

algo::Kind to_algo_kind(conf::Algorithm a) {
  switch (a) {
    case conf::Algorithm::round_robin: return algo::Kind::round_robin;
    case conf::Algorithm::weighted_round_robin: return algo::Kind::weighted_round_robin;
    case conf::Algorithm::least_connections: return algo::Kind::least_connections;
    case conf::Algorithm::least_response_time: return algo::Kind::least_response_time;
    case conf::Algorithm::ip_hash: return algo::Kind::ip_hash;
    case conf::Algorithm::consistent_hash: return algo::Kind::consistent_hash;
    case conf::Algorithm::maglev: return algo::Kind::maglev;
    case conf::Algorithm::random_two_choices: return algo::Kind::random_two_choices;
  }
  return algo::Kind::round_robin;
}

bool uses_request_hash(conf::Algorithm a) {
  return a == conf::Algorithm::ip_hash || a == conf::Algorithm::consistent_hash || a == conf::Algorithm::maglev;
}

namespace {

// The balancer's view of one member list (primaries or backups) of a pool.
// kIgnoreCap: servers at max_connections count as available (does the pool
// have a server that could take the request once a slot frees? — the queue's
// question; a compile-time switch, so picking pays nothing for it).
template <bool kIgnoreCap = false>
class MemberView final : public algo::MemberState {
 public:
  MemberView(const PoolRuntime& pool, const std::vector<uint32_t>& servers, const TriedSet& tried,
             uint64_t now_ns, bool ignore_health)
      : pool_(pool), servers_(servers), tried_(tried), now_ns_(now_ns), ignore_health_(ignore_health) {}

  bool available(size_t index) const override {
    uint32_t s = servers_[index];
    if (tried_.contains(s)) return false;
    const ServerRuntime& server = pool_.servers[s];
    const ServerLive& live = *server.live;
    if (live.admin_state.load(std::memory_order_relaxed) != conf::ServerState::ready) return false;
    uint32_t max = server.config->max_connections;
    if (!kIgnoreCap && max != 0 && live.active.load(std::memory_order_relaxed) >= max) return false;
    if (ignore_health_) return true;
    return server_selectable(pool_, live, now_ns_);
  }
  uint32_t active(size_t index) const override {
    return pool_.servers[servers_[index]].live->active.load(std::memory_order_relaxed);
  }
  uint32_t weight(size_t index) const override {
    return effective_weight(pool_, *pool_.servers[servers_[index]].live, now_ns_);
  }
  uint32_t base_weight(size_t index) const override {
    const uint32_t w = pool_.servers[servers_[index]].live->weight.load(std::memory_order_relaxed);
    return w ? w : 1;
  }
  algo::LatencyEstimate latency(size_t index) const override {
    return pool_.servers[servers_[index]].live->latency();
  }

 private:
  const PoolRuntime& pool_;
  const std::vector<uint32_t>& servers_;
  const TriedSet& tried_;
  uint64_t now_ns_;
  bool ignore_health_;
};

algo::Options pool_options(const PoolRuntime& pool, uint64_t seed) {
  algo::Options options;
  options.seed ^= seed * 0x9e3779b97f4a7c15ULL;
  options.hash_balance_factor = pool.config->hash_balance_factor;
  return options;
}

}  // namespace

void build_pool_policies(PoolRuntime& pool) {
  const algo::Kind kind = to_algo_kind(pool.config->algorithm);
  const algo::Options options = pool_options(pool, 0);
  pool.primary_policy = algo::make_policy(kind, pool.primary_members, options);
  pool.backup_policy = algo::make_policy(kind, pool.backup_members, options);
}

PoolSelector::PoolSelector(const PoolRuntime& pool, uint64_t seed)
    : pool_(pool),
      primary_(to_algo_kind(pool.config->algorithm), pool_options(pool, seed), pool.primary_policy),
      backup_(to_algo_kind(pool.config->algorithm), pool_options(pool, seed), pool.backup_policy) {}

std::optional<uint32_t> PoolSelector::pick_from(algo::Balancer& balancer, const std::vector<uint32_t>& servers,
                                                uint64_t hash, uint64_t now_ns, const TriedSet& tried,
                                                bool ignore_health) {
  if (servers.empty()) return std::nullopt;
  MemberView<> view(pool_, servers, tried, now_ns, ignore_health);
  auto member = balancer.pick({hash, now_ns}, view);
  if (!member) return std::nullopt;
  return servers[*member];
}

std::optional<Pick> PoolSelector::pick(uint64_t hash, uint64_t now_ns, TriedSet& tried, bool allow_trial) {
  // A breaker may admit only one trial while half-open; when another worker
  // took it between would_allow() and allow(), pick again without that server.
  // Bounded: TriedSet keeps only its first few entries, so past them a refused
  // server could come back forever.
  for (size_t round = 0; round <= pool_.servers.size(); ++round) {
    auto s = pick_server(hash, now_ns, tried);
    if (!s) return std::nullopt;
    const ServerRuntime& server = pool_.servers[*s];
    if (!allow_trial && server.live->breaker.state() != health::CircuitState::closed) {
      tried.add(*s);
      continue;
    }
    auto permit = server.live->breaker.allow(now_ns, pool_.config->circuit_breaker);
    if (permit || pool_.live->panic.load(std::memory_order_relaxed)) return Pick{*s, permit.trial};
    tried.add(*s);
  }
  return std::nullopt;
}

std::optional<Pick> PoolSelector::pick_sticky(uint32_t s, uint64_t now_ns, const TriedSet& tried, bool allow_trial) {
  if (s >= pool_.servers.size() || tried.contains(s)) return std::nullopt;
  const ServerRuntime& server = pool_.servers[s];
  const ServerLive& live = *server.live;
  if (live.admin_state.load(std::memory_order_relaxed) == conf::ServerState::maint) return std::nullopt;
  const uint32_t max = server.config->max_connections;
  if (max != 0 && live.active.load(std::memory_order_relaxed) >= max) return std::nullopt;
  if (!server_selectable(pool_, live, now_ns)) return std::nullopt;
  if (!allow_trial && live.breaker.state() != health::CircuitState::closed) return std::nullopt;
  auto permit = server.live->breaker.allow(now_ns, pool_.config->circuit_breaker);
  if (!permit) return std::nullopt;
  return Pick{s, permit.trial};
}

namespace {
template <bool kIgnoreCap>
bool any_available(const PoolRuntime& pool, uint64_t now_ns, const TriedSet& tried) {
  const bool ignore_health = pool.config->when_all_down == conf::WhenAllDown::panic;
  for (const auto* servers : {&pool.primary_servers, &pool.backup_servers}) {
    MemberView<kIgnoreCap> view(pool, *servers, tried, now_ns, ignore_health);
    for (size_t i = 0; i < servers->size(); ++i)
      if (view.available(i)) return true;
  }
  return false;
}
}  // namespace

bool PoolSelector::has_candidate(uint64_t now_ns, const TriedSet& tried) const {
  return any_available<false>(pool_, now_ns, tried);
}

bool PoolSelector::has_candidate_if_uncapped(uint64_t now_ns, const TriedSet& tried) const {
  return any_available<true>(pool_, now_ns, tried);
}

// SPEC section 11, "never eject the last server": when every other primary
// went out (health check, admin state, circuit) after this one's circuit
// opened, close its circuit instead of answering 503 or going to backups.
bool PoolSelector::revive_last_primary(uint64_t now_ns) {
  for (uint32_t i : pool_.primary_servers) {
    const ServerRuntime& server = pool_.servers[i];
    ServerLive& live = *server.live;
    if (live.admin_state.load(std::memory_order_relaxed) != conf::ServerState::ready || !live.healthy() ||
        live.breaker.state() == health::CircuitState::closed)
      continue;
    if (other_primary_available(pool_, live, now_ns)) return false;
    if (live.breaker.close(pool_.live->ejection) == health::CircuitTransition::closed)
      log_info("circuit close", {{"pool", pool_.config->name}, {"server", server.config->address.text},
                                 {"reason", "last available primary server"}});
    return true;
  }
  return false;
}

std::optional<uint32_t> PoolSelector::pick_server(uint64_t hash, uint64_t now_ns, const TriedSet& tried) {
  auto s = pick_from(primary_, pool_.primary_servers, hash, now_ns, tried, false);
  if (!s && revive_last_primary(now_ns)) s = pick_from(primary_, pool_.primary_servers, hash, now_ns, tried, false);
  if (!s) s = pick_from(backup_, pool_.backup_servers, hash, now_ns, tried, false);
  if (s) {
    if (pool_.live->panic.load(std::memory_order_relaxed)) pool_.live->panic.store(false, std::memory_order_relaxed);
    return s;
  }
  if (pool_.config->when_all_down == conf::WhenAllDown::panic) {
    // Every server looks down: rather than fail, try them all (health may be wrong).
    s = pick_from(primary_, pool_.primary_servers, hash, now_ns, tried, true);
    if (!s) s = pick_from(backup_, pool_.backup_servers, hash, now_ns, tried, true);
    pool_.live->panic.store(s.has_value(), std::memory_order_relaxed);
    return s;
  }
  return std::nullopt;
}

}  // namespace lb
