// tests/unit/health_checker.cpp — the active checker on a real libuv loop
// against real sockets on 127.0.0.1 ephemeral ports. No fixed sleeps: the
// loop runs until the expected results arrive or a deadline timer fires.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "health/checker.h"

using namespace lb::health;
using lb::conf::Duration;
using lb::conf::HealthCheckConfig;
using lb::conf::HealthCheckType;

namespace {

// Owns a loop; finish() asserts that nothing is left open.
struct Loop {
  uv_loop_t loop{};
  Loop() { REQUIRE(uv_loop_init(&loop) == 0); }
  // Everything must be closed by now: the loop must exit on its own.
  void finish() {
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(uv_loop_close(&loop) == 0);
  }
  uv_loop_t* get() { return &loop; }
};

// Runs `loop` until `done()` or `ms` pass. Returns done().
bool run_until(uv_loop_t* loop, const std::function<bool()>& done, uint64_t ms) {
  struct Deadline {
    uv_timer_t timer{};
    bool fired = false;
  };
  auto* d = new Deadline;  // freed in the close callback below
  uv_timer_init(loop, &d->timer);
  d->timer.data = d;
  uv_timer_start(&d->timer, [](uv_timer_t* t) { static_cast<Deadline*>(t->data)->fired = true; }, ms, 0);
  while (!done() && !d->fired) uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&d->timer),
           [](uv_handle_t* h) { delete static_cast<Deadline*>(h->data); });
  return done();
}

enum class Mode { http200, http500, http204, silent, close_after_request, garbage, toggle };

// A tiny backend: answers each connection according to `mode` once the
// request head has arrived (or holds it open, for `silent`).
class TestServer {
 public:
  TestServer(uv_loop_t* loop, Mode m) : mode(m), loop_(loop) {
    uv_tcp_init(loop, &listener_);
    listener_.data = this;
    sockaddr_in a{};
    uv_ip4_addr("127.0.0.1", 0, &a);
    REQUIRE(uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&a), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 64, on_connection) == 0);
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&ss), &len);
    port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  ~TestServer() { close(); }

  void close() {
    if (closed_) return;
    closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    for (Conn* c : std::set<Conn*>(conns_)) c->close();
  }

  uint16_t port = 0;
  Mode mode;
  bool toggle_ok = true;  // Mode::toggle: 200 when true, else 500
  int accepted = 0;
  std::string last_request;

 private:
  struct Conn {
    TestServer* server;
    uv_tcp_t tcp{};
    uv_write_t write_req{};
    std::string in, out;
    char buf[4096];
    bool answered = false;

    void close() {
      if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp))) return;
      uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) {
        auto* c = static_cast<Conn*>(h->data);
        c->server->conns_.erase(c);
        delete c;
      });
    }
    void respond(std::string text) {
      out = std::move(text);
      uv_buf_t b = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
      write_req.data = this;
      uv_write(&write_req, reinterpret_cast<uv_stream_t*>(&tcp), &b, 1,
               [](uv_write_t* w, int) { static_cast<Conn*>(w->data)->close(); });
    }
  };

  static void on_connection(uv_stream_t* s, int status) {
    auto* self = static_cast<TestServer*>(s->data);
    if (status < 0) return;
    auto* c = new Conn;
    c->server = self;
    uv_tcp_init(self->loop_, &c->tcp);
    c->tcp.data = c;
    self->conns_.insert(c);
    if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) return c->close();
    ++self->accepted;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* cc = static_cast<Conn*>(h->data);
          *b = uv_buf_init(cc->buf, sizeof cc->buf);
        },
        [](uv_stream_t* st, ssize_t n, const uv_buf_t* b) {
          auto* cc = static_cast<Conn*>(st->data);
          if (n < 0) return cc->close();
          if (n == 0 || cc->answered) return;
          cc->in.append(b->base, static_cast<size_t>(n));
          if (cc->in.find("\r\n\r\n") == std::string::npos) return;
          cc->answered = true;
          TestServer* sv = cc->server;
          sv->last_request = cc->in;
          const char* ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
          const char* bad = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
          switch (sv->mode) {
            case Mode::http200: return cc->respond(ok);
            case Mode::http500: return cc->respond(bad);
            case Mode::http204: return cc->respond("HTTP/1.0 204 No Content\r\n\r\n");
            case Mode::toggle: return cc->respond(sv->toggle_ok ? ok : bad);
            case Mode::garbage: return cc->respond("SSH-2.0-OpenSSH\r\n");
            case Mode::close_after_request: return cc->close();
            case Mode::silent: return;
          }
        });
  }

  uv_loop_t* loop_;
  uv_tcp_t listener_{};
  bool closed_ = false;
  std::set<Conn*> conns_;
};

