// tests/integration/slow_client_test.cpp — the slow-client defences of SPEC
// 11 on the real lb binary, client by client: timeouts.body_idle (half a
// body then a stall → 408, the server connection closed; a client that keeps
// sending, or that lb holds back for a slow server, is never cut) and
// timeouts.send (clients that stop reading a large response are closed and
// lb's memory for them comes back; a slow but steady reader is not cut), on
// cleartext and TLS listeners. The same over HTTP/2 is in
// tests/integration/h2/slow_client_test.py; the real attacker (slowhttptest)
// is in slow_attack_test.cpp.
#include <doctest/doctest.h>

#include <openssl/ssl.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/integration/script_server.h"

using namespace it;

namespace {

constexpr const char* kOpenssl = "/usr/bin/openssl";

// A listener "web" on `pool` with the given timeouts, an admin port, and
// optionally TLS.
json slow_config(const std::vector<json>& servers, json timeouts, json tls = nullptr) {
  json l = {{"name", "web"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "p"}, {"timeouts", timeouts}};
  if (!tls.is_null()) l["tls"] = tls;
  return make_config({l}, {make_pool("p", "round_robin", servers)}, {{"admin", {{"listen", "127.0.0.1:0"}}}});
}

// The backend's own counters, read directly from its port (the /stats
// request itself is one connection and one request).
json backend_stats(uint16_t port) {
  auto r = http_get(port, "/stats", 3s);
  if (!r || r->status != 200) return json::object();
  return json::parse(r->body, nullptr, false);
}

int64_t listener_connections(Lb& lb) {
  json s = admin_stats(lb);
  if (!s.contains("listeners") || s["listeners"].empty()) return -1;
  return s["listeners"][0].value("connections_active", int64_t(-1));
}

std::vector<json> aborted_lines(Lb& lb) {
  std::vector<json> out;
  for (const json& l : lb.access_log())
    if (l.value("aborted", false)) out.push_back(l);
  return out;
}

std::string post_head(size_t content_length, std::string_view path = "/upload") {
  return "POST " + std::string(path) + " HTTP/1.1\r\nHost: slow.test\r\nContent-Length: " +
         std::to_string(content_length) + "\r\n\r\n";
}

// A self-signed certificate for the TLS listener (the clients here do not
// verify it: the TLS path, not PKI, is under test).
struct TestCert {
  TempDir dir;
  TestCert() {
    RunResult r = run_command({kOpenssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                               "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", dir.file("k.pem"), "-out",
                               dir.file("c.pem")},
                              20s);
    REQUIRE_MESSAGE(r.status == 0, r.err);
  }
  json tls() const { return {{"certificates", {{{"cert", dir.file("c.pem")}, {"key", dir.file("k.pem")}}}}}; }
};

// A blocking TLS client on a harness Socket: enough to send a request and
// read what comes back, or to stop reading.
class TlsConn {
 public:
  explicit TlsConn(uint16_t port, int rcvbuf = 0) : sock_(Socket::connect(port)) {
    if (!sock_) return;
    if (rcvbuf != 0) sock_.set_rcvbuf(rcvbuf);
    sock_.set_nonblocking(false);
    sock_.set_recv_timeout(5s);
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, sock_.fd());
    SSL_set_tlsext_host_name(ssl_, "localhost");
    ok_ = SSL_connect(ssl_) == 1;
  }
  ~TlsConn() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
  }
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;
  bool ok() const { return ok_; }
  bool send(std::string_view d) { return SSL_write(ssl_, d.data(), static_cast<int>(d.size())) == static_cast<int>(d.size()); }
  // Everything until the peer ends the connection (or 5 s of silence).
  std::string read_to_end() {
    std::string out;
    char buf[16384];
    int n;
    while ((n = SSL_read(ssl_, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  Socket sock_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool ok_ = false;
};

// Clients that ask for a huge response and never read it, with small
// receive buffers so that lb's own write queue fills quickly.
std::vector<Socket> stalled_readers(uint16_t port, int n) {
  std::vector<Socket> out;
  for (int i = 0; i < n; ++i) {
    Socket s = Socket::connect(port);
    REQUIRE(s);
    s.set_rcvbuf(4096);
    REQUIRE(s.send_all("GET /bytes/1000000000 HTTP/1.1\r\nHost: slow.test\r\n\r\n"));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

TEST_SUITE("slow_client") {

TEST_CASE("slow client: half a body then a stall → 408 after body_idle; the server saw the request begin and lb "
          "closed that connection") {
  Backend be = Backend::http(1);
  Lb lb(slow_config(servers_for(be.http_ports()), {{"body_idle", "1s"}}));
  const json before = backend_stats(be.http_port());
  Socket c = Socket::connect(lb.port());
  REQUIRE(c);
  const auto t0 = Clock::now();
  REQUIRE(c.send_all(post_head(100000) + std::string(50000, 'x')));
  auto r = read_http_response(c, 5s);
  const double waited = elapsed_ms(t0);
  REQUIRE(r);
  CHECK(r->status == 408);
  CHECK(is_json_error(*r));
  CHECK(r->body.find("request body timeout") != std::string::npos);
  CHECK(has_token(r->header("Connection"), "close"));
  CHECK(waited >= 900);
  CHECK(waited < 3000);
  CHECK(c.wait_closed(2s) == Io::eof);
  // The server got the head (one more request than before, besides the
  // /stats reads) and lb closed the connection its unfinished request was on.
  const json after = backend_stats(be.http_port());
  CHECK(after.value("requests_total", 0) == before.value("requests_total", 0) + 2);
  CHECK(wait_until([&] { return backend_stats(be.http_port()).value("connections_active", 0) == 1; }, 3s, 20ms));
  auto lines = wait_access_lines(lb, 1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["status"] == 408);
  CHECK(lines[0]["method"] == "POST");
  CHECK(lines[0]["path"] == "/upload");
}

TEST_CASE("slow client: a body that keeps coming, slower than body_idle in total, is not cut") {
  Backend be = Backend::http(1);
  Lb lb(slow_config(servers_for(be.http_ports()), {{"body_idle", "1s"}}));
  Socket c = Socket::connect(lb.port());
  REQUIRE(c);
  // Six pieces 400 ms apart: 2 s in all, never 1 s without a byte.
  constexpr int kPieces = 6;
  REQUIRE(c.send_all(post_head(kPieces * 100, "/anything")));
  const auto t0 = Clock::now();
  for (int i = 0; i < kPieces; ++i) {
    if (i > 0) std::this_thread::sleep_for(400ms);  // the client's pace, not a synchronisation
    REQUIRE(c.send_all(std::string(100, 'a')));
  }
  auto r = read_http_response(c, 5s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(elapsed_ms(t0) >= 1900);
}

TEST_CASE("slow client: a client lb holds back because its server reads slowly is not idle") {
  // The server takes the head, then reads nothing for 2.5 s (body_idle is
  // 1 s), then drains the body and answers. lb stops reading the client
  // meanwhile (backpressure): that wait is the server's, not the client's.
  constexpr size_t kBody = 24u << 20;  // more than the kernel buffers on the way
  ScriptServer slow([&](Socket& conn, int) {
    auto head = read_request_head(conn, 5s);
    if (!head) return;
    std::this_thread::sleep_for(2500ms);  // the slow server's pace
    uint64_t got = conn.buffer().size();
    conn.buffer().clear();
    std::string chunk;
    while (got < kBody && conn.recv_some(chunk, 10s) == Io::ok) {
      got += chunk.size();
      chunk.clear();
    }
    conn.send_all("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(std::to_string(got).size()) + "\r\n\r\n" +
                  std::to_string(got));
  });
  Lb lb(slow_config({server(slow.port())}, {{"body_idle", "1s"}}));
  Socket c = Socket::connect(lb.port());
  REQUIRE(c);
  std::thread sender([&] { c.send_all(post_head(kBody) + std::string(kBody, 'b'), 30s); });
  auto r = read_http_response(c, 30s);
  sender.join();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == std::to_string(kBody));
}

TEST_CASE("slow client: clients that stop reading a large response are closed after send; lb's memory for them "
          "is released") {
  Backend be = Backend::http(1);
  Lb lb(slow_config(servers_for(be.http_ports()), {{"send", "1s"}}));
  REQUIRE(http_get(lb.port(), "/bytes/100000"));  // warm up before the baseline
  const long base = lb.rss_bytes().value_or(0);
  long peak = base;
  for (int round = 0; round < 2; ++round) {  // twice: nothing accumulates from one round to the next
    CAPTURE(round);
    constexpr int kClients = 20;
    const auto t0 = Clock::now();
    std::vector<Socket> readers = stalled_readers(lb.port(), kClients);
    const size_t want = static_cast<size_t>(kClients * (round + 1));
    CHECK(wait_until([&] {
      peak = std::max(peak, lb.rss_bytes().value_or(0));
      return aborted_lines(lb).size() >= want;
    }, 10s, 20ms));
    CHECK(elapsed_ms(t0) >= 900);  // none before `send` passed without progress
    CHECK(wait_until([&] { return listener_connections(lb) == 0; }, 3s, 20ms));
    // (What lb had handed to the kernel still trickles into the tiny
    // windows: the kernel's to send, not lb's to hold.)
  }
  MESSAGE("lb RSS: base " << (base >> 10) << " KiB, peak " << (peak >> 10) << " KiB, after "
                          << (lb.rss_bytes().value_or(0) >> 10) << " KiB");
  // Each stalled client costs lb about one 64 KiB buffer; the worker's pool
  // keeps up to 16 MiB of them for reuse.
  CHECK(peak - base < (24l << 20));
  CHECK(lb.rss_bytes().value_or(0) - base < (20l << 20));
  auto r = http_get(lb.port(), "/bytes/1000");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("slow client: a reader that is slow but steady is not cut by send") {
  Backend be = Backend::http(1);
  Lb lb(slow_config(servers_for(be.http_ports()), {{"send", "1s"}}));
  Socket c = Socket::connect(lb.port());
  REQUIRE(c);
  c.set_rcvbuf(16384);
  constexpr uint64_t kSize = 16u << 20;
  REQUIRE(c.send_all("GET /bytes/" + std::to_string(kSize) + " HTTP/1.1\r\nHost: slow.test\r\n\r\n"));
  // 64 KiB every 50 ms (~1.3 MB/s) for 2.5 s: far longer than `send`, and
  // the response cannot fit in the buffers on the way.
  uint64_t got = 0;
  const auto t0 = Clock::now();
  while (elapsed_ms(t0) < 2500) {
    std::string chunk;
    REQUIRE(c.recv_some(chunk, 2s, 65536) == Io::ok);
    got += chunk.size();
    std::this_thread::sleep_for(50ms);  // the reader's pace
  }
  CHECK(got < kSize);
  CHECK(aborted_lines(lb).empty());
  std::string more;
  CHECK(c.recv_some(more, 2s) == Io::ok);  // still being served
  CHECK(listener_connections(lb) == 1);
}

TEST_CASE("slow client: on a TLS listener, a stalled body gets 408 and a client that stops reading is closed") {
  TestCert cert;
  Backend be = Backend::http(1);
  Lb lb(slow_config(servers_for(be.http_ports()), {{"body_idle", "1s"}, {"send", "1s"}}, cert.tls()));
  {
    TlsConn c(lb.port());
    REQUIRE(c.ok());
    const auto t0 = Clock::now();
    REQUIRE(c.send(post_head(100000) + std::string(30000, 'x')));
    std::string got = c.read_to_end();
    CHECK(elapsed_ms(t0) >= 900);
    CHECK(got.rfind("HTTP/1.1 408 ", 0) == 0);
    CHECK(got.find("Connection: close\r\n") != std::string::npos);
    CHECK(got.find("{\"error\":\"request body timeout\"}") != std::string::npos);
  }
  {
    TlsConn c(lb.port(), 4096);
    REQUIRE(c.ok());
    const auto t0 = Clock::now();
    REQUIRE(c.send("GET /bytes/1000000000 HTTP/1.1\r\nHost: slow.test\r\n\r\n"));
    CHECK(wait_until([&] { return !aborted_lines(lb).empty(); }, 10s, 20ms));
    CHECK(elapsed_ms(t0) >= 900);
    CHECK(wait_until([&] { return listener_connections(lb) == 0; }, 3s, 20ms));
    auto lines = aborted_lines(lb);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["tls"].is_string());
    CHECK(lines[0]["path"] == "/bytes/1000000000");
  }
}

}  // TEST_SUITE
