// lb/admin/stats_observe.cpp — see lb/admin/stats_observe.h.
#include "lb/admin/stats_observe.h"

#include <cmath>
#include <algorithm>
#include <cstdio>

#include "lb/admin/latency_window.h"
#include "lb/admin/stats_history.h"

namespace lb {

namespace {

using ojson = nlohmann::ordered_json;

Percentiles percentiles(const HistogramCounts& h) {
  auto r = [](double v) { return std::round(v * 1000.0) / 1000.0; };
  return {r(h.quantile_ms(0.50)), r(h.quantile_ms(0.90)), r(h.quantile_ms(0.99))};
}

Percentiles last_minute(const void* key, const HistogramCounts& now, const StatsHistory* history) {
  return percentiles(history ? history->latency.last_minute(key, now) : now);
}

ListenerStats::RouteStats route_stats(std::string name, const RouteLive& live, const StatsHistory* history) {
  ListenerStats::RouteStats r;
  r.name = std::move(name);
  r.duration = live.duration.load();
  live.codes.for_each([&](int status, uint64_t n) { r.codes.emplace_back(status, n); });
  r.latency_ms = last_minute(&live, r.duration, history);
  return r;
}

// Prometheus text: a label set {k="v",...} (values escaped).
using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

void put_head(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void put_sample(std::string& out, std::string_view name, Labels labels, std::string_view le, double value,
            const char* format = "%.17g") {
  out += name;
  if (labels.size() == 0 && le.empty()) {
    char buf[40];
    out += ' ';
    out.append(buf, static_cast<size_t>(snprintf(buf, sizeof buf, format, value)));
    out += '\n';
    return;
  }
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  if (!le.empty()) {
    out += first ? "le=\"" : ",le=\"";
    out += le;
    out += '"';
  }
  char buf[40];
  out += "} ";
  out.append(buf, static_cast<size_t>(snprintf(buf, sizeof buf, format, value)));
  out += '\n';
}

void histogram(std::string& out, std::string_view name, Labels labels, const HistogramCounts& h) {
  std::string b(name), sum(name), cnt(name);
  b += "_bucket", sum += "_sum", cnt += "_count";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kLatencyBuckets; ++i) {
    cumulative += h.buckets[i];
    char le[16];
    if (i < kLatencyBounds) snprintf(le, sizeof le, "%g", kLatencyBoundsSeconds[i]);
    else snprintf(le, sizeof le, "+Inf");
    put_sample(out, b, labels, le, static_cast<double>(cumulative));
  }
  put_sample(out, sum, labels, {}, static_cast<double>(h.sum_ns) / 1e9, "%.9g");
  put_sample(out, cnt, labels, {}, static_cast<double>(cumulative));
}

void snapshot_slo(const conf::Slo& slo, const ListenerLive& live, ListenerStats& out, const StatsHistory* history) {
  out.has_slo = true;
  const SloWindows::Totals now = SloWindows::current(live);
  auto fill = [&](double target, auto bad_of) {
    ListenerStats::SloObjective o;
    o.target = target;
    for (size_t i = 0; i < 3; ++i) {
      const SloWindows::Totals w = history ? history->slo.window(&live, now, SloWindows::kWindowSeconds[i]) : now;
      const uint64_t bad = std::min(bad_of(w), w.total);
      o.windows[i] = {w.total - bad, w.total, std::round(burn_rate(bad, w.total, target) * 1e4) / 1e4};
    }
    return o;
  };
  if (slo.availability) out.slo_availability = fill(*slo.availability, [](const auto& w) { return w.errors; });
  if (slo.latency) out.slo_latency = fill(slo.latency_percent, [](const auto& w) { return w.slow; });
}

}  // namespace

void snapshot_listener_observations(const ListenerRuntime& l, ListenerStats& out, const StatsHistory* history) {
  const ListenerLive& live = *l.live;
  out.latency_ms = last_minute(&live, listener_duration(l), history);
  if (l.config->slo) snapshot_slo(*l.config->slo, live, out, history);
  if (l.config->protocol == conf::Protocol::http) {
    for (const CompiledRoute& r : l.routes.routes()) out.routes.push_back(route_stats(r.config->name, *r.live, history));
    out.routes.push_back(route_stats("none", live.unmatched, history));
  }
  if (l.config->tls)
    live.tls_handshakes.for_each([&](std::string_view version, uint64_t ok, uint64_t error) {
      out.tls_handshakes.push_back({version, ok, error});
    });
}

void snapshot_server_observations(const ServerLive& live, ServerStats& out, const StatsHistory* history) {
  out.upstream = live.upstream_latency.load();
  out.latency_ms = last_minute(&live, out.upstream, history);
  out.health_checks_pass = live.health_checks_pass.load();
  out.health_checks_fail = live.health_checks_fail.load();
}

ojson latency_json(const Percentiles& p) { return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}}; }

