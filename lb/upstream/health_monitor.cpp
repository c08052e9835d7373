// lb/upstream/health_monitor.cpp — Runtime → check targets (TLS probes for pools with
// backend TLS); checker results → ServerLive health, transitions logged.
#include "lb/upstream/health_monitor.h"

#include "lb/io/log.h"
#include "lb/upstream/tls_probe_transport.h"

namespace lb {

HealthMonitor::HealthMonitor(uv_loop_t* loop)
    : checker_(loop, [this](const health::CheckResult& r) { on_result(r); }, uv_hrtime()) {}

static health::Status initial_status(const ServerLive& live) {
  switch (live.health.load(std::memory_order_relaxed)) {
    case HealthStatus::passing: return health::Status::up;
    case HealthStatus::failing: return health::Status::down;
    case HealthStatus::unchecked: break;
  }
  return health::Status::unchecked;
}

void HealthMonitor::update(const Runtime& runtime) {
  std::vector<health::CheckTarget> targets;
  std::vector<Target> mine;
  for (const auto& pool : runtime.pools) {
    if (!pool.config->health_check) continue;
    for (const auto& server : pool.servers) {
      health::CheckTarget t;
      t.pool = pool.config->name;
      t.server = server.config->address.text;
      t.addr = server.config->address.sockaddr;
      t.addr_len = server.config->address.sockaddr_len;
      t.check = *pool.config->health_check;
      // A pool with backend TLS is checked over TLS, verified and resumed
      // the way its requests are (same context, host and session key).
      if (pool.tls)
        t.transport = tls_probe_factory(pool.tls, server.config->address.host, server.config->address.text);
      t.initial = initial_status(*server.live);
      targets.push_back(std::move(t));
      mine.push_back({pool.config->name, server.config->address.text, server.live, pool.live});
    }
  }
  targets_ = std::move(mine);
  checker_.set_targets(std::move(targets));
}

void HealthMonitor::stop() { checker_.stop(); }

void HealthMonitor::on_result(const health::CheckResult& r) {
  if (r.index >= targets_.size()) return;
  Target& t = targets_[r.index];
  ServerLive& live = *t.live;
  live.last_check_ns.store(r.now_ns, std::memory_order_relaxed);
  (r.ok ? live.health_checks_pass : live.health_checks_fail).add(1);
  {
    std::lock_guard lock(live.last_error_mutex);
    live.last_error.assign(r.ok ? std::string_view{} : r.error);
  }
  if (r.status == health::Status::up) live.health.store(HealthStatus::passing, std::memory_order_relaxed);
  else if (r.status == health::Status::down) live.health.store(HealthStatus::failing, std::memory_order_relaxed);

  if (r.transition == health::Transition::went_up) {
    // Slow start only for a server coming back, not for one found up at start.
    if (r.previous == health::Status::down) live.up_since_ns.store(r.now_ns, std::memory_order_relaxed);
    log_info("server up", {{"pool", t.pool}, {"server", t.server},
                           {"reason", r.previous == health::Status::unchecked ? "first check passed" : "checks passing"}});
  } else if (r.transition == health::Transition::went_down) {
    log_warn("server down", {{"pool", t.pool}, {"server", t.server}, {"reason", std::string(r.error)}});
  }

  // SPEC section 11: the first passing check of a server that is up closes
  // its open circuit at once — not only on the down → up transition (a
  // server ejected by its circuit while its checks kept passing stayed out
  // for the whole recovery timeout).
  if (r.ok && r.status == health::Status::up && live.breaker.state() != health::CircuitState::closed &&
      live.breaker.close(t.pool_live->ejection) == health::CircuitTransition::closed)
    log_info("circuit close", {{"pool", t.pool}, {"server", t.server}, {"reason", "health check passing"}});
}

}  // namespace lb
