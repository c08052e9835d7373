// tests/unit/pool_queue_test.cpp — lb/upstream/pool_queue: the per-worker
// waiting list of a pool's queue (SPEC 11): FIFO order, the process-wide
// bound, a waiter removed by its destructor, deadlines in order (and out of
// order after a reload changed the timeout), the outcome counters and the
// oldest-waiter ticket each worker publishes.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "lb/upstream/pool_queue.h"

using lb::PoolQueueLive;
using lb::QueueWaiter;
using lb::WaitList;

namespace {

struct Waiter final : QueueWaiter {
  explicit Waiter(int id = 0) : id(id) {}
  ~Waiter() = default;
  bool on_queue_turn() override { return false; }
  void on_queue_timeout() override {}
  int id;
};

}  // namespace

TEST_CASE("pool queue: FIFO order and the served count") {
  PoolQueueLive live;
  WaitList list(live, 0);
  Waiter a(1), b(2), c(3);
  REQUIRE(list.push(a, 10, 100));
  REQUIRE(list.push(b, 10, 200));
  REQUIRE(list.push(c, 10, 300));
  CHECK(list.size() == 3);
  CHECK(live.waiting.load() == 3);
  CHECK(live.queued_total.load() == 3);
  CHECK(a.queued());
  CHECK(a.queue_ticket() < b.queue_ticket());
  CHECK(b.queue_ticket() < c.queue_ticket());

  std::vector<int> served;
  while (QueueWaiter* w = list.front()) {
    served.push_back(static_cast<Waiter*>(w)->id);
    w->leave_queue_served();
  }
  CHECK(served == std::vector<int>{1, 2, 3});
  CHECK(list.empty());
  CHECK(live.waiting.load() == 0);
  CHECK(live.served_total.load() == 3);
  CHECK_FALSE(a.queued());
  a.leave_queue_served();  // not queued: nothing happens
  CHECK(live.served_total.load() == 3);
}

TEST_CASE("pool queue: the bound is the pool's, across the lists of all workers") {
  PoolQueueLive::set_workers(2);
  PoolQueueLive live;
  WaitList w0(live, 0), w1(live, 1);
  Waiter a(1), b(2), c(3);
  CHECK(w0.push(a, 2, 100));
  CHECK(w1.push(b, 2, 100));
  CHECK_FALSE(w0.push(c, 2, 100));  // two wait already, on whichever worker
  CHECK_FALSE(c.queued());
  CHECK(live.full_total.load() == 1);
  CHECK(live.waiting.load() == 2);
  a.leave_queue_served();
  CHECK(w0.push(c, 2, 100));  // room again
  CHECK(live.waiting.load() == 2);
  // Each worker publishes the ticket of its oldest waiter; 0 when it has none.
  CHECK(live.slot(1).head_ticket.load() == b.queue_ticket());
  CHECK(live.slot(0).head_ticket.load() == c.queue_ticket());
  b.leave_queue_served();
  CHECK(live.slot(1).head_ticket.load() == 0);
  c.leave_queue_served();
  CHECK(live.slot(0).head_ticket.load() == 0);
  PoolQueueLive::set_workers(1);
}

TEST_CASE("pool queue: a waiter destroyed while queued leaves the list (abandoned)") {
  PoolQueueLive live;
  WaitList list(live, 0);
  Waiter a(1);
  auto b = std::make_unique<Waiter>(2);
  Waiter c(3);
  list.push(a, 10, 100);
  list.push(*b, 10, 200);
  list.push(c, 10, 300);
  b.reset();  // the middle one: its neighbours are linked to each other
  CHECK(list.size() == 2);
  CHECK(live.waiting.load() == 2);
  CHECK(live.abandoned_total.load() == 1);
  CHECK(list.front() == &a);
  a.abandon_queue();  // the head: the next one becomes head and its ticket is published
  CHECK(list.front() == &c);
  CHECK(live.slot(0).head_ticket.load() == c.queue_ticket());
  {
    Waiter d(4);
    list.push(d, 10, 400);
  }  // the tail
  CHECK(list.size() == 1);
  CHECK(live.abandoned_total.load() == 3);
  c.leave_queue_served();
  CHECK(list.empty());
  CHECK(live.waiting.load() == 0);
}

TEST_CASE("pool queue: deadlines expire oldest first, only when due") {
  PoolQueueLive live;
  WaitList list(live, 0);
  Waiter a(1), b(2), c(3);
  CHECK(list.next_deadline() == 0);
  list.push(a, 10, 1000);
  list.push(b, 10, 2000);
  list.push(c, 10, 2000);
  CHECK(list.next_deadline() == 1000);
  CHECK(list.pop_expired(999) == nullptr);
  CHECK(list.pop_expired(1000) == &a);
  CHECK_FALSE(a.queued());
  CHECK(list.pop_expired(1500) == nullptr);
  CHECK(list.next_deadline() == 2000);
  CHECK(list.pop_expired(5000) == &b);  // both due: in arrival order
  CHECK(list.pop_expired(5000) == &c);
  CHECK(list.pop_expired(5000) == nullptr);
  CHECK(live.timeouts_total.load() == 3);
  CHECK(live.waiting.load() == 0);
}

TEST_CASE("pool queue: a shorter timeout after a reload expires out of arrival order") {
  PoolQueueLive live;
  WaitList list(live, 0);
  Waiter old1(1), old2(2), fresh(3);
  list.push(old1, 10, 5000);  // joined under "timeout": "5s"
  list.push(old2, 10, 5100);
  list.push(fresh, 10, 1200);  // joined after a reload to "1s"
  CHECK(list.next_deadline() == 1200);
  CHECK(list.pop_expired(1300) == &fresh);
  CHECK(list.front() == &old1);  // the FIFO order of the others is kept
  CHECK(list.next_deadline() == 5000);
  CHECK(list.pop_expired(5050) == &old1);
  CHECK(list.pop_expired(5050) == nullptr);
  old2.leave_queue_served();
  // Empty again: deadlines are in order once more.
  Waiter d(4), e(5);
  list.push(d, 10, 7000);
  list.push(e, 10, 8000);
  CHECK(list.next_deadline() == 7000);
  CHECK(list.pop_expired(7500) == &d);
  e.leave_queue_served();
}

TEST_CASE("pool queue: a list destroyed with waiters unlinks them") {
  PoolQueueLive live;
  Waiter a(1), b(2);
  {
    WaitList list(live, 0);
    list.push(a, 10, 100);
    list.push(b, 10, 100);
  }
  CHECK_FALSE(a.queued());
  CHECK_FALSE(b.queued());
  CHECK(live.waiting.load() == 0);
  CHECK(live.abandoned_total.load() == 2);
}
