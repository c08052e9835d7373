// lb/admin/stats_history.h — what /stats remembers between answers: the last
// minute of the latency histograms (LatencyWindow) and the SLO windows
// (SloWindows), both advanced by the admin server's 10 s tick.
// Threading: main thread only.
#pragma once

#include "lb/admin/latency_window.h"
#include "lb/admin/slo_windows.h"

namespace lb {

struct StatsHistory {
  static constexpr uint64_t kTickMs = LatencyWindow::kTickMs;
  static_assert(kTickMs == SloWindows::kTickSeconds * 1000);

  LatencyWindow latency;
  SloWindows slo;

  void tick(const Runtime& runtime) {
    latency.tick(runtime);
    slo.tick(runtime);
  }
};

}  // namespace lb
