// health/retry_policy.h — when a failed attempt may be retried, how long to
// wait first, and the per-pool retry budget (SPEC section 3, "retries").
//
// Pure functions plus one lock-free counter object. Thread-safety: the free
// functions are pure; a RetryBudget is shared by all worker threads of a pool
// and uses relaxed/acq_rel atomics only (no locks, no allocation).
//
// Budget rule (Envoy's retry_budget, adapted):
//   limit = budget_percent == 0 ? 0
//         : max(kMinRetryConcurrency, active_requests * budget_percent / 100)
//   a retry may start iff retries_in_flight + 1 <= limit.
// active_requests counts client requests in flight to the pool (each once,
// whatever its attempt number); retries_in_flight counts retry attempts
// (attempt 2, 3, …) currently running. The floor of 3 concurrent retries
// (Envoy's min_retry_concurrency default) keeps retries useful at low traffic,
// where 20% of a handful of requests would round down to zero; budget_percent
// 0 disables retries outright ("add at most 0%").
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

#include "conf/config.h"

namespace lb::health {

// Delay before retry number `attempt` (0 = the first retry): exponential with
// full jitter, uniform over [0, min(max, base * 2^attempt)] (inclusive, in ms)
// using the caller's random value.
conf::Duration backoff(uint32_t attempt, conf::Duration base, conf::Duration max, uint64_t random);

// RFC 9110 idempotent methods: GET, HEAD, OPTIONS, PUT, DELETE, TRACE
// (case-sensitive, as methods are).
bool is_idempotent(std::string_view method);

// The retry condition a backend status maps to: 502/503/504, else nullopt.
std::optional<conf::RetryOn> retry_on_for_status(int status);

// SPEC 3: may a failed attempt be retried?
//   - never once any response byte has reached the client (response_started);
//   - only for conditions listed in cfg.on;
//   - connect_failure always (the request never left lb);
//   - reset, timeout, 502/503/504 only when the request is idempotent or has
//     no body (idempotent_or_bodiless), since the backend may have acted on it.
// The attempt count and the budget are checked separately by the caller.
bool should_retry(conf::RetryOn condition, const conf::RetriesConfig& cfg, bool response_started,
                  bool idempotent_or_bodiless);

class RetryBudget {
 public:
  static constexpr uint32_t kMinRetryConcurrency = 3;

  RetryBudget() = default;
  RetryBudget(const RetryBudget&) = delete;
  RetryBudget& operator=(const RetryBudget&) = delete;

  // Pair every request_started() with one request_finished().
  void request_started() { active_.fetch_add(1, std::memory_order_relaxed); }
  void request_finished();

  // Takes a retry slot when the budget allows it; pair a true result with
  // release_retry() when that retry attempt ends (success or failure).
  bool try_acquire_retry(uint32_t budget_percent);
  void release_retry();

  uint32_t active_requests() const { return active_.load(std::memory_order_relaxed); }
  uint32_t active_retries() const { return retries_.load(std::memory_order_relaxed); }

  // The rule in the header comment.
  static uint32_t limit(uint32_t active_requests, uint32_t budget_percent);

 private:
  std::atomic<uint32_t> active_{0};
  std::atomic<uint32_t> retries_{0};
};

// RAII helpers for code that prefers scope-bound accounting.
class ActiveRequest {
 public:
  explicit ActiveRequest(RetryBudget& b) : budget_(&b) { b.request_started(); }
  ActiveRequest(ActiveRequest&& o) noexcept : budget_(o.budget_) { o.budget_ = nullptr; }
  ActiveRequest& operator=(ActiveRequest&&) = delete;
  ActiveRequest(const ActiveRequest&) = delete;
  ~ActiveRequest() { if (budget_) budget_->request_finished(); }

 private:
  RetryBudget* budget_;
};

class RetrySlot {
 public:
  RetrySlot() = default;
  // Holds a slot only if the budget granted one; check with operator bool.
  RetrySlot(RetryBudget& b, uint32_t budget_percent)
      : budget_(b.try_acquire_retry(budget_percent) ? &b : nullptr) {}
  RetrySlot(RetrySlot&& o) noexcept : budget_(o.budget_) { o.budget_ = nullptr; }
  RetrySlot& operator=(RetrySlot&& o) noexcept {
    if (this != &o) {
      reset();
      budget_ = o.budget_;
      o.budget_ = nullptr;
    }
    return *this;
  }
  RetrySlot(const RetrySlot&) = delete;
  ~RetrySlot() { reset(); }
  explicit operator bool() const { return budget_ != nullptr; }
  void reset() {
    if (budget_) budget_->release_retry();
    budget_ = nullptr;
  }

 private:
  RetryBudget* budget_ = nullptr;
};

}  // namespace lb::health
