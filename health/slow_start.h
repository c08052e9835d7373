// health/slow_start.h — effective weight of a server that recently came back
// (SPEC section 3, "slow_start": ramp a recovered server's share up over the
// window).
//
// Pure functions, safe from any thread. Time is the caller's monotonic clock
// in nanoseconds. The ramp is linear from 10% of the weight (Envoy's default
// min_weight_percent) to 100% over the window, never below 1, so a recovered
// server gets some traffic at once instead of none.
//
// Convention: up_since_ns == 0 means "not in slow start" (full weight). Set
// up_since when a server recovers (went_up after having been down, or the
// circuit closed — caller's policy); HAProxy and Envoy do not slow-start
// servers that are up at process start, and neither should lb.
#pragma once

#include <cstdint>

#include "conf/config.h"

namespace lb::health {

constexpr uint32_t kSlowStartMinPercent = 10;  // ramp starts at 10% of the weight

// True while now is inside [up_since, up_since + window).
bool in_slow_start(uint64_t now_ns, uint64_t up_since_ns, conf::Duration window);

// weight × clamp((now - up_since) / window, 0.1, 1), at least 1.
// window <= 0, up_since_ns == 0 or the window passed → `weight` unchanged.
uint32_t slow_start_weight(uint32_t weight, uint64_t now_ns, uint64_t up_since_ns,
                           conf::Duration window);

}  // namespace lb::health
