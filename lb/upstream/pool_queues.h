// lb/upstream/pool_queues.h — one worker's pool queues (SPEC 11 "Queue"): a
// WaitList per pool that has waiters on this worker, one libuv timer for all
// their deadlines, and the wake-up of the oldest waiter when a slot frees.
//
// Design (no lock on the request path, no polling):
//  - The bound `queue.max` is process-wide: PoolQueueLive::waiting, an
//    atomic, taken by compare-and-swap when a request joins. The lists are
//    per worker, touched only by their worker's thread.
//  - Each waiter holds a ticket from the pool's process-wide counter, and
//    each worker publishes its oldest waiter's ticket. Where a server's
//    active count drops (ServerAttempts::release → slot_released), the
//    freed slot goes to the oldest waiter of the whole process: on this
//    worker its list is served at the start of the next loop iteration
//    (Worker::defer: never inside the releasing exchange's call stack);
//    on another worker a flag is raised in that worker's slot and the
//    worker is woken (Worker::kick_queues, its async handle). A kicked
//    worker whose waiters are gone by then passes the slot on.
//  - Serving a list offers the slot to its head, then the next, until a
//    waiter finds no free server: the order within a worker is strict FIFO,
//    across workers it follows the tickets (a request that arrives while
//    others wait queues behind them; only when a slot is free at the
//    moment two workers look may a later ticket win it).
//  - A slot freed just as a request joins is never missed: the joining
//    worker stores its waiter and then looks at the servers once more (a
//    serve of its list, deferred), the releasing worker decrements the
//    active count and then looks for waiters, with a full fence between the
//    store and the look on both sides, so at least one of them sees the other.
//  - Deadlines: waiters of a list join in deadline order (same timeout), so
//    the earliest deadline is a list's head; one uv timer per worker is kept
//    at the earliest of all lists and expires waiters from the heads.
//  - Reload: lists are keyed by the pool's live state, which a reload keeps
//    by pool name, so requests waiting under the old configuration and new
//    ones share one queue per pool; each waiter keeps its own runtime
//    snapshot (its exchange holds it) and deadline, and is served or times
//    out as usual. A pool that a reload removes keeps its lists until they
//    drain; prune() drops them afterwards.
//
// Threading: the owning worker's thread, except slot_released (any worker
// thread, acting on its own worker's queues) and what Worker::kick_queues does.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "lb/core/live_state.h"
#include "lb/upstream/pool_queue.h"

namespace lb {

class Worker;
struct PoolRuntime;

class PoolQueues {
 public:
  explicit PoolQueues(Worker& worker);
  ~PoolQueues();
  PoolQueues(const PoolQueues&) = delete;
  PoolQueues& operator=(const PoolQueues&) = delete;

  // Worker::start (before the thread): the timer. Worker::run: binds this
  // registry to the thread for slot_released. Worker's stop: closes the timer
  // (no request waits any more then).
  void init(uv_loop_t* loop);
  void bind_thread();
  void close();

  // Appends `w` to `pool`'s queue on this worker, due now + queue.timeout.
  // False when the pool's queue is full (counted). On success a look at the
  // servers for this list is scheduled (see the design above).
  bool enter(const PoolRuntime& pool, QueueWaiter& w, uint64_t now_ns);

  // A server of a pool with a queue gave back a slot on the calling worker
  // thread: the slot is offered to the process's oldest waiter, if any.
  static void slot_released(PoolLive& live);
  // Other workers raised this worker's flag of some pools (Worker::on_wake).
  void on_kicked();
  // Drops the empty lists of pools no runtime uses any more (Worker::apply_runtime).
  void prune();

 private:
  struct Entry;
  Entry& entry(const std::shared_ptr<PoolLive>& live);
  Entry* find(const PoolLive* live);
  void route_slot(PoolLive& live);
  void serve(Entry& e);
  void arm(uint64_t deadline_ns);
  static void on_timer(uv_timer_t* timer);

  Worker& worker_;
  uv_timer_t timer_{};
  bool timer_open_ = false;
  uint64_t timer_due_ns_ = 0;  // the deadline the timer is set for; 0 = not set
  std::unordered_map<const PoolLive*, std::unique_ptr<Entry>> entries_;
};

}  // namespace lb
