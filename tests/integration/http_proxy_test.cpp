// tests/integration/http_proxy_test.cpp — L7 (protocol "http") behaviour of the
// real lb binary against the real backend (and, where the backend cannot show
// what lb forwarded, a header-capturing TCP server owned by the test): routing,
// every algorithm's spread as seen through X-Backend-Port, backend keep-alive
// pooling, 32 MiB bodies both ways (Content-Length and chunked, raw sockets and
// curl), WebSocket upgrade, pipelining, stale pooled connections, HEAD/204/304
// framing, Expect: 100-continue, HTTP/1.0, forwarded and hop-by-hop headers,
// client_idle, timeouts and the access log; the Connection header rules (none
// on HTTP/1.1 keep-alive either way), a request_header deadline following a
// longer one, and the client address in X-Forwarded-For and the access log.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "tests/integration/harness.h"

using namespace it;

namespace {

// ---- config builders -----------------------------------------------------------
json http_listener(const std::string& name, const std::string& pool, json extra = json::object()) {
  json l = {{"name", name}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}};
  if (!pool.empty()) l["pool"] = pool;
  for (auto& [k, v] : extra.items()) l[k] = v;
  return l;
}

// One listener "h" on pool "p" over `ports`.
json simple_config(const std::vector<uint16_t>& ports, const std::string& algorithm = "round_robin",
                   json pool_extra = json::object(), json listener_extra = json::object()) {
  return make_config({http_listener("h", "p", listener_extra)},
                     {make_pool("p", algorithm, servers_for(ports), pool_extra)});
}

// ---- HTTP helpers --------------------------------------------------------------
HttpRequest get(const std::string& target, std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest r;
  r.target = target;
  r.headers = std::move(headers);
  return r;
}

// Sends `req` as is on a kept-alive connection and reads one response.
std::optional<HttpResponse> roundtrip(Socket& s, const HttpRequest& req, ms timeout = 5s) {
  if (!s.send_all(req.serialize(), timeout)) return std::nullopt;
  return read_http_response(s, timeout, req.method);
}

int backend_port_of(const HttpResponse& r) {
  auto h = r.header("X-Backend-Port");
  return h ? std::atoi(h->c_str()) : -1;
}

// The backend's own counters, read directly from the backend port (not via lb).
// The /stats request itself counts as one connection and one request.
json backend_stats(uint16_t port) {
  auto r = http_get(port, "/stats", 3s);
  if (!r || r->status != 200) return json::object();
  try {
    return json::parse(r->body);
  } catch (...) {
    return json::object();
  }
}
uint64_t stat_of(uint16_t port, const char* key) { return backend_stats(port).value(key, uint64_t(0)); }

// A TCP connection to 127.0.0.1:port from the local address `src` (e.g.
// 127.0.0.5), so lb sees distinct client addresses.
Socket connect_from(const std::string& src, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Socket();
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, src.c_str(), &a.sin_addr);
  a.sin_port = 0;
  sockaddr_in d{};
  d.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
  d.sin_port = htons(port);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&d), sizeof d) != 0) {
    ::close(fd);
    return Socket();
  }
  return Socket(fd);
}

struct Tally {
  std::map<int, int> counts;  // X-Backend-Port → responses
  int failures = 0;
  std::string first_failure;
  void fail(const std::string& why) {
    if (failures++ == 0) first_failure = why;
  }
  void merge(const Tally& o) {
    for (auto& [k, v] : o.counts) counts[k] += v;
    if (o.failures && failures == 0) first_failure = o.first_failure;
    failures += o.failures;
  }
};

std::string describe(const Tally& t) {
  std::string d = "failures=" + std::to_string(t.failures) + " (" + t.first_failure + ") counts:";
  for (auto& [k, v] : t.counts) d += " " + std::to_string(k) + "=" + std::to_string(v);
  return d;
}

// One request on `s` (reconnecting if needed); counts the answering backend.
void tally_one(Tally& t, Socket& s, uint16_t lb_port, const HttpRequest& req) {
  if (!s) s = Socket::connect(lb_port, 2s);
  auto r = s ? roundtrip(s, req) : std::nullopt;
  if (!r) {
    t.fail(std::string("no response: ") + to_string(s.last_io()));
    s.close();
    return;
  }
  if (r->status != 200) {
    t.fail("status " + std::to_string(r->status));
    return;
  }
  ++t.counts[backend_port_of(*r)];
  if (has_token(r->header("Connection"), "close")) s.close();
}

// n sequential requests over one kept-alive connection.
Tally tally(uint16_t lb_port, int n, const std::function<HttpRequest(int)>& make) {
  Tally t;
  Socket s;
  for (int i = 0; i < n; ++i) tally_one(t, s, lb_port, make(i));
  return t;
}

// execv does not search PATH: the curl binary ($CURL_BIN or the usual places).
std::string curl_bin() {
  std::string env = env_or("CURL_BIN", "");
  if (!env.empty()) return env;
  for (const char* p : {"/usr/bin/curl", "/usr/local/bin/curl", "/bin/curl"})
    if (access(p, X_OK) == 0) return p;
  return "curl";
}

std::string ws_accept(const std::string& key) {
  std::string in = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  unsigned char out[64];
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

// A tiny HTTP/1.1 server owned by the test that records every request head it
// receives (lb → server) and answers 200 "ok" keep-alive. Requests must not
// carry a body. Used where the real backend cannot show what lb forwarded.
class CaptureServer {
 public:
  CaptureServer() {
    lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd_, 64) != 0)
      throw std::runtime_error("capture server: bind/listen failed");
    socklen_t len = sizeof a;
    getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~CaptureServer() {
    stop_ = true;
    thread_.join();
    ::close(lfd_);
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> heads() {
    std::lock_guard<std::mutex> lock(mu_);
    return heads_;
  }

 private:
  void run() {
    struct C {
      int fd;
      std::string buf;
    };
    std::vector<C> conns;
    while (!stop_) {
      std::vector<pollfd> fds{{lfd_, POLLIN, 0}};
      for (auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) conns.push_back({fd, {}});
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        C& c = conns[i - 1];
        char tmp[65536];
        ssize_t n = ::recv(c.fd, tmp, sizeof tmp, 0);
        if (n <= 0) {
          ::close(c.fd);
          c.fd = -1;
          continue;
        }
        c.buf.append(tmp, static_cast<size_t>(n));
        size_t end;
        while ((end = c.buf.find("\r\n\r\n")) != std::string::npos) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            heads_.push_back(c.buf.substr(0, end + 4));
          }
          c.buf.erase(0, end + 4);
          static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Capture: 1\r\n\r\nok";
          ssize_t ignored = ::send(c.fd, resp, sizeof resp - 1, MSG_NOSIGNAL);
          (void)ignored;
        }
      }
      conns.erase(std::remove_if(conns.begin(), conns.end(), [](const C& c) { return c.fd < 0; }), conns.end());
    }
    for (auto& c : conns) ::close(c.fd);
  }

  int lfd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> heads_;
};

// Header lines of a raw request head (names lower-cased) → values.
std::multimap<std::string, std::string> parse_head_headers(const std::string& head) {
  std::multimap<std::string, std::string> out;
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    pos += 2;
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos || e == pos) break;
    std::string line = head.substr(pos, e - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
      out.emplace(lower(line.substr(0, colon)), v);
    }
    pos = e;
  }
  return out;
}

}  // namespace

