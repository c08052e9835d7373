// tests/unit/sharded_counter_test.cpp — lb::ShardedCounter: per-worker slots
// add up exactly under concurrency; unbound threads share slot 0 atomically.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "lb/io/sharded_counter.h"

using lb::ShardedCounter;

TEST_CASE("ShardedCounter: concurrent adds from bound workers and unbound threads are all counted") {
  ShardedCounter::set_slots(3);  // workers 1..3 + the shared slot
  ShardedCounter c;
  constexpr int kAdds = 200000;
  std::vector<std::thread> threads;
  for (size_t slot = 1; slot <= 3; ++slot) {
    threads.emplace_back([&c, slot] {
      ShardedCounter::bind_thread_slot(slot);
      for (int i = 0; i < kAdds; ++i) c.add(1);
    });
  }
  // Two unbound threads (like the main thread) race on the shared slot:
  // their adds must not be lost either.
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < kAdds; ++i) c.add(2);
    });
  }
  // A thread bound past the slots falls back to the shared slot.
  threads.emplace_back([&c] {
    ShardedCounter::bind_thread_slot(99);
    for (int i = 0; i < kAdds; ++i) c.add(3);
  });
  for (auto& t : threads) t.join();
  CHECK(c.load() == uint64_t{kAdds} * (3 * 1 + 2 * 2 + 3));
}

TEST_CASE("ShardedCounter: a new counter starts at zero and sums every slot") {
  ShardedCounter::set_slots(2);
  ShardedCounter c;
  CHECK(c.load() == 0);
  c.add(5);  // this thread: unbound, shared slot
  std::thread([&c] {
    ShardedCounter::bind_thread_slot(2);
    c.add(7);
  }).join();
  CHECK(c.load() == 12);
}