// A port on 127.0.0.1 with nothing listening.
uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

CheckTarget target(const std::string& pool, uint16_t port, HealthCheckConfig check) {
  CheckTarget t;
  t.pool = pool;
  t.server = "127.0.0.1:" + std::to_string(port);
  sockaddr_in a{};
  uv_ip4_addr("127.0.0.1", port, &a);
  std::memcpy(&t.addr, &a, sizeof a);
  t.addr_len = sizeof a;
  t.check = std::move(check);
  return t;
}

HealthCheckConfig http_check(int interval_ms = 2000, int timeout_ms = 1000) {
  HealthCheckConfig c;
  c.type = HealthCheckType::http;
  c.interval = Duration{interval_ms};
  c.timeout = Duration{timeout_ms};
  return c;
}

struct Seen {
  size_t index;
  bool ok;
  std::string error;
  Status previous, status;
  Transition transition;
  uint64_t now_ns;
};

struct Recorder {
  std::vector<Seen> results;
  Checker::ResultFn fn() {
    return [this](const CheckResult& r) {
      results.push_back({r.index, r.ok, std::string(r.error), r.previous, r.status, r.transition, r.now_ns});
    };
  }
  size_t count(size_t index) const {
    size_t n = 0;
    for (auto& s : results) n += s.index == index;
    return n;
  }
};

double ms_since(uint64_t start_ns) { return static_cast<double>(uv_hrtime() - start_ns) / 1e6; }

}  // namespace

TEST_CASE("checker: http 200 passes, promptly, with the documented request") {
  Loop L;
  TestServer server(L.get(), Mode::http200);
  Recorder rec;
  {
    Checker checker(L.get(), rec.fn(), 42);
    const uint64_t t0 = uv_hrtime();
    checker.set_targets({target("web", server.port, http_check(2000))});
    CHECK_FALSE(checker.first_round_complete());
    REQUIRE(run_until(L.get(), [&] { return !rec.results.empty(); }, 3000));
    CHECK(ms_since(t0) < 1000);  // first check runs within ~100ms, not after `interval`
    const Seen& r = rec.results[0];
    CHECK(r.index == 0);
    CHECK(r.ok);
    CHECK(r.error.empty());
    CHECK(r.previous == Status::unchecked);
    CHECK(r.status == Status::up);
    CHECK(r.transition == Transition::went_up);
    CHECK(checker.first_round_complete());
    REQUIRE(checker.state(0) != nullptr);
    CHECK(checker.state(0)->is_up());
    CHECK(checker.last_check_ns(0) == r.now_ns);
    CHECK(checker.state(1) == nullptr);
    const std::string expect = "GET /health HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port) +
                               "\r\nUser-Agent: lb-health\r\nConnection: close\r\n\r\n";
    CHECK(server.last_request == expect);
    checker.stop();
  }
  server.close();
  L.finish();
}

TEST_CASE("checker: http 500 fails with 'status 500'") {
  Loop L;
  TestServer server(L.get(), Mode::http500);
  Recorder rec;
  Checker checker(L.get(), rec.fn(), 1);
  checker.set_targets({target("web", server.port, http_check())});
  REQUIRE(run_until(L.get(), [&] { return !rec.results.empty(); }, 3000));
  CHECK_FALSE(rec.results[0].ok);
  CHECK(rec.results[0].error == "status 500");
  CHECK(rec.results[0].transition == Transition::went_down);
  CHECK(checker.state(0)->last_error() == "status 500");
  checker.stop();
  server.close();
  L.finish();
}