TEST_SUITE("http_proxy") {

// ---- 1. routing -------------------------------------------------------------------
TEST_CASE("routing: host exact/wildcard/case/port, path_prefix, headers, first match, default pool, 404") {
  Backend be({}, {"0", "0", "0", "0", "0", "0"});
  const uint16_t p_def = be.http_port(0), p_v1 = be.http_port(1), p_api = be.http_port(2),
                 p_wild = be.http_port(3), p_static = be.http_port(4), p_prem = be.http_port(5);
  json routes = json::array({
      {{"host", "api.example.com"}, {"path_prefix", "/v1/"}, {"pool", "api_v1"}},
      {{"host", "api.example.com"}, {"pool", "api"}},
      {{"host", "*.example.com"}, {"pool", "wild"}},
      {{"path_prefix", "/static/"}, {"pool", "static"}},
      {{"headers", {{"X-User-Type", "premium"}}}, {"pool", "premium"}},
  });
  Lb lb(make_config(
      {http_listener("main", "def", {{"routes", routes}}),
       http_listener("nodef", "", {{"routes", json::array({{{"host", "only.example.com"}, {"pool", "api"}}})}})},
      {make_pool("def", "round_robin", {server(p_def)}), make_pool("api_v1", "round_robin", {server(p_v1)}),
       make_pool("api", "round_robin", {server(p_api)}), make_pool("wild", "round_robin", {server(p_wild)}),
       make_pool("static", "round_robin", {server(p_static)}),
       make_pool("premium", "round_robin", {server(p_prem)})}));

  struct Case {
    const char* host;
    const char* path;
    std::vector<std::pair<std::string, std::string>> headers;
    uint16_t want;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"api.example.com", "/v1/users", {}, p_v1, "host + path_prefix"},
      {"api.example.com", "/v2/users", {}, p_api, "host only (path does not match route 0)"},
      {"API.Example.COM", "/other", {}, p_api, "host is case-insensitive"},
      {"api.example.com:8080", "/other", {}, p_api, "port in Host is ignored"},
      {"Api.Example.Com:1", "/v1/x", {}, p_v1, "case + port with path"},
      {"www.example.com", "/", {}, p_wild, "wildcard"},
      {"WWW.EXAMPLE.COM:9999", "/", {}, p_wild, "wildcard, case + port"},
      {"evilexample.com", "/", {}, p_def, "wildcard matches only at a label boundary"},
      {"api.example.com.evil.test", "/", {}, p_def, "host must match the whole name"},
      {"other.test", "/static/app.css", {}, p_static, "path_prefix"},
      {"other.test", "/static", {}, p_def, "path_prefix /static/ does not match /static"},
      {"other.test", "/staticx/a", {}, p_def, "path_prefix is a prefix of the path, not a substring"},
      {"www.example.com", "/static/app.css", {}, p_wild, "first match wins (wildcard before static)"},
      {"api.example.com", "/static/app.css", {}, p_api, "first match wins (host before static)"},
      {"other.test", "/", {{"X-User-Type", "premium"}}, p_prem, "header match"},
      {"other.test", "/", {{"x-user-type", "premium"}}, p_prem, "header names are case-insensitive"},
      {"other.test", "/", {{"X-User-Type", "premium-plus"}}, p_def, "header value must match exactly"},
      {"other.test", "/", {{"X-User-Type", "basic"}}, p_def, "header value mismatch"},
      {"other.test", "/static/x", {{"X-User-Type", "premium"}}, p_static, "first match wins (static before header)"},
      {"other.test", "/", {}, p_def, "default pool"},
  };
  for (const auto& c : cases) {
    HttpRequest req = get(c.path, c.headers);
    req.headers.emplace_back("Host", c.host);
    auto r = http_request(lb.port("main"), req);
    INFO(std::string(c.why) << ": Host " << std::string(c.host) << " " << std::string(c.path));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(backend_port_of(*r) == c.want);
  }

  // Same table over one kept-alive connection: routing is per request.
  Socket s = Socket::connect(lb.port("main"));
  REQUIRE(s.valid());
  for (int round = 0; round < 2; ++round) {
    for (const auto& c : cases) {
      HttpRequest req = get(c.path, c.headers);
      req.headers.emplace_back("Host", c.host);
      auto r = roundtrip(s, req);
      INFO("keep-alive round " << round << ", " << std::string(c.why));
      REQUIRE(r.has_value());
      CHECK(backend_port_of(*r) == c.want);
    }
  }

  // A listener without a default pool: a route still works, no match → 404 JSON.
  {
    HttpRequest req = get("/x", {{"Host", "only.example.com"}});
    auto r = http_request(lb.port("nodef"), req);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(backend_port_of(*r) == p_api);
  }
  for (std::string host : {"other.test", "api.example.com", "x.only.example.com"}) {
    Socket k = Socket::connect(lb.port("nodef"));
    REQUIRE(k.valid());
    auto r = roundtrip(k, get("/x", {{"Host", host}}));
    INFO("no route for Host " << host);
    REQUIRE(r.has_value());
    CHECK(r->status == 404);
    CHECK(is_json_error(*r));
    CHECK_FALSE(r->has_header("X-Backend-Port"));
    // A 404 of lb's own leaves the connection usable (or closes it cleanly).
    if (!has_token(r->header("Connection"), "close")) {
      auto r2 = roundtrip(k, get("/y", {{"Host", "only.example.com"}}), 2s);
      REQUIRE_MESSAGE(r2.has_value(), "no answer to a request after lb's keep-alive 404: "
                                          << std::string(to_string(k.last_io())));
      CHECK(r2->status == 200);
      CHECK(backend_port_of(*r2) == p_api);
    }
  }
}

