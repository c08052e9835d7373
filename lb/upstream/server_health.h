// lb/upstream/server_health.h — whether a server may take new traffic right now, its
// effective weight, and reporting request outcomes: the meeting point of
// active health (health/checker via HealthMonitor), passive health (the
// circuit breaker) and slow start. Called from any worker; touches only
// atomics (the breaker is lock-free).
#pragma once

#include <cstdint>

#include "lb/core/live_state.h"
#include "lb/core/runtime.h"

namespace lb {

// Up by active health and not ejected by its circuit breaker.
bool server_selectable(const PoolRuntime& pool, const ServerLive& live, uint64_t now_ns);

// Configured (or admin-set) weight, ramped during slow start; always >= 1.
uint32_t effective_weight(const PoolRuntime& pool, const ServerLive& live, uint64_t now_ns);

// Another primary server of the pool (not `live`) is in the ready admin
// state, up by active health and not ejected.
bool other_primary_available(const PoolRuntime& pool, const ServerLive& live, uint64_t now_ns);

// Feeds one request/connection outcome to the server's circuit breaker and
// logs open/close transitions. `trial` is the half-open permit flag from the pick.
// A failure never opens the circuit of the pool's last available primary
// server (SPEC section 11).
void report_outcome(const PoolRuntime& pool, const ServerRuntime& server, bool ok, bool trial, uint64_t now_ns,
                    const char* reason = nullptr);

}  // namespace lb
