// lb/admin/stats.cpp — snapshotting live state and rendering /stats (JSON) and
// /metrics (Prometheus text format 0.0.4). See lb/admin/stats.h.
#include "lb/admin/stats.h"
#include "lb/security/redis_client.h"

#include <cmath>
#include <cstdio>
#include <mutex>

#include <nlohmann/json.hpp>

#include "lb/admin/stats_observe.h"

namespace lb {

namespace {

using ojson = nlohmann::ordered_json;

double round3(double v) { return std::isfinite(v) ? std::round(v * 1000.0) / 1000.0 : 0.0; }

ServerStats server_stats(const ServerRuntime& s, uint64_t now_ns, const StatsHistory* window) {
  const ServerLive& live = *s.live;
  ServerStats out;
  out.address = s.config->address.text;
  out.weight = live.weight.load(std::memory_order_relaxed);
  out.backup = s.config->backup;
  out.health = live.health.load(std::memory_order_relaxed);
  out.circuit = circuit_state_of(live);
  conf::ServerState admin = live.admin_state.load(std::memory_order_relaxed);
  bool healthy = live.healthy();
  out.state = server_state_word(admin, healthy, out.circuit);
  out.available = admin == conf::ServerState::ready && healthy && out.circuit != health::CircuitState::open;
  uint64_t checked = live.last_check_ns.load(std::memory_order_relaxed);
  if (checked != 0) out.last_check_ms_ago = now_ns > checked ? (now_ns - checked) / 1'000'000 : 0;
  {
    // last_error is the one non-atomic field; the health checker writes it
    // on this same thread today, the mutex keeps that from being a rule.
    std::lock_guard lock(s.live->last_error_mutex);
    if (!s.live->last_error.empty()) out.last_error = s.live->last_error;
  }
  out.connections_active = live.active.load(std::memory_order_relaxed);
  out.requests_total = live.requests_total.load(std::memory_order_relaxed);
  out.failures_total = live.failures_total.load(std::memory_order_relaxed);
  out.response_time_ms = round3(live.latency().ewma_ms);
  out.bytes_in = live.bytes_in.load(std::memory_order_relaxed);
  out.bytes_out = live.bytes_out.load(std::memory_order_relaxed);
  snapshot_server_observations(live, out, window);
  return out;
}

}  // namespace

health::CircuitState circuit_state_of(const ServerLive& live) { return live.breaker.state(); }

const char* to_string(HealthStatus status) {
  switch (status) {
    case HealthStatus::passing: return "passing";
    case HealthStatus::failing: return "failing";
    case HealthStatus::unchecked: return "unchecked";
  }
  return "unchecked";
}

std::string_view server_state_word(conf::ServerState admin, bool healthy, health::CircuitState circuit) {
  switch (admin) {
    case conf::ServerState::maint: return "maint";
    case conf::ServerState::drain: return "drain";
    case conf::ServerState::ready: break;
  }
  // Half-open admits trial requests, so it counts as up (as for servers_available).
  return healthy && circuit != health::CircuitState::open ? "up" : "down";
}

StatsSnapshot take_snapshot(const Runtime& runtime, const StatsFacts& facts, const StatsHistory* window) {
  StatsSnapshot snap;
  snap.facts = facts;
  if (runtime.config->redis) {
    const RedisStatus& redis = RedisStatus::process();
    snap.redis = RedisStats{redis.connected(), redis.last_error(), redis.errors_total()};
  }
  snap.listeners.reserve(runtime.listeners.size());
  for (const auto& l : runtime.listeners) {
    const ListenerLive& live = *l.live;
    ListenerStats out;
    out.name = l.config->name;
    out.listen = l.config->listen.text;
    out.protocol = conf::to_string(l.config->protocol);
    out.tls = l.config->tls.has_value();
    out.connections_active = live.connections_active.load(std::memory_order_relaxed);
    out.connections_total = live.connections_total.load(std::memory_order_relaxed);
    out.requests_total = live.requests_total.load(std::memory_order_relaxed);
    for (int i = 0; i < 5; ++i) out.responses[i] = live.responses[i].load(std::memory_order_relaxed);
    out.rate_limited_total = live.rate_limited_total.load(std::memory_order_relaxed);
    out.access_denied_total = live.access_denied_total.load(std::memory_order_relaxed);
    out.auth_failed_total = live.auth_failed_total.load(std::memory_order_relaxed);
    out.per_client_refused_total = live.per_client_refused_total.load(std::memory_order_relaxed);
    out.bytes_in = live.bytes_in.load(std::memory_order_relaxed);
    out.bytes_out = live.bytes_out.load(std::memory_order_relaxed);
    out.http2_streams_total = live.http2_streams_total.load(std::memory_order_relaxed);
    for (size_t i = 0; i < kHttp2CloseReasons; ++i)
      out.http2_connections_closed[i] = live.http2_connections_closed[i].load(std::memory_order_relaxed);
    for (const CompiledRoute& r : l.routes.routes()) {
      if (r.config->rate_limit)
        out.route_rate_limited.push_back({r.config->name, r.live->rate_limited.load(std::memory_order_relaxed)});
      if (!r.config->fault) continue;
      out.faults.push_back({r.config->name, r.live->faults_delay.load(std::memory_order_relaxed),
                            r.live->faults_abort.load(std::memory_order_relaxed)});
    }
    snapshot_listener_observations(l, out, window);
    snap.listeners.push_back(std::move(out));
  }
  snap.pools.reserve(runtime.pools.size());
  for (const auto& p : runtime.pools) {
    PoolStats out;
    out.name = p.config->name;
    out.algorithm = conf::to_string(p.config->algorithm);
    out.requests_total = p.live->requests_total.load(std::memory_order_relaxed);
    out.retries_total = p.live->retries_total.load(std::memory_order_relaxed);
    out.no_server_total = p.live->no_server_total.load(std::memory_order_relaxed);
    out.panic = p.live->panic.load(std::memory_order_relaxed);
    if (p.config->queue.max != 0) {
      const PoolQueueLive& q = p.live->queue;
      out.queue = PoolStats::Queue{p.config->queue.max,
                                   q.waiting.load(std::memory_order_relaxed),
                                   q.queued_total.load(),
                                   q.served_total.load(),
                                   q.timeouts_total.load(),
                                   q.full_total.load(),
                                   q.abandoned_total.load()};
    }
    out.servers.reserve(p.servers.size());
    for (const auto& s : p.servers) {
      out.servers.push_back(server_stats(s, facts.now_ns, window));
      if (out.servers.back().available) ++out.servers_available;
    }
    out.servers_total = static_cast<uint32_t>(out.servers.size());
    snap.pools.push_back(std::move(out));
  }
  return snap;
}

// ---- /stats ----

namespace {

// tcp listeners carry no HTTP, so they get no HTTP/2 figures (none could move).
bool is_http(const ListenerStats& l) { return l.protocol == conf::to_string(conf::Protocol::http); }

// {"connections_closed": {reason: n, ...every reason}, "streams_total": n}
ojson http2_json(const ListenerStats& l) {
  ojson closed = ojson::object();
  for (size_t i = 0; i < kHttp2CloseReasons; ++i)
    closed[to_string(static_cast<Http2CloseReason>(i))] = l.http2_connections_closed[i];
  return {{"connections_closed", std::move(closed)}, {"streams_total", l.http2_streams_total}};
}

}  // namespace

std::string render_stats_json(const StatsSnapshot& snap) {
  const StatsFacts& f = snap.facts;
  ojson root = ojson::object();
  root["version"] = f.version;
  root["uptime_s"] = static_cast<uint64_t>(f.uptime_s > 0 ? f.uptime_s : 0);
  root["generation"] = f.generation;
  root["last_reload"] = {{"ok", f.last_reload_ok},
                         {"at", f.last_reload_at},
                         {"error", f.last_reload_ok ? ojson(nullptr) : ojson(f.last_reload_error)}};
  // SPEC 17; null when the configuration has no "redis".
  if (snap.redis)
    root["redis"] = {{"connected", snap.redis->connected},
                     {"last_error", snap.redis->last_error ? ojson(*snap.redis->last_error) : ojson(nullptr)},
                     {"errors_total", snap.redis->errors_total}};
  else root["redis"] = nullptr;

  ojson listeners = ojson::array();
  for (const auto& l : snap.listeners) {
    ojson responses = ojson::object();
    static constexpr const char* kClasses[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 5; ++i) responses[kClasses[i]] = l.responses[i];
    ojson lj = {{"name", l.name},
                {"listen", l.listen},
                {"protocol", l.protocol},
                {"tls", l.tls},
                {"connections_active", l.connections_active},
                {"connections_total", l.connections_total},
                {"requests_total", l.requests_total},
                {"responses", std::move(responses)},
                {"rate_limited_total", l.rate_limited_total},
                {"access_denied_total", l.access_denied_total},
                {"auth_failed_total", l.auth_failed_total},
                {"per_client_refused_total", l.per_client_refused_total},
                {"bytes_in", l.bytes_in},
                {"bytes_out", l.bytes_out},
                {"latency_ms", latency_json(l.latency_ms)}};
    if (is_http(l)) {
      lj["routes"] = routes_json(l);
      lj["slo"] = slo_json(l);
      lj["http2"] = http2_json(l);
      ojson by_route = ojson::object();
      for (const auto& r : l.route_rate_limited) by_route[r.route] = r.refused;
      lj["route_rate_limited_total"] = std::move(by_route);
    }
    listeners.push_back(std::move(lj));
  }
  root["listeners"] = std::move(listeners);

  ojson pools = ojson::array();
  for (const auto& p : snap.pools) {
    ojson servers = ojson::array();
    for (const auto& s : p.servers) {
      ojson health = {{"status", to_string(s.health)},
                      {"last_check_ms_ago", s.last_check_ms_ago ? ojson(*s.last_check_ms_ago) : ojson(nullptr)},
                      {"last_error", s.last_error ? ojson(*s.last_error) : ojson(nullptr)}};
      servers.push_back({{"address", s.address},
                         {"weight", s.weight},
                         {"backup", s.backup},
                         {"state", s.state},
                         {"health", std::move(health)},
                         {"circuit", health::to_string(s.circuit)},
                         {"connections_active", s.connections_active},
                         {"requests_total", s.requests_total},
                         {"failures_total", s.failures_total},
                         {"response_time_ms", s.response_time_ms},
                         {"latency_ms", latency_json(s.latency_ms)},
                         {"bytes_in", s.bytes_in},
                         {"bytes_out", s.bytes_out}});
    }
    ojson pool = {{"name", p.name},
                  {"algorithm", p.algorithm},
                  {"servers_available", p.servers_available},
                  {"servers_total", p.servers_total},
                  {"requests_total", p.requests_total},
                  {"retries_total", p.retries_total},
                  {"no_server_total", p.no_server_total},
                  {"panic", p.panic},
                  {"queue", nullptr},
                  {"servers", std::move(servers)}};
    if (p.queue)
      pool["queue"] = {{"max", p.queue->max},
                       {"waiting", p.queue->waiting},
                       {"queued_total", p.queue->queued_total},
                       {"served_total", p.queue->served_total},
                       {"timeouts_total", p.queue->timeouts_total},
                       {"full_total", p.queue->full_total},
                       {"abandoned_total", p.queue->abandoned_total}};
    pools.push_back(std::move(pool));
  }
  root["pools"] = std::move(pools);
  root["log"] = {{"lines_dropped_total", f.log_lines_dropped}};
  // Replace invalid UTF-8 (an error message quoting bytes) rather than throw.
  return root.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// ---- /metrics ----

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

namespace {

// Writes one metric family at a time: HELP and TYPE, then its samples.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;  // our own literals: no backslash or newline to escape
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  void sample(Labels labels, uint64_t v) { head(labels), out_ += std::to_string(v), out_ += '\n'; }
  void sample(Labels labels, double v) {
    head(labels);
    char buf[32];
    if (std::isnan(v)) out_ += "NaN";
    else if (std::isinf(v)) out_ += v > 0 ? "+Inf" : "-Inf";
    else out_.append(buf, static_cast<size_t>(snprintf(buf, sizeof buf, "%.9g", v)));
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  void head(Labels labels) {
    out_ += name_;
    if (labels.size() != 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape_label_value(v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
  }
  std::string out_;
  std::string_view name_;
};

}  // namespace

std::string render_metrics(const StatsSnapshot& snap) {
  const StatsFacts& f = snap.facts;
  Exposition m;
  auto u = [](auto v) { return static_cast<uint64_t>(v); };

  m.family("lb_build_info", "gauge", "Always 1; the version label identifies the running lb.");
  m.sample({{"version", f.version}}, uint64_t{1});
  m.family("lb_uptime_seconds", "gauge", "Seconds since the process started.");
  m.sample({}, f.uptime_s);
  m.family("lb_config_generation", "gauge", "Generation of the running configuration (1 = as started).");
  m.sample({}, f.generation);
  m.family("lb_last_reload_success", "gauge", "1 if the last reload succeeded (or none was tried), else 0.");
  m.sample({}, u(f.last_reload_ok));
  if (f.reloads_ok && f.reloads_failed) {
    m.family("lb_reloads_total", "counter", "Configuration reloads by result.");
    m.sample({{"result", "ok"}}, *f.reloads_ok);
    m.sample({{"result", "error"}}, *f.reloads_failed);
  }
  if (!f.dns_resolutions.empty()) {
    m.family("lb_dns_resolutions_total", "counter", "DNS resolutions of discovery pools by result.");
    for (const auto& d : f.dns_resolutions) m.sample({{"pool", d.pool}, {"result", d.result}}, d.count);
  }
  m.family("lb_log_lines_dropped_total", "counter", "Log lines dropped because the log writer fell behind.");
  m.sample({}, f.log_lines_dropped);
  if (snap.redis) {
    m.family("lb_redis_connected", "gauge", "1 when every worker's Redis connection is up (SPEC 17), else 0.");
    m.sample({}, u(snap.redis->connected));
    m.family("lb_redis_errors_total", "counter",
             "Redis calls that failed (timeout, error, no connection) and failed connection attempts.");
    m.sample({}, snap.redis->errors_total);
  }

  // Listeners.
  auto per_listener = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    m.family(name, type, help);
    for (const auto& l : snap.listeners) m.sample({{"listener", l.name}}, u(value(l)));
  };
  per_listener("lb_listener_connections_active", "gauge", "Client connections open now.",
               [](const ListenerStats& l) { return l.connections_active; });
  per_listener("lb_listener_connections_total", "counter", "Client connections accepted.",
               [](const ListenerStats& l) { return l.connections_total; });
  per_listener("lb_listener_requests_total", "counter", "HTTP requests received.",
               [](const ListenerStats& l) { return l.requests_total; });
  m.family("lb_listener_responses_total", "counter", "HTTP responses sent to clients, by status class.");
  for (const auto& l : snap.listeners) {
    static constexpr const char* kClasses[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 5; ++i) m.sample({{"listener", l.name}, {"code", kClasses[i]}}, l.responses[i]);
  }
  per_listener("lb_listener_rate_limited_total", "counter",
               "Requests (429) and tcp connections (closed) refused by a rate limit of the listener or its routes.",
               [](const ListenerStats& l) { return l.rate_limited_total; });
  m.family("lb_route_rate_limited_total", "counter", "Requests refused (429) by a route's own rate limit.");
  for (const auto& l : snap.listeners)
    for (const auto& r : l.route_rate_limited) m.sample({{"listener", l.name}, {"route", r.route}}, r.refused);
  per_listener("lb_listener_access_denied_total", "counter",
               "Requests (403) and tcp connections (closed) refused by an access rule.",
               [](const ListenerStats& l) { return l.access_denied_total; });
  per_listener("lb_listener_auth_failed_total", "counter",
               "Requests refused (401) by Basic or JWT auth of the listener or its routes.",
               [](const ListenerStats& l) { return l.auth_failed_total; });
  per_listener("lb_listener_per_client_refused_total", "counter",
               "Client connections over a per_client limit (their requests answered 429; tcp: closed).",
               [](const ListenerStats& l) { return l.per_client_refused_total; });
  per_listener("lb_listener_bytes_in_total", "counter", "Bytes received from clients.",
               [](const ListenerStats& l) { return l.bytes_in; });
  per_listener("lb_listener_bytes_out_total", "counter", "Bytes sent to clients.",
               [](const ListenerStats& l) { return l.bytes_out; });

  // HTTP/2 to clients, http listeners only; every reason is listed, zeros
  // included, so a rate() over a reason exists before its first close.
  m.family("lb_http2_streams_total", "counter", "HTTP/2 streams opened by clients.");
  for (const auto& l : snap.listeners)
    if (is_http(l)) m.sample({{"listener", l.name}}, l.http2_streams_total);
  m.family("lb_http2_connections_closed_total", "counter",
           "HTTP/2 client connections lb closed for abuse (GOAWAY ENHANCE_YOUR_CALM) or a protocol error, by reason.");
  for (const auto& l : snap.listeners) {
    if (!is_http(l)) continue;
    for (size_t i = 0; i < kHttp2CloseReasons; ++i)
      m.sample({{"listener", l.name}, {"reason", to_string(static_cast<Http2CloseReason>(i))}},
               l.http2_connections_closed[i]);
  }

  // Routes with a fault rule; both kinds listed, zeros included.
  m.family("lb_faults_injected_total", "counter", "Faults injected by route fault rules (chaos testing), by kind.");
  for (const auto& l : snap.listeners) {
    for (const auto& f : l.faults) {
      m.sample({{"listener", l.name}, {"route", f.route}, {"kind", "delay"}}, f.delay);
      m.sample({{"listener", l.name}, {"route", f.route}, {"kind", "abort"}}, f.abort);
    }
  }

  // Pools.
  auto per_pool = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    m.family(name, type, help);
    for (const auto& p : snap.pools) m.sample({{"pool", p.name}}, u(value(p)));
  };
  per_pool("lb_pool_requests_total", "counter", "Requests (or TCP sessions) routed to the pool.",
           [](const PoolStats& p) { return p.requests_total; });
  per_pool("lb_pool_retries_total", "counter", "Retries made on another server.",
           [](const PoolStats& p) { return p.retries_total; });
  per_pool("lb_pool_no_server_total", "counter", "Requests refused because no server was available.",
           [](const PoolStats& p) { return p.no_server_total; });
  per_pool("lb_pool_servers_available", "gauge", "Servers that may take new traffic now.",
           [](const PoolStats& p) { return p.servers_available; });
  per_pool("lb_pool_servers", "gauge", "Servers configured in the pool.",
           [](const PoolStats& p) { return p.servers_total; });
  per_pool("lb_pool_panic", "gauge", "1 while the pool ignores health because every server is down.",
           [](const PoolStats& p) { return p.panic; });

  // Pool queues (SPEC 11), pools that have one; every outcome listed, zeros included.
  m.family("lb_pool_queue_waiting", "gauge", "Requests waiting in the pool's queue for a server slot.");
  for (const auto& p : snap.pools)
    if (p.queue) m.sample({{"pool", p.name}}, u(p.queue->waiting));
  m.family("lb_pool_queue_total", "counter",
           "Requests that met the pool's queue, by outcome: served (left it for a server when a slot freed), "
           "timeout and full (503), abandoned (the client went away while waiting).");
  for (const auto& p : snap.pools) {
    if (!p.queue) continue;
    const PoolStats::Queue& q = *p.queue;
    for (auto [outcome, n] : {std::pair{"served", q.served_total}, std::pair{"timeout", q.timeouts_total},
                              std::pair{"full", q.full_total}, std::pair{"abandoned", q.abandoned_total}})
      m.sample({{"pool", p.name}, {"outcome", outcome}}, n);
  }

  // Servers.
  auto per_server = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    m.family(name, type, help);
    for (const auto& p : snap.pools)
      for (const auto& s : p.servers) m.sample({{"pool", p.name}, {"server", s.address}}, value(s));
  };
  per_server("lb_server_up", "gauge", "1 if the server may take new traffic (ready, healthy, circuit not open).",
             [&](const ServerStats& s) { return u(s.available); });
  per_server("lb_server_weight", "gauge", "Current weight (configured or set through the admin API).",
             [&](const ServerStats& s) { return u(s.weight); });
  per_server("lb_server_health_passing", "gauge", "1 if the last active health verdict is passing.",
             [&](const ServerStats& s) { return u(s.health == HealthStatus::passing); });
  per_server("lb_server_circuit_open", "gauge", "1 while the circuit breaker is open.",
             [&](const ServerStats& s) { return u(s.circuit == health::CircuitState::open); });
  per_server("lb_server_connections_active", "gauge", "Active connections (tcp) or requests (http).",
             [&](const ServerStats& s) { return u(s.connections_active); });
  per_server("lb_server_requests_total", "counter", "Requests (or TCP sessions) sent to the server.",
             [&](const ServerStats& s) { return s.requests_total; });
  per_server("lb_server_failures_total", "counter", "Failed attempts (connect error, reset, timeout, 5xx).",
             [&](const ServerStats& s) { return s.failures_total; });
  per_server("lb_server_response_time_seconds", "gauge", "Decaying average response time.",
             [&](const ServerStats& s) { return s.response_time_ms / 1000.0; });
  per_server("lb_server_bytes_in_total", "counter", "Bytes received from the server.",
             [&](const ServerStats& s) { return s.bytes_in; });
  per_server("lb_server_bytes_out_total", "counter", "Bytes sent to the server.",
             [&](const ServerStats& s) { return s.bytes_out; });
  std::string out = m.take();
  append_observation_metrics(out, snap);
  return out;
}

}  // namespace lb