// ---- 2. algorithms ------------------------------------------------------------------
TEST_CASE("algorithms: per-request distribution seen through X-Backend-Port") {
  SUBCASE("round_robin: 300 requests on one connection, exactly 100 each") {
    Backend be = Backend::http(3);
    Lb lb(simple_config(be.http_ports(), "round_robin"));
    Tally t = tally(lb.port("h"), 300, [](int) { return get("/"); });
    INFO(describe(t));
    CHECK(t.failures == 0);
    for (auto p : be.http_ports()) CHECK(t.counts[p] == 100);
  }
  SUBCASE("weighted_round_robin 5:3:2 over 1000 requests") {
    Backend be = Backend::http(3);
    auto ports = be.http_ports();
    Lb lb(make_config({http_listener("h", "p")},
                      {make_pool("p", "weighted_round_robin",
                                 {server(ports[0], 5), server(ports[1], 3), server(ports[2], 2)})}));
    Tally t = tally(lb.port("h"), 1000, [](int) { return get("/"); });
    INFO(describe(t));
    CHECK(t.failures == 0);
    const double want[3] = {50, 30, 20};
    for (int i = 0; i < 3; ++i) {
      double share = 100.0 * t.counts[ports[i]] / 1000.0;
      INFO("server " << i << " share " << share << "% want " << want[i] << "%");
      CHECK(share >= want[i] - 3);
      CHECK(share <= want[i] + 3);
    }
  }
  SUBCASE("least_connections: a slow server holding requests gets far fewer under concurrency") {
    Backend be({}, {"0", "0:delay=200"});
    const uint16_t fast = be.http_port(0), slow = be.http_port(1);
    Lb lb(simple_config(be.http_ports(), "least_connections"));
    Tally total;
    std::mutex mu;
    auto until = Clock::now() + 1500ms;
    std::vector<std::thread> ts;
    for (int i = 0; i < 6; ++i)
      ts.emplace_back([&] {
        Tally t;
        Socket s;
        while (Clock::now() < until) tally_one(t, s, lb.port("h"), get("/"));
        std::lock_guard<std::mutex> lock(mu);
        total.merge(t);
      });
    for (auto& th : ts) th.join();
    INFO(describe(total));
    CHECK(total.failures == 0);
    CHECK(total.counts[fast] > 100);
    // Round-robin would give the slow server half; least_connections must not.
    CHECK(total.counts[slow] * 10 < total.counts[fast]);
  }
  SUBCASE("least_response_time: prefers the fast server, the slow one is still probed") {
    Backend be({}, {"0", "0:delay=50"});
    const uint16_t fast = be.http_port(0), slow = be.http_port(1);
    Lb lb(simple_config(be.http_ports(), "least_response_time"));
    Tally t = tally(lb.port("h"), 200, [](int) { return get("/"); });
    INFO(describe(t));
    CHECK(t.failures == 0);
    CHECK(t.counts[slow] >= 1);
    CHECK(t.counts[fast] >= 180);
  }
  SUBCASE("ip_hash: same client address → same server; 8 addresses use more than one") {
    Backend be = Backend::http(3);
    Lb lb(simple_config(be.http_ports(), "ip_hash"));
    std::set<int> used;
    for (int a = 2; a <= 9; ++a) {
      std::string src = "127.0.0." + std::to_string(a);
      std::set<int> seen;
      for (int i = 0; i < 5; ++i) {  // a new connection (new source port) each time
        Socket s = connect_from(src, lb.port("h"));
        REQUIRE_MESSAGE(s.valid(), "cannot connect from " << src);
        auto r = roundtrip(s, get("/"));
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        seen.insert(backend_port_of(*r));
        auto r2 = roundtrip(s, get("/again"));  // and a second request on it
        REQUIRE(r2.has_value());
        seen.insert(backend_port_of(*r2));
      }
      INFO("client " << src);
      CHECK(seen.size() == 1);
      used.insert(*seen.begin());
    }
    CHECK(used.size() > 1);
  }
  SUBCASE("consistent_hash on header:X-User") {
    Backend be = Backend::http(3);
    Lb lb(simple_config(be.http_ports(), "consistent_hash", {{"hash_key", "header:X-User"}}));
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    std::set<int> alice;
    for (int i = 0; i < 50; ++i) {
      auto r = roundtrip(s, get("/p" + std::to_string(i), {{"X-User", "alice"}}));
      REQUIRE(r.has_value());
      alice.insert(backend_port_of(*r));
    }
    CHECK(alice.size() == 1);
    std::set<int> used;
    for (int u = 0; u < 20; ++u) {
      std::set<int> seen;
      for (int i = 0; i < 5; ++i) {
        Socket k = Socket::connect(lb.port("h"));  // other connections, same key
        auto r = roundtrip(k, get("/q" + std::to_string(i), {{"X-User", "user-" + std::to_string(u)}}));
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        seen.insert(backend_port_of(*r));
      }
      INFO("user-" << u);
      CHECK(seen.size() == 1);
      used.insert(*seen.begin());
    }
    CHECK(used.size() > 1);
  }
  SUBCASE("consistent_hash on cookie:sid") {
    Backend be = Backend::http(3);
    Lb lb(simple_config(be.http_ports(), "consistent_hash", {{"hash_key", "cookie:sid"}}));
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    std::set<int> used;
    for (int u = 0; u < 20; ++u) {
      std::set<int> seen;
      for (int i = 0; i < 5; ++i) {
        std::string cookie = "a=" + std::to_string(i) + "; sid=s" + std::to_string(u) + "; z=" + std::to_string(i * 7);
        auto r = roundtrip(s, get("/", {{"Cookie", cookie}}));
        REQUIRE(r.has_value());
        seen.insert(backend_port_of(*r));
      }
      INFO("sid s" << u);
      CHECK(seen.size() == 1);
      used.insert(*seen.begin());
    }
    CHECK(used.size() > 1);
  }
  SUBCASE("maglev on path") {
    Backend be = Backend::http(3);
    Lb lb(simple_config(be.http_ports(), "maglev", {{"hash_key", "path"}}));
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    std::set<int> used;
    for (int p = 0; p < 20; ++p) {
      std::set<int> seen;
      for (int i = 0; i < 5; ++i) {
        // The query differs; hash_key "path" ignores it.
        auto r = roundtrip(s, get("/item/" + std::to_string(p) + "?n=" + std::to_string(i),
                                  {{"X-Noise", std::to_string(i)}}));
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        seen.insert(backend_port_of(*r));
      }
      INFO("/item/" << p);
      CHECK(seen.size() == 1);
      used.insert(*seen.begin());
    }
    CHECK(used.size() > 1);
  }
  SUBCASE("random_two_choices: every server is used") {
    Backend be = Backend::http(3);
    Lb lb(simple_config(be.http_ports(), "random_two_choices"));
    Tally t = tally(lb.port("h"), 300, [](int) { return get("/"); });
    INFO(describe(t));
    CHECK(t.failures == 0);
    for (auto p : be.http_ports()) CHECK(t.counts[p] >= 45);
  }
}

// ---- 3. backend keep-alive pool ---------------------------------------------------
TEST_CASE("backend keep-alive: 1000 requests reuse pooled connections; max_idle caps the idle pool") {
  Backend be = Backend::http(2);
  constexpr uint64_t kMaxIdle = 2;
  Lb lb(simple_config(be.http_ports(), "round_robin", {{"keepalive", {{"max_idle", kMaxIdle}, {"idle_timeout", "30s"}}}}));

  // 1000 requests over 4 client connections, one at a time.
  std::vector<Socket> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(Socket::connect(lb.port("h")));
    REQUIRE(clients.back().valid());
  }
  Tally t;
  for (int i = 0; i < 1000; ++i) tally_one(t, clients[i % 4], lb.port("h"), get("/bytes/" + std::to_string(i % 50)));
  INFO(describe(t));
  CHECK(t.failures == 0);
  for (auto p : be.http_ports()) {
    json st = backend_stats(p);
    INFO("backend " << p << " stats " << st.dump());
    // Minus the /stats connection and request themselves.
    CHECK(st.value("connections_total", uint64_t(0)) - 1 <= kMaxIdle);
    CHECK(st.value("requests_total", uint64_t(0)) - 1 == 500);
  }

  // A burst of 8 concurrent slow requests needs more connections; afterwards
  // at most max_idle stay open per server.
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&] {
      Socket s = Socket::connect(lb.port("h"));
      for (int k = 0; k < 3; ++k) {
        auto r = s ? roundtrip(s, get("/delay/100")) : std::nullopt;
        if (r && r->status == 200) ++ok;
      }
    });
  for (auto& th : ts) th.join();
  CHECK(ok == 24);
  uint64_t burst_total = 0;
  for (auto p : be.http_ports()) burst_total += stat_of(p, "connections_total") - 1;
  INFO("backend connections after the burst: " << burst_total);
  CHECK(burst_total > 2 * kMaxIdle);  // the burst really needed more than the idle cap
  for (auto p : be.http_ports()) {
    bool capped = wait_until([&] { return stat_of(p, "connections_active") - 1 <= kMaxIdle; }, 3s, 20ms);
    INFO("backend " << p << " stats " << backend_stats(p).dump());
    CHECK(capped);
  }
}