ojson routes_json(const ListenerStats& l) {
  ojson routes = ojson::array();
  for (const auto& r : l.routes) {
    uint64_t classes[5] = {};
    for (const auto& [status, n] : r.codes) classes[(status < 100 ? status : status / 100) - 1] += n;
    ojson responses = ojson::object();
    static constexpr const char* kClasses[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 5; ++i) responses[kClasses[i]] = classes[i];
    routes.push_back({{"name", r.name},
                      {"requests_total", r.duration.count()},
                      {"responses", std::move(responses)},
                      {"latency_ms", latency_json(r.latency_ms)}});
  }
  return routes;
}

ojson slo_json(const ListenerStats& l) {
  if (!l.has_slo) return nullptr;
  auto objective = [](const std::optional<ListenerStats::SloObjective>& o) -> ojson {
    if (!o) return nullptr;
    ojson windows = ojson::object();
    for (size_t i = 0; i < 3; ++i)
      windows[SloWindows::kWindowNames[i]] = {
          {"good", o->windows[i].good}, {"total", o->windows[i].total}, {"burn_rate", o->windows[i].burn_rate}};
    return {{"target", o->target}, {"windows", std::move(windows)}};
  };
  return {{"availability", objective(l.slo_availability)}, {"latency", objective(l.slo_latency)}};
}

void append_observation_metrics(std::string& out, const StatsSnapshot& snap) {
  put_head(out, "lb_http_request_duration_seconds", "histogram",
       "Whole HTTP request duration, head received to last response byte, by listener and route (route \"none\": "
       "no route matched).");
  for (const auto& l : snap.listeners)
    for (const auto& r : l.routes)
      histogram(out, "lb_http_request_duration_seconds", {{"listener", l.name}, {"route", r.name}}, r.duration);
  put_head(out, "lb_http_responses_total", "counter", "HTTP responses by listener, route and exact status code.");
  for (const auto& l : snap.listeners)
    for (const auto& r : l.routes)
      for (const auto& [status, n] : r.codes) {
        char code[16];
        if (status < 100) snprintf(code, sizeof code, "%dxx", status);  // an unregistered status: its class
        else snprintf(code, sizeof code, "%d", status);
        put_sample(out, "lb_http_responses_total", {{"listener", l.name}, {"route", r.name}, {"code", code}}, {},
               static_cast<double>(n));
      }
  put_head(out, "lb_upstream_response_seconds", "histogram",
       "Server response time, request sent to response head, by pool and server.");
  for (const auto& p : snap.pools)
    for (const auto& s : p.servers)
      histogram(out, "lb_upstream_response_seconds", {{"pool", p.name}, {"server", s.address}}, s.upstream);
  put_head(out, "lb_health_checks_total", "counter", "Active health checks by pool, server and result (pass, fail).");
  for (const auto& p : snap.pools)
    for (const auto& s : p.servers) {
      put_sample(out, "lb_health_checks_total", {{"pool", p.name}, {"server", s.address}, {"result", "pass"}}, {},
             static_cast<double>(s.health_checks_pass));
      put_sample(out, "lb_health_checks_total", {{"pool", p.name}, {"server", s.address}, {"result", "fail"}}, {},
             static_cast<double>(s.health_checks_fail));
    }
  put_head(out, "lb_tls_handshakes_total", "counter",
       "Client TLS handshakes by listener, protocol version (as OpenSSL names it; unknown when the handshake "
       "failed before one was chosen) and result (ok, error).");
  for (const auto& l : snap.listeners)
    for (const auto& t : l.tls_handshakes) {
      put_sample(out, "lb_tls_handshakes_total", {{"listener", l.name}, {"version", t.version}, {"result", "ok"}}, {},
             static_cast<double>(t.ok));
      put_sample(out, "lb_tls_handshakes_total", {{"listener", l.name}, {"version", t.version}, {"result", "error"}},
             {}, static_cast<double>(t.error));
    }
  put_head(out, "lb_slo_error_budget_burn_rate", "gauge",
           "Error budget burn rate of a listener's SLO by objective and window (1 = spending the budget exactly "
           "as fast as the objective allows).");
  for (const auto& l : snap.listeners)
    for (auto [name, o] : {std::pair{"availability", &l.slo_availability}, std::pair{"latency", &l.slo_latency}}) {
      if (!*o) continue;
      for (size_t i = 0; i < 3; ++i)
        put_sample(out, "lb_slo_error_budget_burn_rate",
                   {{"listener", l.name}, {"objective", name}, {"window", SloWindows::kWindowNames[i]}}, {},
                   (*o)->windows[i].burn_rate, "%.6g");
    }
  if (const auto& pm = snap.facts.process) {
    const std::pair<const char*, const char*> meta[] = {
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds."},
        {"process_resident_memory_bytes", "Resident memory size in bytes."},
        {"process_open_fds", "Number of open file descriptors."},
        {"process_max_fds", "Maximum number of open file descriptors."},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds."}};
    const double values[] = {pm->cpu_seconds, static_cast<double>(pm->resident_bytes),
                             static_cast<double>(pm->open_fds), static_cast<double>(pm->max_fds),
                             pm->start_time_seconds};
    for (size_t i = 0; i < std::size(values); ++i) {
      put_head(out, meta[i].first, i == 0 ? "counter" : "gauge", meta[i].second);
      put_sample(out, meta[i].first, {}, {}, values[i]);
    }
  }
}

}  // namespace lb
