// lb/core/live_state.h — mutable per-server, per-pool and per-listener state that
// outlives any one configuration, and the HTTP/2 close reasons
// (Http2CloseReason) the listener counters are indexed by.
//
// These objects are shared by all workers and the main thread, so every field
// is an atomic (relaxed: gauges and flags, no ordering needed between them),
// a ShardedCounter (monotonic statistics: one slot per worker, no shared
// read-modify-write on the request path), or is touched only by the main
// thread (marked). They are carried across a
// reload by identity — servers by (pool name, address), pools by name,
// listeners by name — so health, circuit state and counters survive.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "algorithms/balancer.h"
#include "conf/config.h"
#include "health/circuit_breaker.h"
#include "lb/io/sharded_counter.h"
#include "lb/io/sharded_histogram.h"

namespace lb {

enum class HealthStatus : uint8_t { unchecked, passing, failing };

struct ServerLive {
  // Data-path signals.
  std::atomic<uint32_t> active{0};  // active connections (tcp) / requests (http)
  ShardedCounter requests_total;
  ShardedCounter failures_total;
  ShardedCounter bytes_in;   // bytes received from the server
  ShardedCounter bytes_out;  // bytes sent to the server
  std::atomic<uint64_t> latency_ewma_bits{0};  // double ms, see algorithms/latency.h
  std::atomic<uint64_t> latency_updated_ns{0};
  ShardedHistogram upstream_latency;  // request sent → response head (SPEC 15)

  // Operator state: from config, overridden by the admin API until the next reload.
  std::atomic<conf::ServerState> admin_state{conf::ServerState::ready};
  std::atomic<uint32_t> weight{1};

  // Active health: written by the main thread (health checker), read by workers.
  std::atomic<HealthStatus> health{HealthStatus::unchecked};
  std::atomic<bool> health_checked{false};  // the pool has an active health check
  std::atomic<uint64_t> up_since_ns{0};      // for slow start
  std::atomic<uint64_t> last_check_ns{0};
  ShardedCounter health_checks_pass, health_checks_fail;  // lb_health_checks_total

  // Passive health (lock-free; see health/circuit_breaker.h).
  health::CircuitBreaker breaker;

  // Main-thread only (admin /stats).
  std::mutex last_error_mutex;
  std::string last_error;