// ---- 4. large bodies --------------------------------------------------------------
TEST_CASE("32 MiB download and upload through an http listener are byte-identical") {
  Backend be = Backend::http(1);
  Lb lb(simple_config(be.http_ports()));
  constexpr uint64_t kSize = 32ull << 20;

  SUBCASE("download, Content-Length") {
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all(get("/bytes/" + std::to_string(kSize)).serialize()));
    auto head = read_http_head(s, 10s);
    REQUIRE(head.has_value());
    CHECK(head->status == 200);
    CHECK(head->header("Content-Length") == std::optional<std::string>(std::to_string(kSize)));
    uint64_t got = 0;
    bool pattern_ok = true;
    auto t0 = Clock::now();
    while (got < kSize) {
      std::string chunk;
      if (s.recv_some(chunk, 20s, std::min<uint64_t>(1 << 20, kSize - got)) != Io::ok) break;
      if (pattern_ok && !is_pattern(chunk.data(), chunk.size(), got)) pattern_ok = false;
      got += chunk.size();
    }
    MESSAGE("32 MiB Content-Length download in " << elapsed_ms(t0) << " ms");
    CHECK(got == kSize);
    CHECK(pattern_ok);
    // The connection is still usable afterwards.
    auto r = roundtrip(s, get("/status/201"));
    REQUIRE(r.has_value());
    CHECK(r->status == 201);
  }
  SUBCASE("download, chunked") {
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    auto t0 = Clock::now();
    auto r = roundtrip(s, get("/chunked/" + std::to_string(kSize)), 30s);
    MESSAGE("32 MiB chunked download in " << elapsed_ms(t0) << " ms");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body.size() == kSize);
    CHECK(is_pattern(r->body.data(), r->body.size(), 0));
    auto r2 = roundtrip(s, get("/status/202"));
    REQUIRE(r2.has_value());
    CHECK(r2->status == 202);
  }
  SUBCASE("download with curl") {
    TempDir dir;
    std::string out = dir.file("body");
    auto res = run_command({curl_bin(), "-sS", "--http1.1", "-o", out, "-w", "%{http_code} %{size_download}",
                            "http://127.0.0.1:" + std::to_string(lb.port("h")) + "/chunked/" + std::to_string(kSize)},
                           30s);
    INFO("curl: " << res.out << " " << res.err);
    REQUIRE(res.status == 0);
    CHECK(res.out == "200 " + std::to_string(kSize));
    auto body = read_file(out);
    REQUIRE(body.has_value());
    CHECK(body->size() == kSize);
    CHECK(is_pattern(body->data(), body->size(), 0));
  }

  for (bool chunked : {false, true}) {
    CAPTURE(chunked);
    SUBCASE(chunked ? "upload, chunked from the client" : "upload, Content-Length") {
      Socket s = Socket::connect(lb.port("h"));
      REQUIRE(s.valid());
      std::string head = "POST /echo HTTP/1.1\r\nHost: up.test\r\n";
      head += chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: " + std::to_string(kSize) + "\r\n\r\n";
      std::string sent_hash;
      std::atomic<bool> send_ok{true};
      auto t0 = Clock::now();
      std::thread sender([&] {
        Sha256 h;
        XorShift rng(chunked ? 77 : 99);
        if (!s.send_all(head)) {
          send_ok = false;
          return;
        }
        std::vector<uint64_t> words(8192);
        uint64_t sent = 0;
        size_t odd = 1;
        while (sent < kSize) {
          for (auto& w : words) w = rng.next();
          // Varying piece sizes so chunk boundaries fall everywhere.
          size_t len = std::min<uint64_t>(chunked ? 65536 - (odd++ * 977) % 4000 : 65536, kSize - sent);
          const char* p = reinterpret_cast<const char*>(words.data());
          h.update(p, len);
          std::string piece;
          if (chunked) {
            char sz[32];
            snprintf(sz, sizeof sz, "%zx\r\n", len);
            piece = sz;
          }
          piece.append(p, len);
          if (chunked) piece += "\r\n";
          if (!s.send_all(piece, 30s)) {
            send_ok = false;
            return;
          }
          sent += len;
        }
        if (chunked && !s.send_all("0\r\n\r\n")) send_ok = false;
        sent_hash = h.hex();
      });
      auto r = read_http_response(s, 40s);
      sender.join();
      MESSAGE("32 MiB " << std::string(chunked ? "chunked" : "Content-Length") << " upload echoed in "
                        << elapsed_ms(t0) << " ms");
      CHECK(send_ok.load());
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      CHECK(r->body.size() == kSize);
      CHECK(sha256_hex(r->body) == sent_hash);
    }
  }
  SUBCASE("upload with curl") {
    TempDir dir;
    std::string in = dir.file("in"), out = dir.file("out");
    std::string data(kSize, '\0');
    XorShift rng(5);
    for (size_t i = 0; i + 8 <= data.size(); i += 8) {
      uint64_t w = rng.next();
      std::memcpy(&data[i], &w, 8);
    }
    write_file(in, data);
    auto res = run_command({curl_bin(), "-sS", "--http1.1", "--data-binary", "@" + in,
                            "-o", out, "-w", "%{http_code}",
                            "http://127.0.0.1:" + std::to_string(lb.port("h")) + "/echo"},
                           30s);
    INFO("curl: " << res.out << " " << res.err);
    REQUIRE(res.status == 0);
    CHECK(res.out == "200");
    auto body = read_file(out);
    REQUIRE(body.has_value());
    CHECK(body->size() == kSize);
    CHECK(sha256_hex(*body) == sha256_hex(data));
  }
}

