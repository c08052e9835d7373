// conf/pool.cpp — schema walk for one element of "pools" (SPEC section 3):
// name, algorithm, hash_key, hash_balance_factor, servers, health_check,
// circuit_breaker, retries, timeouts, keepalive, when_all_down, slow_start,
// queue, and the backend "tls" extension (PoolTls). Also the pool-internal rules:
// at least one server, one primary, unique server addresses, keys that only
// make sense for some algorithms or check types.
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_map>

#include "conf/schema.h"
#include "conf/values.h"

namespace lb::conf::detail {

namespace {

bool uses_hash_key(Algorithm a) { return a == Algorithm::consistent_hash || a == Algorithm::maglev; }

}  // namespace

void load_server(Ctx& ctx, const json& v, const Pointer& at, ServerConfig& s) {
  Obj o(ctx, v, at, {"address", "weight", "max_connections", "backup", "state"});
  if (!o.ok()) return;
  if (const json* x = o.require("address")) read_address(ctx, *x, o.at("address"), s.address);
  o.with("weight", [&](const json& x, const Pointer& p) {
    int64_t w = 0;
    if (!read_int(ctx, x, p, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), w)) return;
    if (w == 0)
      ctx.error(p, "weight 0 is not allowed (1..1000); to take a server out of rotation use \"state\": \"drain\"");
    else if (w < 1 || w > 1000)
      ctx.error(p, "weight " + std::to_string(w) + " out of range (1..1000)");
    else
      s.weight = static_cast<uint32_t>(w);
  });
  o.with("max_connections", [&](const json& x, const Pointer& p) {
    read_uint(ctx, x, p, 0, 1'000'000, s.max_connections);
  });
  o.with("backup", [&](const json& x, const Pointer& p) { read_bool(ctx, x, p, s.backup); });
  o.with("state", [&](const json& x, const Pointer& p) {
    read_enum(ctx, x, p, kServerStateNames, "server state", s.state);
  });
}

namespace {

// `discovered`: the pool also finds servers by DNS, so an empty list and a
// list of backups only are fine.
void load_servers(Ctx& ctx, const json& v, const Pointer& at, std::vector<ServerConfig>& servers, bool discovered) {
  if (!check_array(ctx, v, at)) return;
  if (v.empty()) {
    if (!discovered) ctx.error(at, "a pool needs at least one server (or \"discovery\")");
    return;
  }
  std::vector<bool> addr_ok;
  bool all_backup = true;
  for (std::size_t i = 0; i < v.size(); ++i) {
    ServerConfig& s = servers.emplace_back();
    load_server(ctx, v[i], at / i, s);
    addr_ok.push_back(s.address.sockaddr_len != 0);
    // Only a server that explicitly and validly says "backup": true counts as
    // one, so a malformed entry does not add a second, derived error.
    const json* b = v[i].is_object() && v[i].contains("backup") ? &v[i]["backup"] : nullptr;
    if (!(b && b->is_boolean() && b->get<bool>())) all_backup = false;
  }
  // Hashed by text and by resolved endpoint, so 100k servers are checked in
  // linear time (the pairwise scan took minutes).
  std::unordered_map<std::string_view, std::size_t> by_text;
  std::unordered_map<std::string, std::size_t> by_endpoint;
  by_text.reserve(servers.size());
  by_endpoint.reserve(servers.size());
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (!addr_ok[i]) continue;
    const Address& a = servers[i].address;
    const Pointer p = at / i / "address";
    auto [t, new_text] = by_text.emplace(a.text, i);
    if (!new_text) {
      ctx.error(p, "duplicate server address " + quote(a.text) + " (also at " + (at / t->second / "address").str() + ")");
      continue;
    }
    std::string endpoint(reinterpret_cast<const char*>(&a.sockaddr), a.sockaddr_len);
    auto [e, new_endpoint] = by_endpoint.emplace(std::move(endpoint), i);
    if (!new_endpoint) {
      const Address& b = servers[e->second].address;
      ctx.error(p, "server " + quote(a.text) + " is the same endpoint as " + quote(b.text) + " at " +
                       (at / e->second / "address").str() + " (both are " + numeric_address(a) + ")");
    }
  }
  if (all_backup && !discovered)
    ctx.error(at, "every server is a backup; a pool needs at least one primary (non-backup) server");
}

