// health/circuit_breaker.h — passive health: a per-server circuit breaker
// (closed → open → half_open → closed) and the per-pool ejection budget that
// enforces max_ejection_percent (SPEC section 3, "circuit_breaker").
//
// Thread-safety: a CircuitBreaker and an EjectionBudget are shared by all
// worker threads and are lock-free. The breaker keeps its whole state in one
// 64-bit atomic word changed by compare-and-swap; the budget is one atomic
// counter plus an atomic pool size. No call blocks or allocates. A success on
// a closed breaker with no failure run is a single relaxed load (no write),
// so the common request path does not bounce the cache line between cores.
//
// Time is the caller's monotonic clock in nanoseconds (uv_hrtime()); the word
// stores it at millisecond resolution in 39 bits (~17 years of uptime).
//
// Behaviour:
//   closed     `failure_threshold` consecutive failures open the breaker —
//              if the pool's EjectionBudget allows it; otherwise it stays
//              closed (failures keep counting, the next failure asks again).
//   open       allow() is false until recovery_timeout × multiplier has
//              passed; then the first allow() moves to half_open and grants a
//              trial request.
//   half_open  at most kMaxTrials trial requests at a time. `success_threshold`
//              trial successes close the breaker (multiplier back to 1×); a
//              trial failure re-opens it with the multiplier doubled, capped
//              at 10×. A trial never reported back stops blocking further
//              trials after recovery_timeout (lease), so a lost outcome cannot
//              wedge the breaker half-open forever.
//   Outcomes of non-trial requests that finish while open/half_open started
//   before the breaker opened; they are stale and ignored.
//   last server  SPEC section 11, "never eject the last server": when the
//              caller says the server is the last available primary of its
//              pool (`last` in on_failure), the breaker never opens: closed it
//              keeps counting (kept_last is reported once per run, when the
//              run reaches the threshold), and a failed half-open trial closes
//              it rather than re-open it.
//
// Every state change is returned to the caller so it can log "circuit
// open/close" (SPEC section 8). Configuration is passed in on every call, so a
// reload that changes thresholds needs no synchronisation with the breaker.
#pragma once

#include <atomic>
#include <cstdint>

#include "conf/config.h"

namespace lb::health {

enum class CircuitState : uint8_t { closed, open, half_open };

// "closed" | "open" | "half_open" (the /stats "circuit" word)
const char* to_string(CircuitState);

enum class CircuitTransition : uint8_t {
  none,
  opened,            // closed → open
  half_opened,       // open → half_open (recovery timeout elapsed)
  reopened,          // half_open → open, timeout multiplier doubled
  closed,            // half_open → closed (or close() from another state)
  ejection_limited,  // threshold reached but max_ejection_percent kept it closed
                     // (reported once per failure run, when the run reaches the threshold)
  kept_last,         // threshold reached but the server is the pool's last available
                     // primary, so it stays closed (reported like ejection_limited)
};

const char* to_string(CircuitTransition);

// Per pool: how many of its servers' breakers are not closed, against the pool
// size. Shared by every breaker of the pool.
//
// Lifetime: breaker state survives reloads (servers keep it by pool name +
// address), so the budget must too — keep one EjectionBudget per pool *name*
// across reloads, call set_pool_size() on reload, and call
// CircuitBreaker::close(budget) (or release()) for each removed server whose
// breaker holds_ejection(); or resynchronise with reset().
class EjectionBudget {
 public:
  explicit EjectionBudget(uint32_t pool_size = 0) : pool_size_(pool_size) {}

  // Takes one ejection slot iff (ejected + 1) * 100 <= max_percent * pool_size.
  bool try_acquire(uint32_t max_percent);
  // Returns a slot (saturates at 0).
  void release();

  void set_pool_size(uint32_t n) { pool_size_.store(n, std::memory_order_relaxed); }
  // Full resynchronisation: pool size and how many breakers are not closed.
  void reset(uint32_t pool_size, uint32_t ejected);

  uint32_t ejected() const { return ejected_.load(std::memory_order_relaxed); }
  uint32_t pool_size() const { return pool_size_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> ejected_{0};
  std::atomic<uint32_t> pool_size_;
};

class CircuitBreaker {
 public:
  static constexpr uint32_t kMaxTrials = 1;       // concurrent trial requests in half_open
  static constexpr uint32_t kMaxMultiplier = 10;  // cap on recovery_timeout growth

  struct Permit {
    bool allowed = false;
    bool trial = false;        // pass back to on_success/on_failure
    bool half_opened = false;  // this call moved open → half_open (log it if wanted)
    explicit operator bool() const { return allowed; }
  };

  // Read-only view of the packed word (stats, tests).
  struct Snapshot {
    CircuitState state = CircuitState::closed;
    uint32_t multiplier = 1;  // applies to the current/next open period
    uint32_t count = 0;       // closed: consecutive failures; half_open: trial successes
    uint32_t trials = 0;      // half_open: trials in flight
    uint64_t time_ms = 0;     // open: reopen-at; half_open: last trial granted at
  };

  CircuitBreaker();
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // Side-effect-free: would allow() admit a request now? Use inside the
  // balancer's availability test, which may look at many candidates; call
  // allow() only for the server actually chosen (it may still say no on a race).
  bool would_allow(uint64_t now_ns, const conf::CircuitBreakerConfig& cfg) const;

  // Admission for the chosen server. In half_open this takes a trial slot,
  // which the request's outcome (on_success/on_failure with trial=true) returns.
  Permit allow(uint64_t now_ns, const conf::CircuitBreakerConfig& cfg);

  // Outcome of a request that allow() admitted. `trial` is Permit::trial.
  CircuitTransition on_success(uint64_t now_ns, const conf::CircuitBreakerConfig& cfg,
                               EjectionBudget& budget, bool trial = false);
  // `last`: the server is its pool's last available primary (see "last
  // server" above); a failed trial then closes the breaker (returns closed).
  CircuitTransition on_failure(uint64_t now_ns, const conf::CircuitBreakerConfig& cfg,
                               EjectionBudget& budget, bool trial = false, bool last = false);

  // Forces closed (server removed, admin reset, active check says it recovered
  // — the caller's policy). Releases the ejection slot if one was held.
  // Returns closed if the state changed, else none.
  CircuitTransition close(EjectionBudget& budget);

  CircuitState state() const;
  // Not closed: the breaker holds one of its pool's ejection slots.
  bool holds_ejection() const { return state() != CircuitState::closed; }
  Snapshot snapshot() const;

 private:
  std::atomic<uint64_t> word_;
};

}  // namespace lb::health
