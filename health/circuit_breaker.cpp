// health/circuit_breaker.cpp — lock-free circuit breaker and ejection budget.
// See circuit_breaker.h for the behaviour and threading contract.
//
// The breaker's state lives in one 64-bit word so every transition is a
// single compare-and-swap (no torn state between "state" and "deadline"):
//   bits  0..1   state (CircuitState)
//   bits  2..5   multiplier, 1..10
//   bits  6..21  count (saturating at 65535)
//   bits 22..24  trials in flight (half_open)
//   bits 25..63  time in ms (39 bits)
#include "health/circuit_breaker.h"

#include <algorithm>

namespace lb::health {

namespace {

constexpr unsigned kStateShift = 0, kMultShift = 2, kCountShift = 6, kTrialShift = 22,
                   kTimeShift = 25;
constexpr uint64_t kStateMask = 0x3, kMultMask = 0xF, kCountMask = 0xFFFF, kTrialMask = 0x7,
                   kTimeMask = (uint64_t{1} << 39) - 1;

using Snapshot = CircuitBreaker::Snapshot;

Snapshot unpack(uint64_t w) {
  Snapshot s;
  s.state = static_cast<CircuitState>((w >> kStateShift) & kStateMask);
  s.multiplier = static_cast<uint32_t>((w >> kMultShift) & kMultMask);
  s.count = static_cast<uint32_t>((w >> kCountShift) & kCountMask);
  s.trials = static_cast<uint32_t>((w >> kTrialShift) & kTrialMask);
  s.time_ms = (w >> kTimeShift) & kTimeMask;
  return s;
}

uint64_t pack(const Snapshot& s) {
  return (static_cast<uint64_t>(s.state) & kStateMask) << kStateShift |
         (static_cast<uint64_t>(s.multiplier) & kMultMask) << kMultShift |
         (static_cast<uint64_t>(s.count) & kCountMask) << kCountShift |
         (static_cast<uint64_t>(s.trials) & kTrialMask) << kTrialShift |
         (s.time_ms & kTimeMask) << kTimeShift;
}

Snapshot closed_state() {
  Snapshot s;
  s.state = CircuitState::closed;
  s.multiplier = 1;
  return s;
}

uint64_t to_ms(uint64_t now_ns) { return (now_ns / 1'000'000) & kTimeMask; }

uint64_t recovery_ms(const conf::CircuitBreakerConfig& cfg) {
  return static_cast<uint64_t>(std::max<int64_t>(cfg.recovery_timeout.count(), 0));
}

uint32_t failure_threshold(const conf::CircuitBreakerConfig& cfg) {
  return std::clamp<uint32_t>(cfg.failure_threshold, 1, static_cast<uint32_t>(kCountMask));
}

uint32_t success_threshold(const conf::CircuitBreakerConfig& cfg) {
  return std::clamp<uint32_t>(cfg.success_threshold, 1, static_cast<uint32_t>(kCountMask));
}

// Half-open trial slots are free, or the last grant is older than the lease.
bool trial_available(const Snapshot& s, uint64_t now_ms, const conf::CircuitBreakerConfig& cfg) {
  return s.trials < CircuitBreaker::kMaxTrials || now_ms >= s.time_ms + recovery_ms(cfg);
}

}  // namespace

const char* to_string(CircuitState s) {
  switch (s) {
    case CircuitState::closed: return "closed";
    case CircuitState::open: return "open";
    case CircuitState::half_open: return "half_open";
  }
  return "closed";
}

const char* to_string(CircuitTransition t) {
  switch (t) {
    case CircuitTransition::none: return "none";
    case CircuitTransition::opened: return "opened";
    case CircuitTransition::half_opened: return "half_opened";
    case CircuitTransition::reopened: return "reopened";
    case CircuitTransition::closed: return "closed";
    case CircuitTransition::ejection_limited: return "ejection_limited";
    case CircuitTransition::kept_last: return "kept_last";
  }
  return "none";
}

// ---- EjectionBudget ----

bool EjectionBudget::try_acquire(uint32_t max_percent) {
  const uint64_t limit =
      static_cast<uint64_t>(std::min<uint32_t>(max_percent, 100)) * pool_size_.load(std::memory_order_relaxed);
  uint32_t cur = ejected_.load(std::memory_order_relaxed);
  for (;;) {
    if ((static_cast<uint64_t>(cur) + 1) * 100 > limit) return false;
    if (ejected_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel,
                                       std::memory_order_relaxed))
      return true;
  }
}

void EjectionBudget::release() {
  uint32_t cur = ejected_.load(std::memory_order_relaxed);
  while (cur > 0 && !ejected_.compare_exchange_weak(cur, cur - 1, std::memory_order_acq_rel,
                                                    std::memory_order_relaxed)) {
  }
}

void EjectionBudget::reset(uint32_t pool_size, uint32_t ejected) {
  pool_size_.store(pool_size, std::memory_order_relaxed);
  ejected_.store(ejected, std::memory_order_relaxed);
}

// ---- CircuitBreaker ----

CircuitBreaker::CircuitBreaker() : word_(pack(closed_state())) {}

CircuitState CircuitBreaker::state() const {
  return unpack(word_.load(std::memory_order_acquire)).state;
}

CircuitBreaker::Snapshot CircuitBreaker::snapshot() const {
  return unpack(word_.load(std::memory_order_acquire));
}

