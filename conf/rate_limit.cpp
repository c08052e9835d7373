// conf/rate_limit.cpp — schema walk for "rate_limit" on listeners and routes
// (SPEC 3 and 11: key, algorithm, rate, per, burst, store, on_store_error)
// and for a listener's "per_client" (max_connections, connection_rate).
#include <cmath>

#include "conf/schema.h"
#include "conf/values.h"

namespace lb::conf::detail {

namespace {

// A sliding window remembers every admission still inside it (8 bytes each,
// see lb/exchange/rate_limiter.h), so `rate` bounds memory per key: this
// keeps one busy key at a few megabytes.
constexpr double kMaxSlidingWindowRate = 1'000'000;

// client_ip | header:NAME | jwt.CLAIM. Hashing's other keys (cookie:NAME,
// path, uri) are refused rather than quietly limiting by client address.
void read_rate_limit_key(Ctx& ctx, const json& x, const Pointer& p, bool tcp, KeySpec& out) {
  constexpr const char* kExpected = "client_ip, header:NAME or jwt.CLAIM";
  if (!x.is_string()) {
    ctx.error(p, std::string("expected a key string (") + kExpected + "), got " + describe(x));
    return;
  }
  const std::string& s = x.get_ref<const std::string&>();
  KeySpec k;
  if (s.starts_with("jwt.")) {
    std::string_view claim = std::string_view(s).substr(4);
    if (!is_visible_ascii(claim)) {
      ctx.error(p, "key " + quote(s) + " needs a claim name after \"jwt.\" (visible ASCII, e.g. \"jwt.sub\")");
      return;
    }
    k = KeySpec{KeySpec::Kind::jwt_claim, std::string(claim), s};
  } else {
    std::string err;
    if (!parse_key_spec(s, k, err)) {
      ctx.error(p, err.find("invalid key") == 0 ? "invalid key " + quote(s) + " (expected " + kExpected + ")" : err);
      return;
    }
    if (k.kind != KeySpec::Kind::client_ip && k.kind != KeySpec::Kind::header) {
      ctx.error(p, "rate limits are keyed by " + std::string(kExpected) + ", not " + quote(s));
      return;
    }
  }
  if (tcp && k.kind != KeySpec::Kind::client_ip) {
    ctx.error(p, "tcp listeners can only rate-limit by \"client_ip\" (" + quote(s) + " needs an HTTP request)");
    return;
  }
  out = std::move(k);
}

}  // namespace

namespace {

bool read_rate(Ctx& ctx, const json& x, const Pointer& p, double& out) {
  double rate = 0;
  if (!read_number(ctx, x, p, rate)) return false;
  if (rate <= 0) ctx.error(p, "rate must be greater than 0 (remove the limit to turn it off)");
  else if (rate > 1e9) ctx.error(p, "rate is out of range (at most 1e9)");
  else {
    out = rate;
    return true;
  }
  return false;
}

}  // namespace

void load_per_client(Ctx& ctx, const json& v, const Pointer& at, PerClient& pc) {
  Obj o(ctx, v, at, {"max_connections", "connection_rate"});
  if (!o.ok()) return;
  o.with("max_connections", [&](const json& x, const Pointer& p) {
    read_uint(ctx, x, p, 0, 10'000'000, pc.max_connections);
  });
  o.with_nonnull("connection_rate", [&](const json& x, const Pointer& p) {
    Obj r(ctx, x, p, {"rate", "per"});
    if (!r.ok()) return;
    RateLimit limit;
    limit.key = KeySpec{KeySpec::Kind::client_ip, "", "client_ip"};
    if (const json* rate = r.require("rate"); !rate || !read_rate(ctx, *rate, r.at("rate"), limit.rate)) return;
    r.with("per", [&](const json& y, const Pointer& q) { read_duration(ctx, y, q, limit.per); });
    // SPEC 11: the bucket holds `rate` connections; at least one, or it
    // could never admit any.
    limit.burst = limit.rate < 1 ? 1 : limit.rate;
    pc.connection_rate = limit;
  });
}

void load_rate_limit(Ctx& ctx, const json& v, const Pointer& at, bool tcp, RateLimit& r) {
  Obj o(ctx, v, at, {"key", "algorithm", "rate", "per", "burst", "store", "on_store_error"});
  if (!o.ok()) return;
  r.key = KeySpec{KeySpec::Kind::client_ip, "", "client_ip"};
  o.with("key", [&](const json& x, const Pointer& p) { read_rate_limit_key(ctx, x, p, tcp, r.key); });
  o.with("algorithm", [&](const json& x, const Pointer& p) {
    read_enum(ctx, x, p, kRateLimitAlgorithmNames, "rate-limit algorithm", r.algorithm);
  });
  const bool window = r.algorithm == RateLimit::Algorithm::sliding_window;
  if (const json* x = o.require("rate")) {
    double rate = 0;
    const Pointer p = o.at("rate");
    if (read_rate(ctx, *x, p, rate)) {
      if (window && rate != std::floor(rate))
        ctx.error(p, "a sliding_window admits a whole number of requests per \"per\"; rate must be an integer");
      else if (window && rate > kMaxSlidingWindowRate)
        ctx.error(p, "a sliding_window keeps every admission of its window: rate is at most 1000000 "
                     "(use a longer \"per\" with a token_bucket for more)");
      else r.rate = rate;
    }
  }
  o.with("per", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, r.per); });
  // One request takes one token, so a bucket smaller than 1 could never admit anything.
  r.burst = window ? 0 : r.rate < 1 ? 1 : r.rate;
  o.with("burst", [&](const json& x, const Pointer& p) {
    // SPEC 11: the window has no burst. Accepting one would let an operator
    // believe it allows bursts above `rate`, which it never does.
    if (window) {
      ctx.error(p, "burst applies to the token_bucket only; a sliding_window admits at most \"rate\" in any "
                   "\"per\" (remove burst)");
      return;
    }
    double burst = 0;
    if (!read_number(ctx, x, p, burst)) return;
    if (burst < 1) ctx.error(p, "burst must be at least 1 (each request takes one token)");
    else if (burst > 1e9) ctx.error(p, "burst is out of range (at most 1e9)");
    else r.burst = burst;
  });
  // SPEC 17: "redis" needs the top-level "redis" object and an http
  // listener (checked once the whole file is read, conf/redis.cpp).
  o.with("store", [&](const json& x, const Pointer& p) {
    read_enum(ctx, x, p, kRateLimitStoreNames, "rate-limit store", r.store);
  });
  o.with("on_store_error", [&](const json& x, const Pointer& p) {
    read_enum(ctx, x, p, kOnStoreErrorNames, "on_store_error", r.on_store_error);
  });
}

}  // namespace lb::conf::detail