void load_health_check(Ctx& ctx, const json& v, const Pointer& at, HealthCheckConfig& h) {
  Obj o(ctx, v, at,
        {"type", "path", "host", "expect_status", "interval", "timeout", "rise", "fall", "fast_interval",
         "down_interval"});
  if (!o.ok()) return;
  bool type_known = true;
  o.with("type", [&](const json& x, const Pointer& p) {
    type_known = read_enum(ctx, x, p, kHealthCheckTypeNames, "health check type", h.type);
  });
  const bool tcp = type_known && h.type == HealthCheckType::tcp;
  for (const char* key : {"path", "host", "expect_status"})
    if (tcp && o.has(key)) ctx.error(o.at(key), std::string(key) + " applies only to http health checks");
  if (!tcp) {
    o.with("path", [&](const json& x, const Pointer& p) {
      std::string s;
      if (!read_string(ctx, x, p, s)) return;
      if (s[0] != '/') ctx.error(p, "path " + quote(s) + " must start with \"/\"");
      else if (!is_visible_ascii(s)) ctx.error(p, "path " + quote(s) + " must not contain spaces or control characters");
      else h.path = s;
    });
    o.with_nonnull("host", [&](const json& x, const Pointer& p) {
      std::string s;
      if (!read_string(ctx, x, p, s)) return;
      if (!is_visible_ascii(s)) ctx.error(p, "host " + quote(s) + " must not contain spaces or control characters");
      else h.host = s;
    });
    o.with("expect_status", [&](const json& x, const Pointer& p) {
      if (!check_array(ctx, x, p)) return;
      if (x.empty()) {
        ctx.error(p, "expect_status needs at least one status code");
        return;
      }
      std::vector<int> codes;
      for (std::size_t i = 0; i < x.size(); ++i) {
        int code = 0;
        if (read_uint(ctx, x[i], p / i, 100, 599, code)) codes.push_back(code);
      }
      h.expect_status = std::move(codes);
    });
  }
  o.with("interval", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, h.interval); });
  o.with("timeout", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, h.timeout); });
  o.with("rise", [&](const json& x, const Pointer& p) { read_uint(ctx, x, p, 1, 1000, h.rise); });
  o.with("fall", [&](const json& x, const Pointer& p) { read_uint(ctx, x, p, 1, 1000, h.fall); });
  o.with_nonnull("fast_interval", [&](const json& x, const Pointer& p) {
    Duration d{};
    if (read_duration(ctx, x, p, d)) h.fast_interval = d;
  });
  o.with_nonnull("down_interval", [&](const json& x, const Pointer& p) {
    Duration d{};
    if (read_duration(ctx, x, p, d)) h.down_interval = d;
  });
}

void load_circuit_breaker(Ctx& ctx, const json& v, const Pointer& at, CircuitBreakerConfig& c) {
  Obj o(ctx, v, at, {"failure_threshold", "recovery_timeout", "success_threshold", "max_ejection_percent"});
  o.with("failure_threshold", [&](const json& x, const Pointer& p) {
    read_uint(ctx, x, p, 1, 1'000'000, c.failure_threshold);
  });
  o.with("recovery_timeout", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, c.recovery_timeout); });
  o.with("success_threshold", [&](const json& x, const Pointer& p) {
    read_uint(ctx, x, p, 1, 1'000'000, c.success_threshold);
  });
  o.with("max_ejection_percent", [&](const json& x, const Pointer& p) {
    read_uint(ctx, x, p, 0, 100, c.max_ejection_percent);
  });
}

void load_keepalive(Ctx& ctx, const json& v, const Pointer& at, KeepaliveConfig& k) {
  Obj o(ctx, v, at, {"max_idle", "idle_timeout"});
  o.with("max_idle", [&](const json& x, const Pointer& p) { read_uint(ctx, x, p, 0, 65535, k.max_idle); });
  o.with("idle_timeout", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, k.idle_timeout); });
}

void load_pool_tls(Ctx& ctx, const json& v, const Pointer& at, PoolTls& t) {
  Obj o(ctx, v, at, {"verify", "ca", "sni"});
  if (!o.ok()) return;
  o.with("verify", [&](const json& x, const Pointer& p) { read_bool(ctx, x, p, t.verify); });
  o.with_nonnull("ca", [&](const json& x, const Pointer& p) {
    std::string path;
    if (!read_file_path(ctx, x, p, path)) return;
    if (!t.verify) ctx.error(p, "ca is set but \"verify\" is false; remove one of them");
    else t.ca = path;
  });
  o.with_nonnull("sni", [&](const json& x, const Pointer& p) {
    std::string s, err;
    if (!read_string(ctx, x, p, s)) return;
    if (!valid_hostname(s, err)) ctx.error(p, "invalid sni " + quote(s) + ": " + err);
    else t.sni = s;
  });
}