TEST_CASE("checker: expect_status and host are honoured") {
  Loop L;
  TestServer server(L.get(), Mode::http204);
  Recorder rec;
  Checker checker(L.get(), rec.fn(), 2);
  auto check = http_check();
  check.path = "/status?x=1";
  check.host = "svc.example.com";
  check.expect_status = {200, 204};
  checker.set_targets({target("web", server.port, check)});
  REQUIRE(run_until(L.get(), [&] { return !rec.results.empty(); }, 3000));
  CHECK(rec.results[0].ok);
  CHECK(server.last_request.rfind("GET /status?x=1 HTTP/1.1\r\nHost: svc.example.com\r\n", 0) == 0);
  checker.stop();
  server.close();
  L.finish();
}

TEST_CASE("checker: refused connection") {
  Loop L;
  Recorder rec;
  Checker checker(L.get(), rec.fn(), 3);
  auto tcp = http_check();
  tcp.type = HealthCheckType::tcp;
  const uint16_t port = closed_port();
  checker.set_targets({target("web", port, http_check()), target("tcp", port, tcp)});
  REQUIRE(run_until(L.get(), [&] { return rec.count(0) >= 1 && rec.count(1) >= 1; }, 3000));
  for (auto& r : rec.results) {
    CHECK_FALSE(r.ok);
    CHECK(r.error == "connect: connection refused");
  }
  CHECK(checker.first_round_complete());
  checker.stop();
  L.finish();
}

TEST_CASE("checker: a server that never answers fails with 'timeout' in time") {
  Loop L;
  TestServer server(L.get(), Mode::silent);
  Recorder rec;
  Checker checker(L.get(), rec.fn(), 4);
  const uint64_t t0 = uv_hrtime();
  checker.set_targets({target("web", server.port, http_check(2000, 200))});
  REQUIRE(run_until(L.get(), [&] { return !rec.results.empty(); }, 5000));
  const double elapsed = ms_since(t0);
  CHECK_FALSE(rec.results[0].ok);
  CHECK(rec.results[0].error == "timeout");
  CHECK(elapsed >= 190);   // the timeout itself
  CHECK(elapsed < 1500);   // + <100ms initial offset + generous slack
  CHECK(server.accepted == 1);
  checker.stop();
  server.close();
  L.finish();
}

TEST_CASE("checker: tcp check passes on connect alone") {
  Loop L;
  TestServer server(L.get(), Mode::silent);
  Recorder rec;
  Checker checker(L.get(), rec.fn(), 5);
  auto c = http_check();
  c.type = HealthCheckType::tcp;
  checker.set_targets({target("tcp", server.port, c)});
  REQUIRE(run_until(L.get(), [&] { return !rec.results.empty(); }, 3000));
  CHECK(rec.results[0].ok);
  CHECK(rec.results[0].transition == Transition::went_up);
  checker.stop();
  server.close();
  L.finish();
}

TEST_CASE("checker: malformed and truncated responses") {
  Loop L;
  TestServer garbage(L.get(), Mode::garbage);
  TestServer closer(L.get(), Mode::close_after_request);
  Recorder rec;
  Checker checker(L.get(), rec.fn(), 6);
  checker.set_targets({target("a", garbage.port, http_check()), target("b", closer.port, http_check())});
  REQUIRE(run_until(L.get(), [&] { return rec.count(0) >= 1 && rec.count(1) >= 1; }, 3000));
  for (auto& r : rec.results) {
    CHECK_FALSE(r.ok);
    CHECK(r.error == (r.index == 0 ? "bad status line" : "connection closed before response"));
  }
  checker.stop();
  garbage.close();
  closer.close();
  L.finish();
}

TEST_CASE("checker: rise/fall across repeated probes") {
  Loop L;
  TestServer server(L.get(), Mode::toggle);
  Recorder rec;
  Checker checker(L.get(), rec.fn(), 7);
  auto c = http_check(20, 500);
  c.rise = 2;
  c.fall = 2;
  c.fast_interval = Duration{5};
  checker.set_targets({target("web", server.port, c)});
  auto transitions = [&](Transition t) {
    size_t n = 0;
    for (auto& r : rec.results) n += r.transition == t;
    return n;
  };
  REQUIRE(run_until(L.get(), [&] { return transitions(Transition::went_up) == 1; }, 3000));
  server.toggle_ok = false;
  size_t before = rec.results.size();
  REQUIRE(run_until(L.get(), [&] { return transitions(Transition::went_down) == 1; }, 3000));
  // fall=2: exactly two failing probes after the switch (one may have been in flight)
  CHECK(rec.results.size() - before >= 2);
  CHECK(rec.results.size() - before <= 3);
  CHECK(checker.state(0)->status() == Status::down);
  server.toggle_ok = true;
  before = rec.results.size();
  REQUIRE(run_until(L.get(), [&] { return transitions(Transition::went_up) == 2; }, 3000));
  CHECK(rec.results.size() - before >= 2);
  CHECK(rec.results.size() - before <= 3);
  checker.stop();
  server.close();
  L.finish();
}

