// lb/exchange/rate_limiter.cpp — sharded token buckets.
#include "lb/exchange/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "algorithms/hash.h"

namespace lb {

RateLimiter::RateLimiter(const conf::RateLimit& config)
    : config_(config),
      tokens_per_ns_(config.rate / (static_cast<double>(config.per.count()) * 1e6)) {}

bool RateLimiter::allow(std::string_view key, uint64_t now_ns, uint32_t& retry_after_s) {
  Shard& shard = shards_[algo::hash_bytes(key) % kShards];
  while (shard.busy.test_and_set(std::memory_order_acquire)) {
  }
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= kSweepAbove) sweep(shard, now_ns);
    it = shard.buckets.emplace(std::string(key), Bucket{config_.burst, now_ns}).first;
  }
  Bucket& b = it->second;
  if (now_ns > b.updated_ns) {
    b.tokens = std::min(config_.burst, b.tokens + static_cast<double>(now_ns - b.updated_ns) * tokens_per_ns_);
    b.updated_ns = now_ns;
  }
  bool ok = b.tokens >= 1.0;
  if (ok) b.tokens -= 1.0;
  else retry_after_s = static_cast<uint32_t>(std::max(1.0, std::ceil((1.0 - b.tokens) / tokens_per_ns_ / 1e9)));
  shard.busy.clear(std::memory_order_release);
  return ok;
}

// Drops buckets that would be full by now: forgetting them changes nothing.
void RateLimiter::sweep(Shard& shard, uint64_t now_ns) {
  std::erase_if(shard.buckets, [&](const auto& kv) {
    const Bucket& b = kv.second;
    return b.tokens + static_cast<double>(now_ns - b.updated_ns) * tokens_per_ns_ >= config_.burst;
  });
}

}  // namespace lb
