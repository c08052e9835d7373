// tests/integration/reload_test.cpp — reload (SIGHUP, POST /reload), signals
// and logs of the real lb binary (SPEC sections 2, 5, 6 and 8): 30 reloads
// under HTTP keep-alive, new-connection, long TCP and WebSocket load with no
// failure; live state (health, counters) kept across a reload; invalid files
// and bind failures rejected as a whole; graceful stop (SIGTERM) and the
// immediate second signal; access log lines vs requests across a reload; log
// rotation with SIGUSR1; draining a server under load through the admin API.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/harness.h"

using namespace it;

namespace {

constexpr const char* kToken = "t";

// ---- config builders -----------------------------------------------------------
// A round_robin pool.
json rr_pool(const std::string& name, std::vector<json> servers, json extra = json::object()) {
  return make_pool(name, "round_robin", std::move(servers), std::move(extra));
}

// Listeners and pools plus an admin endpoint with token "t" on a free port.
json config_with_admin(std::vector<json> listeners, std::vector<json> pools, json extra = json::object()) {
  json c = make_config(std::move(listeners), std::move(pools), std::move(extra));
  if (!c.contains("admin")) c["admin"] = {{"listen", "127.0.0.1:0"}, {"token", kToken}};
  return c;
}

json listener(const std::string& name, const std::string& protocol, const std::string& pool,
              const std::string& listen = "127.0.0.1:0") {
  return {{"name", name}, {"listen", listen}, {"protocol", protocol}, {"pool", pool}};
}

json* find_named(json& list, const std::string& name) {
  for (auto& x : list)
    if (x.value("name", "") == name) return &x;
  return nullptr;
}

// ---- admin helpers -------------------------------------------------------------
std::optional<HttpResponse> admin_get(Lb& lb, const std::string& path, ms timeout = 3s) {
  return http_get(*lb.admin_port(), path, timeout);
}

std::optional<HttpResponse> admin_post(Lb& lb, const std::string& path, const std::string& body, ms timeout = 5s) {
  HttpRequest r;
  r.method = "POST";
  r.target = path;
  r.headers = {{"Authorization", std::string("Bearer ") + kToken}, {"Content-Type", "application/json"}};
  r.body = body;
  return http_request(*lb.admin_port(), r, timeout);
}

// GET /stats, parsed; an empty object when unavailable or unparsable.
json stats(Lb& lb) {
  auto r = admin_get(lb, "/stats");
  if (!r || r->status != 200) return json::object();
  try {
    return json::parse(r->body);
  } catch (...) {
    return json::object();
  }
}

uint64_t generation_of(const json& s) {
  return s.contains("generation") && s["generation"].is_number_unsigned() ? s["generation"].get<uint64_t>() : 0;
}

const json* stats_server(const json& s, const std::string& pool, const std::string& address) {
  if (!s.contains("pools")) return nullptr;
  for (const auto& p : s["pools"]) {
    if (p.value("name", "") != pool) continue;
    for (const auto& sv : p["servers"])
      if (sv.value("address", "") == address) return &sv;
  }
  return nullptr;
}

// Polls /stats until generation == want (→ that /stats), or a deadline.
std::optional<json> wait_generation(Lb& lb, uint64_t want, ms timeout = 5s) {
  json last;
  bool ok = wait_until(
      [&] {
        last = stats(lb);
        return generation_of(last) == want;
      },
      timeout, 5ms);
  if (!ok) return std::nullopt;
  return last;
}

// Messages of the error log, in order.
std::vector<std::string> error_msgs(const Lb& lb) {
  std::vector<std::string> out;
  for (const auto& j : lb.error_log())
    if (j.contains("msg") && j["msg"].is_string()) out.push_back(j["msg"].get<std::string>());
  return out;
}

size_t count_msg(const Lb& lb, const std::string& msg) {
  auto m = error_msgs(lb);
  return static_cast<size_t>(std::count(m.begin(), m.end(), msg));
}

// Writes `config` to lb's config file (":0" ports filled in) and sends SIGHUP.
void reload_with(Lb& lb, const json& config) {
  lb.rewrite_config(config);
  REQUIRE(lb.signal(SIGHUP));
}

// ---- HTTP helpers --------------------------------------------------------------
int backend_port_of(const HttpResponse& r) {
  auto h = r.header("X-Backend-Port");
  return h ? std::atoi(h->c_str()) : -1;
}

std::optional<HttpResponse> roundtrip(Socket& s, const HttpRequest& req, ms timeout = 5s) {
  if (!s.send_all(req.serialize(), timeout)) return std::nullopt;
  return read_http_response(s, timeout, req.method);
}

// GET `target` on a new connection; the answering backend port, or -1 when
// the request failed or was not a 200.
int port_of_get(uint16_t port, const std::string& target = "/") {
  auto r = http_get(port, target, 5s);
  if (!r || r->status != 200) return -1;
  return backend_port_of(*r);
}

// Opens a WebSocket through lb to the backend's /ws (then a raw echo).
Socket open_websocket(uint16_t port, std::string* why) {
  Socket s = Socket::connect(port, 2s);
  if (!s) {
    *why = "connect: " + s.error_text();
    return s;
  }
  if (!s.send_all("GET /ws HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")) {
    *why = "send: " + s.error_text();
    return Socket();
  }
  auto head = read_http_head(s, 5s);
  if (!head || head->status != 101) {
    *why = head ? "status " + std::to_string(head->status) : std::string("no 101 response");
    return Socket();
  }
  return s;
}

// A background thread that runs `step` until stopped; step returns "" on
// success or a description of the failure. Counts successes and failures.
class Loop {
 public:
  explicit Loop(std::string name, std::function<std::string(uint64_t)> step)
      : name_(std::move(name)), step_(std::move(step)) {
    thread_ = std::thread([this] {
      for (uint64_t i = 0; !stop_.load(); ++i) {
        std::string err = step_(i);
        if (err.empty()) {
          ok_.fetch_add(1);
        } else {
          std::lock_guard lock(mu_);
          if (failures_.size() < 10) failures_.push_back("#" + std::to_string(i) + " at reload " +
                                                         std::to_string(reload_no.load()) + ": " + err);
          failed_.fetch_add(1);
          if (stop_on_failure) break;
        }
      }
      done_.store(true);
    });
  }
  ~Loop() { stop(); }
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  uint64_t ok() const { return ok_.load(); }
  uint64_t failed() const { return failed_.load(); }
  bool done() const { return done_.load(); }
  std::string describe() {
    std::lock_guard lock(mu_);
    std::string d = name_ + ": ok=" + std::to_string(ok_.load()) + " failed=" + std::to_string(failed_.load());
    for (auto& f : failures_) d += "\n  " + f;
    return d;
  }

