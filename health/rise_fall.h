// health/rise_fall.h — the rise/fall state machine of active health checks,
// and the helpers that choose when the next check runs (interval selection,
// jitter, initial offset).
//
// Pure logic: no libuv, no clock reads, no global random state (callers pass
// a random 64-bit value in). Thread-safety: a RiseFall is a plain value owned
// by one thread (the health checker's loop thread); it has no internal
// synchronisation. The free functions are pure and safe from any thread.
//
// Semantics (SPEC sections 3 and 5, HAProxy-like):
//   unchecked  never checked yet; counts as down. The first result decides at
//              once: pass → up (went_up), fail → down (went_down).
//   up         `fall` consecutive failures → down (went_down); a pass resets
//              the failure run.
//   down       `rise` consecutive passes → up (went_up); a failure resets the
//              pass run.
// "Changing" means a run toward the other state has started but not finished;
// the scheduler then uses fast_interval so the transition completes quickly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace lb::health {

enum class Status : uint8_t { unchecked, up, down };
enum class Transition : uint8_t { none, went_up, went_down };

// "unchecked" | "up" | "down"
const char* to_string(Status);
// The /stats health.status word: "unchecked" | "passing" | "failing".
const char* health_status_name(Status);
// "none" | "went_up" | "went_down"
const char* to_string(Transition);

class RiseFall {
 public:
  // rise/fall of 0 are treated as 1.
  RiseFall(uint32_t rise, uint32_t fall, Status initial = Status::unchecked);

  // Records one probe result; returns the transition it caused, if any.
  // `error` is kept as last_error() for a failure; a pass clears it.
  Transition record(bool ok, std::string_view error);

  // New thresholds (reload); counters and status are kept.
  void set_thresholds(uint32_t rise, uint32_t fall);

  Status status() const { return status_; }
  bool is_up() const { return status_ == Status::up; }
  // A run of results toward the other state is under way.
  bool is_changing() const;
  uint32_t consecutive_successes() const { return successes_; }
  uint32_t consecutive_failures() const { return failures_; }
  // Error of the most recent check; empty when it passed or none ran yet.
  const std::string& last_error() const { return last_error_; }

  // Delay before the next check, before jitter: fast_interval while changing,
  // down_interval while down, else interval (unset optional → interval).
  conf::Duration next_interval(const conf::HealthCheckConfig& check) const;

 private:
  uint32_t rise_;
  uint32_t fall_;
  Status status_;
  uint32_t successes_ = 0;  // consecutive passes (counted while down)
  uint32_t failures_ = 0;   // consecutive failures (counted while up)
  std::string last_error_;
};

// Spreads periodic checks: `d` scaled by a uniform factor in
// [1 - spread_percent%, 1 + spread_percent%], derived from `random`.
// Never below 1ms. spread_percent is clamped to 0..100.
conf::Duration jitter(conf::Duration d, uint64_t random, uint32_t spread_percent = 10);

// First-check delay for a new target: uniform in [0, min(interval, cap)).
// The cap keeps the first round prompt (so /ready turns true soon) while still
// spreading many new targets over a short window instead of one instant.
conf::Duration initial_offset(conf::Duration interval, uint64_t random,
                              conf::Duration cap = conf::Duration{100});

}  // namespace lb::health
