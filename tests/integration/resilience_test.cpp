// tests/integration/resilience_test.cpp — health and resilience of the real lb
// binary against real backends (SPEC sections 3 health_check / circuit_breaker
// / retries / when_all_down / backup / slow_start, 6 /stats, 8 logs):
//   - active health checks (http and tcp probes, rise/fall, timeout,
//     fast_interval, down_interval) and their "server up"/"server down" logs;
//   - a backend killed under steady load costs no GET and comes back;
//   - the circuit breaker's open → half_open → closed cycle, its doubling
//     recovery timeout and max_ejection_percent;
//   - retries: a different server each try, only on the listed conditions,
//     never after response bytes reached the client, within the retry budget;
//   - when_all_down fail/panic, backup servers, slow start.
//
// Everything is observed from outside: lb's /stats and logs, the backends'
// own /stats counters, and what the clients receive.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/script_server.h"

using namespace it;

namespace {

// ---- configuration ---------------------------------------------------------------

std::string addr(uint16_t port) { return Backend::addr(port); }

// A server entry with extra keys (backup, max_connections, ...).
json server_entry(uint16_t port, json extra = json::object()) {
  json s = {{"address", addr(port)}};
  for (auto& [k, v] : extra.items()) s[k] = v;
  return s;
}

json listener(const std::string& name, const std::string& protocol, const std::string& pool_name) {
  return {{"name", name}, {"listen", "127.0.0.1:0"}, {"protocol", protocol}, {"pool", pool_name}};
}

// One listener "web" on pool "p", plus the admin endpoint.
json config_for(json the_pool, const std::string& protocol = "http") {
  return {{"admin", {{"listen", "127.0.0.1:0"}, {"token", "t"}}},
          {"listeners", json::array({listener("web", protocol, the_pool.value("name", "p"))})},
          {"pools", json::array({the_pool})}};
}

json http_check(const std::string& interval, const std::string& timeout, int rise, int fall,
                json extra = json::object()) {
  json h = {{"type", "http"}, {"path", "/health"}, {"interval", interval}, {"timeout", timeout},
            {"rise", rise},   {"fall", fall}};
  for (auto& [k, v] : extra.items()) h[k] = v;
  return h;
}

json tcp_check(const std::string& interval, const std::string& timeout, int rise, int fall) {
  return {{"type", "tcp"}, {"interval", interval}, {"timeout", timeout}, {"rise", rise}, {"fall", fall}};
}

// A backend process of its own (so it can be killed alone) with one HTTP port.
std::unique_ptr<Backend> http_backend(const std::string& spec = "0") {
  return std::make_unique<Backend>(std::vector<std::string>{}, std::vector<std::string>{spec});
}

// Starts a backend on a port that was in use a moment ago (a restart after a
// kill). Binding can race with the port's previous owner going away, so it
// retries until `timeout`.
std::unique_ptr<Backend> restart_backend(uint16_t port, ms timeout = 5s) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    try {
      return http_backend(std::to_string(port));
    } catch (const std::exception& e) {
      if (Clock::now() > deadline) throw;
    }
    std::this_thread::sleep_for(50ms);  // back-off between bind attempts
  }
}

// ---- observing lb ------------------------------------------------------------------

std::string str_at(const json& j, const json::json_pointer& ptr) {
  if (!j.is_object() || !j.contains(ptr)) return "";
  const json& v = j[ptr];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string state_of(const json& s) { return str_at(s, "/state"_json_pointer); }
std::string health_of(const json& s) { return str_at(s, "/health/status"_json_pointer); }
std::string circuit_of(const json& s) { return str_at(s, "/circuit"_json_pointer); }
std::string last_error_of(const json& s) { return str_at(s, "/health/last_error"_json_pointer); }
uint64_t u64(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0;
}

// Polls /stats until pred(server entry) holds; `last` gets the final entry.
bool wait_server(Lb& lb, const std::string& pool_name, uint16_t port, const std::function<bool(const json&)>& pred,
                 ms timeout, json* last = nullptr) {
  json s;
  bool ok = wait_until(
      [&] {
        s = find_server(admin_stats(lb), pool_name, addr(port));
        return s.is_object() && pred(s);
      },
      timeout, 20ms);
  if (last) *last = s;
  return ok;
}

bool wait_state(Lb& lb, uint16_t port, const std::string& state, ms timeout, json* last = nullptr) {
  return wait_server(lb, "p", port, [&](const json& s) { return state_of(s) == state; }, timeout, last);
}

// Error-log lines with this msg (and server, when given).
std::vector<json> log_lines(const Lb& lb, const std::string& msg, const std::string& server_addr = "") {
  std::vector<json> out;
  for (const auto& j : lb.error_log())
    if (j.value("msg", "") == msg && (server_addr.empty() || j.value("server", "") == server_addr)) out.push_back(j);
  return out;
}

std::optional<uint16_t> backend_port_of(const HttpResponse& r) {
  auto h = r.header("X-Backend-Port");
  if (!h) return std::nullopt;
  return static_cast<uint16_t>(std::stoul(*h));
}

// n GETs of `path` through lb, each answered `status` by the server on `port`.
void expect_answers(uint16_t web, const std::string& path, int n, int status, uint16_t port) {
  for (int i = 0; i < n; ++i) {
    auto r = http_get(web, path);
    REQUIRE(r.has_value());
    CHECK(r->status == status);
    CHECK(backend_port_of(*r) == std::optional<uint16_t>(port));
  }
}

// Requests a backend port has served other than our own /stats reads (the
// backend counts the /stats request that reports the number).
class DirectCounter {
 public:
  explicit DirectCounter(uint16_t port) : port_(port) {}
  std::optional<uint64_t> get() {
    auto r = http_get(port_, "/stats", 3s);
    if (!r || r->status != 200) return std::nullopt;
    ++reads_;
    try {
      return json::parse(r->body).at("requests_total").get<uint64_t>() - reads_;
    } catch (...) {
      return std::nullopt;
    }
  }
  uint64_t value() {
    auto v = get();
    REQUIRE_MESSAGE(v.has_value(), "backend /stats on port " << port_ << " did not answer");
    return *v;
  }

 private:
  uint16_t port_;
  uint64_t reads_ = 0;
};

// ---- clients -----------------------------------------------------------------------

// A keep-alive HTTP/1.1 client that reconnects when the server closes.
class KeepAlive {
 public:
  explicit KeepAlive(uint16_t port) : port_(port) {}
  std::optional<HttpResponse> get(const std::string& target, std::string* why = nullptr, ms timeout = 5s) {
    if (!s_.valid()) {
      s_ = Socket::connect(port_, 2s);
      if (!s_) {
        if (why) *why = "connect: " + s_.error_text();
        return std::nullopt;
      }
    }
    if (!s_.send_all("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", timeout)) {
      if (why) *why = "send: " + s_.error_text();
      s_.close();
      return std::nullopt;
    }
    auto r = read_http_response(s_, timeout);
    if (!r) {
      if (why) *why = std::string("no complete response: ") + to_string(s_.last_io()) + " " + s_.error_text();
      s_.close();
      return std::nullopt;
    }
    auto c = r->header("Connection");
    if (c && lower(*c).find("close") != std::string::npos) s_.close();
    return r;
  }

 private:
  uint16_t port_;
  Socket s_;
};

// Steady paced load: `threads` keep-alive clients, each at `rate` req/s.
class LoadGen {
 public:
  LoadGen(uint16_t lb_port, std::vector<uint16_t> ports, int threads, double rate, ms duration)
      : lb_port_(lb_port), threads_(threads), rate_(rate), duration_(duration) {
    for (auto p : ports) hits_[p];  // fixed key set; values are atomics
  }
  ~LoadGen() { join(); }

  void start() {
    t0_ = Clock::now();
    for (int i = 0; i < threads_; ++i) ts_.emplace_back([this, i] { run(i); });
  }
  void join() {
    for (auto& t : ts_)
      if (t.joinable()) t.join();
  }
  Clock::time_point t0() const { return t0_; }
  uint64_t hits(uint16_t port) const { return hits_.at(port).load(); }
  uint64_t ok() const { return ok_.load(); }
  uint64_t errors() const { return errors_.load(); }
  uint64_t unknown() const { return unknown_.load(); }
  std::string error_samples() {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& s : samples_) out += "\n  " + s;
    return out;
  }

 private:
  void run(int index) {
    KeepAlive c(lb_port_);
    auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate_));
    auto next = t0_ + interval * index / threads_;
    auto end = t0_ + duration_;
    while (Clock::now() < end) {
      std::this_thread::sleep_until(next);  // pacing, not synchronisation
      next += interval;
      std::string why;
      auto r = c.get("/", &why);
      if (r && r->status == 200) {
        ++ok_;
        auto p = backend_port_of(*r);
        auto it = p ? hits_.find(*p) : hits_.end();
        if (it != hits_.end()) ++it->second;
        else ++unknown_;
        continue;
      }
      ++errors_;
      std::lock_guard lock(mu_);
      if (samples_.size() < 10)
        samples_.push_back("t=" + std::to_string(static_cast<long>(elapsed_ms(t0_))) + "ms " +
                           (r ? "status " + std::to_string(r->status) + " " + r->body : why));
    }
  }

  uint16_t lb_port_;
  int threads_;
  double rate_;
  ms duration_;
  Clock::time_point t0_;
  std::map<uint16_t, std::atomic<uint64_t>> hits_;
  std::atomic<uint64_t> ok_{0}, errors_{0}, unknown_{0};
  std::mutex mu_;
  std::vector<std::string> samples_;
  std::vector<std::thread> ts_;
};

