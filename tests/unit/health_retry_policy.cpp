// tests/unit/health_retry_policy.cpp — backoff bounds, retry budget, retry rules.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "health/retry_policy.h"

using namespace lb::health;
using lb::conf::Duration;
using lb::conf::RetriesConfig;
using lb::conf::RetryOn;

namespace {
// Out of line: GCC 12 at -O2 reports a false -Wmaybe-uninitialized on the
// inlined `on = {…}` default of RetriesConfig inside doctest's big test bodies.
[[gnu::noinline]] RetriesConfig default_retries() { return RetriesConfig{}; }
}  // namespace

TEST_CASE("retry: backoff is full jitter over [0, min(max, base*2^attempt)]") {
  const Duration base{25}, max{250};
  const int64_t caps[] = {25, 50, 100, 200, 250, 250};
  for (uint32_t attempt = 0; attempt < 6; ++attempt) {
    int64_t lo = 1 << 30, hi = -1;
    for (uint64_t r = 0; r < 2000; ++r) {
      const auto d = backoff(attempt, base, max, r * 0x9e3779b97f4a7c15ULL);
      CHECK(d >= Duration{0});
      CHECK(d.count() <= caps[attempt]);
      lo = std::min<int64_t>(lo, d.count());
      hi = std::max<int64_t>(hi, d.count());
    }
    CHECK(lo <= caps[attempt] / 10);   // spread covers the low end…
    CHECK(hi >= caps[attempt] * 9 / 10);  // …and the high end
  }
  // inclusive ends
  CHECK(backoff(0, base, max, 0) == Duration{0});
  CHECK(backoff(0, base, max, 25) == Duration{25});
  CHECK(backoff(3, base, max, 200) == Duration{200});
  // huge attempt numbers do not overflow
  CHECK(backoff(1000, base, max, ~uint64_t{0}) <= max);
  CHECK(backoff(63, Duration{1}, Duration{1'000'000}, 999'999) == Duration{999'999});
  // degenerate configs
  CHECK(backoff(2, Duration{0}, Duration{250}, 77) == Duration{0});
  CHECK(backoff(2, Duration{100}, Duration{0}, 77) == Duration{0});
}

TEST_CASE("retry: idempotent methods") {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) CHECK(is_idempotent(m));
  for (const char* m : {"POST", "PATCH", "CONNECT", "get", ""}) CHECK_FALSE(is_idempotent(m));
}

TEST_CASE("retry: status → condition") {
  CHECK(retry_on_for_status(502) == RetryOn::status_502);
  CHECK(retry_on_for_status(503) == RetryOn::status_503);
  CHECK(retry_on_for_status(504) == RetryOn::status_504);
  CHECK_FALSE(retry_on_for_status(500).has_value());
  CHECK_FALSE(retry_on_for_status(200).has_value());
}

TEST_CASE("retry: should_retry table") {
  const RetriesConfig all = default_retries();  // every condition enabled
  const RetryOn conds[] = {RetryOn::connect_failure, RetryOn::reset,      RetryOn::timeout,
                           RetryOn::status_502,      RetryOn::status_503, RetryOn::status_504};
  for (RetryOn c : conds) {
    // never once a response byte reached the client
    CHECK_FALSE(should_retry(c, all, true, true));
    CHECK_FALSE(should_retry(c, all, true, false));
    // idempotent / bodiless: always
    CHECK(should_retry(c, all, false, true));
    // non-idempotent with a body: only connect_failure
    CHECK(should_retry(c, all, false, false) == (c == RetryOn::connect_failure));
  }
  RetriesConfig some = default_retries();
  some.on = {RetryOn::status_503};
  CHECK(should_retry(RetryOn::status_503, some, false, true));
  CHECK_FALSE(should_retry(RetryOn::status_502, some, false, true));
  CHECK_FALSE(should_retry(RetryOn::connect_failure, some, false, true));
  RetriesConfig none = default_retries();
  none.on.clear();
  for (RetryOn c : conds) CHECK_FALSE(should_retry(c, none, false, true));
}

TEST_CASE("retry: budget limit math") {
  CHECK(RetryBudget::limit(0, 20) == 3);
  CHECK(RetryBudget::limit(10, 20) == 3);   // 2 < floor of 3
  CHECK(RetryBudget::limit(15, 20) == 3);
  CHECK(RetryBudget::limit(20, 20) == 4);
  CHECK(RetryBudget::limit(100, 20) == 20);
  CHECK(RetryBudget::limit(1000, 100) == 1000);
  CHECK(RetryBudget::limit(1000, 250) == 1000);  // clamped to 100%
  CHECK(RetryBudget::limit(1000, 0) == 0);       // 0% disables retries
}

TEST_CASE("retry: budget acquire/release") {
  RetryBudget b;
  for (int i = 0; i < 100; ++i) b.request_started();
  CHECK(b.active_requests() == 100);
  int granted = 0;
  for (int i = 0; i < 50; ++i) granted += b.try_acquire_retry(20) ? 1 : 0;
  CHECK(granted == 20);
  CHECK(b.active_retries() == 20);
  CHECK_FALSE(b.try_acquire_retry(20));
  b.release_retry();
  CHECK(b.try_acquire_retry(20));
  for (int i = 0; i < 20; ++i) b.release_retry();
  b.release_retry();  // saturates at zero
  CHECK(b.active_retries() == 0);
  CHECK_FALSE(b.try_acquire_retry(0));
  for (int i = 0; i < 101; ++i) b.request_finished();
  CHECK(b.active_requests() == 0);
  // idle pool: the floor still allows 3
  CHECK(b.try_acquire_retry(20));
  CHECK(b.try_acquire_retry(20));
  CHECK(b.try_acquire_retry(20));
  CHECK_FALSE(b.try_acquire_retry(20));
}

TEST_CASE("retry: RAII helpers") {
  RetryBudget b;
  {
    ActiveRequest r1(b), r2(b);
    CHECK(b.active_requests() == 2);
    RetrySlot s1(b, 20), s2(b, 20), s3(b, 20), s4(b, 20);
    CHECK(s1);
    CHECK(s3);
    CHECK_FALSE(s4);
    CHECK(b.active_retries() == 3);
    RetrySlot moved = std::move(s1);
    CHECK(moved);
    CHECK_FALSE(s1);
    CHECK(b.active_retries() == 3);
    moved.reset();
    CHECK(b.active_retries() == 2);
    ActiveRequest r3 = std::move(r2);
    CHECK(b.active_requests() == 2);
  }
  CHECK(b.active_requests() == 0);
  CHECK(b.active_retries() == 0);
}

TEST_CASE("retry: budget never exceeded under concurrency") {
  RetryBudget b;
  for (int i = 0; i < 50; ++i) b.request_started();  // limit 10 at 20%
  std::atomic<uint32_t> peak{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (b.try_acquire_retry(20)) {
          uint32_t now = b.active_retries();
          uint32_t p = peak.load();
          while (now > p && !peak.compare_exchange_weak(p, now)) {
          }
          b.release_retry();
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  CHECK(peak.load() <= 10);
  CHECK(b.active_retries() == 0);
}