  static inline std::atomic<int> reload_no{0};
  bool stop_on_failure = false;

 private:
  std::string name_;
  std::function<std::string(uint64_t)> step_;
  std::atomic<bool> stop_{false}, done_{false};
  std::atomic<uint64_t> ok_{0}, failed_{0};
  std::mutex mu_;
  std::vector<std::string> failures_;
  std::thread thread_;
};

// Joins a thread when the scope ends, also when a REQUIRE throws.
struct Joined {
  std::thread t;
  template <class F>
  explicit Joined(F&& f) : t(std::forward<F>(f)) {}
  void join() {
    if (t.joinable()) t.join();
  }
  ~Joined() { join(); }
};

}  // namespace

TEST_SUITE("reload") {

// ---- a. 30 reloads under load --------------------------------------------------------
TEST_CASE("30 reloads under keep-alive, new-connection, TCP and WebSocket load: nothing fails") {
  // http ports 0,1 are pool p in A; B adds port 2 to p, a pool q (port 2) and
  // a listener "extra" for q.
  Backend be({"0"}, {"0", "0", "0"});
  const auto h = be.http_ports();
  const uint16_t echo = be.echo_port();
  Lb lb(config_with_admin({listener("web", "http", "p"), listener("tcp", "tcp", "t")},
                    {rr_pool("p", servers_for({h[0], h[1]})), rr_pool("t", {server(echo)})},
                    {{"workers", 2}, {"shutdown_timeout", "5s"}}));
  const uint16_t web = lb.port("web"), tcp = lb.port("tcp");
  const uint16_t extra = free_port();

  const json config_a = lb.config();  // ports filled in: reused verbatim on every reload
  json config_b = config_a;
  find_named(config_b["pools"], "p")->at("servers").push_back(server(h[2]));
  config_b["pools"].push_back(rr_pool("q", {server(h[2])}));
  config_b["listeners"].push_back(listener("extra", "http", "q", "127.0.0.1:" + std::to_string(extra)));

  const std::set<int> known{h[0], h[1], h[2]};
  auto check_response = [&](const std::optional<HttpResponse>& r, const char* what) -> std::string {
    if (!r) return std::string(what) + ": no response";
    if (r->status != 200) return std::string(what) + ": status " + std::to_string(r->status) + " " + r->body;
    if (!known.count(backend_port_of(*r)))
      return std::string(what) + ": unexpected X-Backend-Port " + std::to_string(backend_port_of(*r));
    return "";
  };

  // (1) two keep-alive clients.
  std::atomic<int> ka_connects{0};
  auto keepalive = [&](int id) {
    auto sock = std::make_shared<Socket>();
    return [&, id, sock](uint64_t i) -> std::string {
      if (!sock->valid()) {
        ka_connects.fetch_add(1);
        *sock = Socket::connect(web, 2s);
        if (!sock->valid()) return "keep-alive connect: " + sock->error_text();
      }
      HttpRequest req;
      req.target = "/ka/" + std::to_string(id) + "/" + std::to_string(i);
      auto r = roundtrip(*sock, req);
      std::string err = check_response(r, "keep-alive");
      if (!err.empty()) {
        err += std::string(" (") + to_string(sock->last_io()) + " " + sock->error_text() + ")";
        sock->close();
        return err;
      }
      // A server may end keep-alive politely (Connection: close); that is not a failure.
      auto conn = r->header("Connection");
      if (conn && lower(*conn).find("close") != std::string::npos) sock->close();
      return "";
    };
  };
  Loop ka1("keep-alive 1", keepalive(1));
  Loop ka2("keep-alive 2", keepalive(2));
  // (2) a new connection per request.
  Loop fresh("new connections", [&](uint64_t i) -> std::string {
    Socket s = Socket::connect(web, 2s);
    if (!s) return "connect: " + s.error_text();
    HttpRequest req;
    req.target = "/fresh/" + std::to_string(i);
    req.headers = {{"Connection", "close"}};
    auto r = roundtrip(s, req);
    std::string err = check_response(r, "new connection");
    if (!err.empty()) err += std::string(" (") + to_string(s.last_io()) + " " + s.error_text() + ")";
    // Pacing (≤ ~500 connections/s), not synchronisation: keeps the TIME_WAIT
    // sockets this leaves behind far from the ephemeral port range.
    std::this_thread::sleep_for(2ms);
    return err;
  });
  // (3) one long TCP session, (4) one WebSocket: a message every ~50 ms.
  Socket tcp_sock = Socket::connect(tcp, 2s);
  REQUIRE_MESSAGE(tcp_sock.valid(), tcp_sock.error_text());
  std::string ws_why;
  Socket ws_sock = open_websocket(web, &ws_why);
  REQUIRE_MESSAGE(ws_sock.valid(), ws_why);
  auto echo_step = [](Socket& s, const char* tag) {
    return [&s, tag](uint64_t i) -> std::string {
      std::string msg = std::string(tag) + "-" + std::to_string(i) + "-" + std::string(i % 97 + 1, 'x') + "\n";
      if (!s.send_all(msg, 3s)) return "send: " + s.error_text();
      auto back = s.recv_exact(msg.size(), 3s);
      if (!back) return std::string("no echo: ") + to_string(s.last_io()) + " " + s.error_text();
      if (*back != msg) return "echo mismatch: got " + *back;
      std::this_thread::sleep_for(50ms);  // pacing, not synchronisation
      return "";
    };
  };
  Loop tcp_loop("tcp session", echo_step(tcp_sock, "tcp"));
  tcp_loop.stop_on_failure = true;
  Loop ws_loop("websocket", echo_step(ws_sock, "ws"));
  ws_loop.stop_on_failure = true;

  std::vector<Loop*> loops{&ka1, &ka2, &fresh, &tcp_loop, &ws_loop};
  auto progress = [&] {
    std::vector<uint64_t> v;
    for (auto* l : loops) v.push_back(l->ok() + l->failed());
    return v;
  };
  // Every load has made progress since `since` (so each reload lands under load).
  auto all_moved = [&](const std::vector<uint64_t>& since) {
    auto now = progress();
    for (size_t i = 0; i < now.size(); ++i)
      if (now[i] <= since[i] && !loops[i]->done()) return false;
    return true;
  };
  auto describe_all = [&] {
    std::string d;
    for (auto* l : loops) d += l->describe() + "\n";
    return d;
  };
  REQUIRE_MESSAGE(wait_until([&] { return all_moved({0, 0, 0, 0, 0}); }, 10s), describe_all());

  auto t0 = Clock::now();
  int extra_checks = 0;
  std::string extra_failure, reload_failure;
  for (int n = 1; n <= 30 && reload_failure.empty(); ++n) {
    Loop::reload_no = n;
    bool to_b = n % 2 == 1;
    auto before = progress();
    reload_with(lb, to_b ? config_b : config_a);
    auto s = wait_generation(lb, uint64_t(n) + 1);
    if (!s) {
      reload_failure = "reload " + std::to_string(n) + " did not reach generation " + std::to_string(n + 1) +
                       "; /stats: " + stats(lb).dump();
      break;
    }
    if (!(*s)["last_reload"].value("ok", false)) reload_failure = "reload " + std::to_string(n) + ": " + s->dump();
    if (to_b) {
      // The new listener answers, from pool q (port 2 only).
      int p = port_of_get(extra, "/extra/" + std::to_string(n));
      ++extra_checks;
      if (p != h[2] && extra_failure.empty())
        extra_failure = "reload " + std::to_string(n) + ": extra listener answered from " + std::to_string(p);
    } else if (!wait_until([&] { return !pid_listens_on(lb.pid(), extra); }, 10s) && extra_failure.empty()) {
      extra_failure = "reload " + std::to_string(n) + ": removed listener still listening";
    }
    // Let every load run across this configuration before the next reload.
    if (!wait_until([&] { return all_moved(before); }, 5s)) {
      reload_failure = "reload " + std::to_string(n) + ": load stalled\n" + describe_all();
      break;
    }
  }
  double reload_ms = elapsed_ms(t0);

  // The long sessions are still open: one more echo each, then stop them.
  tcp_loop.stop();
  ws_loop.stop();
  ka1.stop();
  ka2.stop();
  fresh.stop();
  MESSAGE("30 reloads in " << reload_ms << " ms; keep-alive connections opened: " << ka_connects.load() << "\n"
                            << describe_all());
  INFO(describe_all());
  INFO(lb.diagnostics());
  CHECK_MESSAGE(reload_failure.empty(), reload_failure);
  CHECK_MESSAGE(extra_failure.empty(), extra_failure);
  CHECK(extra_checks == 15);
  for (auto* l : loops) CHECK_MESSAGE(l->failed() == 0, l->describe());
  CHECK(ka1.ok() > 30);
  CHECK(ka2.ok() > 30);
  CHECK(fresh.ok() > 30);
  CHECK(tcp_loop.ok() >= 30);
  CHECK(ws_loop.ok() >= 30);
  for (auto [sock, tag] : {std::pair<Socket*, const char*>{&tcp_sock, "tcp-final"}, {&ws_sock, "ws-final"}}) {
    std::string msg = std::string(tag) + "\n";
    INFO(tag);
    CHECK(sock->send_all(msg, 3s));
    CHECK(sock->recv_exact(msg.size(), 3s) == std::optional<std::string>(msg));
  }
  json s = stats(lb);
  CHECK(generation_of(s) == 31);
  CHECK(s["last_reload"].value("ok", false) == true);
  // Back on A: pool p has its two servers, no pool q, no listener "extra".
  CHECK_FALSE(pid_listens_on(lb.pid(), extra));
  std::set<std::string> pools, listeners;
  for (const auto& p : s["pools"]) pools.insert(p.value("name", ""));
  for (const auto& l : s["listeners"]) listeners.insert(l.value("name", ""));
  CHECK(pools == std::set<std::string>{"p", "t"});
  CHECK(listeners == std::set<std::string>{"web", "tcp"});
  CHECK(count_msg(lb, "reload failed") == 0);
  CHECK(lb.running());
}

// ---- b. live state survives a reload -------------------------------------------------
TEST_CASE("a server's health state and request counter survive a reload") {
  Backend be = Backend::http(2);
  const auto h = be.http_ports();
  // interval 30s: after the first check (within ~100 ms of start) no other
  // check runs during the test, so "passing" after the reload can only be the
  // kept state, never a fresh check.
  json hc = {{"type", "http"}, {"path", "/health"}, {"interval", "30s"}, {"timeout", "1s"}, {"rise", 1}, {"fall", 1}};
  Lb lb(config_with_admin({listener("web", "http", "p")}, {rr_pool("p", {server(h[0])}, {{"health_check", hc}})}));
  const std::string a0 = Backend::addr(h[0]), a1 = Backend::addr(h[1]);
  auto status_of = [&](const json& s, const std::string& addr) {
    const json* sv = stats_server(s, "p", addr);
    return sv ? sv->at("health").value("status", "") : std::string("(absent)");
  };
  REQUIRE_MESSAGE(wait_until([&] { return status_of(stats(lb), a0) == "passing"; }, 5s), stats(lb).dump());

  constexpr int kN = 20;
  for (int i = 0; i < kN; ++i) REQUIRE(port_of_get(lb.port("web")) == h[0]);
  json before = stats(lb);
  const json* sv0 = stats_server(before, "p", a0);
  REQUIRE(sv0 != nullptr);
  uint64_t n_before = sv0->value("requests_total", uint64_t(0));
  CHECK(n_before >= uint64_t(kN));
  uint64_t gen = generation_of(before);
  REQUIRE(gen >= 1);

  // Reload: pool p gains a second server.
  json next = lb.config();
  next["pools"][0]["servers"].push_back(server(h[1]));
  reload_with(lb, next);
  auto after = wait_generation(lb, gen + 1);
  REQUIRE_MESSAGE(after.has_value(), stats(lb).dump() << "\n" << lb.diagnostics());
  INFO(after->dump());
  CHECK((*after)["last_reload"].value("ok", false));
  const json* kept = stats_server(*after, "p", a0);
  REQUIRE(kept != nullptr);
  CHECK(kept->value("requests_total", uint64_t(0)) >= n_before);
  CHECK(kept->at("health").value("status", "") == "passing");
  CHECK(kept->value("state", "") == "up");
  // The new server is checked and then joins the rotation.
  CHECK(wait_until([&] { return status_of(stats(lb), a1) == "passing"; }, 5s));
  std::set<int> seen;
  for (int i = 0; i < 10; ++i) seen.insert(port_of_get(lb.port("web")));
  CHECK(seen == std::set<int>{h[0], h[1]});
  json last = stats(lb);
  CHECK(stats_server(last, "p", a0)->value("requests_total", uint64_t(0)) >= n_before + 5);
  CHECK(status_of(last, a0) == "passing");
}

// ---- c. invalid files ---------------------------------------------------------------
TEST_CASE("an invalid file changes nothing; fixing it and reloading applies it") {
  Backend be = Backend::http(3);
  const auto h = be.http_ports();
  Lb lb(config_with_admin({listener("web", "http", "p")}, {rr_pool("p", servers_for({h[0], h[1]}))}));
  const json good = lb.config();
  const uint16_t web = lb.port("web");
  auto serves_old = [&] {
    std::set<int> seen;
    for (int i = 0; i < 6; ++i) seen.insert(port_of_get(web));
    return seen;
  };
  REQUIRE(serves_old() == std::set<int>{h[0], h[1]});
  REQUIRE(generation_of(stats(lb)) == 1);

  auto wait_failed_count = [&](size_t n) { return wait_until([&] { return count_msg(lb, "reload failed") >= n; }, 5s); };

  SUBCASE("JSON syntax error, then a semantic error (weight 0), then a dangling pool via POST /reload") {
    // 1. Not JSON at all.
    write_file(lb.config_path(), "{\"listeners\": [ { \"name\": \"web\", ");
    REQUIRE(lb.signal(SIGHUP));
    REQUIRE_MESSAGE(wait_failed_count(1), lb.diagnostics());
    json s = stats(lb);
    INFO(s.dump());
    CHECK(generation_of(s) == 1);
    CHECK(s["last_reload"].value("ok", true) == false);
    CHECK(s["last_reload"]["error"].is_string());
    CHECK_FALSE(s["last_reload"].value("error", "").empty());
    CHECK(serves_old() == std::set<int>{h[0], h[1]});
    for (const auto& j : lb.error_log())
      if (j.value("msg", "") == "reload failed") CHECK(j.value("level", "") == "error");

    // 2. Valid JSON, invalid value: weight 0 on the second server, plus a
    // change that would be visible (a third server) if anything applied.
    json bad = good;
    bad["pools"][0]["servers"][1]["weight"] = 0;
    bad["pools"][0]["servers"].push_back(server(h[2]));
    write_file(lb.config_path(), bad.dump(2));
    REQUIRE(lb.signal(SIGHUP));
    REQUIRE_MESSAGE(wait_failed_count(2), lb.diagnostics());
    s = stats(lb);
    CHECK(generation_of(s) == 1);
    CHECK(s["last_reload"].value("ok", true) == false);
    CHECK_MESSAGE(s["last_reload"].value("error", "").find("/pools/0/servers/1/weight") != std::string::npos,
                  s["last_reload"].dump());
    CHECK(serves_old() == std::set<int>{h[0], h[1]});

    // 3. A listener naming a pool that does not exist, through POST /reload.
    json dangling = good;
    dangling["listeners"][0]["pool"] = "nope";
    write_file(lb.config_path(), dangling.dump(2));
    auto r = admin_post(lb, "/reload", "");
    REQUIRE(r.has_value());
    CHECK(r->status == 422);
    json body = json::parse(r->body, nullptr, false);
    INFO(r->body);
    CHECK(body.value("ok", true) == false);
    CHECK(body.value("error", "").find("/listeners/0/pool") != std::string::npos);
    CHECK(wait_failed_count(3));
    s = stats(lb);
    CHECK(generation_of(s) == 1);
    CHECK(s["last_reload"].value("ok", true) == false);
    CHECK(s["last_reload"].value("error", "").find("/listeners/0/pool") != std::string::npos);
    CHECK(serves_old() == std::set<int>{h[0], h[1]});
  }
  SUBCASE("a dangling pool reference via SIGHUP") {
    json dangling = good;
    dangling["listeners"][0]["pool"] = "nope";
    write_file(lb.config_path(), dangling.dump(2));
    REQUIRE(lb.signal(SIGHUP));
    REQUIRE_MESSAGE(wait_failed_count(1), lb.diagnostics());
    json s = stats(lb);
    INFO(s.dump());
    CHECK(generation_of(s) == 1);
    CHECK(s["last_reload"].value("ok", true) == false);
    CHECK(s["last_reload"].value("error", "").find("/listeners/0/pool") != std::string::npos);
    CHECK(serves_old() == std::set<int>{h[0], h[1]});
  }

  // Fixed: a valid file with a third server → generation 2, all three serve.
  json fixed = good;
  fixed["pools"][0]["servers"].push_back(server(h[2]));
  reload_with(lb, fixed);
  auto s = wait_generation(lb, 2);
  REQUIRE_MESSAGE(s.has_value(), stats(lb).dump() << "\n" << lb.diagnostics());
  CHECK((*s)["last_reload"].value("ok", false) == true);
  CHECK((*s)["last_reload"]["error"].is_null());
  std::set<int> seen;
  for (int i = 0; i < 9; ++i) seen.insert(port_of_get(web));
  CHECK(seen == std::set<int>{h[0], h[1], h[2]});
  // POST /reload of the same good file: 200 with the next generation.
  auto r = admin_post(lb, "/reload", "");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  json body = json::parse(r->body, nullptr, false);
  INFO(r->body);
  CHECK(body.value("ok", false) == true);
  CHECK(body.value("generation", 0) == 3);
  CHECK(generation_of(stats(lb)) == 3);
}

// ---- d. bind failure ----------------------------------------------------------------
TEST_CASE("a reload whose new listener cannot bind is rejected as a whole") {
  Backend be = Backend::http(2);
  const auto h = be.http_ports();
  Lb lb(config_with_admin({listener("web", "http", "p")}, {rr_pool("p", {server(h[0])})}));
  const uint16_t web = lb.port("web");
  HeldListener held;  // no SO_REUSEPORT: nobody else can bind the port
  const uint16_t n1_port = free_port();

  // New listener n1 (free port, listed first, so it binds before n2 fails),
  // n2 on the port the test holds, and a second server for pool p.
  json next = lb.config();
  next["listeners"].push_back(listener("n1", "http", "p", "127.0.0.1:" + std::to_string(n1_port)));
  next["listeners"].push_back(listener("n2", "http", "p", "127.0.0.1:" + std::to_string(held.port())));
  next["pools"][0]["servers"].push_back(server(h[1]));
  reload_with(lb, next);
  REQUIRE_MESSAGE(wait_until([&] { return count_msg(lb, "reload failed") >= 1; }, 5s), lb.diagnostics());
  json s = stats(lb);
  INFO(s.dump());
  CHECK(generation_of(s) == 1);
  CHECK(s["last_reload"].value("ok", true) == false);
  CHECK_MESSAGE(s["last_reload"].value("error", "").find(std::to_string(held.port())) != std::string::npos,
                "the error should name the address that failed to bind");
  CHECK(s["listeners"].size() == 1);
  // Nothing of the new configuration is in effect: n1 is not bound, p still
  // has one server.
  CHECK_FALSE(pid_listens_on(lb.pid(), n1_port));
  CHECK_FALSE(port_accepts(n1_port));
  for (int i = 0; i < 6; ++i) CHECK(port_of_get(web) == h[0]);

  // The port freed: the same file now loads.
  held.release();
  REQUIRE(lb.signal(SIGHUP));
  auto ok = wait_generation(lb, 2);
  REQUIRE_MESSAGE(ok.has_value(), stats(lb).dump() << "\n" << lb.diagnostics());
  CHECK((*ok)["last_reload"].value("ok", false) == true);
  CHECK(port_of_get(n1_port) > 0);
  CHECK(port_of_get(held.port()) > 0);
  std::set<int> seen;
  for (int i = 0; i < 6; ++i) seen.insert(port_of_get(web));
  CHECK(seen == std::set<int>{h[0], h[1]});
}

// ---- e. SIGTERM with a slow request in flight -----------------------------------------
TEST_CASE("SIGTERM during a slow request: it completes 200, /ready 503, new connections refused, exit 0") {
  Backend be = Backend::http(1);
  Lb lb(config_with_admin({listener("web", "http", "p")}, {rr_pool("p", {server(be.http_port())})},
                    {{"shutdown_timeout", "10s"}}));
  const uint16_t web = lb.port("web");
  const std::string addr = Backend::addr(be.http_port());
  REQUIRE(wait_until([&] { auto r = admin_get(lb, "/ready"); return r && r->status == 200; }, 5s));

  std::optional<HttpResponse> slow;
  std::atomic<bool> slow_done{false};
  auto t0 = Clock::now();
  Joined client([&] {
    slow = http_get(web, "/delay/1500", 10s);
    slow_done = true;
  });
  // In flight: lb counts one active request on the server.
  bool in_flight = wait_until(
      [&] {
        json st = stats(lb);
        const json* sv = stats_server(st, "p", addr);
        return sv && sv->value("connections_active", 0) >= 1;
      },
      3s);
  if (!in_flight) {
    client.join();
    FAIL("the slow request never showed as active in /stats: " << stats(lb).dump());
  }
  REQUIRE(lb.signal(SIGTERM));
  auto t_sig = Clock::now();
  // /ready turns 503 while the request is still running.
  std::optional<int> ready_status;
  bool got_503 = wait_until(
      [&] {
        auto r = admin_get(lb, "/ready", 1s);
        ready_status = r ? std::optional<int>(r->status) : std::nullopt;
        return ready_status == 503;
      },
      1s);
  bool still_running = !slow_done.load();
  CHECK_MESSAGE(got_503, "/ready answered " << (ready_status ? std::to_string(*ready_status) : "nothing"));
  CHECK_MESSAGE(still_running, "the slow request ended before /ready could be checked");
  // The listener closes; a new connection is refused or closed without an answer.
  CHECK(wait_until([&] { return !pid_listens_on(lb.pid(), web); }, 2s));
  {
    Socket s = Socket::connect(web, 1s);
    if (s.valid()) {
      s.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1s);
      auto r = read_http_response(s, 2s);
      CHECK_MESSAGE(!r.has_value(), "a connection made after SIGTERM got a response: " << r->status);
    } else {
      CHECK(s.error() == ECONNREFUSED);
    }
  }
  CHECK(lb.running());
  client.join();
  double took = elapsed_ms(t0);
  REQUIRE(slow.has_value());
  CHECK(slow->status == 200);
  CHECK(slow->body.rfind("delayed 1500ms", 0) == 0);
  CHECK(took >= 1400);
  auto status = lb.wait(5s);
  INFO("exit after " << elapsed_ms(t_sig) << " ms; " << lb.diagnostics());
  CHECK(status == 0);
  auto msgs = error_msgs(lb);
  CHECK(std::count(msgs.begin(), msgs.end(), "stopped") == 1);
}

