// lb/upstream/attempt.cpp — picking, counting and releasing the servers a
// request or TCP session tries (see attempt.h).
#include "lb/upstream/attempt.h"

#include "lb/core/worker.h"
#include "lb/upstream/pool_queues.h"
#include "lb/upstream/server_health.h"

namespace lb {

const ServerRuntime* ServerAttempts::begin(WorkerRuntime& rt, uint32_t pool, uint64_t hash, uint64_t now_ns,
                                           bool allow_trial, std::optional<uint32_t> sticky) {
  const ServerRuntime* server = try_begin(rt, pool, hash, now_ns, allow_trial, sticky);
  if (!server && count_ == 0) pool_->live->no_server_total.add(1);
  return server;
}

const ServerRuntime* ServerAttempts::try_begin(WorkerRuntime& rt, uint32_t pool, uint64_t hash, uint64_t now_ns,
                                               bool allow_trial, std::optional<uint32_t> sticky) {
  pool_ = &rt.runtime().pools[pool];
  pool_index_ = pool;
  PoolSelector& selector = rt.selector(pool);
  std::optional<Pick> picked;
  if (sticky) picked = selector.pick_sticky(*sticky, now_ns, tried_, allow_trial);
  if (!picked) picked = selector.pick(hash, now_ns, tried_, allow_trial);
  if (!picked) return nullptr;
  active_ = picked->server;
  last_ = picked->server;
  trial_ = picked->trial;
  tried_.add(picked->server);
  if (count_++ == 0) pool_->live->requests_total.add(1);
  else pool_->live->retries_total.add(1);
  const ServerRuntime& server = pool_->servers[picked->server];
  server_name_ = server.config->address.text;
  server.live->active.fetch_add(1, std::memory_order_relaxed);
  server.live->requests_total.add(1);
  return &server;
}

void ServerAttempts::fail(const char* reason, uint64_t now_ns) {
  if (active_ < 0) return;
  const ServerRuntime& server = pool_->servers[active_];
  server.live->failures_total.add(1);
  report_outcome(*pool_, server, false, trial_, now_ns, reason);
  release();
}

void ServerAttempts::release() {
  if (active_ < 0) return;
  pool_->servers[active_].live->active.fetch_sub(1, std::memory_order_relaxed);
  active_ = -1;
  // The only cost without a queue. Waiters also count across a reload that
  // turned the queue on (this exchange's configuration has none, the new
  // one's requests wait for its slot) or off (old waiters still wait).
  if (pool_->config->queue.max != 0 || pool_->live->queue.waiting.load(std::memory_order_relaxed) != 0)
    PoolQueues::slot_released(*pool_->live);
}

bool ServerAttempts::has_candidate_if_uncapped(WorkerRuntime& rt, uint32_t pool, uint64_t now_ns) const {
  return rt.selector(pool).has_candidate_if_uncapped(now_ns, tried_);
}

bool ServerAttempts::has_candidate(WorkerRuntime& rt, uint64_t now_ns) const {
  return pool_ && rt.selector(pool_index_).has_candidate(now_ns, tried_);
}

}  // namespace lb
