// lb/exchange/rate_limiter.cpp — sharded token buckets and sliding logs.
#include "lb/exchange/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "lb/exchange/shared_rate_limiter.h"
#include "lb/security/keyed_shards.h"

namespace lb {

namespace {

// Keys one limiter remembers at most (KeyedShards drops an arbitrary one
// per new key past this): about 200 MB of token buckets, more for sliding
// logs of a high rate. Idle keys are swept as a shard grows; a shard that
// filled with live keys evicts arbitrarily from then on (no O(n) sweep per
// new key under a flood).
constexpr size_t kMaxKeys = size_t(1) << 21;

// Whole seconds, rounded up, at least 1, for a wait of `ns` (SPEC: Retry-After).
uint32_t retry_seconds(double ns) {
  double s = std::ceil(ns / 1e9);
  return static_cast<uint32_t>(std::clamp(s, 1.0, 4e9));
}

class TokenBucket final : public RateLimiter {
 public:
  explicit TokenBucket(const conf::RateLimit& config)
      : RateLimiter(config), tokens_per_ns_(config.rate / (static_cast<double>(config.per.count()) * 1e6)) {}

  bool allow(std::string_view key, uint64_t now_ns, uint32_t& retry_after_s) override {
    const double burst = config_.burst;
    auto make = [&](uint64_t now) { return Bucket{burst, now}; };
    // Full by now: forgetting it changes nothing.
    auto idle = [&](const Bucket& b, uint64_t now) { return refilled(b, now) >= burst; };
    return shards_.apply(key, now_ns, make, idle, [&](Bucket& b, uint64_t now) {
      b.tokens = refilled(b, now);
      b.updated_ns = now;
      // The tolerance absorbs rounding in the refill, so a client that waited
      // exactly Retry-After finds its token (SPEC: Retry-After tells the truth).
      if (b.tokens >= 1.0 - kTolerance) {
        b.tokens -= 1.0;
        return true;
      }
      retry_after_s = retry_seconds((1.0 - b.tokens) / tokens_per_ns_ + static_cast<double>(now - now_ns));
      return false;
    });
  }

 private:
  struct Bucket {
    double tokens;
    uint64_t updated_ns;
  };
  static constexpr double kTolerance = 1e-9;

  double refilled(const Bucket& b, uint64_t now) const {
    return std::min(config_.burst, b.tokens + static_cast<double>(now - b.updated_ns) * tokens_per_ns_);
  }

  double tokens_per_ns_;
  KeyedShards<Bucket> shards_{kMaxKeys};
};

class SlidingWindow final : public RateLimiter {
 public:
  explicit SlidingWindow(const conf::RateLimit& config)
      : RateLimiter(config),
        limit_(static_cast<uint32_t>(config.rate)),
        per_ns_(static_cast<uint64_t>(config.per.count()) * 1'000'000) {}

  bool allow(std::string_view key, uint64_t now_ns, uint32_t& retry_after_s) override {
    auto make = [](uint64_t) { return Log{}; };
    auto idle = [&](const Log& log, uint64_t now) { return log.count == 0 || log.newest() + per_ns_ <= now; };
    return shards_.apply(key, now_ns, make, idle, [&](Log& log, uint64_t now) {
      // An admission at a counts at every time before a + per.
      while (log.count > 0 && log.oldest() + per_ns_ <= now) log.pop();
      log.maybe_shrink();
      if (log.count < limit_) {
        log.push(now, limit_);
        return true;
      }
      // Full: the next request passes when the oldest admission leaves the
      // window. Measured from the caller's own clock reading (never after
      // the shard's), so the wait is never understated.
      retry_after_s = retry_seconds(static_cast<double>(log.oldest() + per_ns_ - std::min(now_ns, now)));
      return false;
    });
  }

 private:
  // Admission times of one key in order, oldest at `head`.
  struct Log {
    std::vector<uint64_t> ring;
    uint32_t head = 0;
    uint32_t count = 0;

    uint64_t oldest() const { return ring[head]; }
    uint64_t newest() const { return ring[(head + count - 1) % ring.size()]; }
    void pop() {
      head = static_cast<uint32_t>((head + 1) % ring.size());
      --count;
    }
    void push(uint64_t t, uint32_t limit) {
      if (count == ring.size()) resize(std::min<size_t>(limit, std::max<size_t>(4, ring.size() * 2)));
      ring[(head + count) % ring.size()] = t;
      ++count;
    }
    // A key that was busy once should not keep its peak's memory for ever.
    void maybe_shrink() {
      if (ring.size() > 16 && count * 4 <= ring.size()) resize(std::max<size_t>(8, count * 2));
    }
    void resize(size_t size) {
      std::vector<uint64_t> next(size);
      for (uint32_t i = 0; i < count; ++i) next[i] = ring[(head + i) % ring.size()];
      ring = std::move(next);
      head = 0;
    }
  };

  uint32_t limit_;
  uint64_t per_ns_;
  KeyedShards<Log> shards_{kMaxKeys};
};

}  // namespace

std::shared_ptr<RateLimiter> RateLimiter::create(const conf::RateLimit& config, std::string_view identity) {
  if (config.store == conf::RateLimit::Store::redis)
    return std::make_shared<SharedRateLimiter>(config, std::string(identity));
  if (config.algorithm == conf::RateLimit::Algorithm::sliding_window) return std::make_shared<SlidingWindow>(config);
  return std::make_shared<TokenBucket>(config);
}

}  // namespace lb