// ---- a raw TCP server under the test's control -------------------------------------

// Listens on 127.0.0.1:0 and treats every accepted connection per Mode:
//   hang            keep it open, never read or write
//   partial         read the request head, send a response head announcing
//                   1000 body bytes plus 7 of them, then close
//   close_silently  read the request head, close without a byte of response
class RawServer {
 public:
  enum class Mode { hang, partial, close_silently };
  static constexpr std::string_view kPartial = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial";

  explicit RawServer(Mode mode) : server_([this, mode](Socket& s, int) { handle(s, mode); }) {}
  ~RawServer() { stopping_ = true; }  // before server_ joins its handlers
  uint16_t port() const { return server_.port(); }
  int accepted() const { return server_.accepted(); }
  int answered() const { return answered_.load(); }

 private:
  void handle(Socket& s, Mode mode) {
    if (mode == Mode::hang) {
      while (!stopping_) std::this_thread::sleep_for(10ms);  // the hanging server's stall
      return;
    }
    if (!s.recv_until("\r\n\r\n", 2s)) return;
    if (mode == Mode::partial) s.send_all(kPartial, 2s);
    ++answered_;
    s.close();  // the request head was read completely: FIN, not RST
  }

  std::atomic<bool> stopping_{false};
  std::atomic<int> answered_{0};
  ScriptServer server_;
};

uint16_t dead_port() {
  uint16_t p = free_port();
  REQUIRE_FALSE(port_accepts(p));
  return p;
}

}  // namespace