// ---- 5. WebSocket -----------------------------------------------------------------
TEST_CASE("WebSocket upgrade: 101 through lb, then raw bytes echo both ways") {
  Backend be = Backend::http(1);
  Lb lb(simple_config(be.http_ports()));
  Socket s = Socket::connect(lb.port("h"));
  REQUIRE(s.valid());
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  REQUIRE(s.send_all("GET /ws HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  auto head = read_http_head(s, 5s);
  REQUIRE(head.has_value());
  CHECK(head->status == 101);
  CHECK(has_token(head->header("Upgrade"), "websocket"));
  CHECK(has_token(head->header("Connection"), "upgrade"));
  CHECK(head->header("Sec-WebSocket-Accept") == std::optional<std::string>(ws_accept(key)));
  CHECK(backend_port_of(*head) == be.http_port());

  // Bytes that would be a malformed HTTP request must pass untouched now.
  for (std::string msg : {std::string("hello websocket"), std::string("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11),
                          std::string("GET / HTTP/1.1\r\n\r\n"), std::string(200000, 'w')}) {
    REQUIRE(s.send_all(msg));
    auto echo = s.recv_exact(msg.size(), 5s);
    INFO("message of " << msg.size() << " bytes: " << std::string(to_string(s.last_io())));
    REQUIRE(echo.has_value());
    CHECK(*echo == msg);
  }
  // Client half-close: the tunnel passes it on, the echo finishes and closes.
  REQUIRE(s.send_all("last"));
  s.shutdown_write();
  auto d = s.recv_until_eof(5s);
  CHECK(d.data == "last");
  CHECK(d.io == Io::eof);
}

// ---- 9. pipelining ------------------------------------------------------------------
TEST_CASE("pipelined requests in one write are answered in order") {
  Backend be = Backend::http(2);
  Lb lb(simple_config(be.http_ports()));
  Socket s = Socket::connect(lb.port("h"));
  REQUIRE(s.valid());
  std::string batch = get("/status/201").serialize() + get("/delay/150").serialize() + get("/bytes/5").serialize() +
                      get("/status/202").serialize();
  HttpRequest post;
  post.method = "POST";
  post.target = "/echo";
  post.body = "pipelined-body";
  batch += post.serialize() + get("/chunked/70000").serialize() + get("/status/203").serialize();
  REQUIRE(s.send_all(batch));
  std::vector<int> statuses;
  std::vector<std::string> bodies;
  for (int i = 0; i < 7; ++i) {
    auto r = read_http_response(s, 5s);
    INFO("response " << i);
    REQUIRE(r.has_value());
    statuses.push_back(r->status);
    bodies.push_back(r->body);
  }
  CHECK(statuses == std::vector<int>{201, 200, 200, 202, 200, 200, 203});
  CHECK(bodies[1] == "delayed 150ms\n");
  CHECK(bodies[2] == std::string("\x07\x26\x45\x64\x83", 5));
  CHECK(bodies[4] == "pipelined-body");
  CHECK(bodies[5].size() == 70000);
  CHECK(is_pattern(bodies[5].data(), bodies[5].size(), 0));
  // Nothing extra follows.
  std::string extra;
  CHECK(s.recv_some(extra, 200ms) == Io::timeout);
}

// ---- 10. pooled connection closed by the server -----------------------------------
TEST_CASE("a backend closing a pooled connection never fails the client's request") {
  Backend be = Backend::http(1);
  const uint16_t bport = be.http_port();

  SUBCASE("X-Close answers then immediate requests on the same client connection") {
    Lb lb(simple_config({bport}, "round_robin", {{"retries", {{"attempts", 0}}}}));
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    for (int i = 0; i < 20; ++i) {
      auto r = roundtrip(s, get("/bytes/10", {{"X-Close", "1"}}));
      INFO("round " << i);
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      // The backend's Connection: close is hop-by-hop; the client stays connected.
      CHECK_FALSE(has_token(r->header("Connection"), "close"));
      for (const char* path : {"/status/200", "/bytes/100"}) {
        auto r2 = roundtrip(s, get(path));
        REQUIRE(r2.has_value());
        CHECK(r2->status == 200);
      }
      HttpRequest post;
      post.method = "POST";
      post.target = "/echo";
      post.body = "after close " + std::to_string(i);
      auto r3 = roundtrip(s, post);
      REQUIRE(r3.has_value());
      CHECK(r3->status == 200);
      CHECK(r3->body == post.body);
    }
  }
  SUBCASE("after the backend closed an idle connection, the next request still succeeds") {
    Lb lb(simple_config({bport}, "round_robin", {{"retries", {{"attempts", 0}}}}));
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    for (int i = 0; i < 5; ++i) {
      auto warm = roundtrip(s, get("/status/200"));
      REQUIRE(warm.has_value());
      auto r = roundtrip(s, get("/status/200", {{"X-Close", "1"}}));
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      // Wait until the backend has really dropped it (only our /stats connection left).
      CHECK(wait_until([&] { return stat_of(bport, "connections_active") == 1; }, 3s, 10ms));
      auto r2 = roundtrip(s, get("/status/201"));
      REQUIRE(r2.has_value());
      CHECK(r2->status == 201);
      HttpRequest post;
      post.method = "POST";
      post.target = "/echo";
      post.body = "post after idle close";
      auto r3 = roundtrip(s, post);
      REQUIRE(r3.has_value());
      CHECK(r3->status == 200);
      CHECK(r3->body == post.body);
    }
  }
  SUBCASE("the backend restarts while lb holds idle pooled connections") {
    Lb lb(simple_config({bport}, "round_robin", {{"retries", {{"attempts", 0}}}}));
    std::vector<Socket> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(Socket::connect(lb.port("h")));
    for (auto& c : clients) {
      auto r = roundtrip(c, get("/status/200"));
      REQUIRE(r.has_value());
    }
    REQUIRE(be.stop() == 0);  // every pooled connection gets the server's FIN
    Backend be2({}, {std::to_string(bport)});
    REQUIRE(be2.http_port() == bport);
    for (int round = 0; round < 3; ++round)
      for (auto& c : clients) {
        HttpRequest post;
        post.method = "POST";
        post.target = "/echo";
        post.body = "after restart";
        auto r = roundtrip(c, round == 1 ? post : get("/status/202"));
        INFO("round " << round);
        REQUIRE(r.has_value());
        CHECK(r->status == (round == 1 ? 200 : 202));
      }
  }
}

// ---- 11. HEAD / 204 / 304 -----------------------------------------------------------
TEST_CASE("HEAD, 204 and 304 are framed without a body; the next response parses") {
  Backend be = Backend::http(1);
  Lb lb(simple_config(be.http_ports()));
  Socket s = Socket::connect(lb.port("h"));
  REQUIRE(s.valid());
  HttpRequest head = get("/bytes/1000");
  head.method = "HEAD";
  HttpRequest head_chunked = get("/chunked/5000");
  head_chunked.method = "HEAD";
  for (int round = 0; round < 2; ++round) {
    {
      auto r = roundtrip(s, head);
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      CHECK(r->header("Content-Length") == std::optional<std::string>("1000"));
      CHECK(r->body.empty());
    }
    {
      auto r = roundtrip(s, head_chunked);
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
    }
    for (int code : {204, 304}) {
      auto r = roundtrip(s, get("/status/" + std::to_string(code)));
      INFO("status " << code);
      REQUIRE(r.has_value());
      CHECK(r->status == code);
    }
    auto r = roundtrip(s, get("/bytes/7"));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body.size() == 7);
  }
  // Pipelined: any stray body byte would corrupt the following status lines.
  std::string batch = head.serialize() + get("/status/204").serialize() + head_chunked.serialize() +
                      get("/status/304").serialize() + get("/status/201").serialize();
  REQUIRE(s.send_all(batch));
  std::vector<std::string> methods{"HEAD", "GET", "HEAD", "GET", "GET"};
  std::vector<int> want{200, 204, 200, 304, 201};
  for (size_t i = 0; i < want.size(); ++i) {
    auto r = read_http_response(s, 5s, methods[i]);
    INFO("pipelined response " << i);
    REQUIRE(r.has_value());
    CHECK(r->status == want[i]);
    CHECK(r->body.empty() == (i != 4));
  }
  std::string extra;
  CHECK(s.recv_some(extra, 200ms) == Io::timeout);
  CHECK(extra.empty());
}

// ---- 12. Expect: 100-continue ---------------------------------------------------------
TEST_CASE("Expect: 100-continue: 100 Continue arrives before the body is sent, then the echo") {
  Backend be = Backend::http(1);
  Lb lb(simple_config(be.http_ports()));
  Socket s = Socket::connect(lb.port("h"));
  REQUIRE(s.valid());
  for (int i = 0; i < 3; ++i) {
    std::string body = "the body " + std::to_string(i) + std::string(1000 * (i + 1), 'x');
    REQUIRE(s.send_all("POST /echo HTTP/1.1\r\nHost: e.test\r\nExpect: 100-continue\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n"));
    auto interim = read_http_head(s, 3s);
    INFO("round " << i);
    REQUIRE(interim.has_value());
    CHECK(interim->status == 100);
    REQUIRE(s.send_all(body));
    auto r = read_http_response(s, 5s);  // skips any further 1xx
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == body);
  }
}

// ---- 13. HTTP/1.0 and client_idle ---------------------------------------------------
TEST_CASE("HTTP/1.0 clients: close by default, keep-alive on request, no chunked framing") {
  Backend be = Backend::http(1);
  Lb lb(simple_config(be.http_ports()));

  SUBCASE("no keep-alive: the connection closes after the response") {
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all("GET /bytes/100 HTTP/1.0\r\n\r\n"));
    auto r = read_http_response(s, 5s);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body.size() == 100);
    Io io = s.wait_closed(3s);
    CHECK(io == Io::eof);
  }
  SUBCASE("Connection: keep-alive keeps it open for more requests") {
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    for (int i = 0; i < 3; ++i) {
      REQUIRE(s.send_all("GET /bytes/" + std::to_string(100 + i) + " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      auto r = read_http_response(s, 5s);
      INFO("request " << i);
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      CHECK(r->body.size() == size_t(100 + i));
      CHECK(has_token(r->header("Connection"), "keep-alive"));
      CHECK(r->header("Content-Length").has_value());
    }
    std::string extra;
    CHECK(s.recv_some(extra, 300ms) == Io::timeout);  // still open, nothing extra
  }
  SUBCASE("a chunked backend response reaches an HTTP/1.0 client unchunked") {
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all("GET /chunked/100000 HTTP/1.0\r\n\r\n"));
    auto head = read_http_head(s, 5s);
    REQUIRE(head.has_value());
    CHECK(head->status == 200);
    CHECK_FALSE(has_token(head->header("Transfer-Encoding"), "chunked"));
    std::string body;
    if (auto cl = head->header("Content-Length")) {
      auto b = s.recv_exact(std::stoul(*cl), 5s);
      REQUIRE(b.has_value());
      body = *b;
    } else {
      auto d = s.recv_until_eof(5s);
      CHECK(d.io == Io::eof);
      body = d.data;
    }
    CHECK(body.size() == 100000);
    CHECK(is_pattern(body.data(), body.size(), 0));
  }
}