void load_sticky(Ctx& ctx, const json& v, const Pointer& at, StickyConfig& s) {
  Obj o(ctx, v, at, {"cookie", "max_age", "secure", "http_only", "same_site"});
  if (!o.ok()) return;
  o.with("cookie", [&](const json& x, const Pointer& p) {
    std::string name;
    if (!read_string(ctx, x, p, name)) return;
    if (!is_http_token(name)) ctx.error(p, "invalid cookie name " + quote(name));
    else s.cookie = name;
  });
  o.with_nonnull("max_age", [&](const json& x, const Pointer& p) {
    Duration d{};
    if (read_duration(ctx, x, p, d)) s.max_age = d;
  });
  o.with("secure", [&](const json& x, const Pointer& p) { read_bool(ctx, x, p, s.secure); });
  o.with("http_only", [&](const json& x, const Pointer& p) { read_bool(ctx, x, p, s.http_only); });
  o.with("same_site", [&](const json& x, const Pointer& p) {
    if (x.is_null()) s.same_site = StickyConfig::SameSite::unset;
    else read_enum(ctx, x, p, kSameSiteNames, "same_site", s.same_site);
  });
  if (s.same_site == StickyConfig::SameSite::none && !s.secure)
    ctx.error(o.at("same_site"), "same_site \"None\" needs \"secure\": true (browsers drop the cookie otherwise)");
}

// SPEC 11 "Queue". A queue only fills when servers are at max_connections,
// so one on a pool whose servers set none could never hold a request: an
// error, like the other keys that cannot apply.
// `servers_ok`: the servers loaded without error (a bad max_connections is
// reported once, not again here).
void load_queue(Ctx& ctx, const json& v, const Pointer& at, PoolConfig& pool, bool servers_ok) {
  Obj o(ctx, v, at, {"max", "timeout"});
  if (!o.ok()) return;
  bool max_ok = true;
  o.with("max", [&](const json& x, const Pointer& p) {
    max_ok = read_uint(ctx, x, p, 0, 1'000'000, pool.queue.max);
  });
  o.with("timeout", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, pool.queue.timeout); });
  if (!max_ok || !servers_ok || pool.queue.max == 0) return;
  for (const ServerConfig& s : pool.servers)
    if (s.max_connections != 0) return;
  ctx.error(o.at("max"), "a queue holds requests only while servers are at max_connections, and no server of "
                         "this pool sets max_connections; set it on the servers or remove \"queue\"");
}

}  // namespace

void load_retries(Ctx& ctx, const json& v, const Pointer& at, RetriesConfig& r) {
  Obj o(ctx, v, at, {"attempts", "on", "backoff_base", "backoff_max", "budget_percent"});
  if (!o.ok()) return;
  o.with("attempts", [&](const json& x, const Pointer& p) { read_uint(ctx, x, p, 0, 100, r.attempts); });
  o.with("on", [&](const json& x, const Pointer& p) {
    if (!check_array(ctx, x, p)) return;
    std::vector<RetryOn> on;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (x[i].is_number_integer()) {
        ctx.error(p / i, "expected a string, got " + describe(x[i]) + " (status codes are written as strings, e.g. \"" +
                             x[i].dump() + "\")");
        continue;
      }
      RetryOn cond{};
      if (!read_enum(ctx, x[i], p / i, kRetryOnNames, "retry condition", cond)) continue;
      bool dup = false;
      for (RetryOn c : on) dup = dup || c == cond;
      if (dup) ctx.error(p / i, quote(x[i].get<std::string>()) + " is listed twice");
      else on.push_back(cond);
    }
    r.on = std::move(on);
  });
  bool base_ok = true, max_ok = true;
  o.with("backoff_base", [&](const json& x, const Pointer& p) {
    base_ok = read_duration(ctx, x, p, r.backoff_base, true);
  });
  o.with("backoff_max", [&](const json& x, const Pointer& p) {
    max_ok = read_duration(ctx, x, p, r.backoff_max, true);
  });
  if (base_ok && max_ok && r.backoff_base > r.backoff_max) {
    const Pointer p = o.has("backoff_base") ? o.at("backoff_base") : o.at("backoff_max");
    ctx.error(p, "backoff_base (" + format_duration(r.backoff_base) + ") must not exceed backoff_max (" +
                     format_duration(r.backoff_max) + ")");
  }
  o.with("budget_percent", [&](const json& x, const Pointer& p) { read_uint(ctx, x, p, 0, 100, r.budget_percent); });
}

