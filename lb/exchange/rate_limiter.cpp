// lb/exchange/rate_limiter.cpp — sharded token buckets and sliding logs.
#include "lb/exchange/rate_limiter.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "algorithms/hash.h"

namespace lb {

namespace {

// Whole seconds, rounded up, at least 1, for a wait of `ns` (SPEC: Retry-After).
uint32_t retry_seconds(double ns) {
  double s = std::ceil(ns / 1e9);
  return static_cast<uint32_t>(std::clamp(s, 1.0, 4e9));
}

// The table both algorithms share: `Entry` per key, in shards guarded by a
// spin flag (see rate_limiter.h for why a spin flag is enough).
template <class Entry>
class Shards {
 public:
  // Runs use(entry, now) under the key's shard lock, `now` being the shard's
  // clock advanced to `now_ns` (it never goes back). A missing entry is
  // made by make(); before one is added to a crowded shard, entries for
  // which idle(entry, now) holds are dropped.
  template <class Make, class Idle, class Use>
  bool apply(std::string_view key, uint64_t now_ns, Make&& make, Idle&& idle, Use&& use) {
    Shard& shard = shards_[algo::hash_bytes(key) % kShards];
    Guard guard(shard.busy);
    shard.clock = std::max(shard.clock, now_ns);
    const uint64_t now = shard.clock;
    auto it = shard.entries.find(key);
    if (it == shard.entries.end()) {
      if (shard.entries.size() >= shard.sweep_at) {
        std::erase_if(shard.entries, [&](const auto& kv) { return idle(kv.second, now); });
        // Keys that are all busy stay: sweep again only once the shard has
        // doubled, so a shard of live keys costs O(1) per insertion, not O(n).
        shard.sweep_at = std::max(kSweepAbove, 2 * shard.entries.size());
      }
      it = shard.entries.emplace(std::string(key), make(now)).first;
    }
    return use(it->second, now);
  }

 private:
  struct Guard {
    std::atomic_flag& flag;
    explicit Guard(std::atomic_flag& f) : flag(f) {
      // Held for a few hundred instructions at most; a holder descheduled by
      // the kernel is the only long wait, and yielding lets it run.
      for (unsigned spins = 0; flag.test_and_set(std::memory_order_acquire); ++spins)
        if (spins >= 64) std::this_thread::yield();
    }
    ~Guard() { flag.clear(std::memory_order_release); }
  };
  // Transparent hashing: look up by string_view without building a string.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct alignas(64) Shard {
    std::atomic_flag busy = ATOMIC_FLAG_INIT;
    uint64_t clock = 0;
    size_t sweep_at = kSweepAbove;
    std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> entries;
  };
  static constexpr size_t kShards = 256;
  static constexpr size_t kSweepAbove = 4096;  // entries per shard before idle ones are dropped

  Shard shards_[kShards];
};

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
  Shards<Bucket> shards_;
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
  Shards<Log> shards_;
};

}  // namespace

std::shared_ptr<RateLimiter> RateLimiter::create(const conf::RateLimit& config) {
  if (config.algorithm == conf::RateLimit::Algorithm::sliding_window) return std::make_shared<SlidingWindow>(config);
  return std::make_shared<TokenBucket>(config);
}

}  // namespace lb
