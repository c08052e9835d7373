// lb/upstream/health_monitor.h — runs the active health checker (health/checker) on
// the main thread's loop and publishes its verdicts into the servers' live
// state, where workers read them with relaxed atomic loads: no lock on the
// request path. Logs server up/down with the reason (SPEC section 8). Servers
// of a pool with backend TLS are probed over TLS (lb/tls_probe_transport).
// Main thread only.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "health/checker.h"
#include "lb/core/runtime.h"

namespace lb {

class HealthMonitor {
 public:
  explicit HealthMonitor(uv_loop_t* loop);
  // (Re)targets the checker at every server of every pool with a health_check.
  void update(const Runtime& runtime);
  void stop();
  // True once every checked server has a first result (for /ready).
  bool first_round_complete() const { return checker_.first_round_complete(); }

 private:
  struct Target {
    std::string pool;
    std::string server;
    std::shared_ptr<ServerLive> live;
    std::shared_ptr<PoolLive> pool_live;
  };
  void on_result(const health::CheckResult& result);

  health::Checker checker_;
  std::vector<Target> targets_;
};

}  // namespace lb
