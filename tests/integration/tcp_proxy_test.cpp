// tests/integration/tcp_proxy_test.cpp — L4 (protocol "tcp") behaviour of the
// real lb binary against the real backend: balancing spread, byte-exact
// transfer, failover, half-close, idle timeout, backpressure, PROXY protocol,
// max_connections, multiple workers, the command line, graceful stop and the
// access log.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "tests/integration/harness.h"

using namespace it;

namespace {

json tcp_listener(const std::string& name, const std::string& pool, json extra = json::object()) {
  json l = {{"name", name}, {"listen", "127.0.0.1:0"}, {"protocol", "tcp"}, {"pool", pool}};
  for (auto& [k, v] : extra.items()) l[k] = v;
  return l;
}

// One connection through lb to an HTTP-mode backend: "GET / HTTP/1.0", read the
// response, wait for the close, return the X-Backend-Port that answered.
std::optional<uint16_t> backend_port_via(uint16_t lb_port, std::string* why = nullptr) {
  Socket s = Socket::connect(lb_port, 2s);
  if (!s) {
    if (why) *why = "connect: " + s.error_text();
    return std::nullopt;
  }
  if (!s.send_all("GET / HTTP/1.0\r\n\r\n", 2s)) {
    if (why) *why = "send: " + s.error_text();
    return std::nullopt;
  }
  auto r = read_http_response(s, 5s);
  if (!r) {
    if (why) *why = std::string("no response: ") + to_string(s.last_io()) + " " + s.error_text();
    return std::nullopt;
  }
  if (r->status != 200) {
    if (why) *why = "status " + std::to_string(r->status);
    return std::nullopt;
  }
  auto h = r->header("X-Backend-Port");
  if (!h) {
    if (why) *why = "no X-Backend-Port";
    return std::nullopt;
  }
  // HTTP/1.0: the backend closes; lb must pass the close on.
  s.wait_closed(2s);
  return static_cast<uint16_t>(std::stoul(*h));
}

struct Spread {
  std::map<uint16_t, int> counts;
  int failures = 0;
  std::string first_failure;
};

// n connections through lb from `threads` client threads.
Spread spread(uint16_t lb_port, int n, int threads = 1) {
  Spread out;
  std::mutex mu;
  std::atomic<int> next{0};
  auto work = [&] {
    std::map<uint16_t, int> local;
    int fails = 0;
    std::string why_first;
    while (next.fetch_add(1) < n) {
      std::string why;
      if (auto p = backend_port_via(lb_port, &why)) {
        ++local[*p];
      } else {
        if (fails++ == 0) why_first = why;
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [k, v] : local) out.counts[k] += v;
    if (fails && out.failures == 0) out.first_failure = why_first;
    out.failures += fails;
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) ts.emplace_back(work);
  for (auto& t : ts) t.join();
  return out;
}

std::string describe(const Spread& s) {
  std::string d = "failures=" + std::to_string(s.failures) + " (" + s.first_failure + ") counts:";
  for (auto& [k, v] : s.counts) d += " " + std::to_string(k) + "=" + std::to_string(v);
  return d;
}

}  // namespace

TEST_SUITE("tcp_proxy") {

TEST_CASE("round_robin spreads 3000 connections exactly evenly over 3 backends") {
  Backend be = Backend::http(3);
  Lb lb(make_config({tcp_listener("t", "p")}, {make_pool("p", "round_robin", servers_for(be.http_ports()))}));
  auto t0 = Clock::now();
  Spread s = spread(lb.port("t"), 3000);
  MESSAGE("3000 connections in " << elapsed_ms(t0) << " ms");
  INFO(describe(s));
  CHECK(s.failures == 0);
  REQUIRE(s.counts.size() == 3);
  for (auto p : be.http_ports()) CHECK(s.counts[p] == 1000);
}

TEST_CASE("weighted_round_robin 5:3:2 over 2000 connections") {
  Backend be = Backend::http(3);
  auto ports = be.http_ports();
  Lb lb(make_config({tcp_listener("t", "p")},
                    {make_pool("p", "weighted_round_robin",
                               {server(ports[0], 5), server(ports[1], 3), server(ports[2], 2)})}));
  Spread s = spread(lb.port("t"), 2000);
  INFO(describe(s));
  CHECK(s.failures == 0);
  const double want[3] = {50, 30, 20};
  for (int i = 0; i < 3; ++i) {
    double share = 100.0 * s.counts[ports[i]] / 2000.0;
    INFO("server " << i << " share " << share << "% want " << want[i] << "%");
    CHECK(share >= want[i] - 3);
    CHECK(share <= want[i] + 3);
  }
}

TEST_CASE("64 MiB each way through a tcp listener arrives byte-identical") {
  Backend be = Backend::echo(1);
  Lb lb(make_config({tcp_listener("t", "p")}, {make_pool("p", "round_robin", {server(be.echo_port())})}));
  Socket s = Socket::connect(lb.port("t"));
  REQUIRE_MESSAGE(s.valid(), s.error_text());

  constexpr uint64_t kTotal = 64ull << 20;
  std::string sent_hash;
  std::atomic<bool> send_ok{true};
  std::string send_error;
  auto t0 = Clock::now();
  std::thread sender([&] {
    Sha256 h;
    XorShift rng(0x9e3779b97f4a7c15ull);
    std::vector<uint64_t> chunk(64 * 1024 / 8);
    uint64_t sent = 0;
    auto deadline = Clock::now() + 60s;
    while (sent < kTotal) {
      for (auto& w : chunk) w = rng.next();
      const char* p = reinterpret_cast<const char*>(chunk.data());
      size_t len = std::min<uint64_t>(chunk.size() * 8, kTotal - sent);
      h.update(p, len);
      size_t off = 0;
      while (off < len) {
        ssize_t n = ::send(s.fd(), p + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || Clock::now() > deadline) {
          send_ok = false;
          send_error = n < 0 ? strerror(errno) : "deadline";
          sent_hash = h.hex();
          return;
        }
        off += static_cast<size_t>(n);
      }
      sent += len;
    }
    ::shutdown(s.fd(), SHUT_WR);
    sent_hash = h.hex();
  });
  Sha256 rh;
  uint64_t received = 0;
  auto d = s.drain_count(60s, received, [&](const char* p, size_t n) { rh.update(p, n); });
  sender.join();
  std::string recv_hash = rh.hex();
  MESSAGE("64 MiB each way in " << elapsed_ms(t0) << " ms");
  INFO("send error: " << send_error << "; receive ended with " << to_string(d.io) << " " << strerror(d.err));
  CHECK(send_ok.load());
  CHECK(d.io == Io::eof);
  CHECK(received == kTotal);
  CHECK(recv_hash == sent_hash);
}

TEST_CASE("a dead first server: 300 connections all succeed on the live ones") {
  Backend be = Backend::http(2);
  uint16_t dead = free_port();
  REQUIRE_FALSE(port_accepts(dead));
  Lb lb(make_config({tcp_listener("t", "p")},
                    {make_pool("p", "round_robin", {server(dead), server(be.http_port(0)), server(be.http_port(1))},
                               {{"retries", {{"attempts", 2}}}})}));
  Spread s = spread(lb.port("t"), 300);
  INFO(describe(s));
  CHECK(s.failures == 0);
  CHECK(s.counts.count(dead) == 0);
  CHECK(s.counts[be.http_port(0)] + s.counts[be.http_port(1)] == 300);
  CHECK(s.counts[be.http_port(0)] > 0);
  CHECK(s.counts[be.http_port(1)] > 0);
  CHECK_FALSE(port_accepts(dead));  // the test stayed valid: nobody listened there
}

TEST_CASE("half-close: the reply still arrives after the client's FIN, then EOF") {
  Backend be = Backend::echo(1);
  Lb lb(make_config({tcp_listener("t", "p")}, {make_pool("p", "round_robin", {server(be.echo_port())})}));
  Socket s = Socket::connect(lb.port("t"));
  REQUIRE(s.valid());
  REQUIRE(s.send_all("hello"));
  REQUIRE(s.shutdown_write());
  auto d = s.recv_until_eof(5s);
  INFO("ended with " << to_string(d.io) << " " << strerror(d.err));
  CHECK(d.data == "hello");
  CHECK(d.io == Io::eof);
}

TEST_CASE("client_idle closes a silent tcp session, but not an active one") {
  Backend be = Backend::echo(1);
  Lb lb(make_config({tcp_listener("t", "p", {{"timeouts", {{"client_idle", "300ms"}}}})},
                    {make_pool("p", "round_robin", {server(be.echo_port())})}));

  SUBCASE("silent client") {
    auto t0 = Clock::now();
    Socket s = Socket::connect(lb.port("t"));
    REQUIRE(s.valid());
    Io io = s.wait_closed(3s);
    double ms_closed = elapsed_ms(t0);
    INFO("closed after " << ms_closed << " ms with " << to_string(io));
    CHECK((io == Io::eof || io == Io::error));
    CHECK(ms_closed >= 200);
    CHECK(ms_closed < 3000);
  }
  SUBCASE("traffic every 100 ms keeps the session open past the timeout") {
    Socket s = Socket::connect(lb.port("t"));
    REQUIRE(s.valid());
    for (int i = 0; i < 8; ++i) {  // 800 ms of activity, > 2× client_idle
      std::string msg = "ping" + std::to_string(i);
      REQUIRE(s.send_all(msg));
      auto echo = s.recv_exact(msg.size(), 2s);
      INFO("round " << i << ": " << to_string(s.last_io()));
      REQUIRE(echo.has_value());
      CHECK(*echo == msg);
      std::this_thread::sleep_for(100ms);  // pacing, not synchronisation
    }
    auto t0 = Clock::now();
    Io io = s.wait_closed(3s);
    INFO("closed " << elapsed_ms(t0) << " ms after the last activity with " << to_string(io));
    CHECK((io == Io::eof || io == Io::error));
  }
}

TEST_CASE("backpressure: a 1 GiB response to a client that does not read stays bounded in lb") {
  Backend be = Backend::http(1);
  Lb lb(make_config({tcp_listener("t", "p")}, {make_pool("p", "round_robin", {server(be.http_port())})}));
  constexpr uint64_t kBody = 1ull << 30;
  auto base = lb.rss_bytes();
  REQUIRE(base.has_value());
  Socket s = Socket::connect(lb.port("t"));
  REQUIRE(s.valid());
  REQUIRE(s.send_all("GET /bytes/" + std::to_string(kBody) + " HTTP/1.0\r\n\r\n"));

  // Do not read for 1.5 s; sample lb's RSS meanwhile.
  long peak = *base;
  int samples = 0;
  auto stall_end = Clock::now() + 1500ms;
  while (Clock::now() < stall_end) {
    if (auto r = lb.rss_bytes()) {
      peak = std::max(peak, *r);
      ++samples;
    }
    std::this_thread::sleep_for(25ms);
  }
  long growth = peak - *base;
  MESSAGE("lb RSS base " << (*base >> 10) << " KiB, peak growth " << (growth >> 10) << " KiB over " << samples
                         << " samples");
  CHECK(samples > 10);
  CHECK(growth < (64l << 20));

  auto t0 = Clock::now();
  auto head = read_http_head(s, 10s);
  REQUIRE(head.has_value());
  CHECK(head->status == 200);
  CHECK(head->header("Content-Length").value_or("") == std::to_string(kBody));
  uint64_t count = 0;
  bool pattern_ok = true;
  auto d = s.drain_count(120s, count, [&](const char* p, size_t n) {
    if (pattern_ok && !is_pattern(p, n, count - n)) pattern_ok = false;
  });
  MESSAGE("read 1 GiB in " << elapsed_ms(t0) << " ms");
  INFO("ended with " << to_string(d.io) << " " << strerror(d.err));
  CHECK(d.io == Io::eof);
  CHECK(count == kBody);
  CHECK(pattern_ok);
}

TEST_CASE("PROXY protocol send: v1 and v2 headers precede the client's bytes") {
  Backend be = Backend::echo(1);

  SUBCASE("v1") {
    Lb lb(make_config({tcp_listener("t", "p", {{"proxy_protocol", {{"send", "v1"}}}})},
                      {make_pool("p", "round_robin", {server(be.echo_port())})}));
    Socket s = Socket::connect(lb.port("t"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all("ping"));
    std::string want = "PROXY TCP4 127.0.0.1 127.0.0.1 " + std::to_string(s.local_port()) + " " +
                       std::to_string(lb.port("t")) + "\r\n";
    auto got = s.recv_exact(want.size() + 4, 5s);
    INFO("got " << to_string(s.last_io()) << ": " << (got ? *got : s.buffer()));
    REQUIRE(got.has_value());
    CHECK(got->substr(0, want.size()) == want);
    CHECK(got->substr(want.size()) == "ping");
  }
  SUBCASE("v2") {
    Lb lb(make_config({tcp_listener("t", "p", {{"proxy_protocol", {{"send", "v2"}}}})},
                      {make_pool("p", "round_robin", {server(be.echo_port())})}));
    Socket s = Socket::connect(lb.port("t"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all("ping"));
    std::string want("\r\n\r\n\0\r\nQUIT\n", 12);
    want += '\x21';  // version 2, PROXY
    want += '\x11';  // AF_INET, STREAM
    want += std::string("\x00\x0c", 2);
    want += std::string("\x7f\x00\x00\x01\x7f\x00\x00\x01", 8);
    uint16_t sp = s.local_port(), dp = lb.port("t");
    want += static_cast<char>(sp >> 8);
    want += static_cast<char>(sp & 0xff);
    want += static_cast<char>(dp >> 8);
    want += static_cast<char>(dp & 0xff);
    REQUIRE(want.size() == 28);
    auto got = s.recv_exact(want.size() + 4, 5s);
    INFO("got " << to_string(s.last_io()) << " " << (got ? got->size() : s.buffer().size()) << " bytes");
    REQUIRE(got.has_value());
    CHECK(got->substr(0, 28) == want);
    CHECK(got->substr(28) == "ping");
  }
}

TEST_CASE("listener max_connections 2: a third connection waits until one closes") {
  Backend be = Backend::echo(1);
  Lb lb(make_config({tcp_listener("t", "p", {{"max_connections", 2}})},
                    {make_pool("p", "round_robin", {server(be.echo_port())})}));
  auto echo_ok = [](Socket& s, const std::string& msg) {
    if (!s.send_all(msg)) return false;
    auto got = s.recv_exact(msg.size(), 3s);
    return got && *got == msg;
  };
  Socket c1 = Socket::connect(lb.port("t"));
  Socket c2 = Socket::connect(lb.port("t"));
  REQUIRE(c1.valid());
  REQUIRE(c2.valid());
  CHECK(echo_ok(c1, "one"));
  CHECK(echo_ok(c2, "two"));

  Socket c3 = Socket::connect(lb.port("t"));  // completes in the kernel's accept queue
  REQUIRE(c3.valid());
  REQUIRE(c3.send_all("three"));
  // Negative check: nothing may come back while two sessions are open.
  auto early = c3.recv_exact(5, 700ms);
  INFO("third connection before a slot freed: " << to_string(c3.last_io()));
  CHECK_FALSE(early.has_value());
  CHECK(c3.last_io() == Io::timeout);
  CHECK(echo_ok(c2, "still"));

  c1.close();
  auto late = c3.recv_exact(5, 5s);
  INFO("third connection after a slot freed: " << to_string(c3.last_io()));
  REQUIRE(late.has_value());
  CHECK(*late == "three");
  CHECK(echo_ok(c3, "more"));
  CHECK(echo_ok(c2, "two-again"));
}

TEST_CASE("server max_connections: a full server is skipped while its sessions stay open") {
  Backend be = Backend::http(2);
  const uint16_t a = be.http_port(0), b = be.http_port(1);
  json limited = server(a);
  limited["max_connections"] = 1;
  Lb lb(make_config({tcp_listener("t", "p")}, {make_pool("p", "round_robin", {limited, server(b)})}));
  // Four sessions held open at once (HTTP/1.1 keep-alive over the L4 listener).
  // Round robin alone would give a two of them; with its bulkhead of 1 it gets one.
  std::vector<std::pair<uint16_t, Socket>> open;
  std::map<uint16_t, int> count;
  for (int i = 0; i < 4; ++i) {
    Socket s = Socket::connect(lb.port("t"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = read_http_response(s, 3s);
    REQUIRE(r.has_value());
    auto port = r->header("X-Backend-Port");
    REQUIRE(port.has_value());
    auto which = static_cast<uint16_t>(std::stoi(*port));
    ++count[which];
    open.emplace_back(which, std::move(s));
  }
  CHECK(count[a] == 1);
  CHECK(count[b] == 3);
  // Closing a's session frees its slot: the next new session may use a again.
  for (auto& [which, sock] : open)
    if (which == a) sock.close();
  bool a_again = wait_until([&] {
    auto p = backend_port_via(lb.port("t"));
    return p && *p == a;
  }, 5s);
  CHECK(a_again);
}

TEST_CASE("two workers: 400 connections all succeed and spread evenly") {
  Backend be = Backend::http(3);
  Lb lb(make_config({tcp_listener("t", "p")}, {make_pool("p", "round_robin", servers_for(be.http_ports()))},
                    {{"workers", 2}}));
  Spread s = spread(lb.port("t"), 400, 4);
  INFO(describe(s));
  CHECK(s.failures == 0);
  const double mean = 400.0 / 3.0;
  for (auto p : be.http_ports()) {
    CHECK(s.counts[p] >= mean * 0.9);
    CHECK(s.counts[p] <= mean * 1.1);
  }
}

TEST_CASE("command line: --check, --version, bad config, usage errors") {
  TempDir dir;
  uint16_t port = free_port();
  json good = make_config({json{{"name", "t"}, {"listen", "127.0.0.1:" + std::to_string(port)},
                                {"protocol", "tcp"}, {"pool", "p"}}},
                          {make_pool("p", "round_robin", {server(9, 1)})}, {{"workers", 1}});
  json bad = good;
  bad["pools"][0]["servers"][0]["weight"] = 0;
  std::string good_path = dir.file("good.json"), bad_path = dir.file("bad.json");
  write_file(good_path, good.dump(2));
  write_file(bad_path, bad.dump(2));

  SUBCASE("--check on a good file") {
    auto r = run_command({lb_bin(), "-c", good_path, "--check"});
    INFO("stdout: " << r.out << " stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == good_path + ": ok\n");
  }
  SUBCASE("--check on a bad file names the file and the JSON pointer") {
    auto r = run_command({lb_bin(), "-c", bad_path, "--check"});
    INFO("stdout: " << r.out << " stderr: " << r.err);
    CHECK(r.status == 1);
    CHECK(r.err.find(bad_path + ": /pools/0/servers/0/weight") != std::string::npos);
  }
  SUBCASE("running a bad file exits 1 without serving") {
    auto r = run_command({lb_bin(), "-c", bad_path}, 10s);
    INFO("stdout: " << r.out << " stderr: " << r.err);
    CHECK(r.status == 1);
    CHECK(r.err.find(bad_path) != std::string::npos);
    CHECK(r.err.find("/pools/0/servers/0/weight") != std::string::npos);
  }
  SUBCASE("--version") {
    auto r = run_command({lb_bin(), "--version"});
    CHECK(r.status == 0);
    CHECK(r.out.rfind("lb ", 0) == 0);
    CHECK(r.out.size() > 4);
  }
  SUBCASE("--help") {
    auto r = run_command({lb_bin(), "--help"});
    CHECK(r.status == 0);
    CHECK_FALSE(r.out.empty());
  }
  SUBCASE("unknown argument") {
    auto r = run_command({lb_bin(), "-c", good_path, "--bogus"});
    CHECK(r.status == 2);
    CHECK_FALSE(r.err.empty());
  }
  SUBCASE("missing -c") {
    auto r = run_command({lb_bin()});
    CHECK(r.status == 2);
  }
}

TEST_CASE("SIGTERM: graceful stop with exit status 0") {
  Backend be = Backend::echo(1);

  SUBCASE("idle lb logs started and stopped") {
    Lb lb(make_config({tcp_listener("t", "p")}, {make_pool("p", "round_robin", {server(be.echo_port())})}));
    auto status = lb.stop(5s);
    INFO(lb.diagnostics());
    CHECK(status == 0);
    std::set<std::string> msgs;
    for (const auto& j : lb.error_log()) {
      CHECK(j.contains("ts"));
      CHECK(j.contains("level"));
      if (j.contains("msg") && j["msg"].is_string()) msgs.insert(j["msg"].get<std::string>());
    }
    CHECK(msgs.count("started") == 1);
    CHECK(msgs.count("stopped") == 1);
  }
  SUBCASE("an open session may finish; then lb exits 0") {
    Lb lb(make_config({tcp_listener("t", "p")}, {make_pool("p", "round_robin", {server(be.echo_port())})},
                      {{"shutdown_timeout", "10s"}}));
    Socket s = Socket::connect(lb.port("t"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all("before"));
    CHECK(s.recv_exact(6, 3s) == std::optional<std::string>("before"));
    REQUIRE(lb.signal(SIGTERM));
    // The listener closes ...
    CHECK(wait_until([&] { return !pid_listens_on(lb.pid(), lb.port("t")); }, 3s));
    // ... but the session keeps working.
    REQUIRE(s.send_all("after"));
    CHECK(s.recv_exact(5, 3s) == std::optional<std::string>("after"));
    CHECK(lb.running());
    s.shutdown_write();
    auto d = s.recv_until_eof(3s);
    CHECK(d.io == Io::eof);
    s.close();
    auto t0 = Clock::now();
    auto status = lb.wait(5s);
    INFO("exit " << (status ? std::to_string(*status) : "none") << " after " << elapsed_ms(t0) << " ms; "
                 << lb.diagnostics());
    CHECK(status == 0);
  }
  SUBCASE("a session still open at shutdown_timeout is cut; lb exits 0") {
    Lb lb(make_config({tcp_listener("t", "p")}, {make_pool("p", "round_robin", {server(be.echo_port())})},
                      {{"shutdown_timeout", "1s"}}));
    Socket s = Socket::connect(lb.port("t"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all("x"));
    CHECK(s.recv_exact(1, 3s) == std::optional<std::string>("x"));
    auto t0 = Clock::now();
    REQUIRE(lb.signal(SIGTERM));
    auto status = lb.wait(4s);
    double took = elapsed_ms(t0);
    INFO("exit " << (status ? std::to_string(*status) : "none") << " after " << took << " ms; "
                 << lb.diagnostics());
    CHECK(status == 0);
    CHECK(took < 3000);
    Io io = s.wait_closed(2s);
    CHECK((io == Io::eof || io == Io::error));
  }
}

TEST_CASE("access log: one JSON line per tcp session") {
  Backend be = Backend::echo(2);
  Lb lb(make_config({tcp_listener("t", "p")}, {make_pool("p", "round_robin", servers_for(be.echo_ports()))}));
  constexpr int kN = 25;
  std::multiset<uint64_t> sizes;
  for (int i = 0; i < kN; ++i) {
    std::string payload(static_cast<size_t>(10 + i * 7), static_cast<char>('a' + i % 26));
    sizes.insert(payload.size());
    Socket s = Socket::connect(lb.port("t"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all(payload));
    s.shutdown_write();
    auto d = s.recv_until_eof(5s);
    REQUIRE(d.io == Io::eof);
    REQUIRE(d.data == payload);
  }
  auto lines = wait_access_lines(lb, kN);
  // Nothing beyond the N sessions may show up.
  REQUIRE(lines.size() == size_t(kN));
  std::set<std::string> servers{Backend::addr(be.echo_port(0)), Backend::addr(be.echo_port(1))};
  std::multiset<uint64_t> in_sizes, out_sizes;
  for (const auto& j : lines) {
    INFO(j.dump());
    CHECK(j.value("listener", "") == "t");
    CHECK(j.value("method", "") == "TCP");
    CHECK(j.value("status", 0) == 200);
    CHECK(j.value("pool", "") == "p");
    CHECK(servers.count(j.value("server", "")) == 1);
    CHECK(j.value("client", "").find("127.0.0.1") != std::string::npos);
    CHECK(j.contains("ts"));
    CHECK(j.contains("duration_ms"));
    CHECK(j.contains("upstream_ms"));
    CHECK(j.value("attempts", 0) == 1);
    in_sizes.insert(j.value("bytes_in", uint64_t(0)));
    out_sizes.insert(j.value("bytes_out", uint64_t(0)));
  }
  CHECK(in_sizes == sizes);
  CHECK(out_sizes == sizes);
}

TEST_CASE("all servers refusing: the client is closed without data and logged as 502") {
  uint16_t dead1 = free_port(), dead2 = free_port();
  REQUIRE_FALSE(port_accepts(dead1));
  REQUIRE_FALSE(port_accepts(dead2));
  Lb lb(make_config({tcp_listener("t", "p")},
                    {make_pool("p", "round_robin", {server(dead1), server(dead2)}, {{"retries", {{"attempts", 2}}}})}));
  Socket s = Socket::connect(lb.port("t"));
  REQUIRE(s.valid());
  s.send_all("hello");  // may fail if lb already closed; that is fine
  auto d = s.recv_until_eof(5s);
  INFO("ended with " << to_string(d.io) << " " << strerror(d.err) << ", " << d.data.size() << " bytes");
  CHECK(d.data.empty());
  CHECK((d.io == Io::eof || d.io == Io::error));
  auto lines = wait_access_lines(lb, 1);
  REQUIRE(lines.size() == 1);
  INFO(lines[0].dump());
  CHECK(lines[0].value("status", 0) == 502);
  CHECK(lines[0].value("listener", "") == "t");
  CHECK(lines[0].value("attempts", 0) >= 2);
}

}  // TEST_SUITE
