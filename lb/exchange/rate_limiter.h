// lb/exchange/rate_limiter.h — per-listener token buckets keyed by client IP or a
// header value (SPEC section 3 "rate_limit" → 429 with Retry-After).
//
// Shared by all workers of a listener, so a client is limited the same
// whichever worker accepts it. The table is split into shards by key hash;
// each shard is guarded by a spin flag held only for a map lookup and a few
// arithmetic operations, so with 256 shards two workers practically never
// meet (an uncontended atomic exchange per request). Idle buckets (refilled
// to full) are swept when a shard grows, bounding memory under key churn.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "conf/config.h"

namespace lb {

class RateLimiter {
 public:
  explicit RateLimiter(const conf::RateLimit& config);

  // Takes one token for `key`. When none is left returns false and sets
  // `retry_after_s` to the whole seconds until one will be (at least 1).
  bool allow(std::string_view key, uint64_t now_ns, uint32_t& retry_after_s);

  const conf::RateLimit& config() const { return config_; }

 private:
  struct Bucket {
    double tokens;
    uint64_t updated_ns;
  };
  // Transparent hashing: look up by string_view without building a string.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct alignas(64) Shard {
    std::atomic_flag busy = ATOMIC_FLAG_INIT;
    std::unordered_map<std::string, Bucket, KeyHash, std::equal_to<>> buckets;
  };
  static constexpr size_t kShards = 256;
  static constexpr size_t kSweepAbove = 4096;  // entries per shard before idle ones are dropped

  void sweep(Shard& shard, uint64_t now_ns);

  conf::RateLimit config_;
  double tokens_per_ns_;
  Shard shards_[kShards];
};

}  // namespace lb
