// health/checker.h — the active health checker: periodic TCP or HTTP probes
// of every health-checked server, on one libuv loop (SPEC section 3,
// "health_check").
//
// Design: the Checker owns one RiseFall per target, because the state decides
// when the next probe runs (fast_interval while changing, down_interval while
// down). After every probe it reports the raw result *and* the rise/fall
// outcome through ResultFn; the caller (lb/) mirrors the status into the
// server's live state, logs "server up/down" on transitions, and reads the
// rest (last error, last check time) from here or from the CheckResult.
//
// Probes: tcp — success = the connect completes. http — connect, send
//   GET <path> HTTP/1.1 / Host / User-Agent: lb-health / Connection: close,
//   read the status line; success iff its code is in expect_status. Either
//   kind fails with "timeout" when `timeout` passes first. Error strings:
//   "connect: connection refused", "timeout", "status 500",
//   "connection closed before response", "bad status line", "read: …",
//   "write: …".
// Transport (CheckTarget::transport, e.g. TLS for a pool with backend TLS;
//   see probe_transport.h): every byte of the probe goes through it — its
//   start bytes after the connect, the request through send(), the status
//   line out of its decoded bytes. A tcp check passes once its handshake is
//   complete (ready()), not on connect alone. Its failures read
//   "<name>: <reason>" (e.g. "tls: TLS protocol error: … (certificate has
//   expired)"), and a timeout or EOF before the handshake completes reads
//   "<name>: handshake timeout" / "<name>: connection closed during
//   handshake".
// Scheduling: a new target's first probe runs within min(interval, 100ms)
//   (random offset, so a large pool does not probe in one burst but /ready
//   still turns true quickly); later probes run next_interval() ±10% after the
//   previous result. A probe never overlaps the previous one of its target.
//
// Thread-safety: everything — construction, set_targets, stop, the accessors,
//   the destructor — runs on the loop's thread; ResultFn is called on it too.
//   ResultFn may call set_targets() or stop(), but must not destroy the Checker.
// Handles: each uv handle is closed exactly once and its memory is freed in
//   its close callback. After stop() (or destruction) the Checker holds no
//   active handle, so uv_run() on the loop returns once their close callbacks
//   have run. Those callbacks never touch the Checker.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "health/probe_transport.h"
#include "health/rise_fall.h"

namespace lb::health {

struct CheckTarget {
  std::string pool;                // pool name
  std::string server;              // address text "host:port"; identity and default Host header
  sockaddr_storage addr{};         // resolved address (AF_INET or AF_INET6)
  socklen_t addr_len = 0;
  conf::HealthCheckConfig check;
  // Layer between the probe and the socket (TLS); empty = plain TCP. Adding
  // or removing it on set_targets() counts as a changed check config.
  TransportFactory transport;
  // Status a target starts with when it is new to this Checker (e.g. carried
  // over by lb/ from elsewhere); ignored for targets the Checker already has.
  Status initial = Status::unchecked;
};

struct CheckResult {
  size_t index = 0;          // position in the latest set_targets() vector
  bool ok = false;
  std::string_view error;    // "" when ok; valid only during the callback
  Status previous = Status::unchecked;
  Status status = Status::unchecked;
  Transition transition = Transition::none;
  uint64_t now_ns = 0;       // uv_hrtime() when the result arrived
};

class Checker {
 public:
  using ResultFn = std::function<void(const CheckResult&)>;

  // seed 0 → seeded from uv_hrtime().
  Checker(uv_loop_t* loop, ResultFn on_result, uint64_t seed = 0);
  ~Checker();  // stop()
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  // Replaces the target list (start-up and every reload). Targets are matched
  // to existing ones by (pool, server):
  //   same check config and address → kept as they are (state, schedule, and
  //     any probe in flight, which reports under its new index);
  //   changed check config or address → status and counters kept (SPEC 5:
  //     a server keeps its health state), thresholds updated, the probe in
  //     flight dropped, and a new probe scheduled promptly;
  //   new → state `initial`, first probe within min(interval, 100ms);
  //   absent → cancelled (no further results).
  // Ignored after stop().
  void set_targets(std::vector<CheckTarget> targets);

  // Cancels every probe and timer. No results are reported afterwards.
  // Idempotent.
  void stop();

  size_t size() const;
  // nullptr when index is out of range.
  const RiseFall* state(size_t index) const;
  // uv_hrtime() of the last result, 0 when none yet.
  uint64_t last_check_ns(size_t index) const;
  // Every target has a result (status no longer unchecked): for /ready.
  // True with no targets.
  bool first_round_complete() const;

  // Internal (defined in checker.cpp); nested so they may use the private members.
  struct Target;
  struct Probe;

 private:
  static void retire(std::unique_ptr<Target> t);
  void schedule(Target& t, conf::Duration delay);
  void on_timer(Target& t);
  void start_probe(Target& t);
  void on_probe_result(Target& t, bool ok, const std::string& error);
  uint64_t next_random();

  uv_loop_t* loop_;
  ResultFn on_result_;
  uint64_t rng_;
  bool stopped_ = false;
  std::vector<std::unique_ptr<Target>> targets_;
};

}  // namespace lb::health
