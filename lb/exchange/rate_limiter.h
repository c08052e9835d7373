// lb/exchange/rate_limiter.h — the rate limits of listeners and routes (SPEC
// 11 "rate_limit" → 429 with Retry-After): per key (client address, a header
// value or a JWT claim), either a token bucket or an exact sliding window.
//
// Token bucket: `burst` tokens, refilled continuously at `rate` per `per`;
// a request takes one.
//
// Sliding window: at most `rate` admissions in any interval of length `per`,
// exactly. Each key keeps a log of its admissions still inside the window
// (a ring buffer, grown on demand up to `rate` entries, shrunk when mostly
// empty): a request is admitted when fewer than `rate` of them are younger
// than `per`. Memory is 8 bytes per admission in the window, which is why
// conf/ caps a sliding window's rate. (The common two-window weighted
// estimate needs only two counters per key, but it is not exact: it can
// admit more than `rate` in an interval that straddles its two windows.)
//
// Retry-After is the truth for this key: whole seconds, rounded up, until a
// request would pass (a token refilled; the window's oldest admission
// expired), provided nothing else of the key is admitted meanwhile.
//
// Sharing: one limiter serves every worker of its listener (or route), so a
// client is limited the same whichever worker accepts it; the table is a
// KeyedShards (lb/security/keyed_shards.h): one uncontended atomic exchange
// per request, and a clock per shard that never goes back, so decisions of
// one key happen at non-decreasing times, which is what makes the window's
// bound exact even though workers read the clock at slightly different
// moments.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "conf/config.h"

namespace lb {

class SharedRateLimiter;

class RateLimiter {
 public:
  // `identity` names the limit across lb instances ("listener:route"): the
  // Redis key of a "store": "redis" limit (lb/exchange/shared_rate_limiter.h).
  static std::shared_ptr<RateLimiter> create(const conf::RateLimit& config, std::string_view identity = {});
  virtual ~RateLimiter() = default;

  // Non-null for a limit counted in Redis: its requests wait for Redis's
  // answer, and allow() is then only the on_store_error "local" fallback.
  virtual SharedRateLimiter* shared() { return nullptr; }

  // Admits (and counts) one request for `key` at `now_ns`. When refused
  // returns false and sets `retry_after_s` (at least 1). Thread-safe.
  virtual bool allow(std::string_view key, uint64_t now_ns, uint32_t& retry_after_s) = 0;

  const conf::RateLimit& config() const { return config_; }

 protected:
  explicit RateLimiter(const conf::RateLimit& config) : config_(config) {}
  conf::RateLimit config_;
};

}  // namespace lb
