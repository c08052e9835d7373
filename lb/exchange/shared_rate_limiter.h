// lb/exchange/shared_rate_limiter.h — a rate limit with "store": "redis"
// (SPEC 17): counted in Redis, so every lb instance pointing at the same
// Redis admits together what one instance with "store": "local" would.
//
// Semantics are those of lb/exchange/rate_limiter.h, computed by a Lua
// script that Redis runs atomically (one EVALSHA per request, no
// read-modify-write race between instances):
// - token bucket: a hash {t: tokens, at: µs of the last update}, refilled
//   at rate/per, capacity burst;
// - sliding window: a sorted set of admission times (score µs, a unique
//   member each); a request passes when fewer than `rate` are younger than
//   `per` — exact, like the local log. (An INCR/EXPIRE pipeline of fixed
//   windows would be cheaper but admits up to 2×rate across a window edge,
//   which breaks "at most rate in any per".)
//
// Clock: the script reads Redis's TIME, not the lb instance's. Every
// instance then counts on one clock, so the window stays exact even when
// lb hosts' clocks disagree; decisions of one key are serialized by Redis,
// and the script never lets a key's time go back (a stepped wall clock
// freezes time for the key instead), which is the same guarantee
// KeyedShards gives the local limiter.
//
// Key: key_prefix + "rl:" + listener + ":" + route ("" for the listener's
// own limit) + ":" + "tb"/"sw" + ":" + the client key. Names are
// [A-Za-z0-9_.-], so the parts cannot run into each other; the algorithm is
// part of the key so a reload that switches it never meets the other
// type's value. Keys expire once they would be full (bucket) or empty
// (window) anyway.
//
// allow() (the RateLimiter interface) is the on_store_error "local"
// fallback: this process's own count, started from empty at each outage
// (RedisStatus::outage_epoch).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "lb/exchange/rate_limiter.h"
#include "lb/security/redis_client.h"

namespace lb {

class SharedRateLimiter final : public RateLimiter {
 public:
  SharedRateLimiter(const conf::RateLimit& config, std::string identity);

  SharedRateLimiter* shared() override { return this; }
  // The local fallback (on_store_error "local").
  bool allow(std::string_view key, uint64_t now_ns, uint32_t& retry_after_s) override;

  // Asks Redis about one request for `key`. True: the answer goes to
  // `waiter` (decode it with decode()); false: not asked, `error` says why.
  bool ask(RedisClient& client, std::string_view key, RedisWaiter& waiter, RedisCall& call, std::string& error);
  // The script's reply: admitted, or refused with Retry-After (seconds, at
  // least 1). False when the reply is not the script's.
  static bool decode(const redisReply* reply, bool& admitted, uint32_t& retry_after_s);

 private:
  std::string identity_;  // "rl:listener:route:tb:"
  std::string limit_arg_, rate_arg_;  // ARGV[1], ARGV[2] as text, made once
  std::atomic<std::shared_ptr<RateLimiter>> fallback_;
  std::atomic<uint64_t> fallback_epoch_{0};
};

}  // namespace lb
