// lb/admin/latency_window.h — the "last minute" of the latency histograms
// for /stats latency_ms (SPEC 15).
//
// The histograms themselves only grow (lb/io/sharded_histogram.h). Every
// kTickMs (10 s) the admin server calls tick(), which copies the current
// cumulative counts of every listener, route and server into a ring of the
// last kTicks + 1 copies, keyed by the live object (which survives reloads).
// last_minute() subtracts the oldest copy from the current counts: the
// requests of the last 60 to 70 s (since the object appeared, if younger).
// Percentiles are then interpolated within a bucket (HistogramCounts::
// quantile_ms), so they are as precise as SPEC's bucket bounds allow.
//
// Threading: main thread only; nothing here is on the data path.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "lb/io/sharded_histogram.h"

namespace lb {

struct Runtime;
struct ListenerRuntime;

// A listener's whole-request histogram: the sum of its routes' and "none".
// (A route removed by a reload takes its counts along; the window then
// clamps at zero rather than going negative.)
HistogramCounts listener_duration(const ListenerRuntime& l);

class LatencyWindow {
 public:
  static constexpr uint64_t kTickMs = 10'000;
  static constexpr size_t kTicks = 6;  // 6 × 10 s = one minute

  // Records the current counts of everything in `runtime`; forgets objects
  // it no longer has.
  void tick(const Runtime& runtime);
  // `now` (the object's current cumulative counts) minus the oldest copy kept.
  HistogramCounts last_minute(const void* key, const HistogramCounts& now) const;

 private:
  struct Ring {
    std::array<HistogramCounts, kTicks + 1> at{};
    size_t next = 0, filled = 0;
    uint64_t seen = 0;  // the tick that last saw the object
  };
  void push(const void* key, const HistogramCounts& counts);

  std::unordered_map<const void*, Ring> rings_;
  uint64_t tick_ = 0;
};

}  // namespace lb