// ---- f. second SIGTERM ---------------------------------------------------------------
TEST_CASE("a second SIGTERM exits at once, without waiting for the slow request") {
  Backend be = Backend::http(1);
  Lb lb(config_with_admin({listener("web", "http", "p")}, {rr_pool("p", {server(be.http_port())})},
                    {{"shutdown_timeout", "20s"}}));
  const std::string addr = Backend::addr(be.http_port());
  std::optional<HttpResponse> slow;
  auto t0 = Clock::now();
  Joined client([&] { slow = http_get(lb.port("web"), "/delay/5000", 15s); });
  bool in_flight = wait_until(
      [&] {
        json st = stats(lb);
        const json* sv = stats_server(st, "p", addr);
        return sv && sv->value("connections_active", 0) >= 1;
      },
      3s);
  if (!in_flight) {
    client.join();
    FAIL("the slow request never showed as active in /stats");
  }
  REQUIRE(lb.signal(SIGTERM));
  // The first signal is being handled: /ready says 503.
  CHECK(wait_until([&] { auto r = admin_get(lb, "/ready", 1s); return r && r->status == 503; }, 2s));
  CHECK(lb.running());
  auto t2 = Clock::now();
  REQUIRE(lb.signal(SIGTERM));
  auto status = lb.wait(3s);
  double exit_ms = elapsed_ms(t2);
  double since_request = elapsed_ms(t0);
  INFO("exit " << (status ? std::to_string(*status) : "none") << " " << exit_ms << " ms after the 2nd signal, "
               << since_request << " ms after the request started; " << lb.diagnostics());
  REQUIRE(status.has_value());
  CHECK(exit_ms < 1000);
  CHECK(since_request < 4000);
  // Not a crash: a clean exit (or death by the signal itself).
  CHECK((*status < 128 || *status == 128 + SIGTERM));
  client.join();
  // The cut request did not get its 200.
  CHECK_FALSE((slow.has_value() && slow->status == 200));
}