bool CircuitBreaker::would_allow(uint64_t now_ns, const conf::CircuitBreakerConfig& cfg) const {
  const Snapshot s = unpack(word_.load(std::memory_order_acquire));
  const uint64_t now_ms = to_ms(now_ns);
  switch (s.state) {
    case CircuitState::closed: return true;
    case CircuitState::open: return now_ms >= s.time_ms;
    case CircuitState::half_open: return trial_available(s, now_ms, cfg);
  }
  return true;
}

CircuitBreaker::Permit CircuitBreaker::allow(uint64_t now_ns, const conf::CircuitBreakerConfig& cfg) {
  const uint64_t now_ms = to_ms(now_ns);
  uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    const Snapshot s = unpack(w);
    Snapshot n = s;
    Permit p;
    switch (s.state) {
      case CircuitState::closed:
        return Permit{true, false, false};
      case CircuitState::open:
        if (now_ms < s.time_ms) return Permit{};
        n.state = CircuitState::half_open;
        n.count = 0;
        n.trials = 1;
        n.time_ms = now_ms;
        p = Permit{true, true, true};
        break;
      case CircuitState::half_open:
        if (!trial_available(s, now_ms, cfg)) return Permit{};
        // A lease that expired means the earlier trial's outcome was lost:
        // start counting in-flight trials afresh rather than stay wedged.
        n.trials = s.trials < kMaxTrials ? s.trials + 1 : 1;
        n.time_ms = now_ms;
        p = Permit{true, true, false};
        break;
    }
    if (word_.compare_exchange_weak(w, pack(n), std::memory_order_acq_rel,
                                    std::memory_order_acquire))
      return p;
  }
}

CircuitTransition CircuitBreaker::on_success(uint64_t /*now_ns*/, const conf::CircuitBreakerConfig& cfg,
                                             EjectionBudget& budget, bool trial) {
  uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    const Snapshot s = unpack(w);
    Snapshot n = s;
    CircuitTransition t = CircuitTransition::none;
    switch (s.state) {
      case CircuitState::closed:
        if (s.count == 0) return CircuitTransition::none;  // hot path: no write
        n.count = 0;
        break;
      case CircuitState::open:
        return CircuitTransition::none;  // stale: the request started before the open
      case CircuitState::half_open:
        if (!trial) return CircuitTransition::none;
        n.trials = s.trials > 0 ? s.trials - 1 : 0;
        n.count = s.count + 1;
        if (n.count >= success_threshold(cfg)) {
          n = closed_state();  // closing resets the multiplier
          t = CircuitTransition::closed;
        }
        break;
    }
    if (word_.compare_exchange_weak(w, pack(n), std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      if (t == CircuitTransition::closed) budget.release();
      return t;
    }
  }
}

CircuitTransition CircuitBreaker::on_failure(uint64_t now_ns, const conf::CircuitBreakerConfig& cfg,
                                             EjectionBudget& budget, bool trial, bool last) {
  const uint64_t now_ms = to_ms(now_ns);
  const uint32_t threshold = failure_threshold(cfg);
  uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    const Snapshot s = unpack(w);
    Snapshot n = s;
    CircuitTransition t = CircuitTransition::none;
    bool took_slot = false;
    switch (s.state) {
      case CircuitState::closed: {
        const uint32_t count = std::min<uint32_t>(s.count + 1, static_cast<uint32_t>(kCountMask));
        if (count < threshold) {
          n.count = count;
          break;
        }
        if (last) {
          n.count = count;
          if (s.count + 1 == threshold) t = CircuitTransition::kept_last;
        } else if (budget.try_acquire(cfg.max_ejection_percent)) {
          took_slot = true;
          n.state = CircuitState::open;
          n.multiplier = 1;
          n.count = 0;
          n.trials = 0;
          n.time_ms = now_ms + recovery_ms(cfg);
          t = CircuitTransition::opened;
        } else {
          // Stay closed and keep counting; report only when the run first
          // reaches the threshold, so a failing pool does not flood the log.
          n.count = count;
          if (s.count + 1 == threshold) t = CircuitTransition::ejection_limited;
        }
        break;
      }
      case CircuitState::open:
        return CircuitTransition::none;
      case CircuitState::half_open:
        if (!trial) return CircuitTransition::none;  // stale outcome
        if (last) {
          n = closed_state();  // the pool has nothing else: take it back in
          t = CircuitTransition::closed;
          break;
        }
        n.state = CircuitState::open;
        n.multiplier = std::min(s.multiplier * 2, kMaxMultiplier);
        n.count = 0;
        n.trials = 0;
        n.time_ms = now_ms + recovery_ms(cfg) * n.multiplier;
        t = CircuitTransition::reopened;
        break;
    }
    if (word_.compare_exchange_weak(w, pack(n), std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      if (t == CircuitTransition::closed) budget.release();
      return t;
    }
    if (took_slot) budget.release();  // lost the race; recompute from the new word
  }
}

CircuitTransition CircuitBreaker::close(EjectionBudget& budget) {
  uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    const Snapshot s = unpack(w);
    if (s.state == CircuitState::closed) {
      if (s.count == 0) return CircuitTransition::none;
      if (word_.compare_exchange_weak(w, pack(closed_state()), std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        return CircuitTransition::none;
      continue;
    }
    if (word_.compare_exchange_weak(w, pack(closed_state()), std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      budget.release();
      return CircuitTransition::closed;
    }
  }
}

}  // namespace lb::health
