// conf/schema.h — internal to conf/: the per-section schema walkers that
// load.cpp stitches together. Each walker fills its struct from one JSON
// value, reports every problem into the Ctx, and leaves cross-object checks
// (unique names, pool references, listen clashes) to load.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/walk.h"

namespace lb::conf::detail {

// A place where the file names a pool; checked against the pool list later.
struct PoolRef {
  Pointer at;
  std::string name;
};

// A route's "retries" / "timeouts" objects: applied over its pool's values
// once the pools are loaded (load.cpp), so keys the route leaves out come
// from the pool.
struct RouteOverrides {
  Route* route = nullptr;  // stable: the listeners' route vectors are complete when these are applied
  const json* retries = nullptr;
  const json* timeouts = nullptr;
  Pointer retries_at, timeouts_at;
};

// What the loaders of one listener hand back to load.cpp's cross checks.
struct ListenerRefs {
  std::vector<PoolRef> pools;
  std::vector<RouteOverrides> overrides;
};

// pool.cpp: one element of a pool's "servers" (also a runtime server's body).
void load_server(Ctx& ctx, const json& v, const Pointer& at, ServerConfig& s);

// listener.cpp: one element of "listeners".
void load_listener(Ctx& ctx, const json& v, const Pointer& at, ListenerConfig& out, ListenerRefs& refs);

// route.cpp: one element of a listener's "routes"; `listener_pool` is the
// listener's default pool (routes without an action use it).
void load_route(Ctx& ctx, const json& v, const Pointer& at, std::size_t index,
                const std::optional<std::string>& listener_pool, Route& r, ListenerRefs& refs);

// A rewrite result or configured path byte that may not reach a request line.
bool has_forbidden_path_byte(std::string_view s);

// access.cpp: CIDR lists ("10.0.0.0/8", "2001:db8::/32", bare addresses).
void load_cidr_list(Ctx& ctx, const json& v, const Pointer& at, std::vector<std::string>& out);
void load_access(Ctx& ctx, const json& v, const Pointer& at, AccessRules& out);

// auth.cpp: "auth" with "basic" (htpasswd read here) or "jwt".
void load_auth(Ctx& ctx, const json& v, const Pointer& at, AuthConfig& out);
// auth_jwt.cpp: "auth": {"jwt": …}; reads the key file and builds the verifier.
void load_jwt(Ctx& ctx, const json& v, const Pointer& at, JwtAuthConfig& out);
// rate_limit.cpp: a listener's or a route's "rate_limit"; `tcp` allows only client_ip keys.
void load_rate_limit(Ctx& ctx, const json& v, const Pointer& at, bool tcp, RateLimit& r);
// rate_limit.cpp: a listener's "per_client".
void load_per_client(Ctx& ctx, const json& v, const Pointer& at, PerClient& pc);

// redis.cpp: the top-level "redis" (SPEC 17), and the check that every
// "store": "redis" limit is on an http listener or route and has one.
void load_redis(Ctx& ctx, const json& v, const Pointer& at, RedisConfig& r);
void check_redis_stores(Ctx& ctx, const Config& cfg, bool redis_given);

// observability.cpp: a listener's "tracing" and "slo" (SPEC 15).
void load_tracing(Ctx& ctx, const json& v, const Pointer& at, Tracing& out);
void load_slo(Ctx& ctx, const json& v, const Pointer& at, Slo& out);

// header_rules.cpp
enum class HeaderDirection { request, response };
bool parse_header_template(Ctx& ctx, const Pointer& at, std::string_view text, HeaderDirection dir,
                           HeaderTemplate& out);
void load_header_rules(Ctx& ctx, const json& v, const Pointer& at, HeaderDirection dir, HeaderRules& rules);

// discovery.cpp: the top-level "dns" and a pool's "discovery" (SPEC 13).
void load_dns(Ctx& ctx, const json& v, const Pointer& at, DnsConfig& dns);
void load_discovery(Ctx& ctx, const json& v, const Pointer& at, DiscoveryConfig& d);

// pool.cpp: one element of "pools".
void load_pool(Ctx& ctx, const json& v, const Pointer& at, PoolConfig& out);
// Fill only the keys present in `v` (a route's overrides use them too).
void load_retries(Ctx& ctx, const json& v, const Pointer& at, RetriesConfig& r);
void load_pool_timeouts(Ctx& ctx, const json& v, const Pointer& at, PoolTimeouts& t);

}  // namespace lb::conf::detail
