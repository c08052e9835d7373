// tests/unit/health_rise_fall.cpp — rise/fall state machine, interval choice, jitter.
#include <doctest/doctest.h>

#include "health/rise_fall.h"

using namespace lb::health;
using lb::conf::Duration;
using lb::conf::HealthCheckConfig;

TEST_CASE("rise_fall: unchecked decides on the first result") {
  RiseFall up(2, 3);
  CHECK(up.status() == Status::unchecked);
  CHECK_FALSE(up.is_up());
  CHECK(up.record(true, "") == Transition::went_up);
  CHECK(up.status() == Status::up);

  RiseFall down(2, 3);
  CHECK(down.record(false, "connect: connection refused") == Transition::went_down);
  CHECK(down.status() == Status::down);
  CHECK(down.last_error() == "connect: connection refused");
  CHECK(std::string(health_status_name(down.status())) == "failing");
}

TEST_CASE("rise_fall: fall=3 needs three consecutive failures") {
  RiseFall rf(2, 3, Status::up);
  CHECK(rf.record(true, "") == Transition::none);
  CHECK(rf.record(true, "") == Transition::none);
  CHECK(rf.record(false, "timeout") == Transition::none);
  CHECK(rf.is_changing());
  CHECK(rf.record(false, "timeout") == Transition::none);
  CHECK(rf.status() == Status::up);
  CHECK(rf.consecutive_failures() == 2);
  CHECK(rf.record(false, "status 500") == Transition::went_down);
  CHECK(rf.status() == Status::down);
  CHECK(rf.last_error() == "status 500");
  CHECK_FALSE(rf.is_changing());
}

TEST_CASE("rise_fall: a success breaks the failure run") {
  RiseFall rf(2, 3, Status::up);
  rf.record(false, "x");
  rf.record(false, "x");
  CHECK(rf.record(true, "") == Transition::none);
  CHECK(rf.last_error().empty());
  CHECK_FALSE(rf.is_changing());
  rf.record(false, "x");
  rf.record(false, "x");
  CHECK(rf.status() == Status::up);
  CHECK(rf.record(false, "x") == Transition::went_down);
}

TEST_CASE("rise_fall: rise=2 from down, a failure resets the run") {
  RiseFall rf(2, 3, Status::down);
  CHECK(rf.record(true, "") == Transition::none);
  CHECK(rf.is_changing());
  CHECK(rf.record(false, "x") == Transition::none);
  CHECK_FALSE(rf.is_changing());
  CHECK(rf.record(true, "") == Transition::none);
  CHECK(rf.record(true, "") == Transition::went_up);
  CHECK(rf.status() == Status::up);
  CHECK(std::string(health_status_name(rf.status())) == "passing");
}

TEST_CASE("rise_fall: thresholds of 0 behave as 1; set_thresholds keeps state") {
  RiseFall rf(0, 0, Status::up);
  CHECK(rf.record(false, "x") == Transition::went_down);
  CHECK(rf.record(true, "") == Transition::went_up);
  rf.set_thresholds(5, 2);
  CHECK(rf.status() == Status::up);
  CHECK(rf.record(false, "x") == Transition::none);
  CHECK(rf.record(false, "x") == Transition::went_down);
}

TEST_CASE("rise_fall: next_interval") {
  HealthCheckConfig c;
  c.interval = Duration{2000};
  RiseFall rf(2, 3, Status::up);
  // unset fast/down intervals fall back to interval
  CHECK(rf.next_interval(c) == Duration{2000});
  rf.record(false, "x");
  CHECK(rf.next_interval(c) == Duration{2000});

  c.fast_interval = Duration{200};
  c.down_interval = Duration{10000};
  CHECK(rf.next_interval(c) == Duration{200});  // up, changing
  rf.record(true, "");
  CHECK(rf.next_interval(c) == Duration{2000});  // up, steady
  rf.record(false, "x");
  rf.record(false, "x");
  rf.record(false, "x");
  CHECK(rf.status() == Status::down);
  CHECK(rf.next_interval(c) == Duration{10000});  // down, steady
  rf.record(true, "");
  CHECK(rf.next_interval(c) == Duration{200});  // down, changing

  RiseFall fresh(2, 3);
  CHECK(fresh.next_interval(c) == Duration{2000});
}

TEST_CASE("rise_fall: jitter stays within +-spread and is >= 1ms") {
  for (uint64_t r = 0; r < 1000; ++r) {
    const auto d = jitter(Duration{1000}, r * 0x9e3779b97f4a7c15ULL + r);
    CHECK(d >= Duration{900});
    CHECK(d <= Duration{1100});
  }
  CHECK(jitter(Duration{1000}, 0) == Duration{900});
  CHECK(jitter(Duration{1000}, 20) == Duration{1100});
  CHECK(jitter(Duration{1000}, 10) == Duration{1000});
  CHECK(jitter(Duration{1000}, 12345, 0) == Duration{1000});
  CHECK(jitter(Duration{0}, 12345) >= Duration{1});
  CHECK(jitter(Duration{1}, 0) == Duration{1});
  // 20% spread
  for (uint64_t r = 0; r < 100; ++r) {
    const auto d = jitter(Duration{500}, r, 20);
    CHECK(d >= Duration{400});
    CHECK(d <= Duration{600});
  }
}

TEST_CASE("rise_fall: initial_offset in [0, min(interval, cap))") {
  bool saw_low = false, saw_high = false;
  for (uint64_t r = 0; r < 1000; ++r) {
    const auto d = initial_offset(Duration{2000}, r);
    CHECK(d >= Duration{0});
    CHECK(d < Duration{100});
    saw_low |= d < Duration{10};
    saw_high |= d > Duration{90};
  }
  CHECK(saw_low);
  CHECK(saw_high);
  for (uint64_t r = 0; r < 100; ++r) CHECK(initial_offset(Duration{50}, r) < Duration{50});
  for (uint64_t r = 0; r < 100; ++r)
    CHECK(initial_offset(Duration{2000}, r * 7919, Duration{2000}) < Duration{2000});
  CHECK(initial_offset(Duration{0}, 99) == Duration{0});
  CHECK(initial_offset(Duration{1}, 99) == Duration{0});
}

TEST_CASE("rise_fall: names") {
  CHECK(std::string(to_string(Status::unchecked)) == "unchecked");
  CHECK(std::string(to_string(Status::up)) == "up");
  CHECK(std::string(to_string(Status::down)) == "down");
  CHECK(std::string(health_status_name(Status::unchecked)) == "unchecked");
  CHECK(std::string(to_string(Transition::went_down)) == "went_down");
}