TEST_SUITE("resilience") {

// (a) ---------------------------------------------------------------------------------
TEST_CASE("steady load: a backend killed at 3 s costs no GET, is marked down, and serves again after its restart") {
  std::vector<std::unique_ptr<Backend>> be;
  std::vector<uint16_t> ports;
  for (int i = 0; i < 3; ++i) {
    be.push_back(http_backend());
    ports.push_back(be.back()->http_port());
  }
  const int kInterval = 500, kTimeout = 300, kRise = 2, kFall = 2;
  Lb lb(config_for(make_pool("p", "round_robin", {server_entry(ports[0]), server_entry(ports[1]), server_entry(ports[2])},
                        {{"health_check", http_check("500ms", "300ms", kRise, kFall)}})));
  for (auto p : ports) REQUIRE_MESSAGE(wait_state(lb, p, "up", 5s), "port " << p << " never up; " << lb.diagnostics());

  const uint16_t victim = ports[1];
  LoadGen load(lb.port("web"), ports, 4, 75.0, 10s);  // 300 req/s offered
  load.start();
  const auto t0 = load.t0();

  // ~3 s: SIGKILL one backend.
  std::this_thread::sleep_until(t0 + 3s);  // timeline of the scenario, not synchronisation
  REQUIRE(be[1]->process().signal(SIGKILL));
  REQUIRE(be[1]->process().wait(5s).has_value());
  const auto t_kill = Clock::now();

  json s;
  const double down_bound = kFall * kInterval + kTimeout + 2000;
  bool failing = wait_server(lb, "p", victim, [](const json& j) { return health_of(j) == "failing"; },
                             ms(static_cast<long>(down_bound)), &s);
  const double down_ms = elapsed_ms(t_kill);
  MESSAGE("victim failing " << down_ms << " ms after the kill (bound " << down_bound << " ms); entry " << s.dump());
  CHECK(failing);
  CHECK(state_of(s) == "down");
  CHECK_FALSE(last_error_of(s).empty());
  bool logged = wait_until([&] { return !log_lines(lb, "server down", addr(victim)).empty(); }, 2s);
  CHECK_MESSAGE(logged, lb.diagnostics());
  if (logged) {
    json l = log_lines(lb, "server down", addr(victim)).front();
    INFO(l.dump());
    CHECK(l.value("pool", "") == "p");
    CHECK(l.contains("ts"));
    CHECK(l.contains("level"));
    CHECK_FALSE(l.value("reason", "").empty());
  }

  // ~6 s: a new backend on the same port.
  std::this_thread::sleep_until(t0 + 6s);
  auto revived = restart_backend(victim);
  const auto t_restart = Clock::now();
  const uint64_t hits_at_restart = load.hits(victim);
  const double up_bound = kRise * kInterval + 2000;
  bool passing = wait_server(lb, "p", victim, [](const json& j) { return health_of(j) == "passing"; },
                             ms(static_cast<long>(up_bound)), &s);
  const double up_ms = elapsed_ms(t_restart);
  MESSAGE("victim passing " << up_ms << " ms after the restart (bound " << up_bound << " ms); entry " << s.dump());
  CHECK(passing);
  CHECK_MESSAGE(wait_until([&] { return !log_lines(lb, "server up", addr(victim)).empty(); }, 2s),
                lb.diagnostics());
  // Marked up means: state "up" in /stats and real traffic again, while the load runs.
  bool up = wait_state(lb, victim, "up", ms(std::max<long>(500, static_cast<long>(up_bound - up_ms))), &s);
  INFO("victim entry: " << s.dump());
  CHECK(up);
  bool traffic = wait_until([&] { return load.hits(victim) > hits_at_restart; },
                            ms(std::max<long>(0, static_cast<long>(10000 - elapsed_ms(t0)))), 20ms);
  CHECK_MESSAGE(traffic, "the restarted backend got no request through lb before the load ended; "
                             << "victim entry " << find_server(admin_stats(lb), "p", addr(victim)).dump());
  load.join();

  const double secs = elapsed_ms(t0) / 1000.0;
  const double rate = static_cast<double>(load.ok() + load.errors()) / secs;
  MESSAGE("load: " << load.ok() << " ok, " << load.errors() << " errors in " << secs << " s (" << rate
                   << " req/s); hits " << load.hits(ports[0]) << "/" << load.hits(ports[1]) << "/"
                   << load.hits(ports[2]) << ", victim after restart " << load.hits(victim) - hits_at_restart);
  INFO("error samples:" << load.error_samples());
  CHECK(load.errors() == 0);
  CHECK(load.unknown() == 0);
  CHECK(rate >= 200);
  CHECK(load.hits(ports[0]) > 0);
  CHECK(load.hits(ports[2]) > 0);
}

// (b) ---------------------------------------------------------------------------------
TEST_CASE("circuit breaker: opens after failure_threshold 5xx, trial after recovery_timeout, doubles, then closes") {
  auto bad = http_backend("0:status=500");
  Backend good = Backend::http(2);
  const uint16_t badp = bad->http_port();
  const std::string bad_addr = addr(badp);
  Lb lb(config_for(make_pool("p", "round_robin", {server_entry(badp), server_entry(good.http_port(0)), server_entry(good.http_port(1))},
                        {{"retries", {{"attempts", 0}}},
                         {"circuit_breaker",
                          {{"failure_threshold", 3}, {"recovery_timeout", "1s"}, {"success_threshold", 2}}}})));
  const uint16_t web = lb.port("web");
  DirectCounter bad_count(badp);

  // 1. Three requests reach the 500 server: its circuit opens.
  int bad_seen = 0, sent = 0;
  while (bad_seen < 3 && sent < 30) {
    auto r = http_get(web, "/");
    ++sent;
    REQUIRE(r.has_value());
    auto p = backend_port_of(*r);
    REQUIRE(p.has_value());
    if (*p == badp) {
      CHECK(r->status == 500);
      ++bad_seen;
    } else {
      CHECK(r->status == 200);
    }
  }
  const auto t_open = Clock::now();
  REQUIRE(bad_seen == 3);
  json s;
  CHECK(wait_server(lb, "p", badp, [](const json& j) { return circuit_of(j) == "open"; }, 2s, &s));
  INFO("bad entry: " << s.dump());
  CHECK(state_of(s) == "down");
  CHECK(u64(s, "failures_total") == 3);
  CHECK(u64(find_pool(admin_stats(lb), "p"), "servers_available") == 2);
  CHECK(wait_until([&] { return log_lines(lb, "circuit open", bad_addr).size() == 1; }, 2s));
  for (const auto& l : log_lines(lb, "circuit open", bad_addr)) CHECK(l.value("pool", "") == "p");
  CHECK(bad_count.value() == 3);

  // 2. While open (well inside recovery_timeout), only the healthy servers answer.
  int during = 0;
  while (elapsed_ms(t_open) < 500 && during < 30) {
    auto r = http_get(web, "/");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(backend_port_of(*r) != std::optional<uint16_t>(badp));
    ++during;
  }
  CHECK(during >= 4);
  CHECK(bad_count.value() == 3);

  // 3. After recovery_timeout one trial request reaches it; the 500 re-opens it.
  auto until_bad_gets_one = [&](ms timeout, int& status) {
    return wait_until(
        [&] {
          auto r = http_get(web, "/");
          if (r && backend_port_of(*r) == std::optional<uint16_t>(badp)) {
            status = r->status;
            return true;
          }
          return false;
        },
        timeout, 50ms);
  };
  int status = 0;
  REQUIRE_MESSAGE(until_bad_gets_one(5s, status), "no trial request within 5 s; " << lb.diagnostics());
  const auto t_trial = Clock::now();
  const double trial_after = std::chrono::duration<double, std::milli>(t_trial - t_open).count();
  MESSAGE("first trial " << trial_after << " ms after the circuit opened (recovery_timeout 1s)");
  CHECK(trial_after >= 900);
  CHECK(status == 500);
  CHECK(bad_count.value() == 4);
  CHECK(wait_until([&] { return log_lines(lb, "circuit open", bad_addr).size() == 2; }, 2s));
  CHECK(circuit_of(find_server(admin_stats(lb), "p", bad_addr)) == "open");

  // 4. The server recovers (same port, now 200). The next trial comes after the
  //    doubled timeout (2 s); success_threshold 2: one success → half_open, two → closed.
  bad->process().kill_and_wait();
  bad = restart_backend(badp);
  DirectCounter fixed_count(badp);
  REQUIRE_MESSAGE(until_bad_gets_one(6s, status), "no second trial within 6 s; " << lb.diagnostics());
  const double second_gap = elapsed_ms(t_trial);
  MESSAGE("second trial " << second_gap << " ms after the first (doubled recovery: 2 s)");
  CHECK(second_gap >= 1800);
  CHECK(status == 200);
  s = find_server(admin_stats(lb), "p", bad_addr);
  INFO("after one trial success: " << s.dump());
  CHECK(circuit_of(s) == "half_open");
  CHECK(state_of(s) == "up");
  CHECK(log_lines(lb, "circuit close", bad_addr).empty());
  REQUIRE(until_bad_gets_one(2s, status));
  CHECK(status == 200);
  CHECK(wait_server(lb, "p", badp, [](const json& j) { return circuit_of(j) == "closed"; }, 2s, &s));
  CHECK(wait_until([&] { return log_lines(lb, "circuit close", bad_addr).size() == 1; }, 2s));
  CHECK(fixed_count.value() == 2);

  // Closed: it takes its round-robin share again.
  int back = 0;
  for (int i = 0; i < 30; ++i) {
    auto r = http_get(web, "/");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    if (backend_port_of(*r) == std::optional<uint16_t>(badp)) ++back;
  }
  CHECK(back == 10);
}

TEST_CASE("circuit breaker: max_ejection_percent caps how many servers are ejected") {
  Backend be({}, {"0:status=500", "0:status=500"});
  const uint16_t a = be.http_port(0), b = be.http_port(1);

  SUBCASE("50% of 2 servers: one circuit opens, the other keeps serving") {
    Lb lb(config_for(make_pool("p", "round_robin", {server_entry(a), server_entry(b)},
                          {{"retries", {{"attempts", 0}}},
                           {"circuit_breaker",
                            {{"failure_threshold", 2}, {"recovery_timeout", "30s"}, {"max_ejection_percent", 50}}}})));
    DirectCounter ca(a), cb(b);
    const int kN = 20;
    for (int i = 0; i < kN; ++i) {
      auto r = http_get(lb.port("web"), "/");
      REQUIRE(r.has_value());
      CHECK(r->status == 500);
    }
    json st = admin_stats(lb);
    json sa = find_server(st, "p", addr(a)), sb = find_server(st, "p", addr(b));
    INFO(sa.dump() << "\n" << sb.dump());
    int open = (circuit_of(sa) == "open") + (circuit_of(sb) == "open");
    int closed = (circuit_of(sa) == "closed") + (circuit_of(sb) == "closed");
    CHECK(open == 1);
    CHECK(closed == 1);
    // The log writer is off the loop: the line follows the state change.
    CHECK(wait_until([&] { return log_lines(lb, "circuit open").size() == 1; }, 5s));
    // The ejected one stopped at the threshold; the other took everything else.
    uint64_t na = ca.value(), nb = cb.value();
    CHECK(na + nb == uint64_t(kN));
    CHECK(std::min(na, nb) == 2);
  }
  SUBCASE("100%: one opens; the other is the last available primary and stays in (SPEC section 11), no 503") {
    Lb lb(config_for(make_pool("p", "round_robin", {server_entry(a), server_entry(b)},
                          {{"retries", {{"attempts", 0}}},
                           {"circuit_breaker",
                            {{"failure_threshold", 2}, {"recovery_timeout", "30s"}, {"max_ejection_percent", 100}}}})));
    for (int i = 0; i < 6; ++i) {
      auto r = http_get(lb.port("web"), "/");
      REQUIRE(r.has_value());
      CHECK(r->status == 500);
    }
    json st = admin_stats(lb);
    int open = (circuit_of(find_server(st, "p", addr(a))) == "open") + (circuit_of(find_server(st, "p", addr(b))) == "open");
    CHECK(open == 1);
    // The error log is written by its own thread: wait for the line.
    CHECK(wait_until([&] { return log_lines(lb, "circuit open").size() == 1; }, 2s));
    CHECK(log_lines(lb, "circuit open").size() == 1);
    CHECK(wait_until([&] { return log_lines(lb, "circuit kept closed").size() == 1; }, 2s));
    auto r = http_get(lb.port("web"), "/");
    REQUIRE(r.has_value());
    CHECK(r->status == 500);  // the server's own answer, not lb's 503
  }
}

// (c) ---------------------------------------------------------------------------------
TEST_CASE("health check: a server that accepts but never answers fails the http check by timeout") {
  RawServer hang(RawServer::Mode::hang);
  Backend live = Backend::http(1);

  SUBCASE("http check: down with last_error timeout, traffic only to the live server") {
    const auto t_start = Clock::now();
    Lb lb(config_for(make_pool("p", "round_robin", {server_entry(hang.port()), server_entry(live.http_port())},
                          {{"health_check", http_check("500ms", "300ms", 1, 1)}})));
    json s;
    bool down = wait_server(
        lb, "p", hang.port(), [](const json& j) { return health_of(j) == "failing"; }, 5s, &s);
    const double t_down = elapsed_ms(t_start);
    INFO("hanging server entry: " << s.dump() << "\n" << lb.diagnostics());
    REQUIRE(down);
    MESSAGE("hanging server failing " << t_down << " ms after lb start (check timeout 300 ms)");
    CHECK(t_down >= 300);  // a timeout verdict cannot come before the timeout
    CHECK(state_of(s) == "down");
    CHECK(lower(last_error_of(s)).find("timeout") != std::string::npos);
    CHECK(s["health"]["last_check_ms_ago"].is_number());
    CHECK(hang.accepted() >= 1);  // the probe did connect: it failed waiting for an answer
    CHECK(wait_state(lb, live.http_port(), "up", 3s));
    CHECK(wait_until([&] { return !log_lines(lb, "server down", addr(hang.port())).empty(); }, 2s));
    auto lines = log_lines(lb, "server down", addr(hang.port()));
    if (!lines.empty()) {
      INFO(lines[0].dump());
      CHECK(lower(lines[0].value("reason", "")).find("timeout") != std::string::npos);
      CHECK(lines[0].value("pool", "") == "p");
    }
    KeepAlive c(lb.port("web"));
    for (int i = 0; i < 20; ++i) {
      std::string why;
      auto r = c.get("/", &why, 3s);
      INFO("request " << i << ": " << why);
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      CHECK(backend_port_of(*r) == std::optional<uint16_t>(live.http_port()));
    }
  }
  SUBCASE("tcp check: connecting is enough, so the same server counts as up") {
    Lb lb(config_for(make_pool("p", "round_robin", {server_entry(hang.port()), server_entry(live.http_port())},
                          {{"health_check", tcp_check("300ms", "300ms", 1, 1)}})));
    json s;
    CHECK(wait_server(lb, "p", hang.port(), [](const json& j) { return health_of(j) == "passing"; }, 5s, &s));
    INFO(s.dump());
    CHECK(state_of(s) == "up");
    CHECK(hang.accepted() >= 1);
  }
}

TEST_CASE("health check: down_interval paces probes of a down server, fast_interval speeds up a rising one") {
  SUBCASE("down_interval 100ms while down, interval 5s") {
    Backend be = Backend::http(1);
    const uint16_t p = be.http_port();
    DirectCounter probes(p);
    Lb lb(config_for(make_pool("p", "round_robin", {server_entry(p)},
                          {{"health_check", http_check("5s", "300ms", 1, 1,
                                                       {{"path", "/status/500"}, {"down_interval", "100ms"}})}})));
    json s;
    REQUIRE(wait_server(lb, "p", p, [](const json& j) { return health_of(j) == "failing"; }, 3s, &s));
    CHECK(last_error_of(s).find("500") != std::string::npos);
    const uint64_t c0 = probes.value();
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(1500ms);  // a measurement window, not synchronisation
    const uint64_t c1 = probes.value();
    const double window = elapsed_ms(t0);
    MESSAGE((c1 - c0) << " probes in " << window << " ms while down (down_interval 100ms, interval 5s)");
    CHECK(c1 - c0 >= 5);                                               // not the 5 s interval
    CHECK(double(c1 - c0) <= window / 90.0 + 2);                       // not faster than down_interval -10%
  }
  SUBCASE("fast_interval 100ms while rising, interval 2s, rise 4") {
    const uint16_t p = dead_port();
    Lb lb(config_for(make_pool("p", "round_robin", {server_entry(p)},
                          {{"health_check", http_check("2s", "300ms", 4, 1, {{"fast_interval", "100ms"}})}})));
    REQUIRE(wait_server(lb, "p", p, [](const json& j) { return health_of(j) == "failing"; }, 3s));
    auto be = restart_backend(p);
    DirectCounter probes(p);
    // The first passing probe comes at the next regular interval (≤ 2.2 s) ...
    REQUIRE(wait_until([&] { return probes.get().value_or(0) >= 1; }, 4s, 10ms));
    const auto t_first = Clock::now();
    // ... the remaining rise-1 = 3 at fast_interval.
    json s;
    bool up = wait_server(lb, "p", p, [](const json& j) { return health_of(j) == "passing"; }, 5s, &s);
    const double rise_ms = elapsed_ms(t_first);
    MESSAGE("up " << rise_ms << " ms after the first passing probe (3 more at fast_interval 100ms; at interval 2s it "
                  << "would take >= 5.4 s)");
    CHECK(up);
    CHECK(rise_ms < 1500);
    CHECK(probes.value() >= 4);
    CHECK(state_of(s) == "up");
    CHECK(wait_until([&] { return !log_lines(lb, "server up", addr(p)).empty(); }, 2s));
    auto lines = log_lines(lb, "server up", addr(p));
    if (!lines.empty()) {
      CHECK(lines.back().value("pool", "") == "p");
      CHECK_FALSE(lines.back().value("reason", "").empty());
    }
  }
}

// (d) ---------------------------------------------------------------------------------
TEST_CASE("when_all_down: fail answers 503 with Retry-After; panic still tries the servers") {
  SUBCASE("fail, nobody listening: 503 JSON + Retry-After, no_server_total counts") {
    const uint16_t d1 = dead_port(), d2 = dead_port();
    Lb lb(config_for(make_pool("p", "round_robin", {server_entry(d1), server_entry(d2)},
                          {{"health_check", tcp_check("200ms", "200ms", 1, 1)}, {"when_all_down", "fail"}})));
    REQUIRE(wait_state(lb, d1, "down", 3s));
    REQUIRE(wait_state(lb, d2, "down", 3s));
    json p0 = find_pool(admin_stats(lb), "p");
    CHECK(u64(p0, "servers_available") == 0);
    const uint64_t n0 = u64(p0, "no_server_total");
    const int kN = 10;
    for (int i = 0; i < kN; ++i) {
      auto r = http_get(lb.port("web"), "/");
      REQUIRE(r.has_value());
      INFO("response " << r->status << " " << r->body);
      CHECK(r->status == 503);
      auto ra = r->header("Retry-After");
      REQUIRE(ra.has_value());
      CHECK_FALSE(ra->empty());
      CHECK(std::all_of(ra->begin(), ra->end(), ::isdigit));
      CHECK(r->header("Content-Type").value_or("").find("application/json") != std::string::npos);
      json body = json::parse(r->body, nullptr, false);
      CHECK(body.is_object());
      CHECK(body.contains("error"));
    }
    json p1 = find_pool(admin_stats(lb), "p");
    CHECK(u64(p1, "no_server_total") == n0 + kN);
    CHECK(p1.value("panic", true) == false);
  }
  SUBCASE("panic, nobody listening: lb still connects (502), /stats panic true") {
    const uint16_t d1 = dead_port(), d2 = dead_port();
    Lb lb(config_for(make_pool("p", "round_robin", {server_entry(d1), server_entry(d2)},
                          {{"health_check", tcp_check("200ms", "200ms", 1, 1)}, {"when_all_down", "panic"}})));
    REQUIRE(wait_state(lb, d1, "down", 3s));
    REQUIRE(wait_state(lb, d2, "down", 3s));
    for (int i = 0; i < 4; ++i) {
      auto r = http_get(lb.port("web"), "/");
      REQUIRE(r.has_value());
      CHECK(r->status == 502);
    }
    json p1 = find_pool(admin_stats(lb), "p");
    INFO(p1.dump());
    CHECK(p1.value("panic", false) == true);
    CHECK(u64(p1, "no_server_total") == 0);
    CHECK(u64(find_server(admin_stats(lb), "p", addr(d1)), "requests_total") +
              u64(find_server(admin_stats(lb), "p", addr(d2)), "requests_total") >=
          4);
  }
  SUBCASE("checks fail but the servers work: panic serves 200, fail serves 503") {
    Backend be = Backend::http(2);
    for (std::string mode : {"panic", "fail"}) {
      CAPTURE(mode);
      Lb lb(config_for(make_pool("p", "round_robin", {server_entry(be.http_port(0)), server_entry(be.http_port(1))},
                            {{"health_check", http_check("200ms", "200ms", 1, 1, {{"path", "/status/500"}})},
                             {"when_all_down", mode}})));
      REQUIRE(wait_state(lb, be.http_port(0), "down", 3s));
      REQUIRE(wait_state(lb, be.http_port(1), "down", 3s));
      std::set<uint16_t> seen;
      for (int i = 0; i < 6; ++i) {
        auto r = http_get(lb.port("web"), "/");
        REQUIRE(r.has_value());
        if (mode == "panic") {
          CHECK(r->status == 200);
          if (auto p = backend_port_of(*r)) seen.insert(*p);
        } else {
          CHECK(r->status == 503);
          CHECK(r->has_header("Retry-After"));
        }
      }
      json p1 = find_pool(admin_stats(lb), "p");
      INFO(p1.dump());
      if (mode == "panic") {
        CHECK(seen.size() == 2);
        CHECK(p1.value("panic", false) == true);
        CHECK(u64(p1, "no_server_total") == 0);
      } else {
        CHECK(p1.value("panic", true) == false);
        CHECK(u64(p1, "no_server_total") == 6);
      }
    }
  }
}

// (e) ---------------------------------------------------------------------------------
TEST_CASE("retries: budget_percent bounds the extra load when every server answers 503") {
  Backend be({}, {"0:status=503", "0:status=503", "0:status=503"});
  std::vector<DirectCounter> counters;
  for (auto p : be.http_ports()) counters.emplace_back(p);
  auto totals = [&] {
    uint64_t sum = 0;
    for (auto& c : counters) sum += c.value();
    return sum;
  };
  // The 503s also count as circuit-breaker failures; keep the breaker out of
  // the way so only the retry rules decide where requests go.
  const json no_breaker = {"circuit_breaker", {{"failure_threshold", 100000}}};
  auto servers = [&] {
    std::vector<json> s;
    for (auto p : be.http_ports()) s.push_back(server_entry(p));
    return s;
  };

  SUBCASE("attempts 2, on 503, budget 20%: at most 1.2 N + the starting balance") {
    Lb lb(config_for(make_pool("p", "round_robin", servers(),
                          {{"retries", {{"attempts", 2}, {"on", {"503"}}, {"budget_percent", 20}}}, no_breaker})));
    const uint64_t before = totals();
    const int kN = 200;
    KeepAlive c(lb.port("web"));
    int got503 = 0;
    for (int i = 0; i < kN; ++i) {
      std::string why;
      auto r = c.get("/", &why);
      INFO("request " << i << ": " << why);
      REQUIRE(r.has_value());
      got503 += r->status == 503;
    }
    const uint64_t reached = totals() - before;
    json p = find_pool(admin_stats(lb), "p");
    MESSAGE(kN << " requests reached the backends " << reached << " times; retries_total " << u64(p, "retries_total"));
    CHECK(got503 == kN);
    CHECK(reached <= uint64_t(1.2 * kN + 10));
    CHECK(reached > uint64_t(kN));  // retries did happen
    CHECK(u64(p, "retries_total") == reached - kN);
    CHECK(u64(p, "requests_total") == uint64_t(kN));
  }
  SUBCASE("a status not listed in `on` is passed through without a retry") {
    Lb lb(config_for(make_pool("p", "round_robin", servers(),
                          {{"retries", {{"attempts", 2}, {"on", {"connect_failure", "502"}}, {"budget_percent", 100}}},
                           no_breaker})));
    const uint64_t before = totals();
    const int kN = 30;
    for (int i = 0; i < kN; ++i) {
      auto r = http_get(lb.port("web"), "/");
      REQUIRE(r.has_value());
      CHECK(r->status == 503);
      CHECK(r->has_header("X-Backend-Port"));  // the backend's own response
    }
    CHECK(totals() - before == uint64_t(kN));
    CHECK(u64(find_pool(admin_stats(lb), "p"), "retries_total") == 0);
  }
  SUBCASE("a retry that finds every server tried answers, and the keep-alive connection serves the next request") {
    // One server, one retry allowed: the retry's dispatch has no untried
    // server left and must end the exchange itself (it once left the client
    // waiting, with the next request never answered).
    Lb lb(config_for(make_pool("p", "round_robin", {server_entry(be.http_port(0))},
                               {{"retries", {{"attempts", 1}, {"on", {"503"}}, {"budget_percent", 100}}}, no_breaker})));
    Socket c = Socket::connect(lb.port("web"), 2s);
    REQUIRE(c.valid());
    for (int i = 0; i < 3; ++i) {
      INFO("request " << i);
      REQUIRE(c.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      auto r = read_http_response(c, 3s);
      REQUIRE(r.has_value());
      CHECK(r->status == 503);  // the last failure is reported
    }
    auto lines = wait_access_lines(lb, 3);
    CHECK(lines.size() == 3);
  }
  SUBCASE("each try goes to a different server, even when the weights favour one") {
    const uint16_t heavy = be.http_port(0), light = be.http_port(1);
    DirectCounter ch(heavy), cl(light);
    Lb lb(config_for(make_pool("p", "weighted_round_robin", {server_entry(heavy, {{"weight", 10}}), server_entry(light)},
                          {{"retries", {{"attempts", 1}, {"on", {"503"}}, {"budget_percent", 100}}}, no_breaker})));
    const uint64_t h0 = ch.value(), l0 = cl.value();
    const int kN = 40;
    for (int i = 0; i < kN; ++i) {
      auto r = http_get(lb.port("web"), "/");
      REQUIRE(r.has_value());
      CHECK(r->status == 503);
    }
    // Every request tried both servers once: never the heavy one twice.
    CHECK(ch.value() - h0 == uint64_t(kN));
    CHECK(cl.value() - l0 == uint64_t(kN));
  }
}

// (f) ---------------------------------------------------------------------------------
TEST_CASE("backup server: idle while a primary is up, serves when all primaries are down, idle again after") {
  auto p1 = http_backend(), p2 = http_backend(), bk = http_backend();
  const uint16_t a = p1->http_port(), b = p2->http_port(), k = bk->http_port();
  Lb lb(config_for(make_pool("p", "round_robin", {server_entry(a), server_entry(b), server_entry(k, {{"backup", true}})},
                        {{"health_check", http_check("300ms", "300ms", 1, 1)}})));
  for (auto p : {a, b, k}) REQUIRE(wait_state(lb, p, "up", 5s));
  CHECK(find_server(admin_stats(lb), "p", addr(k)).value("backup", false) == true);

  auto spread = [&](int n) {
    std::map<uint16_t, int> m;
    KeepAlive c(lb.port("web"));
    for (int i = 0; i < n; ++i) {
      std::string why;
      auto r = c.get("/", &why);
      INFO("request " << i << ": " << why);
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      if (auto p = backend_port_of(*r)) ++m[*p];
    }
    return m;
  };
  auto m = spread(30);
  CHECK(m[a] == 15);
  CHECK(m[b] == 15);
  CHECK(m[k] == 0);
  CHECK(u64(find_server(admin_stats(lb), "p", addr(k)), "requests_total") == 0);

  p1->process().kill_and_wait();
  p2->process().kill_and_wait();
  REQUIRE(wait_state(lb, a, "down", 3s));
  REQUIRE(wait_state(lb, b, "down", 3s));
  m = spread(30);
  CHECK(m[k] == 30);
  CHECK(u64(find_server(admin_stats(lb), "p", addr(k)), "requests_total") == 30);

  p1 = restart_backend(a);
  REQUIRE(wait_state(lb, a, "up", 3s));
  m = spread(30);
  CHECK(m[a] == 30);
  CHECK(m[k] == 0);
  CHECK(u64(find_server(admin_stats(lb), "p", addr(k)), "requests_total") == 30);
}

// (g) ---------------------------------------------------------------------------------
TEST_CASE("tcp listener: a tcp health check takes a dead server out, so every connection succeeds without retries") {
  Backend echo = Backend::echo(1);
  const uint16_t dead = dead_port(), live = echo.echo_port();
  Lb lb(config_for(make_pool("p", "round_robin", {server_entry(dead), server_entry(live)},
                        {{"health_check", tcp_check("300ms", "300ms", 1, 1)}, {"retries", {{"attempts", 0}}}}),
                   "tcp"));
  json s;
  // "down" alone is also what an unchecked server shows: wait for the probe's verdict.
  REQUIRE(wait_server(lb, "p", dead, [](const json& x) { return state_of(x) == "down" && health_of(x) == "failing"; },
                      3s, &s));
  INFO("dead entry: " << s.dump());
  CHECK(health_of(s) == "failing");
  CHECK(lower(last_error_of(s)).find("refused") != std::string::npos);
  REQUIRE(wait_state(lb, live, "up", 3s));
  CHECK(health_of(find_server(admin_stats(lb), "p", addr(live))) == "passing");

  const int kN = 50;
  int ok = 0;
  for (int i = 0; i < kN; ++i) {
    Socket c = Socket::connect(lb.port("web"));
    REQUIRE(c.valid());
    std::string msg = "hello " + std::to_string(i);
    REQUIRE(c.send_all(msg));
    c.shutdown_write();
    auto d = c.recv_until_eof(3s);
    ok += d.io == Io::eof && d.data == msg;
  }
  CHECK(ok == kN);
  json st = admin_stats(lb);
  CHECK(u64(find_server(st, "p", addr(dead)), "requests_total") == 0);
  CHECK(u64(find_server(st, "p", addr(live)), "requests_total") == uint64_t(kN));
  CHECK(u64(find_pool(st, "p"), "retries_total") == 0);
}

// (h) ---------------------------------------------------------------------------------
TEST_CASE("retries: a connect failure is retried on the other server; the access log counts the attempts") {
  Backend live = Backend::http(1);
  const uint16_t dead = dead_port(), lp = live.http_port();
  Lb lb(config_for(make_pool("p", "round_robin", {server_entry(dead), server_entry(lp)},
                        {{"retries", {{"attempts", 1}, {"budget_percent", 100}}},
                         {"circuit_breaker", {{"failure_threshold", 1000}}}})));
  const int kN = 40;
  KeepAlive c(lb.port("web"));
  for (int i = 0; i < kN; ++i) {
    std::string why;
    auto r = c.get("/", &why);
    INFO("request " << i << ": " << why);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(backend_port_of(*r) == std::optional<uint16_t>(lp));
  }
  REQUIRE(wait_until([&] { return lb.access_log().size() >= size_t(kN); }, 5s));
  auto lines = lb.access_log();
  REQUIRE(lines.size() == size_t(kN));
  int twice = 0;
  for (const auto& j : lines) {
    INFO(j.dump());
    CHECK(j.value("status", 0) == 200);
    CHECK(j.value("server", "") == addr(lp));
    int att = j.value("attempts", 0);
    CHECK((att == 1 || att == 2));
    twice += att == 2;
  }
  json st = admin_stats(lb);
  MESSAGE(twice << " of " << kN << " requests tried the dead server first");
  CHECK(twice >= 1);
  CHECK(u64(find_server(st, "p", addr(dead)), "failures_total") == uint64_t(twice));
  CHECK(u64(find_pool(st, "p"), "retries_total") == uint64_t(twice));
}

TEST_CASE("retries: never once response bytes reached the client; an empty close is retried") {
  Backend live = Backend::http(1);
  const uint16_t lp = live.http_port();
  DirectCounter lc(lp);

  SUBCASE("a partial response is not retried: the client sees it cut") {
    RawServer raw(RawServer::Mode::partial);
    Lb lb(config_for(make_pool("p", "round_robin", {server_entry(raw.port()), server_entry(lp)})));  // default retries
    const uint64_t l0 = lc.value();
    int complete = 0, cut = 0;
    for (int i = 0; i < 6 && raw.answered() == 0; ++i) {
      Socket s = Socket::connect(lb.port("web"));
      REQUIRE(s.valid());
      REQUIRE(s.send_all("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
      auto r = read_http_response(s, 5s);
      if (r) {
        CHECK(r->status == 200);
        CHECK(backend_port_of(*r) == std::optional<uint16_t>(lp));
        ++complete;
      } else {
        ++cut;
        // What arrived is the partial response itself, not a retried one.
        std::string got = s.buffer();
        INFO("received: " << got);
        CHECK(got.find("partial") != std::string::npos);
      }
    }
    REQUIRE(raw.answered() == 1);
    CHECK(cut == 1);
    CHECK(lc.value() - l0 == uint64_t(complete));  // the cut request was never replayed on the live server
    // SPEC 8: one access-log line per request, the cut one included.
    auto raw_lines = [&] {
      std::vector<json> out;
      for (const auto& j : lb.access_log())
        if (j.value("server", "") == addr(raw.port())) out.push_back(j);
      return out;
    };
    CHECK_MESSAGE(wait_until([&] { return raw_lines().size() == 1; }, 3s),
                  "no access-log line for the request whose response was cut; access log has "
                      << lb.access_log().size() << " lines for " << complete + cut << " requests");
    for (const auto& j : raw_lines()) {
      INFO(j.dump());
      CHECK(j.value("attempts", 0) == 1);
    }
  }
  SUBCASE("a close before any response byte is retried on the other server") {
    RawServer raw(RawServer::Mode::close_silently);
    // Default `on` includes reset; budget 100% so the budget never runs dry here.
    Lb lb(config_for(make_pool("p", "round_robin", {server_entry(raw.port()), server_entry(lp)},
                          {{"retries", {{"attempts", 2}, {"budget_percent", 100}}}})));
    const uint64_t l0 = lc.value();
    const int kN = 6;
    for (int i = 0; i < kN; ++i) {
      auto r = http_get(lb.port("web"), "/");
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      CHECK(backend_port_of(*r) == std::optional<uint16_t>(lp));
    }
    CHECK(raw.answered() >= 1);
    CHECK(lc.value() - l0 == uint64_t(kN));
    REQUIRE(wait_until([&] { return lb.access_log().size() >= size_t(kN); }, 5s));
    int retried = 0;
    for (const auto& j : lb.access_log()) retried += j.value("attempts", 0) == 2;
    CHECK(retried == raw.answered());
  }
}

TEST_CASE("slow_start: a recovered server's share ramps up instead of jumping to full weight") {
  auto ab = http_backend(), bb = http_backend();
  const uint16_t a = ab->http_port(), b = bb->http_port();
  Lb lb(config_for(make_pool("p", "weighted_round_robin", {server_entry(a, {{"weight", 100}}), server_entry(b, {{"weight", 100}})},
                        {{"health_check", http_check("200ms", "200ms", 1, 1)}, {"slow_start", "3s"}})));
  REQUIRE(wait_state(lb, a, "up", 3s));
  REQUIRE(wait_state(lb, b, "up", 3s));

  KeepAlive c(lb.port("web"));
  auto share_of_b = [&](ms window, int& total) {
    int nb = 0;
    total = 0;
    auto end = Clock::now() + window;
    while (Clock::now() < end) {  // a measurement window of sequential requests
      std::string why;
      auto r = c.get("/", &why);
      INFO(why);
      REQUIRE(r.has_value());
      REQUIRE(r->status == 200);
      ++total;
      nb += backend_port_of(*r) == std::optional<uint16_t>(b);
    }
    return total ? double(nb) / total : 0.0;
  };
  int n = 0;
  double before = share_of_b(300ms, n);
  MESSAGE("share of b before: " << before << " of " << n);
  CHECK(before == doctest::Approx(0.5).epsilon(0.05));

  bb->process().kill_and_wait();
  REQUIRE(wait_state(lb, b, "down", 3s));
  bb = restart_backend(b);
  REQUIRE(wait_state(lb, b, "up", 3s));
  const auto t_up = Clock::now();
  double early = share_of_b(600ms, n);
  MESSAGE("share of b in the first 600 ms after it came back: " << early << " of " << n << " requests");
  CHECK(n >= 20);
  CHECK(early > 0);     // some traffic at once ...
  CHECK(early < 0.3);   // ... but far below its full half
  std::this_thread::sleep_until(t_up + 3300ms);  // past the slow_start window
  double later = share_of_b(500ms, n);
  MESSAGE("share of b after the slow_start window: " << later << " of " << n);
  CHECK(later > 0.4);
  CHECK(later < 0.6);
}

TEST_CASE("circuit breaker: never opens on the last available primary — the other one dead by circuit or by health "
          "check; the healthy one keeps answering 5xx and the pool keeps serving") {
  for (bool by_health : {false, true}) {
    CAPTURE(by_health);
    Backend good = Backend::http(1);
    const uint16_t goodp = good.http_port();
    const uint16_t deadp = free_port();  // connection refused
    json pool = make_pool("p", "round_robin", {server_entry(deadp), server_entry(goodp)},
                          {{"retries", {{"attempts", 0}}},
                           {"circuit_breaker",
                            {{"failure_threshold", 2}, {"recovery_timeout", "30s"},
                             // 100% would let the breaker eject both; 50% leaves one slot for the
                             // healthy server while the dead one is out by health check.
                             {"max_ejection_percent", by_health ? 50 : 100}}}});
    if (by_health) pool["health_check"] = tcp_check("100ms", "100ms", 1, 1);
    Lb lb(config_for(pool));
    const uint16_t web = lb.port("web");
    DirectCounter good_count(goodp);

    if (by_health) {
      REQUIRE(wait_server(lb, "p", deadp, [](const json& j) { return state_of(j) == "down"; }, 5s));
      REQUIRE(wait_server(lb, "p", goodp, [](const json& j) { return state_of(j) == "up"; }, 5s));
    } else {
      // The dead server's circuit opens (the healthy one is still available).
      int refused = 0;
      wait_until([&] {
        auto r = http_get(web, "/");
        if (r && r->status == 502) ++refused;
        return refused >= 2;
      }, 5s, 1ms);
      REQUIRE(wait_server(lb, "p", deadp, [](const json& j) { return circuit_of(j) == "open"; }, 2s));
    }
    const uint64_t before = good_count.value();

    // The last available server answers 5xx well past failure_threshold.
    expect_answers(web, "/status/500", 6, 500, goodp);
    json s;
    CHECK(wait_server(lb, "p", goodp, [](const json& j) { return circuit_of(j) == "closed"; }, 1s, &s));
    INFO("healthy server: " << s.dump());
    CHECK(log_lines(lb, "circuit open", addr(goodp)).empty());
    CHECK(wait_until([&] { return log_lines(lb, "circuit kept closed", addr(goodp)).size() == 1; }, 2s));
    // ... and the pool still serves: no 503.
    for (int i = 0; i < 5; ++i) {
      auto r = http_get(web, "/");
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
    }
    CHECK(good_count.value() - before == 11);  // the server saw all of them
  }
}

TEST_CASE("circuit breaker: the next passing health check closes an open circuit at once") {
  Backend be = Backend::http(2);
  const uint16_t a = be.http_port(0), b = be.http_port(1);
  Lb lb(config_for(make_pool("p", "round_robin", {server_entry(a), server_entry(b)},
                             {{"retries", {{"attempts", 0}}},
                              {"health_check", http_check("300ms", "200ms", 1, 1)},
                              {"circuit_breaker",
                               {{"failure_threshold", 2}, {"recovery_timeout", "60s"}, {"max_ejection_percent", 50}}}})));
  const uint16_t web = lb.port("web");
  REQUIRE(wait_server(lb, "p", a, [](const json& j) { return state_of(j) == "up"; }, 5s));
  REQUIRE(wait_server(lb, "p", b, [](const json& j) { return state_of(j) == "up"; }, 5s));
  // 5xx answers from `a` (its /health keeps passing) open its circuit.
  int from_a = 0;
  wait_until([&] {
    auto r = http_get(web, "/status/503");
    if (r && backend_port_of(*r) == std::optional<uint16_t>(a)) ++from_a;
    return from_a >= 2;
  }, 5s, 1ms);
  REQUIRE(from_a == 2);
  const auto opened = Clock::now();
  // The log writer is a thread of its own: the line follows the 503 shortly.
  REQUIRE(wait_until([&] { return !log_lines(lb, "circuit open", addr(a)).empty(); }, 2s));
  REQUIRE(log_lines(lb, "circuit open", addr(a)).size() == 1);
  // Not 60 s of recovery_timeout: the next check (every 300 ms) closes it.
  json s;
  CHECK(wait_server(lb, "p", a, [](const json& j) { return circuit_of(j) == "closed"; }, 2s, &s));
  INFO("server a: " << s.dump());
  CHECK(elapsed_ms(opened) < 1500);
  CHECK(wait_until([&] {
    for (const auto& l : log_lines(lb, "circuit close", addr(a)))
      if (l.value("reason", "") == "health check passing") return true;
    return false;
  }, 2s));
  // `a` serves again.
  std::set<uint16_t> seen;
  for (int i = 0; i < 4; ++i) {
    auto r = http_get(web, "/");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    if (auto p = backend_port_of(*r)) seen.insert(*p);
  }
  CHECK(seen.count(a) == 1);
}

TEST_CASE("circuit breaker: an open circuit is closed when every other primary goes out (admin maint) — no 503") {
  Backend be = Backend::http(2);
  const uint16_t a = be.http_port(0), b = be.http_port(1);
  Lb lb(config_for(make_pool("p", "round_robin", {server_entry(a), server_entry(b)},
                             {{"retries", {{"attempts", 0}}},
                              {"circuit_breaker",
                               {{"failure_threshold", 2}, {"recovery_timeout", "60s"}, {"max_ejection_percent", 50}}}})));
  const uint16_t web = lb.port("web");
  int from_a = 0;
  wait_until([&] {
    auto r = http_get(web, "/status/500");
    if (r && backend_port_of(*r) == std::optional<uint16_t>(a)) ++from_a;
    return from_a >= 2;
  }, 5s, 1ms);
  REQUIRE(wait_server(lb, "p", a, [](const json& j) { return circuit_of(j) == "open"; }, 2s));
  // The operator takes b out: a is now the last primary and must serve.
  HttpRequest req;
  req.method = "POST";
  req.target = "/pools/p/servers/" + addr(b) + "/state";
  req.body = R"({"state":"maint"})";
  req.headers = {{"Authorization", "Bearer t"}, {"Content-Type", "application/json"}};
  auto resp = http_request(*lb.admin_port(), req);
  REQUIRE(resp.has_value());
  REQUIRE(resp->status == 200);
  DirectCounter a_count(a);
  const uint64_t before = a_count.value();
  expect_answers(web, "/", 3, 200, a);
  CHECK(a_count.value() - before == 3);
  CHECK(wait_server(lb, "p", a, [](const json& j) { return circuit_of(j) == "closed"; }, 1s));
}

}  // TEST_SUITE
