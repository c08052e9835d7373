// lb/exchange/shared_rate_limiter.cpp — the Lua scripts of the shared token
// bucket and sliding window, and reading their answers.
#include "lb/exchange/shared_rate_limiter.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

namespace lb {

namespace {

// Both scripts: KEYS[1] the limit's key for this client, ARGV[1] and
// ARGV[2] two numbers; they return {admitted (1|0), wait in µs until a
// request would pass}. Their common start reads the arguments and Redis's
// clock (`now`, µs). redis.replicate_commands() lets a script that read
// TIME write (Redis 3.2 to 4; from 5 it is the default and from 7 a no-op):
// pcall keeps the script working where it is gone.
const std::string kScriptStart = R"lua(
pcall(redis.replicate_commands)
local a1, a2 = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2]))lua";
//
// Token bucket. ARGV: burst, tokens per µs.
const RedisScript kTokenBucket(kScriptStart + R"lua(
local burst, per_us = a1, a2
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then tokens = burst; at = now end
if now < at then now = at end
tokens = math.min(burst, tokens + (now - at) * per_us)
local admitted, wait = 0, 0
if tokens >= 1 - 1e-9 then
  tokens = tokens - 1
  admitted = 1
else
  wait = math.ceil((1 - tokens) / per_us)
end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'at', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / per_us / 1000) + 1000)
return {admitted, wait}
)lua");

// Sliding window. ARGV: rate, per in µs, a member unique to this request.
// An admission at a counts at every time before a + per.
const RedisScript kSlidingWindow(kScriptStart + R"lua(
local limit, per = a1, a2
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if newest[2] ~= nil and tonumber(newest[2]) > now then now = tonumber(newest[2]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(per / 1000) + 1000)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + per - now}
)lua");

std::string number_text(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

bool window(const conf::RateLimit& c) { return c.algorithm == conf::RateLimit::Algorithm::sliding_window; }

// The same configuration counted locally: the fallback's.
conf::RateLimit local_copy(conf::RateLimit c) {
  c.store = conf::RateLimit::Store::local;
  return c;
}

}  // namespace

SharedRateLimiter::SharedRateLimiter(const conf::RateLimit& config, std::string identity)
    : RateLimiter(config),
      identity_("rl:" + identity + (window(config) ? ":sw:" : ":tb:")),
      fallback_(RateLimiter::create(local_copy(config))),
      fallback_epoch_(RedisStatus::process().outage_epoch()) {
  const double per_us = static_cast<double>(config.per.count()) * 1000.0;
  if (window(config)) {
    limit_arg_ = number_text(config.rate);
    rate_arg_ = number_text(per_us);
  } else {
    limit_arg_ = number_text(config.burst);
    rate_arg_ = number_text(config.rate / per_us);
  }
}

bool SharedRateLimiter::allow(std::string_view key, uint64_t now_ns, uint32_t& retry_after_s) {
  // A new outage: the local count starts from empty (SPEC 17).
  const uint64_t epoch = RedisStatus::process().outage_epoch();
  uint64_t seen = fallback_epoch_.load(std::memory_order_acquire);
  if (seen != epoch && fallback_epoch_.compare_exchange_strong(seen, epoch, std::memory_order_acq_rel))
    fallback_.store(RateLimiter::create(local_copy(config_)), std::memory_order_release);
  return fallback_.load(std::memory_order_acquire)->allow(key, now_ns, retry_after_s);
}

bool SharedRateLimiter::ask(RedisClient& client, std::string_view key, RedisWaiter& waiter, RedisCall& call,
                            std::string& error) {
  // Per thread, reused: no allocation per request once warm.
  thread_local std::string full_key;
  full_key.assign(client.config().key_prefix);
  full_key += identity_;
  full_key += key;
  const std::string_view keys[] = {full_key};
  if (!window(config_)) {
    const std::string_view args[] = {limit_arg_, rate_arg_};
    return client.eval(kTokenBucket, keys, args, waiter, call, error);
  }
  // The window's member: unique across instances and requests (random per
  // thread, then a counter), so two admissions never collapse into one.
  thread_local const uint64_t salt = std::random_device{}() * 0x9e3779b97f4a7c15ull ^ std::random_device{}();
  thread_local uint64_t counter = 0;
  char member[40];
  const int n = std::snprintf(member, sizeof member, "%016llx%llx", static_cast<unsigned long long>(salt),
                              static_cast<unsigned long long>(++counter));
  const std::string_view args[] = {limit_arg_, rate_arg_, std::string_view(member, static_cast<size_t>(n))};
  return client.eval(kSlidingWindow, keys, args, waiter, call, error);
}

bool SharedRateLimiter::decode(const redisReply* reply, bool& admitted, uint32_t& retry_after_s) {
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) return false;
  const redisReply* a = reply->element[0];
  const redisReply* w = reply->element[1];
  if (a->type != REDIS_REPLY_INTEGER || w->type != REDIS_REPLY_INTEGER) return false;
  admitted = a->integer == 1;
  // Whole seconds, rounded up, at least 1 (SPEC 11 Retry-After).
  const double s = std::ceil(static_cast<double>(w->integer) / 1e6);
  retry_after_s = static_cast<uint32_t>(std::clamp(s, 1.0, 4e9));
  return true;
}

}  // namespace lb
