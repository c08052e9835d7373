// lb/upstream/server_health.cpp — availability, slow-start weight, breaker outcomes.
#include "lb/upstream/server_health.h"

#include <uv.h>

#include <cstring>

#include "health/slow_start.h"
#include "lb/io/log.h"

namespace lb {

bool server_selectable(const PoolRuntime& pool, const ServerLive& live, uint64_t now_ns) {
  return live.healthy() && live.breaker.would_allow(now_ns, pool.config->circuit_breaker);
}

uint32_t effective_weight(const PoolRuntime& pool, const ServerLive& live, uint64_t now_ns) {
  uint32_t w = live.weight.load(std::memory_order_relaxed);
  if (w == 0) w = 1;
  if (pool.config->slow_start.count() == 0) return w;
  return health::slow_start_weight(w, now_ns, live.up_since_ns.load(std::memory_order_relaxed), pool.config->slow_start);
}

bool other_primary_available(const PoolRuntime& pool, const ServerLive& live, uint64_t now_ns) {
  for (uint32_t i : pool.primary_servers) {
    const ServerLive& other = *pool.servers[i].live;
    if (&other == &live) continue;
    if (other.admin_state.load(std::memory_order_relaxed) == conf::ServerState::ready &&
        server_selectable(pool, other, now_ns))
      return true;
  }
  return false;
}

// The last-server test runs on failures only (the success path stays a load).
void report_outcome(const PoolRuntime& pool, const ServerRuntime& server, bool ok, bool trial, uint64_t now_ns,
                    const char* reason) {
  ServerLive& live = *server.live;
  const auto& cfg = pool.config->circuit_breaker;
  health::CircuitTransition t;
  if (ok) {
    t = live.breaker.on_success(now_ns, cfg, pool.live->ejection, trial);
  } else if (reason && (strcmp(reason, uv_strerror(UV_EMFILE)) == 0 || strcmp(reason, uv_strerror(UV_ENFILE)) == 0)) {
    // lb itself is out of file descriptors (no socket for the connect): that
    // says nothing about the server, so it must not eject it.
    return;
  } else {
    bool last = !server.config->backup && !other_primary_available(pool, live, now_ns);
    t = live.breaker.on_failure(now_ns, cfg, pool.live->ejection, trial, last);
    // Another worker may have ejected the other servers meanwhile: if this
    // one just opened and nothing else is left, take it back at once.
    if ((t == health::CircuitTransition::opened || t == health::CircuitTransition::reopened) && !last &&
        !server.config->backup && !other_primary_available(pool, live, now_ns) &&
        live.breaker.close(pool.live->ejection) == health::CircuitTransition::closed)
      t = health::CircuitTransition::kept_last;
  }
  switch (t) {
    case health::CircuitTransition::opened:
    case health::CircuitTransition::reopened:
      log_warn("circuit open", {{"pool", pool.config->name}, {"server", server.config->address.text},
                                {"reason", reason ? reason : "consecutive failures"}});
      break;
    case health::CircuitTransition::closed:
      log_info("circuit close", {{"pool", pool.config->name}, {"server", server.config->address.text}});
      // Recovered from ejection: ramp back in like a server coming up.
      live.up_since_ns.store(now_ns, std::memory_order_relaxed);
      break;
    case health::CircuitTransition::kept_last:
      log_warn("circuit kept closed", {{"pool", pool.config->name}, {"server", server.config->address.text},
                                       {"reason", "last available primary server"}});
      break;
    default:
      break;
  }
}

}  // namespace lb