TEST_CASE("Connection header: none either way for HTTP/1.1 keep-alive; close and HTTP/1.0 keep-alive still said") {
  Backend be = Backend::http(1);
  Lb lb(simple_config(be.http_ports()));

  SUBCASE("HTTP/1.1 keep-alive: the backend sees no Connection header and the client gets none") {
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    HttpRequest post;
    post.method = "POST";
    post.target = "/echo";
    post.body = "body";
    const std::vector<HttpRequest> reqs = {get("/echo"), post, get("/echo", {{"Connection", "keep-alive"}}),
                                           get("/echo")};
    for (size_t i = 0; i < reqs.size(); ++i) {
      INFO("request " << i);
      auto r = roundtrip(s, reqs[i]);
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      CHECK(r->headers_named("X-Seen-Connection").empty());  // what lb sent the backend
      CHECK_FALSE(r->has_header("Connection"));
    }
    auto chunked = roundtrip(s, get("/chunked/40000"));  // a chunked response keeps the rule
    REQUIRE(chunked.has_value());
    CHECK(chunked->chunked);
    CHECK(chunked->body.size() == 40000);
    CHECK_FALSE(chunked->has_header("Connection"));
    std::string extra;
    CHECK(s.recv_some(extra, 100ms) == Io::timeout);  // still open
  }
  SUBCASE("Connection: close from the client: Connection: close back, then lb closes") {
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    REQUIRE(roundtrip(s, get("/echo")).has_value());  // a keep-alive request first
    auto r = roundtrip(s, get("/echo", {{"Connection", "close"}}));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->headers_named("Connection") == std::vector<std::string>{"close"});
    CHECK(r->headers_named("X-Seen-Connection").empty());  // lb's backend connection stays keep-alive
    CHECK(s.wait_closed(2s) == Io::eof);
  }
  SUBCASE("HTTP/1.0: keep-alive asked → Connection: keep-alive; not asked → Connection: close") {
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = read_http_response(s, 5s);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->headers_named("Connection") == std::vector<std::string>{"keep-alive"});
    CHECK(r->headers_named("X-Seen-Connection").empty());  // lb speaks HTTP/1.1 to the backend
    REQUIRE(s.send_all("GET /echo HTTP/1.0\r\n\r\n"));
    auto last = read_http_response(s, 5s);
    REQUIRE(last.has_value());
    CHECK(last->status == 200);
    CHECK(last->headers_named("Connection") == std::vector<std::string>{"close"});
    CHECK(s.wait_closed(2s) == Io::eof);
  }
}

TEST_CASE("client_idle closes an idle keep-alive connection, not a busy one") {
  Backend be = Backend::http(1);
  Lb lb(simple_config(be.http_ports(), "round_robin", json::object(), {{"timeouts", {{"client_idle", "400ms"}}}}));
  Socket idle = Socket::connect(lb.port("h"));
  REQUIRE(idle.valid());
  auto r = roundtrip(idle, get("/status/200"));
  REQUIRE(r.has_value());
  auto t0 = Clock::now();
  Io io = idle.wait_closed(4s);
  double closed_ms = elapsed_ms(t0);
  INFO("idle connection closed after " << closed_ms << " ms with " << std::string(to_string(io)));
  CHECK((io == Io::eof || io == Io::error));
  CHECK(closed_ms >= 300);
  CHECK(closed_ms < 3000);

  Socket busy = Socket::connect(lb.port("h"));
  REQUIRE(busy.valid());
  auto start = Clock::now();
  int n = 0;
  while (elapsed_ms(start) < 1200) {  // 3× client_idle of steady traffic
    auto rr = roundtrip(busy, get("/status/200"));
    REQUIRE_MESSAGE(rr.has_value(), "busy connection failed after " << elapsed_ms(start) << " ms");
    ++n;
    std::this_thread::sleep_for(100ms);  // pacing, not synchronisation
  }
  CHECK(n >= 5);
}

// The session keeps one deadline and restarts its uv timer only when the new
// deadline is earlier than the timer's: a request_header deadline after a
// pending (longer) client_idle or response deadline must still fire on time,
// and the stale early firing of a timer must not end anything.
TEST_CASE("request_header deadline after a longer pending one: 408 on time; early timer firings end nothing") {
  Backend be = Backend::http(1);
  Lb lb(simple_config(be.http_ports(), "round_robin", json::object(),
                      {{"timeouts", {{"client_idle", "10s"}, {"request_header", "400ms"}}}}));
  const std::string partial = "GET / HTTP/1.1\r\nHost: x\r\n";  // no blank line: the head never ends

  // Sends half a head and expects lb's 408 about request_header later, then the close.
  auto expect_408_on_time = [&](Socket& s) {
    auto t0 = Clock::now();
    REQUIRE(s.send_all(partial));
    auto r = read_http_response(s, 5s);
    double took = elapsed_ms(t0);
    INFO("408 after " << took << " ms");
    REQUIRE(r.has_value());
    CHECK(r->status == 408);
    CHECK(has_token(r->header("Connection"), "close"));
    CHECK(took >= 350);
    CHECK(took < 3000);  // request_header, not the 10 s client_idle
    CHECK(s.wait_closed(2s) == Io::eof);
  };

  SUBCASE("right after a slow response: the 400 ms timer fired mid-exchange, the idle deadline is 10 s") {
    Socket s = connect_from("127.0.0.2", lb.port("h"));
    REQUIRE(s.valid());
    auto r = roundtrip(s, get("/delay/600"));  // outlives the first request's 400 ms head timer
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    expect_408_on_time(s);
  }
  SUBCASE("after an idle pause longer than request_header") {
    Socket s = connect_from("127.0.0.2", lb.port("h"));
    REQUIRE(s.valid());
    auto r = roundtrip(s, get("/status/200"));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(s.wait_closed(700ms) == Io::timeout);  // idle (10 s): open and quiet past the old 400 ms timer
    expect_408_on_time(s);
  }
  // The 408 is logged, with the client's address.
  std::vector<json> lines = wait_access_lines(lb, 2);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].value("status", 0) == 408);
  CHECK(lines[1].value("client", "") == "127.0.0.2");
}

