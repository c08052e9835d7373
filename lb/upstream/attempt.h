// lb/upstream/attempt.h — the tries of one request (HTTP exchange) or one
// TCP session at the servers of a pool: pick a server not tried yet, count
// it (pool and server request counters, retries, the server's active count),
// report a failed try to the server's health and breaker, and release it.
// The L4 and L7 paths both go through this, so the counting rules are written
// once: the first try counts a pool request, every later one a retry.
//
// Ownership: borrows the WorkerRuntime's selector and the PoolRuntime of the
// runtime snapshot its owner holds (the owner keeps that snapshot alive).
// Threading: the owning worker's thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "lb/core/runtime.h"
#include "lb/upstream/selection.h"

namespace lb {

class WorkerRuntime;

class ServerAttempts {
 public:
  // Picks the next server of `pool` outside the tried set and counts it.
  // Returns it, or null when no server is available (the caller answers or
  // closes; no_server_total is counted on the first try only).
  // `sticky`: the server a sticky cookie names, preferred when it may serve.
  const ServerRuntime* begin(WorkerRuntime& rt, uint32_t pool, uint64_t hash, uint64_t now_ns,
                             bool allow_trial = true, std::optional<uint32_t> sticky = std::nullopt);
  // begin() without counting no_server_total: for a request that may wait in
  // the pool's queue instead (its caller counts a refusal itself).
  const ServerRuntime* try_begin(WorkerRuntime& rt, uint32_t pool, uint64_t hash, uint64_t now_ns,
                                 bool allow_trial, std::optional<uint32_t> sticky);
  // Before any try: forgets the servers whose breaker refused a pick (a
  // waiting request asks again later, when they may admit it).
  void forget_refusals() {
    if (count_ == 0) tried_.clear();
  }
  // The current try failed: failures_total and the breaker/health report,
  // then the server is released (no longer counted active).
  void fail(const char* reason, uint64_t now_ns);
  // The current try ended (success is reported by the caller where it knows
  // more, e.g. the response status): the server is no longer active. In a
  // pool with a queue, the freed slot goes to the oldest waiting request.
  void release();

  // Whether another server could be picked right now (side-effect free).
  bool has_candidate(WorkerRuntime& rt, uint64_t now_ns) const;
  // Whether a server of `pool` outside the tried set could take the request
  // but for max_connections (the queue's condition; side-effect free).
  bool has_candidate_if_uncapped(WorkerRuntime& rt, uint32_t pool, uint64_t now_ns) const;

  const PoolRuntime* pool() const { return pool_; }
  const ServerRuntime* server() const { return active_ >= 0 ? &pool_->servers[active_] : nullptr; }
  int64_t server_index() const { return active_; }
  uint32_t last_index() const { return last_; }
  bool trial() const { return trial_; }
  uint32_t count() const { return count_; }  // tries begun so far
  std::string_view server_name() const { return server_name_; }  // last server tried; empty before any

 private:
  const PoolRuntime* pool_ = nullptr;
  uint32_t pool_index_ = 0;
  int64_t active_ = -1;  // index of the server counted active, or -1
  uint32_t last_ = 0;    // index of the last server tried
  bool trial_ = false;   // the current try is a half-open circuit's trial
  uint32_t count_ = 0;
  TriedSet tried_;
  std::string_view server_name_;  // view into the runtime's config
};

}  // namespace lb
