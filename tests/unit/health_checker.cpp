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
#include <string_view>
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

enum class Mode {
  http200, http500, http204, silent, close_after_request, garbage, toggle,
  xor_http,      // speaks the fake XOR transport (below): 200 or 500 per toggle_ok
  xor_refuse,    // answers the XOR hello with a refusal
  close_on_data  // closes as soon as any byte arrives
};

constexpr char kXorKey = 0x5a;
std::string xor_bytes(std::string_view in) {
  std::string out(in);
  for (char& c : out) c = static_cast<char>(c ^ kXorKey);
  return out;
}

// A tiny backend: answers each connection according to `mode` once the
// request head has arrived (or holds it open, for `silent`). The xor modes
// expect the hello line "XOR1\n", answer "OK\n" (or "NO\n"), then read the
// request XOR-encoded and answer XOR-encoded.
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
  std::string last_request;  // decoded, for the xor modes
  std::string last_raw;      // xor modes: every byte as it arrived on the wire

 private:
  struct Conn {
    TestServer* server;
    uv_tcp_t tcp{};
    uv_write_t write_req{};
    std::string in, out;
    char buf[4096];
    bool answered = false;
    bool greeted = false;  // xor modes: hello answered
    std::string raw;       // xor modes: bytes as received

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
    // A write that keeps the connection open (the XOR greeting).
    void send(std::string text) {
      struct W {
        uv_write_t req{};
        std::string data;
      };
      auto* w = new W{{}, std::move(text)};  // freed in the callback
      uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
      w->req.data = w;
      uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp), &b, 1,
               [](uv_write_t* req, int) { delete static_cast<W*>(req->data); });
    }
    // xor modes: hello, then the encoded request, then the encoded answer.
    void on_xor(const char* data, size_t n) {
      raw.append(data, n);
      server->last_raw = raw;
      if (!greeted) {
        const size_t eol = raw.find('\n');
        if (eol == std::string::npos) return;
        if (raw.substr(0, eol) != "XOR1" || server->mode == Mode::xor_refuse) return respond("NO\n");
        greeted = true;
        send("OK\n");
        in = xor_bytes(std::string_view(raw).substr(eol + 1));
      } else {
        in += xor_bytes(std::string_view(data, n));
      }
      if (answered || in.find("\r\n\r\n") == std::string::npos) return;
      answered = true;
      server->last_request = in;
      respond(xor_bytes(server->toggle_ok ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                                          : "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"));
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
          if (n == 0) return;
          TestServer* sv0 = cc->server;
          if (sv0->mode == Mode::close_on_data) return cc->close();
          if (sv0->mode == Mode::xor_http || sv0->mode == Mode::xor_refuse)
            return cc->on_xor(b->base, static_cast<size_t>(n));
          if (cc->answered) return;
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
            case Mode::xor_http:
            case Mode::xor_refuse:
            case Mode::close_on_data: return;  // handled above
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

// ---- the transport seam ------------------------------------------------------

namespace {

// What the fake transports did, shared with the test (the Checker owns them).
struct XorLog {
  int made = 0, started = 0, sends = 0;
  size_t socket_bytes_in = 0, socket_bytes_out = 0;
  std::string plaintext_in;  // decoded bytes handed to the probe
};

// A fake layer: hello "XOR1\n", waits for "OK\n" (ready) or "NO\n" (refused),
// then XORs every byte both ways; plaintext sent before ready is queued.
class XorTransport final : public ProbeTransport {
 public:
  explicit XorTransport(std::shared_ptr<XorLog> log) : log_(std::move(log)) { ++log_->made; }

  std::string_view name() const override { return "xor"; }
  bool start(std::string& socket_out) override {
    ++log_->started;
    out(socket_out, "XOR1\n");
    return true;
  }
  Status on_socket_bytes(const char* data, size_t n, std::string& plaintext_out, std::string& socket_out) override {
    log_->socket_bytes_in += n;
    std::string_view in(data, n);
    if (!ready_) {
      greeting_.append(in);
      const size_t eol = greeting_.find('\n');
      if (eol == std::string::npos) return Status::ok;
      if (greeting_.substr(0, eol) != "OK") {
        error_ = "handshake refused";
        return Status::failed;
      }
      ready_ = true;
      in = std::string_view(greeting_).substr(eol + 1);
      if (!queued_.empty()) out(socket_out, xor_bytes(queued_));
      queued_.clear();
    }
    const std::string plain = xor_bytes(in);
    log_->plaintext_in += plain;
    plaintext_out += plain;
    return Status::ok;
  }
  bool send(std::string_view plain, std::string& socket_out) override {
    ++log_->sends;
    if (ready_) out(socket_out, xor_bytes(plain));
    else queued_.append(plain);
    return true;
  }
  bool ready() const override { return ready_; }
  std::string_view error() const override { return error_; }

 private:
  void out(std::string& socket_out, std::string_view bytes) {
    log_->socket_bytes_out += bytes.size();
    socket_out.append(bytes);
  }
  std::shared_ptr<XorLog> log_;
  std::string greeting_, queued_, error_;
  bool ready_ = false;
};

TransportFactory xor_factory(const std::shared_ptr<XorLog>& log) {
  return [log] { return std::make_unique<XorTransport>(log); };
}

CheckTarget xor_target(const std::string& pool, uint16_t port, HealthCheckConfig check,
                       const std::shared_ptr<XorLog>& log) {
  CheckTarget t = target(pool, port, std::move(check));
  t.transport = xor_factory(log);
  return t;
}

HealthCheckConfig tcp_check(int interval_ms = 2000, int timeout_ms = 1000) {
  HealthCheckConfig c = http_check(interval_ms, timeout_ms);
  c.type = HealthCheckType::tcp;
  return c;
}

}  // namespace

TEST_CASE("checker: http through a transport — request encoded out, status decoded in") {
  Loop L;
  TestServer server(L.get(), Mode::xor_http);
  Recorder rec;
  auto log = std::make_shared<XorLog>();
  Checker checker(L.get(), rec.fn(), 11);
  checker.set_targets({xor_target("web", server.port, http_check(2000), log)});
  REQUIRE(run_until(L.get(), [&] { return !rec.results.empty(); }, 3000));
  CHECK(rec.results[0].ok);
  CHECK(rec.results[0].error.empty());
  CHECK(log->made == 1);
  CHECK(log->started == 1);
  CHECK(log->sends == 1);
  // Outbound: the server decoded exactly the documented request, and nothing
  // of it crossed the wire in clear.
  const std::string expect = "GET /health HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port) +
                             "\r\nUser-Agent: lb-health\r\nConnection: close\r\n\r\n";
  CHECK(server.last_request == expect);
  CHECK(server.last_raw.rfind("XOR1\n", 0) == 0);
  CHECK(server.last_raw.find("GET ") == std::string::npos);
  CHECK(log->socket_bytes_out == server.last_raw.size());
  // Inbound: the status came from the decoded bytes (on the wire it was XORed).
  CHECK(log->socket_bytes_in > 3);
  CHECK(log->plaintext_in.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);

  // The decoded status decides: 500 fails as it would in clear.
  server.toggle_ok = false;
  checker.set_targets({xor_target("web", server.port, http_check(20), log)});  // changed: probe promptly
  REQUIRE(run_until(L.get(), [&] { return rec.results.size() >= 2; }, 3000));
  CHECK_FALSE(rec.results[1].ok);
  CHECK(rec.results[1].error == "status 500");
  checker.stop();
  server.close();
  L.finish();
}

TEST_CASE("checker: a plain probe cannot read the transport's bytes (the seam is what decodes)") {
  Loop L;
  TestServer server(L.get(), Mode::xor_http);
  Recorder rec;
  Checker checker(L.get(), rec.fn(), 12);
  checker.set_targets({target("web", server.port, http_check(2000, 300))});
  REQUIRE(run_until(L.get(), [&] { return !rec.results.empty(); }, 3000));
  CHECK_FALSE(rec.results[0].ok);  // the server refuses a request without the hello
  CHECK(rec.results[0].error == "bad status line");
  checker.stop();
  server.close();
  L.finish();
}

TEST_CASE("checker: tcp through a transport passes only once its handshake completes") {
  Loop L;
  TestServer good(L.get(), Mode::xor_http);
  TestServer silent(L.get(), Mode::silent);
  TestServer refuse(L.get(), Mode::xor_refuse);
  TestServer closer(L.get(), Mode::close_on_data);
  Recorder rec;
  auto log = std::make_shared<XorLog>();
  Checker checker(L.get(), rec.fn(), 13);
  const uint16_t closed = closed_port();
  checker.set_targets({xor_target("a", good.port, tcp_check(), log),
                       xor_target("b", silent.port, tcp_check(2000, 200), log),
                       xor_target("c", refuse.port, tcp_check(), log),
                       xor_target("d", closer.port, tcp_check(), log),
                       xor_target("e", closed, tcp_check(), log),
                       target("f", silent.port, tcp_check())});  // same silent server, no transport
  REQUIRE(run_until(L.get(), [&] { for (size_t i = 0; i < 6; ++i) if (rec.count(i) == 0) return false; return true; },
                    3000));
  std::vector<std::string> errors(6);
  std::vector<bool> ok(6);
  for (auto& r : rec.results) {
    errors[r.index] = r.error;
    ok[r.index] = r.ok;
  }
  CHECK(ok[0]);
  CHECK(good.last_raw == "XOR1\n");  // the hello, and nothing else: a tcp check sends no request
  CHECK_FALSE(ok[1]);
  CHECK(errors[1] == "xor: handshake timeout");
  CHECK_FALSE(ok[2]);
  CHECK(errors[2] == "xor: handshake refused");
  CHECK_FALSE(ok[3]);
  CHECK(errors[3] == "xor: connection closed during handshake");
  CHECK_FALSE(ok[4]);
  CHECK(errors[4] == "connect: connection refused");  // no transport before the connect
  CHECK(ok[5]);  // plain tcp: connect alone
  CHECK(log->made == 5);
  CHECK(log->started == 4);
  CHECK(log->sends == 0);
  checker.stop();
  good.close();
  silent.close();
  refuse.close();
  closer.close();
  L.finish();
}

TEST_CASE("checker: http through a transport: refusal, EOF and timeout in the handshake") {
  Loop L;
  TestServer silent(L.get(), Mode::silent);
  TestServer refuse(L.get(), Mode::xor_refuse);
  TestServer closer(L.get(), Mode::close_on_data);
  Recorder rec;
  auto log = std::make_shared<XorLog>();
  Checker checker(L.get(), rec.fn(), 14);
  checker.set_targets({xor_target("a", silent.port, http_check(2000, 200), log),
                       xor_target("b", refuse.port, http_check(), log),
                       xor_target("c", closer.port, http_check(), log)});
  REQUIRE(run_until(L.get(), [&] { return rec.count(0) >= 1 && rec.count(1) >= 1 && rec.count(2) >= 1; }, 3000));
  for (auto& r : rec.results) {
    CHECK_FALSE(r.ok);
    CHECK(r.error == (r.index == 0   ? "xor: handshake timeout"
                      : r.index == 1 ? "xor: handshake refused"
                                     : "xor: connection closed during handshake"));
  }
  CHECK(log->sends == 3);  // each request was handed to the transport (queued: never ready)
  CHECK(silent.accepted == 1);
  checker.stop();
  silent.close();
  refuse.close();
  closer.close();
  L.finish();
}

TEST_CASE("checker: a factory that makes no transport fails the probe; adding one is a changed check") {
  Loop L;
  TestServer server(L.get(), Mode::http200);
  Recorder rec;
  Checker checker(L.get(), rec.fn(), 15);
  CheckTarget t = target("web", server.port, http_check(5000));
  t.transport = [] { return std::unique_ptr<ProbeTransport>(); };
  checker.set_targets({t});
  REQUIRE(run_until(L.get(), [&] { return !rec.results.empty(); }, 3000));
  CHECK_FALSE(rec.results[0].ok);
  CHECK(rec.results[0].error == "transport: unavailable");
  CHECK(server.accepted == 0);

  // Same check config and address, transport removed: probed again promptly
  // (not after the 5s interval), in clear, keeping the target's state.
  checker.set_targets({target("web", server.port, http_check(5000))});
  CHECK(checker.state(0)->status() == Status::down);
  REQUIRE(run_until(L.get(), [&] { return rec.results.size() >= 2; }, 1000));
  CHECK(rec.results[1].ok);
  CHECK(server.accepted == 1);
  checker.stop();
  server.close();
  L.finish();
}
