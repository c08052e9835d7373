// health/rise_fall.cpp — rise/fall state machine and check scheduling helpers.
// Pure, single-owner logic; see rise_fall.h for the contract.
#include "health/rise_fall.h"

#include <algorithm>

namespace lb::health {

const char* to_string(Status s) {
  switch (s) {
    case Status::unchecked: return "unchecked";
    case Status::up: return "up";
    case Status::down: return "down";
  }
  return "unchecked";
}

const char* health_status_name(Status s) {
  switch (s) {
    case Status::unchecked: return "unchecked";
    case Status::up: return "passing";
    case Status::down: return "failing";
  }
  return "unchecked";
}

const char* to_string(Transition t) {
  switch (t) {
    case Transition::none: return "none";
    case Transition::went_up: return "went_up";
    case Transition::went_down: return "went_down";
  }
  return "none";
}

RiseFall::RiseFall(uint32_t rise, uint32_t fall, Status initial)
    : rise_(std::max<uint32_t>(rise, 1)), fall_(std::max<uint32_t>(fall, 1)), status_(initial) {}

void RiseFall::set_thresholds(uint32_t rise, uint32_t fall) {
  rise_ = std::max<uint32_t>(rise, 1);
  fall_ = std::max<uint32_t>(fall, 1);
}

bool RiseFall::is_changing() const {
  switch (status_) {
    case Status::up: return failures_ > 0;
    case Status::down: return successes_ > 0;
    case Status::unchecked: return false;
  }
  return false;
}

Transition RiseFall::record(bool ok, std::string_view error) {
  if (ok) {
    last_error_.clear();
  } else {
    last_error_.assign(error);
  }
  switch (status_) {
    case Status::unchecked:
      // The first result decides immediately: an unchecked server already
      // counts as down, so waiting for `rise` passes would only delay it.
      successes_ = failures_ = 0;
      status_ = ok ? Status::up : Status::down;
      return ok ? Transition::went_up : Transition::went_down;
    case Status::up:
      if (ok) {
        failures_ = 0;
        return Transition::none;
      }
      if (++failures_ >= fall_) {
        status_ = Status::down;
        successes_ = failures_ = 0;
        return Transition::went_down;
      }
      return Transition::none;
    case Status::down:
      if (!ok) {
        successes_ = 0;
        return Transition::none;
      }
      if (++successes_ >= rise_) {
        status_ = Status::up;
        successes_ = failures_ = 0;
        return Transition::went_up;
      }
      return Transition::none;
  }
  return Transition::none;
}

conf::Duration RiseFall::next_interval(const conf::HealthCheckConfig& check) const {
  if (is_changing()) return check.fast_interval.value_or(check.interval);
  if (status_ == Status::down) return check.down_interval.value_or(check.interval);
  return check.interval;
}

conf::Duration jitter(conf::Duration d, uint64_t random, uint32_t spread_percent) {
  const int64_t ms = std::max<int64_t>(d.count(), 1);
  const uint64_t spread = std::min<uint32_t>(spread_percent, 100);
  // factor (in percent) uniform over [100 - spread, 100 + spread]
  const uint64_t pct = 100 - spread + random % (2 * spread + 1);
  const int64_t out = static_cast<int64_t>((static_cast<uint64_t>(ms) * pct) / 100);
  return conf::Duration{std::max<int64_t>(out, 1)};
}

conf::Duration initial_offset(conf::Duration interval, uint64_t random, conf::Duration cap) {
  const int64_t span = std::min(interval.count(), cap.count());
  if (span <= 1) return conf::Duration{0};
  return conf::Duration{static_cast<int64_t>(random % static_cast<uint64_t>(span))};
}

}  // namespace lb::health