// ---- g. access log across a reload ---------------------------------------------------
TEST_CASE("access log: every line is JSON and there is one per request, across a reload") {
  Backend be = Backend::http(2);
  const auto h = be.http_ports();
  Lb lb(config_with_admin({listener("web", "http", "p")}, {rr_pool("p", {server(h[0])})}));
  const uint16_t web = lb.port("web");
  std::multiset<std::string> sent;
  Socket ka = Socket::connect(web);
  REQUIRE(ka.valid());
  auto on_keepalive = [&](const std::string& path) {
    HttpRequest req;
    req.target = path;
    auto r = roundtrip(ka, req);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    sent.insert(path);
  };
  auto on_new = [&](const std::string& path) {
    auto r = http_get(web, path);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    sent.insert(path);
  };
  for (int i = 0; i < 8; ++i) on_keepalive("/g/ka/" + std::to_string(i));
  for (int i = 0; i < 8; ++i) on_new("/g/new/" + std::to_string(i));

  json next = lb.config();
  next["pools"][0]["servers"].push_back(server(h[1]));
  reload_with(lb, next);
  REQUIRE(wait_generation(lb, 2).has_value());

  // The kept-alive connection goes on after the reload; new ones too.
  for (int i = 8; i < 16; ++i) on_keepalive("/g/ka/" + std::to_string(i));
  for (int i = 8; i < 16; ++i) on_new("/g/new/" + std::to_string(i));
  ka.close();
  const size_t n = sent.size();

  auto web_lines = [&] {
    std::vector<json> out;
    for (const auto& j : lb.access_log())
      if (j.value("listener", "") == "web") out.push_back(j);
    return out;
  };
  REQUIRE_MESSAGE(wait_until([&] { return web_lines().size() >= n; }, 5s), web_lines().size());
  // Every raw line is one JSON object.
  auto raw = read_lines(lb.access_log_path());
  size_t bad = 0;
  std::string first_bad;
  for (const auto& l : raw) {
    json j = json::parse(l, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      if (bad++ == 0) first_bad = l;
    }
  }
  CHECK_MESSAGE(bad == 0, bad << " unparsable lines, first: " << first_bad);
  auto lines = web_lines();
  CHECK(lines.size() == n);
  std::multiset<std::string> logged;
  for (const auto& j : lines) {
    logged.insert(j.value("path", ""));
    CHECK(j.value("status", 0) == 200);
    CHECK(j.value("method", "") == "GET");
    CHECK(j.value("pool", "") == "p");
  }
  CHECK(logged == sent);
}

