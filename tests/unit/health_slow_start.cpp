// tests/unit/health_slow_start.cpp — slow-start weight ramp.
#include <doctest/doctest.h>

#include "health/slow_start.h"

using namespace lb::health;
using lb::conf::Duration;

namespace {
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kUp = 5'000'000 * kMs;
}  // namespace

TEST_CASE("slow_start: disabled cases return the full weight") {
  CHECK(slow_start_weight(100, kUp, kUp, Duration{0}) == 100);        // no window
  CHECK(slow_start_weight(100, kUp + 10, 0, Duration{10'000}) == 100);  // never recovered
  CHECK(slow_start_weight(100, kUp + 10'000 * kMs, kUp, Duration{10'000}) == 100);  // window over
  CHECK(slow_start_weight(100, kUp + 99'999 * kMs, kUp, Duration{10'000}) == 100);
  CHECK_FALSE(in_slow_start(kUp + 10'000 * kMs, kUp, Duration{10'000}));
  CHECK(in_slow_start(kUp + 9'999 * kMs, kUp, Duration{10'000}));
  CHECK_FALSE(in_slow_start(kUp, 0, Duration{10'000}));
}

TEST_CASE("slow_start: linear ramp from 10% to 100%") {
  const Duration w{10'000};
  CHECK(slow_start_weight(100, kUp, kUp, w) == 10);  // floor of 10%
  CHECK(slow_start_weight(100, kUp + 500 * kMs, kUp, w) == 10);
  CHECK(slow_start_weight(100, kUp + 2'500 * kMs, kUp, w) == 25);
  CHECK(slow_start_weight(100, kUp + 5'000 * kMs, kUp, w) == 50);
  CHECK(slow_start_weight(100, kUp + 9'000 * kMs, kUp, w) == 90);
  // monotonic
  uint32_t prev = 0;
  for (uint64_t t = 0; t <= 10'000; t += 100) {
    const uint32_t cur = slow_start_weight(1000, kUp + t * kMs, kUp, w);
    CHECK(cur >= prev);
    CHECK(cur >= 100);
    CHECK(cur <= 1000);
    prev = cur;
  }
  CHECK(prev == 1000);
}

TEST_CASE("slow_start: never below 1; clock before up_since counts as start") {
  const Duration w{10'000};
  CHECK(slow_start_weight(1, kUp, kUp, w) == 1);
  CHECK(slow_start_weight(5, kUp + 1'000 * kMs, kUp, w) == 1);
  CHECK(slow_start_weight(100, kUp - 1000, kUp, w) == 10);
}
