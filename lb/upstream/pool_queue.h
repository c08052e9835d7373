// lb/upstream/pool_queue.h — one pool's waiting list on one worker (SPEC 11
// "Queue"): the requests that found every server that may take them at its
// max_connections, in arrival order, each with its deadline.
//
// A QueueWaiter is an intrusive list hook: the waiting request (an Exchange)
// carries its own links, so joining and leaving allocate nothing, and its
// destructor unlinks it, so a request that goes away while waiting (client
// closed, HTTP/2 RST_STREAM, worker stop) never leaves a dangling pointer.
//
// A WaitList holds nothing but the order and the deadlines; it knows no
// clock and no loop (time is passed in), so it is unit-tested alone. What the
// process shares about the queue (the count `max` bounds, the tickets that
// order arrivals across workers, each worker's oldest waiter, the outcome
// counters) is the pool's PoolQueueLive (lb/core/live_state.h), which this
// list keeps up to date. The libuv side (one timer per worker for every
// deadline, waking waiters when a slot frees) is PoolQueues (pool_queues.h).
//
// Threading: the owning worker's thread only, except the atomics of
// PoolQueueLive, which other workers read.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lb/core/live_state.h"

namespace lb {

class WaitList;

class QueueWaiter {
 public:
  QueueWaiter() = default;
  QueueWaiter(const QueueWaiter&) = delete;
  QueueWaiter& operator=(const QueueWaiter&) = delete;

  bool queued() const { return list_ != nullptr; }
  uint64_t queue_deadline_ns() const { return deadline_ns_; }
  uint64_t queue_ticket() const { return ticket_; }
  // Leaves the list because the client went away (counted as abandoned);
  // no-op when not queued.
  void abandon_queue();
  // Leaves the list because its turn came (counted as served); no-op when not queued.
  void leave_queue_served();

  // Called by PoolQueues. Its turn: a slot may be free. Returns true when the
  // waiter left the list (it took a server, or was answered; it may be
  // destroyed by then, so the caller touches it no more), false to keep its
  // place (still no slot).
  virtual bool on_queue_turn() = 0;
  // Its deadline passed: it was removed from the list (counted as a timeout)
  // before this call. It may be destroyed inside.
  virtual void on_queue_timeout() = 0;

 protected:
  ~QueueWaiter() { abandon_queue(); }

 private:
  friend class WaitList;
  WaitList* list_ = nullptr;
  QueueWaiter* prev_ = nullptr;
  QueueWaiter* next_ = nullptr;
  uint64_t deadline_ns_ = 0;
  uint64_t ticket_ = 0;
};

class WaitList {
 public:
  // `live` must outlive the list; `worker` is this worker's index (its slot
  // in live).
  WaitList(PoolQueueLive& live, uint32_t worker) : live_(live), worker_(worker) {}
  ~WaitList();  // unlinks any waiter left (abandoned)
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;

  // Takes a place against the pool's process-wide bound `max` and appends
  // `w` (not queued elsewhere) with its deadline. False, counted as full,
  // when `max` requests already wait. On success the waiter holds a ticket
  // (arrival order across workers), and a full fence orders these stores
  // before the caller's next look at the servers (see PoolQueues: a slot
  // freed meanwhile on another worker is then never missed).
  bool push(QueueWaiter& w, uint32_t max, uint64_t deadline_ns);
  // Unlinks `w` after its turn came (counted as served). No-op if `w` is not here.
  void remove_served(QueueWaiter& w) { remove(w, live_.served_total); }
  // Unlinks and returns the oldest waiter whose deadline is at or before
  // `now_ns` (counted as a timeout), or null when none is due.
  QueueWaiter* pop_expired(uint64_t now_ns);

  QueueWaiter* front() const { return head_; }
  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }
  // The earliest deadline of a waiter; 0 when empty.
  uint64_t next_deadline() const;
  PoolQueueLive& live() const { return live_; }

 private:
  friend class QueueWaiter;
  void remove(QueueWaiter& w, ShardedCounter& outcome);
  void unlink(QueueWaiter& w);
  void publish_head();

  PoolQueueLive& live_;
  uint32_t worker_;
  QueueWaiter* head_ = nullptr;
  QueueWaiter* tail_ = nullptr;
  size_t size_ = 0;
  // True while deadlines rise from head to tail, as they do when every
  // waiter had the same timeout. A reload that shortens `timeout` while
  // requests wait breaks that; then deadlines are looked up by a scan.
  bool ordered_ = true;
};

}  // namespace lb