// ---- 14. forwarded and hop-by-hop headers --------------------------------------------
TEST_CASE("forwarded headers and hop-by-hop stripping") {
  Backend be = Backend::http(1);

  SUBCASE("X-Forwarded-*, X-Request-Id via the backend's /echo") {
    Lb lb(simple_config(be.http_ports()));
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    auto r = roundtrip(s, get("/echo", {{"Host", "shop.example.test:8443"}, {"X-Forwarded-For", "1.2.3.4"}}));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->headers_named("X-Seen-X-Forwarded-For") == std::vector<std::string>{"1.2.3.4, 127.0.0.1"});
    CHECK(r->headers_named("X-Seen-X-Forwarded-Proto") == std::vector<std::string>{"http"});
    CHECK(r->headers_named("X-Seen-X-Forwarded-Host") == std::vector<std::string>{"shop.example.test:8443"});
    CHECK(r->headers_named("X-Seen-Host") == std::vector<std::string>{"shop.example.test:8443"});
    auto ids = r->headers_named("X-Seen-X-Request-Id");
    REQUIRE(ids.size() == 1);
    CHECK(std::regex_match(ids[0], std::regex("[0-9a-fA-F]{32}")));

    auto r2 = roundtrip(s, get("/echo"));  // no X-Forwarded-For from the client
    REQUIRE(r2.has_value());
    CHECK(r2->headers_named("X-Seen-X-Forwarded-For") == std::vector<std::string>{"127.0.0.1"});
    auto ids2 = r2->headers_named("X-Seen-X-Request-Id");
    REQUIRE(ids2.size() == 1);
    CHECK(ids2[0] != ids[0]);  // a fresh id per request

    auto r3 = roundtrip(s, get("/echo", {{"X-Request-Id", "client-chosen-id-42"}}));
    REQUIRE(r3.has_value());
    CHECK(r3->headers_named("X-Seen-X-Request-Id") == std::vector<std::string>{"client-chosen-id-42"});

    // Client-side Connection tokens never reach the backend; lb's own
    // upstream connection stays keep-alive.
    auto r4 = roundtrip(s, get("/echo", {{"Connection", "keep-alive, X-Secret"}, {"X-Secret", "1"}}));
    REQUIRE(r4.has_value());
    // The echo backend reflects Connection (not X-Secret: "hop-by-hop headers
    // are removed" checks the named fields on the wire).
    CHECK(r4->headers_named("X-Seen-Connection").empty());
  }
  SUBCASE("Connection: close from clients does not close lb's backend connection") {
    Lb lb(simple_config(be.http_ports()));
    for (int i = 0; i < 10; ++i) {
      Socket s = Socket::connect(lb.port("h"));
      REQUIRE(s.valid());
      auto r = roundtrip(s, get("/echo", {{"Connection", "close, X-Secret"}, {"X-Secret", "1"}, {"Keep-Alive", "5"},
                                          {"Proxy-Authorization", "x"}}));
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      CHECK(r->headers_named("X-Seen-Connection").empty());
      CHECK(s.wait_closed(2s) == Io::eof);  // ... but the client's connection closes
    }
    json st = backend_stats(be.http_port());
    INFO(st.dump());
    CHECK(st.value("connections_total", uint64_t(0)) == 2);  // one pooled connection + our /stats
  }
  SUBCASE("hop-by-hop headers are removed (seen by a capturing server)") {
    CaptureServer cap;
    Lb lb(simple_config({cap.port()}));
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all("GET /hop HTTP/1.1\r\nHost: hop.test\r\nConnection: close, X-Secret, X-Other\r\n"
                       "X-Secret: 1\r\nX-Other: 2\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\n"
                       "Upgrade: foo/1\r\nProxy-Authorization: Basic eDp5\r\nProxy-Connection: keep-alive\r\n"
                       "X-Keep-Me: yes\r\nX-Forwarded-For: 9.9.9.9\r\n\r\n"));
    auto r = read_http_response(s, 5s);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
    REQUIRE(wait_until([&] { return !cap.heads().empty(); }, 3s));
    std::string head = cap.heads().at(0);
    INFO("forwarded head:\n" << head);
    auto h = parse_head_headers(head);
    CHECK(head.rfind("GET /hop HTTP/1.1\r\n", 0) == 0);
    for (const char* gone : {"x-secret", "x-other", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization",
                             "proxy-connection"})
      CHECK_MESSAGE(h.count(gone) == 0, std::string(gone) << " was forwarded");
    for (auto [it, end] = h.equal_range("connection"); it != end; ++it) {
      CHECK(lower(it->second).find("close") == std::string::npos);
      CHECK(lower(it->second).find("x-secret") == std::string::npos);
    }
    CHECK(h.count("x-keep-me") == 1);
    CHECK(h.count("host") == 1);
    CHECK(h.find("host")->second == "hop.test");
    REQUIRE(h.count("x-forwarded-for") == 1);
    CHECK(h.find("x-forwarded-for")->second == "9.9.9.9, 127.0.0.1");
    CHECK(h.count("x-forwarded-proto") == 1);
    CHECK(h.count("x-forwarded-host") == 1);
    CHECK(h.count("x-request-id") == 1);
    CHECK(s.wait_closed(2s) == Io::eof);  // the client asked for close
  }
  SUBCASE("forwarded_headers false adds nothing") {
    CaptureServer cap;
    Lb lb(simple_config({cap.port()}, "round_robin", json::object(), {{"forwarded_headers", false}}));
    auto r = http_request(lb.port("h"), get("/plain", {{"Host", "plain.test"}}));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    REQUIRE(wait_until([&] { return !cap.heads().empty(); }, 3s));
    auto h = parse_head_headers(cap.heads().at(0));
    INFO(cap.heads().at(0));
    CHECK(h.count("x-forwarded-for") == 0);
    CHECK(h.count("x-forwarded-proto") == 0);
    CHECK(h.count("x-forwarded-host") == 0);
    CHECK(h.count("x-request-id") == 0);
    CHECK(h.count("host") == 1);
  }
}

TEST_CASE("client address: X-Forwarded-For and the access log carry the connecting address") {
  Backend be = Backend::http(1);

  SUBCASE("per connection (127.0.0.2, .3) and for every request on it") {
    Lb lb(simple_config(be.http_ports()));
    Socket a = connect_from("127.0.0.2", lb.port("h"));
    REQUIRE(a.valid());
    for (int i = 0; i < 2; ++i) {
      auto r = roundtrip(a, get("/echo"));
      REQUIRE(r.has_value());
      CHECK(r->headers_named("X-Seen-X-Forwarded-For") == std::vector<std::string>{"127.0.0.2"});
    }
    Socket b = connect_from("127.0.0.3", lb.port("h"));
    REQUIRE(b.valid());
    auto rb = roundtrip(b, get("/echo", {{"X-Forwarded-For", "10.1.1.1"}}));
    REQUIRE(rb.has_value());
    CHECK(rb->headers_named("X-Seen-X-Forwarded-For") == std::vector<std::string>{"10.1.1.1, 127.0.0.3"});

    auto lines = wait_access_lines(lb, 3);
    REQUIRE(lines.size() == 3);
    std::multiset<std::string> got;
    for (const json& j : lines) got.insert(j.value("client", ""));
    CHECK(got == std::multiset<std::string>{"127.0.0.2", "127.0.0.2", "127.0.0.3"});
  }
  SUBCASE("a 400 or 408 that ends a fresh connection is logged with its address") {
    // Nothing needed the address before lb's own answer closed the connection.
    Lb lb(simple_config(be.http_ports(), "round_robin", json::object(),
                        {{"timeouts", {{"request_header", "300ms"}}}}));
    Socket c = connect_from("127.0.0.4", lb.port("h"));
    REQUIRE(c.valid());
    REQUIRE(c.send_all("GET / HTTP/1.1\r\nHost : x\r\n\r\n"));
    auto rc = read_http_response(c, 5s);
    REQUIRE(rc.has_value());
    CHECK(rc->status == 400);
    Socket d = connect_from("127.0.0.6", lb.port("h"));  // a head that never ends → 408
    REQUIRE(d.valid());
    REQUIRE(d.send_all("GET / HTTP/1.1\r\nHost: x\r\n"));
    auto rd = read_http_response(d, 3s);
    REQUIRE(rd.has_value());
    CHECK(rd->status == 408);

    auto lines = wait_access_lines(lb, 2);
    REQUIRE(lines.size() == 2);
    std::multiset<std::string> got;
    for (const json& j : lines) got.insert(j.value("client", "") + " " + std::to_string(j.value("status", 0)));
    std::string seen;
    for (const auto& g : got) seen += "[" + g + "] ";
    INFO("client and status per access line: " << seen);
    CHECK(got == std::multiset<std::string>{"127.0.0.4 400", "127.0.0.6 408"});
  }
  SUBCASE("forwarded_headers false: the access log alone asks for it") {
    Lb lb(simple_config(be.http_ports(), "round_robin", json::object(), {{"forwarded_headers", false}}));
    Socket s = connect_from("127.0.0.5", lb.port("h"));
    REQUIRE(s.valid());
    auto r = roundtrip(s, get("/echo"));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->headers_named("X-Seen-X-Forwarded-For").empty());
    auto lines = wait_access_lines(lb, 1);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].value("client", "") == "127.0.0.5");
  }
}

