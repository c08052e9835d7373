// tests/unit/health_circuit_breaker.cpp — circuit breaker states, backoff of
// the recovery timeout, ejection budget, and a multi-threaded smoke test.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "health/circuit_breaker.h"

using namespace lb::health;
using lb::conf::CircuitBreakerConfig;
using lb::conf::Duration;

namespace {
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kT0 = 1'000'000 * kMs;  // arbitrary monotonic start

CircuitBreakerConfig cfg(uint32_t failures = 5, uint32_t recovery_ms = 30'000, uint32_t successes = 1,
                         uint32_t max_eject = 100) {
  CircuitBreakerConfig c;
  c.failure_threshold = failures;
  c.recovery_timeout = Duration{recovery_ms};
  c.success_threshold = successes;
  c.max_ejection_percent = max_eject;
  return c;
}

// Drives `cb` from closed to open at time `now`.
void open_it(CircuitBreaker& cb, const CircuitBreakerConfig& c, EjectionBudget& b, uint64_t now) {
  for (uint32_t i = 0; i + 1 < c.failure_threshold; ++i)
    REQUIRE(cb.on_failure(now, c, b) == CircuitTransition::none);
  REQUIRE(cb.on_failure(now, c, b) == CircuitTransition::opened);
}
}  // namespace