TEST_CASE("checker: set_targets on reload keeps, changes, adds and removes") {
  Loop L;
  TestServer a(L.get(), Mode::http200);
  TestServer b(L.get(), Mode::http500);
  TestServer c(L.get(), Mode::http200);
  Recorder rec;
  Checker checker(L.get(), rec.fn(), 8);
  checker.set_targets({target("p", a.port, http_check(30)), target("p", b.port, http_check(30))});
  REQUIRE(run_until(L.get(), [&] { return rec.count(0) >= 2 && rec.count(1) >= 2; }, 3000));
  CHECK(checker.state(0)->status() == Status::up);
  CHECK(checker.state(1)->status() == Status::down);

  // Reload: b removed, c added in front, a moves to index 2 with a changed
  // check config (keeps its status), plus a new pool entry for a's address.
  auto changed = http_check(30);
  changed.path = "/other";
  checker.set_targets({target("p", c.port, http_check(30)), target("q", a.port, http_check(5000)),
                       target("p", a.port, changed)});
  REQUIRE(checker.size() == 3);
  CHECK(checker.state(0)->status() == Status::unchecked);
  CHECK(checker.state(1)->status() == Status::unchecked);  // new (pool q)
  CHECK(checker.state(2)->status() == Status::up);         // carried over
  CHECK_FALSE(checker.first_round_complete());
  rec.results.clear();
  REQUIRE(run_until(L.get(), [&] { return rec.count(0) >= 2 && rec.count(2) >= 2; }, 3000));
  CHECK(checker.first_round_complete());
  for (auto& r : rec.results) {
    CHECK(r.index <= 2);
    CHECK(r.ok);  // nothing from b any more
    if (r.index == 2) CHECK(r.transition == Transition::none);  // stayed up, no "went_up" again
  }
  CHECK(a.last_request.find("/other") != std::string::npos);

  // Reload again with identical targets: state and schedule are kept.
  checker.set_targets({target("p", c.port, http_check(30))});
  CHECK(checker.state(0)->status() == Status::up);
  checker.set_targets({});
  CHECK(checker.size() == 0);
  CHECK(checker.first_round_complete());
  checker.stop();
  checker.stop();  // idempotent
  checker.set_targets({target("p", c.port, http_check(30))});  // ignored after stop
  CHECK(checker.size() == 0);
  a.close();
  b.close();
  c.close();
  L.finish();
}

TEST_CASE("checker: stop() with probes in flight leaves nothing open") {
  Loop L;
  TestServer silent(L.get(), Mode::silent);
  Recorder rec;
  auto checker = std::make_unique<Checker>(L.get(), rec.fn(), 9);
  std::vector<CheckTarget> ts;
  for (int i = 0; i < 20; ++i) ts.push_back(target("p" + std::to_string(i), silent.port, http_check(2000, 5000)));
  checker->set_targets(std::move(ts));
  // run until every probe is connected and waiting for an answer
  REQUIRE(run_until(L.get(), [&] { return silent.accepted == 20; }, 3000));
  checker.reset();  // destructor stops
  CHECK(rec.results.empty());
  silent.close();
  L.finish();
}

TEST_CASE("checker: the result callback may stop the checker") {
  Loop L;
  TestServer server(L.get(), Mode::http200);
  Recorder rec;
  Checker* self = nullptr;
  Checker checker(L.get(), [&](const CheckResult& r) {
    rec.results.push_back({r.index, r.ok, std::string(r.error), r.previous, r.status, r.transition, r.now_ns});
    self->stop();
  }, 10);
  self = &checker;
  checker.set_targets({target("a", server.port, http_check(10)), target("b", server.port, http_check(10))});
  REQUIRE(run_until(L.get(), [&] { return !rec.results.empty(); }, 3000));
  run_until(L.get(), [] { return false; }, 100);
  CHECK(rec.results.size() == 1);
  server.close();
  L.finish();
}