// ---- 15. timeouts and failures ---------------------------------------------------------
TEST_CASE("server failures: response timeout → 504, connect failure retried, all dead → 502/503") {
  SUBCASE("timeouts.response 300ms with a 2 s backend → 504 JSON") {
    Backend be = Backend::http(1);
    Lb lb(simple_config(be.http_ports(), "round_robin",
                        {{"timeouts", {{"response", "300ms"}}}, {"retries", {{"attempts", 0}}}}));
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    auto t0 = Clock::now();
    auto r = roundtrip(s, get("/delay/2000"));
    double took = elapsed_ms(t0);
    REQUIRE(r.has_value());
    INFO("504 after " << took << " ms");
    CHECK(r->status == 504);
    CHECK(is_json_error(*r));
    CHECK(took >= 250);
    CHECK(took < 1500);
    // The pool keeps working for fast requests.
    auto ok = http_get(lb.port("h"), "/delay/10");
    REQUIRE(ok.has_value());
    CHECK(ok->status == 200);
  }
  SUBCASE("a refused connect is retried on the live server") {
    Backend be = Backend::http(1);
    uint16_t dead = free_port();
    REQUIRE_FALSE(port_accepts(dead));
    Lb lb(make_config({http_listener("h", "p")},
                      {make_pool("p", "round_robin", {server(dead), server(be.http_port())},
                                 // Every other pick is the dead server: allow a
                                 // retry for each request (the default budget
                                 // of 20 % would rightly refuse half of them).
                                 {{"retries", {{"attempts", 2}, {"budget_percent", 100}}}})}));
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    for (int i = 0; i < 10; ++i) {
      if (i == 5) s = Socket::connect(lb.port("h"));  // a second client connection
      auto r = roundtrip(s, get("/status/200"));
      INFO("request " << i);
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      CHECK(backend_port_of(*r) == be.http_port());
    }
    // A POST too: a connect failure never sent anything, so it is safe to retry.
    for (int i = 0; i < 4; ++i) {
      HttpRequest post;
      post.method = "POST";
      post.target = "/echo";
      post.body = "payload " + std::to_string(i);
      auto r = roundtrip(s, post);
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
      CHECK(r->body == post.body);
    }
    CHECK_FALSE(port_accepts(dead));
  }
  SUBCASE("timeouts.connect: a server that never completes the handshake → next server, or 502") {
    // A listener with backlog 0 whose single accept-queue slot is taken and
    // never accepted: further SYNs are dropped, so connects hang.
    int bh = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(bh >= 0);
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{bh};
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(bh, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(bh, 0) == 0);
    socklen_t len = sizeof a;
    getsockname(bh, reinterpret_cast<sockaddr*>(&a), &len);
    const uint16_t blackhole = ntohs(a.sin_port);
    Socket filler = Socket::connect(blackhole, 1s);
    REQUIRE(filler.valid());
    Socket probe = Socket::connect(blackhole, 300ms);
    REQUIRE_MESSAGE(!probe.valid(), "the blackhole accepted a connection; cannot test connect timeouts here");
    CHECK(probe.error() == ETIMEDOUT);

    Backend be = Backend::http(1);
    SUBCASE("with a live server beside it") {
      Lb lb(make_config({http_listener("h", "p")},
                        {make_pool("p", "round_robin", {server(blackhole), server(be.http_port())},
                                   {{"timeouts", {{"connect", "200ms"}}},
                                    {"retries", {{"attempts", 2}, {"budget_percent", 100}}}})}));
      Socket s = Socket::connect(lb.port("h"));
      REQUIRE(s.valid());
      double slowest = 0;
      for (int i = 0; i < 4; ++i) {
        auto t0 = Clock::now();
        auto r = roundtrip(s, get("/status/200"));
        slowest = std::max(slowest, elapsed_ms(t0));
        INFO("request " << i);
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK(backend_port_of(*r) == be.http_port());
      }
      INFO("slowest request " << slowest << " ms");
      CHECK(slowest < 1500);  // the 200 ms connect timeout, not the 2 s default
    }
    SUBCASE("alone → 502 soon after the connect timeout") {
      Lb lb(make_config({http_listener("h", "p")},
                        {make_pool("p", "round_robin", {server(blackhole)},
                                   {{"timeouts", {{"connect", "200ms"}}}, {"retries", {{"attempts", 0}}}})}));
      auto t0 = Clock::now();
      auto r = http_get(lb.port("h"), "/x");
      double took = elapsed_ms(t0);
      INFO("answer after " << took << " ms");
      REQUIRE(r.has_value());
      CHECK((r->status == 502 || r->status == 504));
      CHECK(is_json_error(*r));
      CHECK(took >= 150);
      CHECK(took < 1500);
    }
  }
  SUBCASE("every server dead → 502 or 503 JSON") {
    uint16_t dead1 = free_port(), dead2 = free_port();
    REQUIRE_FALSE(port_accepts(dead1));
    REQUIRE_FALSE(port_accepts(dead2));
    Lb lb(make_config({http_listener("h", "p")},
                      {make_pool("p", "round_robin", {server(dead1), server(dead2)}, {{"retries", {{"attempts", 2}}}})}));
    for (int i = 0; i < 3; ++i) {
      auto t0 = Clock::now();
      auto r = http_get(lb.port("h"), "/x");
      INFO("request " << i << " after " << elapsed_ms(t0) << " ms");
      REQUIRE(r.has_value());
      CHECK((r->status == 502 || r->status == 503));
      CHECK(is_json_error(*r));
      if (r->status == 503) CHECK(r->has_header("Retry-After"));
    }
  }
}

// ---- 16. access log -------------------------------------------------------------------
TEST_CASE("access log: one JSON line per HTTP request with the documented fields") {
  Backend be = Backend::http(2);
  Lb lb(make_config({http_listener("web", "p")}, {make_pool("p", "round_robin", servers_for(be.http_ports()))}));
  struct Sent {
    std::string method, path;
    int status;
    size_t body;
  };
  std::vector<Sent> sent;
  Socket s = Socket::connect(lb.port("web"));
  REQUIRE(s.valid());
  for (int i = 0; i < 12; ++i) {
    HttpRequest req;
    switch (i % 4) {
      case 0: req = get("/bytes/" + std::to_string(100 * (i + 1))); break;
      case 1: req = get("/status/" + std::to_string(201 + i % 3)); break;
      case 2:
        req.method = "POST";
        req.target = "/echo";
        req.body = std::string(static_cast<size_t>(500 + i), 'p');
        break;
      default: req = get("/status/404"); break;
    }
    auto r = roundtrip(s, req);
    REQUIRE(r.has_value());
    sent.push_back({req.method, req.target, r->status, r->body.size()});
  }
  auto lines = wait_access_lines(lb, sent.size());
  REQUIRE(lines.size() == sent.size());
  std::set<std::string> servers{Backend::addr(be.http_port(0)), Backend::addr(be.http_port(1))};
  std::multiset<std::string> want, got;
  for (const auto& x : sent) want.insert(x.method + " " + x.path + " " + std::to_string(x.status));
  for (size_t i = 0; i < lines.size(); ++i) {
    const json& j = lines[i];
    INFO(j.dump());
    for (const char* k : {"ts", "listener", "client", "method", "path", "status", "bytes_in", "bytes_out",
                          "duration_ms", "pool", "server", "attempts", "upstream_ms"})
      CHECK_MESSAGE(j.contains(k), "missing " << std::string(k));
    CHECK(j.value("listener", "") == "web");
    CHECK(j.value("pool", "") == "p");
    CHECK(servers.count(j.value("server", "")) == 1);
    CHECK(j.value("client", "").find("127.0.0.1") != std::string::npos);
    CHECK(j.value("attempts", 0) == 1);
    got.insert(j.value("method", "") + " " + j.value("path", "") + " " + std::to_string(j.value("status", 0)));
    // Lines are written in request order on one connection.
    CHECK(j.value("path", "") == sent[i].path);
    CHECK(j.value("bytes_out", uint64_t(0)) >= sent[i].body);
    if (sent[i].method == "POST") CHECK(j.value("bytes_in", uint64_t(0)) >= 500);
    CHECK(j["duration_ms"].is_number());
    CHECK(j["upstream_ms"].is_number());
  }
  CHECK(got == want);
  // One more request on a new connection → exactly one more line.
  auto none = http_get(lb.port("web"), "/after");
  REQUIRE(none.has_value());
  auto more = wait_access_lines(lb, sent.size() + 1);
  CHECK(more.size() == sent.size() + 1);
}

}  // TEST_SUITE
