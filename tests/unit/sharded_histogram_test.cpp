// tests/unit/sharded_histogram_test.cpp — lb/io/sharded_histogram.h: the
// bucket search against SPEC 15's bounds (every bound, just above and below),
// per-worker slots summed by load(), exact-status counts, and the
// interpolated percentiles of HistogramCounts.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "lb/io/sharded_histogram.h"

using namespace lb;

TEST_CASE("latency_bucket: a value equal to a bound is in that bound's bucket") {
  CHECK(latency_bucket(0) == 0);
  for (size_t i = 0; i < kLatencyBounds; ++i) {
    CHECK(latency_bucket(kLatencyBoundsNs[i]) == i);
    CHECK(latency_bucket(kLatencyBoundsNs[i] + 1) == i + 1);
    CHECK(latency_bucket(kLatencyBoundsNs[i] - 1) == i);
    CHECK(static_cast<uint64_t>(kLatencyBoundsSeconds[i] * 1e9 + 0.5) == kLatencyBoundsNs[i]);
  }
  CHECK(latency_bucket(UINT64_MAX) == kLatencyBounds);  // +Inf
}

TEST_CASE("ShardedHistogram: records from worker slots and the shared slot all count") {
  ShardedCounter::set_slots(2);
  ShardedHistogram h;
  ShardedStatusCounts codes;
  std::vector<std::thread> workers;
  for (size_t w = 1; w <= 3; ++w)  // slot 3 is past the 2 worker slots: shares slot 0 (fetch_add)
    workers.emplace_back([&, w] {
      ShardedCounter::bind_thread_slot(w);
      for (int i = 0; i < 1000; ++i) h.record(2'000'000), codes.count(200);
      codes.count(503);
      codes.count(599);  // not registered: counted as "5xx"
    });
  for (auto& t : workers) t.join();
  h.record(20'000'000'000);  // main thread, slot 0; past the last bound
  codes.count(42);           // not a status: ignored
  HistogramCounts c = h.load();
  CHECK(c.count() == 3001);
  CHECK(c.buckets[latency_bucket(2'000'000)] == 3000);
  CHECK(c.buckets[kLatencyBounds] == 1);
  CHECK(c.sum_ns == 3000ull * 2'000'000 + 20'000'000'000ull);
  std::vector<std::pair<int, uint64_t>> seen;
  codes.for_each([&](int s, uint64_t n) { seen.emplace_back(s, n); });
  CHECK(seen == std::vector<std::pair<int, uint64_t>>{{200, 3000}, {503, 3}, {5, 3}});
  ShardedCounter::set_slots(0);
}

TEST_CASE("HistogramCounts: percentiles interpolate within a bucket; since() subtracts") {
  HistogramCounts h;
  CHECK(h.quantile_ms(0.5) == 0);
  h.buckets[latency_bucket(7'000'000)] = 100;  // all in (5, 10] ms
  CHECK(h.quantile_ms(0.5) == doctest::Approx(7.5));
  CHECK(h.quantile_ms(0.9) == doctest::Approx(9.5));
  CHECK(h.quantile_ms(0.99) == doctest::Approx(9.95));
  h.buckets[kLatencyBounds] = 100;  // half beyond 10 s
  CHECK(h.quantile_ms(0.99) == doctest::Approx(10'000));
  HistogramCounts older;
  older.buckets[latency_bucket(7'000'000)] = 40;
  HistogramCounts d = h.since(older);
  CHECK(d.count() == 160);
  CHECK(d.buckets[latency_bucket(7'000'000)] == 60);
}