// ---- h. log rotation -----------------------------------------------------------------
TEST_CASE("SIGUSR1 reopens the error and access logs after they were moved") {
  Backend be = Backend::http(1);
  Lb lb(config_with_admin({listener("web", "http", "p")}, {rr_pool("p", {server(be.http_port())})}));
  const uint16_t web = lb.port("web");
  const std::string acc = lb.access_log_path(), err = lb.error_log_path();
  REQUIRE(acc != "");
  REQUIRE(err != "-");
  for (int i = 0; i < 5; ++i) REQUIRE(port_of_get(web, "/before/" + std::to_string(i)) == be.http_port());
  REQUIRE(wait_until([&] { return read_lines(acc).size() >= 5; }, 5s));
  REQUIRE(count_msg(lb, "started") == 1);

  std::filesystem::rename(acc, acc + ".1");
  std::filesystem::rename(err, err + ".1");
  REQUIRE(lb.signal(SIGUSR1));
  CHECK_MESSAGE(wait_until([&] { return std::filesystem::exists(acc) && std::filesystem::exists(err); }, 5s),
                "lb did not create new log files at the original paths");

  for (int i = 0; i < 7; ++i) REQUIRE(port_of_get(web, "/after/" + std::to_string(i)) == be.http_port());
  // An error-log line after the rotation: a (valid) reload logs its result.
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE(wait_generation(lb, 2).has_value());

  CHECK(wait_until([&] { return read_lines(acc).size() >= 7; }, 5s));
  CHECK(wait_until([&] { return !read_lines(err).empty(); }, 5s));
  auto new_acc = read_lines(acc);
  auto old_acc = read_lines(acc + ".1");
  CHECK(new_acc.size() == 7);
  CHECK(old_acc.size() == 5);
  for (const auto& l : new_acc) {
    json j = json::parse(l, nullptr, false);
    INFO(l);
    REQUIRE(j.is_object());
    CHECK(j.value("path", "").rfind("/after/", 0) == 0);
  }
  for (const auto& l : old_acc) {
    json j = json::parse(l, nullptr, false);
    INFO(l);
    REQUIRE(j.is_object());
    CHECK(j.value("path", "").rfind("/before/", 0) == 0);
  }
  // The old error log keeps its lines (start-up) and gets nothing new; the
  // new one has the reload's line.
  auto old_err = read_lines(err + ".1");
  auto new_err = read_lines(err);
  bool old_has_started = false, old_has_reload = false, new_has_reload = false;
  for (const auto& l : old_err) {
    json j = json::parse(l, nullptr, false);
    if (j.is_object() && j.value("msg", "") == "started") old_has_started = true;
    if (j.is_object() && j.value("msg", "").find("reload") != std::string::npos) old_has_reload = true;
  }
  for (const auto& l : new_err) {
    json j = json::parse(l, nullptr, false);
    INFO(l);
    CHECK(j.is_object());
    if (j.is_object() && j.value("msg", "").find("reload") != std::string::npos) new_has_reload = true;
  }
  CHECK(old_has_started);
  CHECK_FALSE(old_has_reload);
  CHECK(new_has_reload);
}