  algo::LatencyEstimate latency() const {
    uint64_t bits = latency_ewma_bits.load(std::memory_order_relaxed);
    double ms;
    static_assert(sizeof ms == sizeof bits);
    __builtin_memcpy(&ms, &bits, sizeof ms);
    return {ms, latency_updated_ns.load(std::memory_order_relaxed)};
  }
  void set_latency(algo::LatencyEstimate e) {
    uint64_t bits;
    __builtin_memcpy(&bits, &e.ewma_ms, sizeof bits);
    latency_ewma_bits.store(bits, std::memory_order_relaxed);
    latency_updated_ns.store(e.updated_ns, std::memory_order_relaxed);
  }
  // Up as far as active health is concerned (circuit breaker checked separately).
  bool healthy() const {
    if (!health_checked.load(std::memory_order_relaxed)) return true;
    return health.load(std::memory_order_relaxed) == HealthStatus::passing;
  }
};

// Retry budget as a token bucket: every request earns budget_percent/100 of
// a token, every retry spends one. Over any run the retries stay within
// budget_percent of the requests plus the small starting balance, so a
// failing pool cannot multiply its load. Lock-free (one CAS per retry).
class RetryTokens {
 public:
  void on_request(uint32_t budget_percent) {
    int64_t add = static_cast<int64_t>(budget_percent) * 10;  // milli-tokens
    int64_t cur = milli_.load(std::memory_order_relaxed);
    while (cur < kCap && !milli_.compare_exchange_weak(cur, std::min(kCap, cur + add), std::memory_order_relaxed)) {
    }
  }
  bool try_spend() {
    int64_t cur = milli_.load(std::memory_order_relaxed);
    while (cur >= 1000) {
      if (milli_.compare_exchange_weak(cur, cur - 1000, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  // Whether a retry could spend a token now (a hint: another worker may take it first).
  bool available() const { return milli_.load(std::memory_order_relaxed) >= 1000; }
  // Gives back a token spent for a retry that was then not sent.
  void refund() { milli_.fetch_add(1000, std::memory_order_relaxed); }

 private:
  static constexpr int64_t kCap = 10'000;  // at most 10 retries banked
  std::atomic<int64_t> milli_{3'000};      // a quiet pool may still retry a few times
};

// A pool's queue (SPEC 11 "Queue") as the whole process sees it. The
// waiting lists themselves are per worker (lb/upstream/pool_queue.h, no
// lock on the request path); here is what they share: the process-wide
// count of waiting requests that `queue.max` bounds, the ticket order that
// makes the queue first-in first-out across workers, each worker's oldest
// waiter (so a freed slot goes to the oldest waiter of the whole process),
// and the outcome counters.
class PoolQueueLive {
 public:
  // Per worker, on its own cache line: the ticket of its oldest waiter of
  // this pool (0 = none), written by that worker only, and a flag other
  // workers raise when a slot freed for that waiter (see PoolQueues).
  struct alignas(64) WorkerSlot {
    std::atomic<uint64_t> head_ticket{0};
    std::atomic<bool> kicked{false};
  };
  // Worker threads of the process; set once at start, like ShardedCounter's
  // slots (workers never change without a restart).
  static void set_workers(size_t n) { configured_workers() = n == 0 ? 1 : n; }

  PoolQueueLive() : workers_(configured_workers()), slots_(new WorkerSlot[workers_]) {}
  PoolQueueLive(const PoolQueueLive&) = delete;
  PoolQueueLive& operator=(const PoolQueueLive&) = delete;

  size_t workers() const { return workers_; }
  // The slot of worker `i` (indices past the configured count share the last one).
  WorkerSlot& slot(size_t i) { return slots_[i < workers_ ? i : workers_ - 1]; }

  std::atomic<uint32_t> waiting{0};      // requests waiting now, all workers together
  std::atomic<uint64_t> next_ticket{1};  // arrival order across workers
  ShardedCounter queued_total;     // entered the queue
  ShardedCounter served_total;     // left it when a slot freed (their turn came)
  ShardedCounter timeouts_total;   // waited `timeout` without a slot → 503
  ShardedCounter full_total;       // found `max` requests waiting → 503 at once
  ShardedCounter abandoned_total;  // the client went away while waiting

 private:
  static size_t& configured_workers() {
    static size_t n = 1;
    return n;
  }
  size_t workers_;
  std::unique_ptr<WorkerSlot[]> slots_;
};

struct PoolLive {
  ShardedCounter requests_total;
  ShardedCounter retries_total;
  ShardedCounter no_server_total;
  std::atomic<bool> panic{false};  // last pick had to ignore health (when_all_down: panic)
  RetryTokens retry_tokens;
  health::EjectionBudget ejection;  // circuit breakers open at most max_ejection_percent of the pool
  PoolQueueLive queue;              // SPEC 11 "Queue"; idle unless the pool configures one
};

// Why lb closed an HTTP/2 client connection (SPEC 9): abuse, answered with
// GOAWAY ENHANCE_YOUR_CALM, or a protocol error the client made. The
// `reason` label of lb_http2_connections_closed_total; the names (to_string)
// are the SPEC's and fixed, since dashboards and alerts key on them.
enum class Http2CloseReason : uint8_t {
  rapid_reset,         // the client reset most of its streams before they were answered (CVE-2023-44487)
  continuation_flood,  // CONTINUATION frames without end, or a header block past max_header_bytes
  control_flood,       // too many SETTINGS, PING, PRIORITY, RST_STREAM or WINDOW_UPDATE frames
  empty_frames,        // too many DATA/HEADERS/CONTINUATION frames carrying nothing
  stream_limit,        // max_concurrent_streams exceeded again and again
  protocol_error,      // a connection error the client caused (bad preface, frame or HPACK)
  count_               // not a reason: the number of reasons
};
inline constexpr size_t kHttp2CloseReasons = static_cast<size_t>(Http2CloseReason::count_);

constexpr const char* to_string(Http2CloseReason r) {
  switch (r) {
    case Http2CloseReason::rapid_reset: return "rapid_reset";
    case Http2CloseReason::continuation_flood: return "continuation_flood";
    case Http2CloseReason::control_flood: return "control_flood";
    case Http2CloseReason::empty_frames: return "empty_frames";
    case Http2CloseReason::stream_limit: return "stream_limit";
    case Http2CloseReason::protocol_error: return "protocol_error";
    case Http2CloseReason::count_: break;
  }
  return "unknown";
}

// Per route (SPEC 10), by (listener, route name): injected faults and
// requests refused by the route's own rate limit.
// Also what SPEC 15 records per (listener, route): the whole request's
// duration and the responses by exact status.
struct RouteLive {
  ShardedCounter faults_delay;
  ShardedCounter faults_abort;
  ShardedCounter rate_limited;
  ShardedHistogram duration;  // head received → last response byte; its count is requests_total
  ShardedStatusCounts codes;
};

// TLS handshakes of a listener by protocol version (as OpenSSL names it) and
// result: lb_tls_handshakes_total.
class TlsHandshakeCounts {
 public:
  static constexpr const char* kVersions[] = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "unknown"};
  static constexpr size_t kVersionCount = std::size(kVersions);
  void count(std::string_view version, bool ok) noexcept {
    size_t v = kVersionCount - 1;
    for (size_t i = 0; i + 1 < kVersionCount; ++i)
      if (version == kVersions[i]) v = i;
    counts_.add(v * 2 + (ok ? 0 : 1), 1);
  }
  // (version, ok, error) per version.
  template <class F>
  void for_each(F&& f) const {
    const auto a = counts_.load();
    for (size_t v = 0; v < kVersionCount; ++v) f(kVersions[v], a[v * 2], a[v * 2 + 1]);
  }

 private:
  ShardedArray<kVersionCount * 2> counts_;
};

struct ListenerLive {
  std::atomic<uint32_t> connections_active{0};
  ShardedCounter connections_total;
  ShardedCounter requests_total;
  ShardedCounter responses[5];  // 1xx..5xx
  ShardedCounter rate_limited_total;   // 429 by the listener's rate limit or a route's
  ShardedCounter access_denied_total;  // refused by an access rule (403 / closed)
  ShardedCounter auth_failed_total;    // refused by auth (401)
  ShardedCounter per_client_refused_total;  // connections over a per_client limit (429 / closed)
  ShardedCounter bytes_in;   // from clients
  ShardedCounter bytes_out;  // to clients
  // HTTP/2 to clients (SPEC 9): streams the clients opened, and connections
  // closed for abuse, indexed by Http2CloseReason.
  ShardedCounter http2_streams_total;
  ShardedCounter http2_connections_closed[kHttp2CloseReasons];
  // SPEC 15: the per-route figures of the requests that matched no route
  // (route="none"); the listener's own are the sum of its routes' (summed
  // when /stats asks, not recorded twice per request).
  RouteLive unmatched;
  // SPEC 15 SLOs (listeners with an "slo"): requests, requests answered 500
  // or more, and requests slower than the latency objective.
  ShardedCounter slo_total, slo_errors, slo_slow;
  TlsHandshakeCounts tls_handshakes;

  void count_status(int status) {
    int cls = status / 100;
    if (cls >= 1 && cls <= 5) responses[cls - 1].add(1);
  }
  void count_http2_close(Http2CloseReason reason) {
    const auto i = static_cast<size_t>(reason);
    if (i < kHttp2CloseReasons) http2_connections_closed[i].add(1);
  }
};

}  // namespace lb