void load_pool_timeouts(Ctx& ctx, const json& v, const Pointer& at, PoolTimeouts& t) {
  Obj o(ctx, v, at, {"connect", "response", "idle"});
  o.with("connect", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, t.connect); });
  o.with("response", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, t.response); });
  o.with("idle", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, t.idle); });
}


void load_pool(Ctx& ctx, const json& v, const Pointer& at, PoolConfig& pool) {
  Obj o(ctx, v, at,
        {"name", "algorithm", "hash_key", "hash_balance_factor", "servers", "health_check", "circuit_breaker",
         "retries", "timeouts", "keepalive", "when_all_down", "slow_start", "tls", "sticky", "queue",
         "discovery"});
  if (!o.ok()) return;
  o.with_nonnull("sticky", [&](const json& x, const Pointer& p) { load_sticky(ctx, x, p, pool.sticky.emplace()); });
  pool.hash_key = KeySpec{KeySpec::Kind::client_ip, "", "client_ip"};
  if (const json* x = o.require("name")) read_name(ctx, *x, o.at("name"), pool.name);
  bool algorithm_known = true;
  o.with("algorithm", [&](const json& x, const Pointer& p) {
    algorithm_known = read_enum(ctx, x, p, kAlgorithmNames, "algorithm", pool.algorithm);
  });
  const std::string algo = quote(to_string(pool.algorithm));
  o.with("hash_key", [&](const json& x, const Pointer& p) {
    if (algorithm_known && !uses_hash_key(pool.algorithm))
      ctx.error(p, "hash_key applies only to the consistent_hash and maglev algorithms (algorithm is " + algo + ")");
    else
      read_key_spec(ctx, x, p, pool.hash_key);
  });
  o.with("hash_balance_factor", [&](const json& x, const Pointer& p) {
    if (algorithm_known && pool.algorithm != Algorithm::consistent_hash) {
      ctx.error(p, "hash_balance_factor applies only to the consistent_hash algorithm (algorithm is " + algo + ")");
      return;
    }
    double f = 0;
    if (!read_number(ctx, x, p, f)) return;
    if (f != 0 && !(f > 1))
      ctx.error(p, "hash_balance_factor must be 0 (off) or greater than 1, e.g. 1.25; got " + x.dump());
    else if (f > 100)
      ctx.error(p, "hash_balance_factor " + x.dump() + " out of range (at most 100)");
    else
      pool.hash_balance_factor = f;
  });
  o.with_nonnull("discovery", [&](const json& x, const Pointer& p) { load_discovery(ctx, x, p, pool.discovery.emplace()); });
  const std::size_t errors_before_servers = ctx.error_count();
  if (pool.discovery) {
    o.with("servers", [&](const json& x, const Pointer& p) { load_servers(ctx, x, p, pool.servers, true); });
  } else if (const json* x = o.value("servers")) {
    load_servers(ctx, *x, o.at("servers"), pool.servers, false);
  } else {
    ctx.error(at, "a pool needs \"servers\", \"discovery\" or both");
  }
  const bool servers_ok = ctx.error_count() == errors_before_servers && !pool.servers.empty();
  o.with_nonnull("health_check", [&](const json& x, const Pointer& p) {
    load_health_check(ctx, x, p, pool.health_check.emplace());
  });
  o.with("circuit_breaker", [&](const json& x, const Pointer& p) {
    load_circuit_breaker(ctx, x, p, pool.circuit_breaker);
  });
  o.with("retries", [&](const json& x, const Pointer& p) { load_retries(ctx, x, p, pool.retries); });
  o.with("timeouts", [&](const json& x, const Pointer& p) { load_pool_timeouts(ctx, x, p, pool.timeouts); });
  o.with("keepalive", [&](const json& x, const Pointer& p) { load_keepalive(ctx, x, p, pool.keepalive); });
  o.with("when_all_down", [&](const json& x, const Pointer& p) {
    read_enum(ctx, x, p, kWhenAllDownNames, "when_all_down mode", pool.when_all_down);
  });
  o.with("slow_start", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, pool.slow_start, true); });
  o.with_nonnull("tls", [&](const json& x, const Pointer& p) { load_pool_tls(ctx, x, p, pool.tls.emplace()); });
  o.with("queue", [&](const json& x, const Pointer& p) { load_queue(ctx, x, p, pool, servers_ok); });
}

}  // namespace lb::conf::detail