TEST_CASE("circuit: threshold consecutive failures open it; allow is false while open") {
  EjectionBudget budget(10);
  CircuitBreaker cb;
  const auto c = cfg(5, 30'000);
  CHECK(cb.state() == CircuitState::closed);
  CHECK(cb.allow(kT0, c).allowed);
  for (int i = 0; i < 4; ++i) CHECK(cb.on_failure(kT0, c, budget) == CircuitTransition::none);
  CHECK(cb.snapshot().count == 4);
  CHECK(cb.state() == CircuitState::closed);
  CHECK(cb.on_failure(kT0, c, budget) == CircuitTransition::opened);
  CHECK(cb.state() == CircuitState::open);
  CHECK(cb.holds_ejection());
  CHECK(budget.ejected() == 1);
  CHECK_FALSE(cb.allow(kT0 + 1 * kMs, c).allowed);
  CHECK_FALSE(cb.would_allow(kT0 + 29'999 * kMs, c));
  CHECK_FALSE(cb.allow(kT0 + 29'999 * kMs, c));
  // stale outcomes while open change nothing
  CHECK(cb.on_success(kT0 + 2 * kMs, c, budget) == CircuitTransition::none);
  CHECK(cb.on_failure(kT0 + 2 * kMs, c, budget) == CircuitTransition::none);
  CHECK(cb.state() == CircuitState::open);
}

TEST_CASE("circuit: a success resets the failure run") {
  EjectionBudget budget(10);
  CircuitBreaker cb;
  const auto c = cfg(3);
  cb.on_failure(kT0, c, budget);
  cb.on_failure(kT0, c, budget);
  CHECK(cb.on_success(kT0, c, budget) == CircuitTransition::none);
  CHECK(cb.snapshot().count == 0);
  cb.on_failure(kT0, c, budget);
  cb.on_failure(kT0, c, budget);
  CHECK(cb.state() == CircuitState::closed);
  CHECK(cb.on_failure(kT0, c, budget) == CircuitTransition::opened);
}

TEST_CASE("circuit: half-open after recovery allows one trial; success closes") {
  EjectionBudget budget(10);
  CircuitBreaker cb;
  const auto c = cfg(2, 1000);
  open_it(cb, c, budget, kT0);
  CHECK(cb.would_allow(kT0 + 1000 * kMs, c));
  auto p = cb.allow(kT0 + 1000 * kMs, c);
  CHECK(p.allowed);
  CHECK(p.trial);
  CHECK(p.half_opened);
  CHECK(cb.state() == CircuitState::half_open);
  // only one trial at a time
  CHECK_FALSE(cb.would_allow(kT0 + 1001 * kMs, c));
  CHECK_FALSE(cb.allow(kT0 + 1001 * kMs, c).allowed);
  // a non-trial outcome (started before the open) is ignored
  CHECK(cb.on_failure(kT0 + 1002 * kMs, c, budget, false) == CircuitTransition::none);
  CHECK(cb.state() == CircuitState::half_open);
  CHECK(cb.on_success(kT0 + 1003 * kMs, c, budget, true) == CircuitTransition::closed);
  CHECK(cb.state() == CircuitState::closed);
  CHECK(budget.ejected() == 0);
  CHECK(cb.snapshot().multiplier == 1);
  CHECK(cb.allow(kT0 + 1004 * kMs, c).allowed);
}

TEST_CASE("circuit: success_threshold trial successes needed to close") {
  EjectionBudget budget(10);
  CircuitBreaker cb;
  const auto c = cfg(1, 1000, 3);
  open_it(cb, c, budget, kT0);
  uint64_t now = kT0 + 1000 * kMs;
  for (int i = 0; i < 2; ++i) {
    auto p = cb.allow(now, c);
    REQUIRE(p.trial);
    CHECK(cb.on_success(now, c, budget, true) == CircuitTransition::none);
    CHECK(cb.state() == CircuitState::half_open);
    now += kMs;
  }
  auto p = cb.allow(now, c);
  REQUIRE(p.trial);
  CHECK_FALSE(p.half_opened);
  CHECK(cb.on_success(now, c, budget, true) == CircuitTransition::closed);
}

TEST_CASE("circuit: trial failure re-opens with doubled timeout, capped at 10x") {
  EjectionBudget budget(10);
  CircuitBreaker cb;
  const auto c = cfg(1, 1000);
  open_it(cb, c, budget, kT0);
  uint64_t now = kT0 + 1000 * kMs;
  const uint32_t expected_mult[] = {2, 4, 8, 10, 10};
  for (uint32_t m : expected_mult) {
    auto p = cb.allow(now, c);
    REQUIRE(p.trial);
    CHECK(cb.on_failure(now, c, budget, true) == CircuitTransition::reopened);
    CHECK(cb.state() == CircuitState::open);
    CHECK(cb.snapshot().multiplier == m);
    const uint64_t reopen_at = now + uint64_t{1000} * m * kMs;
    CHECK_FALSE(cb.would_allow(reopen_at - kMs, c));
    CHECK_FALSE(cb.allow(reopen_at - kMs, c).allowed);
    CHECK(cb.would_allow(reopen_at, c));
    now = reopen_at;
  }
  CHECK(budget.ejected() == 1);  // re-opening does not take another slot
  REQUIRE(cb.allow(now, c).trial);
  CHECK(cb.on_success(now, c, budget, true) == CircuitTransition::closed);
  CHECK(budget.ejected() == 0);
  // closing reset the multiplier: the next open lasts 1x again
  open_it(cb, c, budget, now);
  CHECK(cb.snapshot().multiplier == 1);
  CHECK_FALSE(cb.would_allow(now + 999 * kMs, c));
  CHECK(cb.would_allow(now + 1000 * kMs, c));
}

TEST_CASE("circuit: a lost trial stops blocking after the recovery timeout (lease)") {
  EjectionBudget budget(10);
  CircuitBreaker cb;
  const auto c = cfg(1, 1000);
  open_it(cb, c, budget, kT0);
  REQUIRE(cb.allow(kT0 + 1000 * kMs, c).trial);
  CHECK_FALSE(cb.allow(kT0 + 1999 * kMs, c).allowed);
  auto p = cb.allow(kT0 + 2000 * kMs, c);
  CHECK(p.allowed);
  CHECK(p.trial);
  CHECK(cb.snapshot().trials == 1);
}

TEST_CASE("circuit: ejection budget limits open circuits per pool") {
  // pool of 4, max 50% → at most 2 open
  EjectionBudget budget(4);
  const auto c = cfg(2, 1000, 1, 50);
  CircuitBreaker a, b, d;
  open_it(a, c, budget, kT0);
  open_it(b, c, budget, kT0);
  CHECK(budget.ejected() == 2);
  CHECK(d.on_failure(kT0, c, budget) == CircuitTransition::none);
  CHECK(d.on_failure(kT0, c, budget) == CircuitTransition::ejection_limited);
  CHECK(d.state() == CircuitState::closed);
  CHECK(d.on_failure(kT0, c, budget) == CircuitTransition::none);  // reported once per run
  CHECK(d.state() == CircuitState::closed);
  CHECK(d.snapshot().count == 3);  // kept counting
  CHECK(d.allow(kT0, c).allowed);
  // one recovers → the next failure of d may open it
  REQUIRE(a.allow(kT0 + 1000 * kMs, c).trial);
  CHECK(a.on_success(kT0 + 1000 * kMs, c, budget, true) == CircuitTransition::closed);
  CHECK(budget.ejected() == 1);
  CHECK(d.on_failure(kT0 + 1000 * kMs, c, budget) == CircuitTransition::opened);
  CHECK(budget.ejected() == 2);
}

TEST_CASE("circuit: ejection budget formula") {
  EjectionBudget one(1);
  CHECK_FALSE(one.try_acquire(50));  // 1 of 1 = 100% > 50%
  CHECK(one.try_acquire(100));
  CHECK_FALSE(one.try_acquire(100));
  one.release();
  one.release();  // saturates
  CHECK(one.ejected() == 0);

  EjectionBudget ten(10);
  for (int i = 0; i < 3; ++i) CHECK(ten.try_acquire(30));
  CHECK_FALSE(ten.try_acquire(30));
  CHECK_FALSE(EjectionBudget(10).try_acquire(0));
  EjectionBudget empty(0);
  CHECK_FALSE(empty.try_acquire(100));
  ten.reset(20, 3);
  CHECK(ten.pool_size() == 20);
  CHECK(ten.try_acquire(20));  // 4*100 <= 20*20
  CHECK_FALSE(ten.try_acquire(20));
}

TEST_CASE("circuit: close() forces closed and returns the slot") {
  EjectionBudget budget(2);
  CircuitBreaker cb;
  const auto c = cfg(1, 1000);
  open_it(cb, c, budget, kT0);
  CHECK(budget.ejected() == 1);
  CHECK(cb.close(budget) == CircuitTransition::closed);
  CHECK(budget.ejected() == 0);
  CHECK(cb.state() == CircuitState::closed);
  CHECK(cb.close(budget) == CircuitTransition::none);
  CHECK(budget.ejected() == 0);
}

TEST_CASE("circuit: thresholds of 0 behave as 1") {
  EjectionBudget budget(1);
  CircuitBreaker cb;
  const auto c = cfg(0, 10, 0);
  CHECK(cb.on_failure(kT0, c, budget) == CircuitTransition::opened);
  REQUIRE(cb.allow(kT0 + 10 * kMs, c).trial);
  CHECK(cb.on_success(kT0 + 10 * kMs, c, budget, true) == CircuitTransition::closed);
}

TEST_CASE("circuit: names") {
  CHECK(std::string(to_string(CircuitState::closed)) == "closed");
  CHECK(std::string(to_string(CircuitState::open)) == "open");
  CHECK(std::string(to_string(CircuitState::half_open)) == "half_open");
  CHECK(std::string(to_string(CircuitTransition::opened)) == "opened");
}

TEST_CASE("circuit: concurrent use keeps the budget consistent") {
  // 8 breakers in a pool of 8 with max 50%: never more than 4 open at once,
  // and after everything closes the budget is back to zero.
  constexpr int kServers = 8;
  EjectionBudget budget(kServers);
  const auto c = cfg(3, 1, 1, 50);
  std::vector<std::unique_ptr<CircuitBreaker>> cbs;
  for (int i = 0; i < kServers; ++i) cbs.push_back(std::make_unique<CircuitBreaker>());
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      uint64_t now = kT0;
      for (int i = 0; i < 20000; ++i) {
        now += kMs / 4;
        auto& cb = *cbs[(i + th) % kServers];
        auto p = cb.allow(now, c);
        if (!p) continue;
        if ((i * 7 + th) % 3 == 0)
          cb.on_success(now, c, budget, p.trial);
        else
          cb.on_failure(now, c, budget, p.trial);
        if (budget.ejected() > kServers / 2) over = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK_FALSE(over.load());
  uint32_t not_closed = 0;
  for (auto& cb : cbs) not_closed += cb->holds_ejection() ? 1 : 0;
  CHECK(budget.ejected() == not_closed);
  for (auto& cb : cbs) cb->close(budget);
  CHECK(budget.ejected() == 0);
}

TEST_CASE("circuit: the pool's last available primary never opens, whatever max_ejection_percent says") {
  EjectionBudget budget(2);
  CircuitBreaker cb;
  const auto c = cfg(3, 1000, 1, 100);  // the budget would allow ejecting both servers
  CHECK(cb.on_failure(kT0, c, budget, false, true) == CircuitTransition::none);
  CHECK(cb.on_failure(kT0, c, budget, false, true) == CircuitTransition::none);
  CHECK(cb.on_failure(kT0, c, budget, false, true) == CircuitTransition::kept_last);
  CHECK(cb.on_failure(kT0, c, budget, false, true) == CircuitTransition::none);  // reported once per run
  CHECK(cb.state() == CircuitState::closed);
  CHECK(cb.allow(kT0, c).allowed);
  CHECK(budget.ejected() == 0);
  // Once another server is available again, the running failure run opens it.
  CHECK(cb.on_failure(kT0, c, budget, false, false) == CircuitTransition::opened);
  CHECK(budget.ejected() == 1);
}

TEST_CASE("circuit: a failed half-open trial of the last available primary closes the breaker instead of re-opening") {
  EjectionBudget budget(2);
  CircuitBreaker cb;
  const auto c = cfg(1, 1000);
  open_it(cb, c, budget, kT0);
  REQUIRE(budget.ejected() == 1);
  const uint64_t now = kT0 + 1000 * kMs;
  auto p = cb.allow(now, c);
  REQUIRE(p.trial);
  CHECK(cb.on_failure(now, c, budget, true, true) == CircuitTransition::closed);
  CHECK(cb.state() == CircuitState::closed);
  CHECK(cb.snapshot().multiplier == 1);
  CHECK(budget.ejected() == 0);  // its ejection slot is back
  CHECK(cb.allow(now, c).allowed);
  CHECK(std::string(to_string(CircuitTransition::kept_last)) == "kept_last");
}
