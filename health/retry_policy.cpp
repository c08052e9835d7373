// health/retry_policy.cpp — retry conditions, backoff with full jitter, and
// the lock-free per-pool retry budget. See retry_policy.h for the contract.
#include "health/retry_policy.h"

#include <algorithm>

namespace lb::health {

conf::Duration backoff(uint32_t attempt, conf::Duration base, conf::Duration max, uint64_t random) {
  const uint64_t b = static_cast<uint64_t>(std::max<int64_t>(base.count(), 0));
  const uint64_t m = static_cast<uint64_t>(std::max<int64_t>(max.count(), 0));
  // base * 2^attempt without overflow: stop doubling once past the cap.
  uint64_t cap = b;
  for (uint32_t i = 0; i < attempt && cap < m; ++i) cap *= 2;
  cap = std::min(cap, m);
  return conf::Duration{static_cast<int64_t>(random % (cap + 1))};
}

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}

std::optional<conf::RetryOn> retry_on_for_status(int status) {
  switch (status) {
    case 502: return conf::RetryOn::status_502;
    case 503: return conf::RetryOn::status_503;
    case 504: return conf::RetryOn::status_504;
    default: return std::nullopt;
  }
}

bool should_retry(conf::RetryOn condition, const conf::RetriesConfig& cfg, bool response_started,
                  bool idempotent_or_bodiless) {
  if (response_started) return false;
  if (!cfg.retries_on(condition)) return false;
  if (condition == conf::RetryOn::connect_failure) return true;
  return idempotent_or_bodiless;
}

void RetryBudget::request_finished() {
  uint32_t cur = active_.load(std::memory_order_relaxed);
  while (cur > 0 && !active_.compare_exchange_weak(cur, cur - 1, std::memory_order_relaxed)) {
  }
}

uint32_t RetryBudget::limit(uint32_t active_requests, uint32_t budget_percent) {
  if (budget_percent == 0) return 0;
  const uint64_t share =
      static_cast<uint64_t>(active_requests) * std::min<uint32_t>(budget_percent, 100) / 100;
  return static_cast<uint32_t>(std::max<uint64_t>(share, kMinRetryConcurrency));
}

bool RetryBudget::try_acquire_retry(uint32_t budget_percent) {
  const uint32_t lim = limit(active_.load(std::memory_order_relaxed), budget_percent);
  uint32_t cur = retries_.load(std::memory_order_relaxed);
  for (;;) {
    if (cur + 1 > lim) return false;
    if (retries_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel,
                                       std::memory_order_relaxed))
      return true;
  }
}

void RetryBudget::release_retry() {
  uint32_t cur = retries_.load(std::memory_order_relaxed);
  while (cur > 0 && !retries_.compare_exchange_weak(cur, cur - 1, std::memory_order_acq_rel,
                                                    std::memory_order_relaxed)) {
  }
}

}  // namespace lb::health
