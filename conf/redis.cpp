// conf/redis.cpp — the top-level "redis" object (SPEC 17: address,
// password_file, database, timeout, key_prefix) and the cross check that a
// rate limit with "store": "redis" has one to count in.
#include "conf/schema.h"
#include "conf/values.h"

namespace lb::conf::detail {

namespace {

constexpr std::size_t kMaxPasswordFileBytes = 64 * 1024;

// SPEC 17: the file holds the password; one trailing newline is ignored
// (editors add one), anything else is the password as written.
void read_password_file(Ctx& ctx, const json& v, const Pointer& at, RedisConfig& r) {
  std::string raw;
  if (!read_string(ctx, v, at, raw)) return;
  const std::string path = resolve_path(ctx.base_dir(), raw);
  std::string contents, err;
  if (!read_file(path, contents, err, kMaxPasswordFileBytes)) {
    ctx.error(at, "cannot read " + quote(raw) + (path != raw ? " (resolved to " + path + ")" : "") + ": " + err);
    return;
  }
  if (contents.ends_with("\r\n")) contents.resize(contents.size() - 2);
  else if (contents.ends_with('\n')) contents.pop_back();
  if (contents.empty()) {
    ctx.error(at, "password file " + quote(raw) + " is empty");
    return;
  }
  r.password_file = raw;
  r.password = std::move(contents);
}

}  // namespace

void load_redis(Ctx& ctx, const json& v, const Pointer& at, RedisConfig& r) {
  Obj o(ctx, v, at, {"address", "password_file", "database", "timeout", "key_prefix"});
  if (!o.ok()) return;
  if (const json* x = o.require("address", "(e.g. \"127.0.0.1:6379\")")) read_address(ctx, *x, o.at("address"), r.address);
  o.with_nonnull("password_file", [&](const json& x, const Pointer& p) { read_password_file(ctx, x, p, r); });
  o.with("database", [&](const json& x, const Pointer& p) { read_uint(ctx, x, p, 0, 1'000'000, r.database); });
  o.with("timeout", [&](const json& x, const Pointer& p) {
    if (read_duration(ctx, x, p, r.timeout) && r.timeout.count() > 60'000)
      ctx.error(p, "timeout is per Redis operation and holds the request meanwhile: at most \"60s\"");
  });
  o.with("key_prefix", [&](const json& x, const Pointer& p) { read_string(ctx, x, p, r.key_prefix, true); });
}

// Every limit counted in Redis needs the "redis" object, and an HTTP
// request to pause: a tcp listener's admission is decided synchronously as
// the connection is accepted, so it keeps counting locally (refused here
// rather than quietly counted per process, which would admit N times the rate).
void check_redis_stores(Ctx& ctx, const Config& cfg, bool redis_given) {
  auto check = [&](const std::optional<RateLimit>& limit, const Pointer& at, bool tcp) {
    if (!limit || limit->store != RateLimit::Store::redis) return;
    if (tcp)
      ctx.error(at / "store", "store \"redis\" applies to http listeners only (a tcp listener counts connections "
                              "locally); use \"local\"");
    else if (!redis_given)
      ctx.error(at / "store", "store \"redis\" needs the top-level \"redis\" object (e.g. \"redis\": {\"address\": "
                              "\"127.0.0.1:6379\"})");
  };
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const ListenerConfig& l = cfg.listeners[i];
    const Pointer lp = Pointer{} / "listeners" / i;
    check(l.rate_limit, lp / "rate_limit", l.protocol == Protocol::tcp);
    for (std::size_t j = 0; j < l.routes.size(); ++j) check(l.routes[j].rate_limit, lp / "routes" / j / "rate_limit", false);
  }
}

}  // namespace lb::conf::detail