// ---- i. drain under load (the slow request: /delay/1500) -------------------------------------------------------------
TEST_CASE("drain via the admin API: the in-flight request completes, no new requests, ready restores") {
  Backend be = Backend::http(2);
  const auto h = be.http_ports();
  Lb lb(config_with_admin({listener("web", "http", "p")}, {rr_pool("p", servers_for(h))}));
  const uint16_t web = lb.port("web");

  std::optional<HttpResponse> slow;
  std::atomic<bool> slow_done{false};
  Joined client([&] {
    slow = http_get(web, "/delay/1500", 10s);
    slow_done = true;
  });
  // Which server has it?
  std::string busy;
  bool found = wait_until(
      [&] {
        json s = stats(lb);
        for (auto p : h) {
          const json* sv = stats_server(s, "p", Backend::addr(p));
          if (sv && sv->value("connections_active", 0) >= 1) busy = Backend::addr(p);
        }
        return !busy.empty();
      },
      3s);
  if (!found) {
    client.join();
    FAIL("the slow request never showed as active in /stats");
  }
  const int busy_port = std::stoi(busy.substr(busy.rfind(':') + 1));
  auto r = admin_post(lb, "/pools/p/servers/" + busy + "/state", R"({"state":"drain"})");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  const json* sv = nullptr;
  json s = stats(lb);
  sv = stats_server(s, "p", busy);
  REQUIRE(sv != nullptr);
  CHECK(sv->value("state", "") == "drain");

  // 50 requests (half kept-alive, half new connections) while the slow one runs.
  std::map<int, int> counts;
  Socket ka = Socket::connect(web);
  REQUIRE(ka.valid());
  for (int i = 0; i < 50; ++i) {
    std::optional<HttpResponse> resp;
    if (i % 2) {
      HttpRequest req;
      req.target = "/d/" + std::to_string(i);
      resp = roundtrip(ka, req);
    } else {
      resp = http_get(web, "/d/" + std::to_string(i));
    }
    REQUIRE(resp.has_value());
    CHECK(resp->status == 200);
    ++counts[backend_port_of(*resp)];
  }
  bool slow_running_during = !slow_done.load();
  client.join();
  REQUIRE(slow.has_value());
  CHECK(slow->status == 200);
  CHECK(backend_port_of(*slow) == busy_port);
  INFO("answers by backend port: " << [&] {
    std::string d;
    for (auto [p, n] : counts) d += std::to_string(p) + "=" + std::to_string(n) + " ";
    return d;
  }());
  CHECK(counts.count(busy_port) == 0);
  CHECK(counts.size() == 1);
  // The 50 ran while the drained server still had its request in flight.
  CHECK(slow_running_during);

  // Back to ready: it takes traffic again.
  r = admin_post(lb, "/pools/p/servers/" + busy + "/state", R"({"state":"ready"})");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  std::map<int, int> after;
  for (int i = 0; i < 10; ++i) ++after[port_of_get(web)];
  CHECK(after[busy_port] >= 3);
  CHECK(after[-1] == 0);
}

}  // TEST_SUITE
