// lb/admin/stats.h — what the admin API reports: GET /stats (JSON, SPEC section 6)
// and GET /metrics (Prometheus text exposition format 0.0.4).
//
// Pure functions over a Runtime plus a few facts about the process (version,
// uptime, generation, last reload), so they are unit-testable without a
// Process, a loop or sockets. Rendering goes in two steps:
//   1. take_snapshot() reads every live atomic once (relaxed) into plain
//      structs, so one answer is internally consistent (e.g. a server counted
//      in servers_available is also reported "up");
//   2. render_stats_json() / render_metrics() format that snapshot.
// Threading: call on the main thread (the live state's last_error is guarded
// by its mutex; everything else is atomics). Nothing here is on the data path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "health/circuit_breaker.h"
#include "lb/admin/process_metrics.h"
#include "lb/core/live_state.h"
#include "lb/core/runtime.h"

namespace lb {

// Process-level facts the Runtime does not know.
struct StatsFacts {
  std::string version;          // LB_VERSION
  double uptime_s = 0;          // since start
  uint64_t generation = 0;      // configuration generation (1 = as started)
  bool last_reload_ok = true;
  std::string last_reload_at;   // RFC 3339
  std::string last_reload_error;  // empty when ok
  uint64_t now_ns = 0;          // uv_hrtime() now, for last_check_ms_ago
  // Reload outcomes since start; lb_reloads_total is exported only when known.
  std::optional<uint64_t> reloads_ok, reloads_failed;
  uint64_t log_lines_dropped = 0;  // Logger::lines_dropped()
  std::optional<ProcessMetrics> process;  // process_* metrics (read on scrape)
  // SPEC 13 lb_dns_resolutions_total: per discovery pool, every result.
  struct DnsResolutions {
    std::string pool;
    std::string result;
    uint64_t count;
  };
  std::vector<DnsResolutions> dns_resolutions;
};

struct StatsHistory;

// SPEC 15 latency_ms: percentiles over the last minute, in milliseconds.
struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0;
};

struct ServerStats {
  std::string address;
  uint32_t weight = 1;          // live (admin-set or configured)
  bool backup = false;
  std::string_view state;       // "up" | "down" | "drain" | "maint"
  bool available = false;       // selectable now: ready, healthy, circuit not open
  HealthStatus health = HealthStatus::unchecked;
  std::optional<uint64_t> last_check_ms_ago;
  std::optional<std::string> last_error;
  health::CircuitState circuit = health::CircuitState::closed;
  uint32_t connections_active = 0;
  uint64_t requests_total = 0, failures_total = 0;
  double response_time_ms = 0;  // latency EWMA
  uint64_t bytes_in = 0, bytes_out = 0;
  // SPEC 15.
  HistogramCounts upstream;  // lb_upstream_response_seconds, cumulative
  Percentiles latency_ms;    // upstream response time over the last minute
  uint64_t health_checks_pass = 0, health_checks_fail = 0;
};

struct PoolStats {
  std::string name;
  std::string_view algorithm;
  uint32_t servers_available = 0, servers_total = 0;
  uint64_t requests_total = 0, retries_total = 0, no_server_total = 0;
  bool panic = false;
  // SPEC 11 "Queue": present when the pool has one (max > 0).
  struct Queue {
    uint32_t max = 0, waiting = 0;
    uint64_t queued_total = 0, served_total = 0, timeouts_total = 0, full_total = 0, abandoned_total = 0;
  };
  std::optional<Queue> queue;
  std::vector<ServerStats> servers;
};

struct ListenerStats {
  std::string name, listen;
  std::string_view protocol;  // "http" | "tcp"
  bool tls = false;
  uint32_t connections_active = 0;
  uint64_t connections_total = 0, requests_total = 0;
  uint64_t responses[5] = {};  // 1xx..5xx
  uint64_t rate_limited_total = 0, access_denied_total = 0, per_client_refused_total = 0, bytes_in = 0, bytes_out = 0;
  uint64_t auth_failed_total = 0;  // 401 by Basic or JWT auth
  // HTTP/2 (SPEC 9); reported for http listeners only.
  uint64_t http2_streams_total = 0;
  uint64_t http2_connections_closed[kHttp2CloseReasons] = {};  // by Http2CloseReason
  // Routes with a fault rule (SPEC 10): faults injected, by kind.
  struct RouteFaults {
    std::string route;
    uint64_t delay = 0, abort = 0;
  };
  std::vector<RouteFaults> faults;
  // Routes with their own rate_limit (SPEC 11): requests it refused (also
  // counted in rate_limited_total, which covers every limit of the listener).
  struct RouteRateLimited {
    std::string route;
    uint64_t refused = 0;
  };
  std::vector<RouteRateLimited> route_rate_limited;
  // SPEC 15: whole-request latency over the last minute; per route (the
  // configured ones, then "none" for requests that matched no route) the
  // cumulative duration histogram, the responses by exact status and the
  // last minute's percentiles; TLS handshakes by version and result.
  Percentiles latency_ms;
  struct RouteStats {
    std::string name;
    HistogramCounts duration;
    std::vector<std::pair<int, uint64_t>> codes;  // (status, count); status 1..5: another status of that class
    Percentiles latency_ms;
  };
  std::vector<RouteStats> routes;
  struct TlsHandshakes {
    std::string_view version;
    uint64_t ok = 0, error = 0;
  };
  std::vector<TlsHandshakes> tls_handshakes;  // TLS listeners only
  // SPEC 15 SLOs, listeners with an "slo": per objective, per window
  // (SloWindows::kWindowNames) good, total and burn rate.
  struct SloObjective {
    double target = 0;  // percent
    struct Window {
      uint64_t good = 0, total = 0;
      double burn_rate = 0;
    } windows[3];
  };
  std::optional<SloObjective> slo_availability, slo_latency;
  bool has_slo = false;
};

// SPEC 17: the process's Redis connections (lb/security/redis_client.h).
struct RedisStats {
  bool connected = false;                 // every worker's connection is up
  std::optional<std::string> last_error;  // the latest failure seen, if any
  uint64_t errors_total = 0;              // failed calls and connection attempts
};

struct StatsSnapshot {
  StatsFacts facts;
  std::optional<RedisStats> redis;  // when the configuration has "redis"
  std::vector<ListenerStats> listeners;
  std::vector<PoolStats> pools;
};

// The circuit breaker's state for /stats.
health::CircuitState circuit_state_of(const ServerLive& live);

// "passing" | "failing" | "unchecked"
const char* to_string(HealthStatus status);

// The /stats "state" word: drain/maint from the operator state, else up/down
// from active health and the circuit breaker.
std::string_view server_state_word(conf::ServerState admin, bool healthy, health::CircuitState circuit);

// `history` (may be null: percentiles and SLO windows then cover everything
// since start) gives the last minute of the latency histograms and the SLO
// windows.
StatsSnapshot take_snapshot(const Runtime& runtime, const StatsFacts& facts, const StatsHistory* history = nullptr);

// GET /stats body (application/json, pretty-printed, ends in '\n').
std::string render_stats_json(const StatsSnapshot& snapshot);

// GET /metrics body (text/plain; version=0.0.4).
std::string render_metrics(const StatsSnapshot& snapshot);
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Prometheus label-value escaping: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);

}  // namespace lb
