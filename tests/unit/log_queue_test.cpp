// tests/unit/log_queue_test.cpp — LogQueue, the log writer's lock-free
// hand-over: bounded by slots and by bytes, a failed push leaves the text with
// the caller, order is kept, release() returns budget, and several producers
// racing one consumer lose nothing they were told was queued (run under
// `make test TSAN=1` this also checks the ring's memory ordering).
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "lb/io/log_queue.h"

using lb::LogQueue;

TEST_CASE("LogQueue: full by slots; a refused text stays with the caller; FIFO order") {
  LogQueue q(4, 1 << 20);
  for (int i = 0; i < 4; ++i) {
    std::string t = "line " + std::to_string(i);
    REQUIRE(q.try_push(t));
    CHECK(t.empty());  // moved in
  }
  std::string extra = "extra";
  CHECK_FALSE(q.try_push(extra));
  CHECK(extra == "extra");
  std::string out;
  for (int i = 0; i < 4; ++i) {
    REQUIRE(q.try_pop(out));
    CHECK(out == "line " + std::to_string(i));
    q.release(out.size());
  }
  CHECK_FALSE(q.try_pop(out));
  CHECK(q.try_push(extra));  // slots are free again
}

TEST_CASE("LogQueue: full by bytes until the writer releases them") {
  LogQueue q(64, 100);
  std::string a(60, 'a'), b(50, 'b'), c(40, 'c');
  REQUIRE(q.try_push(a));
  CHECK_FALSE(q.try_push(b));  // 60 + 50 > 100
  REQUIRE(q.try_push(c));      // 60 + 40 == 100
  std::string out;
  REQUIRE(q.try_pop(out));
  CHECK(out.size() == 60);
  CHECK_FALSE(q.try_push(b));  // popped but not released: still being written
  q.release(out.size());
  CHECK(q.try_push(b));
}

TEST_CASE("LogQueue: producers racing one consumer lose nothing that was accepted, each in order") {
  constexpr int kProducers = 4, kEach = 20000;
  LogQueue q(64, 1 << 20);
  std::atomic<int> accepted{0};
  std::atomic<int> producers_done{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p)
    producers.emplace_back([&, p] {
      for (int i = 0; i < kEach; ++i) {
        std::string t = std::to_string(p) + ":" + std::to_string(i);
        if (q.try_push(t)) accepted.fetch_add(1, std::memory_order_relaxed);
        else CHECK(!t.empty());
      }
      producers_done.fetch_add(1);
    });
  std::vector<int> last(kProducers, -1);
  int received = 0;
  bool in_order = true;
  std::string out;
  for (;;) {
    const bool done = producers_done.load() == kProducers;  // read before the last drain
    while (q.try_pop(out)) {
      size_t colon = out.find(':');
      int p = std::stoi(out.substr(0, colon)), i = std::stoi(out.substr(colon + 1));
      in_order = in_order && i > last[p];
      last[p] = i;
      ++received;
      q.release(out.size());
    }
    if (done) break;
    std::this_thread::yield();
  }
  for (auto& t : producers) t.join();
  CHECK(in_order);
  CHECK(received == accepted.load());
  CHECK(received > 0);
}
