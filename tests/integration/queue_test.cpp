// tests/integration/queue_test.cpp — a pool's queue (SPEC 11 "Queue")
// through the real binary: one server with max_connections 1 that answers
// only when the test opens its gate, so the test decides when a slot frees.
// Requests that find the slot taken wait and are served in arrival order (the
// server's own record of what it received); a full queue and an expired wait
// answer 503 with Retry-After at once / after the timeout, never reaching the
// server; a client that leaves while queued is removed; /stats and /metrics
// count every outcome; a reload keeps the waiters; HTTP/2 streams (nghttp over h2c) queue too; and with two
// workers a slot freed on one worker serves a request waiting on the other.
#include <doctest/doctest.h>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/integration/policy_util.h"
#include "tests/integration/prom_check.h"

using namespace it;
using it::policy::RecordingServer;

namespace {

// A server whose answers wait for the test: each answer takes one permit.
// The answer is 200 with the request's target as its body.
class GatedServer {
 public:
  GatedServer()
      : server_("gated", [this](const std::string& head, int) {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [this] { return permits_ > 0 || closing_; });
          if (permits_ > 0) --permits_;
          return RecordingServer::ok(target(head));
        }) {}
  ~GatedServer() { open(1000); }
  void open(int n) {
    {
      std::lock_guard lock(mu_);
      permits_ += n;
      closing_ = n >= 1000;
    }
    cv_.notify_all();
  }
  std::string address() const { return server_.address(); }
  size_t count() const { return server_.count(); }
  std::vector<std::string> targets() const {
    std::vector<std::string> out;
    for (const auto& h : server_.heads()) out.push_back(target(h));
    return out;
  }

 private:
  static std::string target(const std::string& head) {
    const size_t a = head.find(' ');
    const size_t b = head.find(' ', a + 1);
    return head.substr(a + 1, b - a - 1);
  }
  std::mutex mu_;
  std::condition_variable cv_;
  int permits_ = 0;
  bool closing_ = false;
  RecordingServer server_;  // last: its threads use the members above
};

json queue_config(const GatedServer& server, int max, const std::string& timeout, int workers = 1) {
  json pool = {{"name", "p"},
               {"servers", {{{"address", server.address()}, {"max_connections", 1}}}},
               {"queue", {{"max", max}, {"timeout", timeout}}},
               {"retries", {{"attempts", 0}}}};
  json listener = {{"name", "web"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "p"},
                   {"http2", {{"cleartext", true}}}};
  return {{"workers", workers}, {"admin", {{"listen", "127.0.0.1:0"}}}, {"listeners", {listener}}, {"pools", {pool}}};
}

json queue_stats(Lb& lb) {
  json p = find_pool(admin_stats(lb), "p");
  return p.is_object() && p["queue"].is_object() ? p["queue"] : json::object();
}

uint64_t queue_field(Lb& lb, const char* field) { return queue_stats(lb).value(field, uint64_t{999999}); }

bool wait_waiting(Lb& lb, uint64_t n, ms timeout = 5s) {
  return wait_until([&] { return queue_field(lb, "waiting") == n; }, timeout, 10ms);
}

// A request sent on its own connection; the response is read later.
Socket send_get(uint16_t port, const std::string& target) {
  Socket s = Socket::connect(port);
  REQUIRE(s.valid());
  HttpRequest req;
  req.target = target;
  req.headers = {{"Connection", "close"}};
  REQUIRE(s.send_all(req.serialize()));
  return s;
}

// /1 takes the server's one slot: its socket, once the server has the request.
Socket take_slot(GatedServer& server, Lb& lb) {
  Socket s = send_get(lb.port("web"), "/1");
  REQUIRE(wait_until([&] { return server.count() == 1; }, 5s));
  return s;
}

// `target` joins the queue: its socket, once `waiting` requests wait.
Socket join_queue(Lb& lb, const std::string& target, uint64_t waiting) {
  Socket s = send_get(lb.port("web"), target);
  REQUIRE_MESSAGE(wait_waiting(lb, waiting), queue_stats(lb).dump());
  return s;
}

void expect_200(Socket& s) {
  auto r = read_http_response(s, 5s);
  REQUIRE(r);
  CHECK(r->status == 200);
}

void check_503(const std::optional<HttpResponse>& r, const std::string& error_part) {
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->header("Retry-After").has_value());
  CHECK(is_json_error(*r));
  CHECK(r->body.find(error_part) != std::string::npos);
}

// Once `lines` access lines are written: the one line for `path` has `status`.
void check_access_line(Lb& lb, size_t lines, const std::string& path, int status) {
  wait_access_lines(lb, lines);
  std::vector<json> found;
  for (const json& l : lb.access_log())
    if (l.value("path", "") == path) found.push_back(l);
  REQUIRE(found.size() == 1);  // exactly one access line
  CHECK(found[0]["status"] == status);
  CHECK(found[0]["pool"] == "p");
}

}  // namespace

TEST_SUITE("queue") {

TEST_CASE("queue: requests wait for the server's one slot and are served in arrival order") {
  GatedServer server;
  Lb lb(queue_config(server, 2, "10s"));
  Socket s1 = take_slot(server, lb);
  Socket s2 = join_queue(lb, "/2", 1);
  Socket s3 = join_queue(lb, "/3", 2);
  CHECK(server.count() == 1);  // the waiting ones have not reached the server

  server.open(3);
  for (auto* s : {&s1, &s2, &s3}) expect_200(*s);
  CHECK(server.targets() == std::vector<std::string>{"/1", "/2", "/3"});
  json q = queue_stats(lb);
  CHECK(q["max"] == 2);
  CHECK(q["waiting"] == 0);
  CHECK(q["queued_total"] == 2);
  CHECK(q["served_total"] == 2);
  CHECK(q["timeouts_total"] == 0);
  CHECK(q["full_total"] == 0);
  CHECK(q["abandoned_total"] == 0);
  CHECK(find_pool(admin_stats(lb), "p")["no_server_total"] == 0);
}

TEST_CASE("queue: a full queue answers 503 with Retry-After at once, and the request never reaches the server") {
  GatedServer server;
  Lb lb(queue_config(server, 1, "20s"));
  Socket s1 = take_slot(server, lb);
  Socket s2 = join_queue(lb, "/2", 1);

  const auto t0 = Clock::now();
  Socket s3 = send_get(lb.port("web"), "/3");
  auto r3 = read_http_response(s3, 5s);
  const double took = elapsed_ms(t0);
  check_503(r3, "queue is full");
  CHECK(took < 2000);  // at once, not after the 20 s timeout
  CHECK(queue_field(lb, "full_total") == 1);
  CHECK(queue_field(lb, "waiting") == 1);

  server.open(2);
  for (auto* s : {&s1, &s2}) expect_200(*s);
  CHECK(server.targets() == std::vector<std::string>{"/1", "/2"});  // /3 never came
  json pool = find_pool(admin_stats(lb), "p");
  CHECK(pool["no_server_total"] == 1);
  CHECK(pool["queue"]["served_total"] == 1);
  check_access_line(lb, 3, "/3", 503);
}

TEST_CASE("queue: a wait past the timeout answers 503 after about the timeout") {
  GatedServer server;
  Lb lb(queue_config(server, 2, "600ms"));
  Socket s1 = take_slot(server, lb);
  const auto t0 = Clock::now();
  Socket s2 = send_get(lb.port("web"), "/2");
  auto r2 = read_http_response(s2, 10s);
  const double took = elapsed_ms(t0);
  check_503(r2, "timed out");
  MESSAGE("queued request answered after " << took << " ms (timeout 600 ms)");
  CHECK(took >= 595);
  CHECK(took < 3000);
  CHECK(queue_field(lb, "timeouts_total") == 1);
  CHECK(queue_field(lb, "waiting") == 0);

  server.open(1);
  expect_200(s1);
  CHECK(server.targets() == std::vector<std::string>{"/1"});
  check_access_line(lb, 2, "/2", 503);
}

TEST_CASE("queue: a client that leaves while queued is removed and its request never sent") {
  GatedServer server;
  Lb lb(queue_config(server, 2, "20s"));
  Socket s1 = take_slot(server, lb);
  Socket s2 = join_queue(lb, "/2", 1);
  s2.close();
  CHECK_MESSAGE(wait_waiting(lb, 0), queue_stats(lb).dump());
  CHECK(queue_field(lb, "abandoned_total") == 1);

  server.open(2);
  expect_200(s1);
  // The freed slot finds nobody waiting; the next request takes it.
  auto r4 = http_get(lb.port("web"), "/4");
  REQUIRE(r4);
  CHECK(r4->status == 200);
  CHECK(server.targets() == std::vector<std::string>{"/1", "/4"});
  check_access_line(lb, 3, "/2", 499);
}

TEST_CASE("queue: a reload strands no waiter: old and new requests share the pool's queue in order") {
  GatedServer server;
  json config = queue_config(server, 3, "20s");
  Lb lb(config);
  Socket s1 = take_slot(server, lb);
  Socket s2 = join_queue(lb, "/2", 1);
  config["pools"][0]["queue"]["timeout"] = "15s";  // a changed pool: a new runtime for it
  lb.rewrite_config(config);
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE_MESSAGE(wait_until([&] { return admin_stats(lb).value("generation", 0) == 2; }, 5s), lb.diagnostics());
  Socket s3 = join_queue(lb, "/3", 2);  // under the new configuration, behind /2
  server.open(3);
  for (auto* s : {&s1, &s2, &s3}) expect_200(*s);
  CHECK(server.targets() == std::vector<std::string>{"/1", "/2", "/3"});
  CHECK(queue_field(lb, "served_total") == 2);
}

TEST_CASE("queue: /metrics shows the waiting gauge and every outcome") {
  GatedServer server;
  Lb lb(queue_config(server, 1, "20s"));
  Socket s1 = take_slot(server, lb);
  Socket s2 = join_queue(lb, "/2", 1);
  auto full = http_get(lb.port("web"), "/3");
  REQUIRE(full);
  CHECK(full->status == 503);

  auto m = http_get(*lb.admin_port(), "/metrics");
  REQUIRE(m);
  promcheck::Result res = promcheck::check(m->body);
  REQUIRE_MESSAGE(res.ok(), res.error_text());
  CHECK(res.types["lb_pool_queue_waiting"] == "gauge");
  CHECK(res.types["lb_pool_queue_total"] == "counter");
  CHECK(res.value("lb_pool_queue_waiting", {{"pool", "p"}}) == 1);
  CHECK(res.value("lb_pool_queue_total", {{"pool", "p"}, {"outcome", "full"}}) == 1);
  CHECK(res.value("lb_pool_queue_total", {{"pool", "p"}, {"outcome", "served"}}) == 0);
  CHECK(res.value("lb_pool_queue_total", {{"pool", "p"}, {"outcome", "timeout"}}) == 0);
  CHECK(res.value("lb_pool_queue_total", {{"pool", "p"}, {"outcome", "abandoned"}}) == 0);

  server.open(2);
  for (auto* s : {&s1, &s2}) CHECK(read_http_response(*s, 5s).has_value());
  m = http_get(*lb.admin_port(), "/metrics");
  REQUIRE(m);
  res = promcheck::check(m->body);
  CHECK(res.value("lb_pool_queue_waiting", {{"pool", "p"}}) == 0);
  CHECK(res.value("lb_pool_queue_total", {{"pool", "p"}, {"outcome", "served"}}) == 1);
  // GET /config shows the queue as configured.
  auto c = http_get(*lb.admin_port(), "/config");
  REQUIRE(c);
  CHECK(json::parse(c->body)["pools"][0]["queue"] == json({{"max", 1}, {"timeout", "20s"}}));
}

TEST_CASE("queue: HTTP/2 streams wait in the queue too") {
  GatedServer server;
  Lb lb(queue_config(server, 2, "10s"));
  const std::string base = "http://127.0.0.1:" + std::to_string(lb.port("web"));
  // Three concurrent streams on one h2c connection (nghttp: prior knowledge;
  // -s prints one line per stream with its status and path).
  Child nghttp({"/usr/bin/nghttp", "-n", "-s", "-t", "20", base + "/h1", base + "/h2", base + "/h3"},
               lb.file("nghttp.out"), lb.file("nghttp.err"));
  REQUIRE_MESSAGE(wait_waiting(lb, 2, 10s), queue_stats(lb).dump() << nghttp.err());
  // The first stream holds the one slot; its request may still be on its way.
  CHECK(wait_until([&] { return server.count() == 1; }, 5s));
  server.open(3);
  auto status = nghttp.wait(20s);
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  const std::string out = nghttp.out();
  INFO(out << nghttp.err());
  for (const char* path : {"/h1", "/h2", "/h3"}) {
    bool ok = false;
    size_t from = 0;
    for (size_t eol; (eol = out.find('\n', from)) != std::string::npos; from = eol + 1) {
      const std::string line = out.substr(from, eol - from);
      if (line.ends_with(std::string(" ") + path) && line.find(" 200 ") != std::string::npos) ok = true;
    }
    CHECK_MESSAGE(ok, path);
  }
  auto targets = server.targets();
  std::sort(targets.begin(), targets.end());
  CHECK(targets == std::vector<std::string>{"/h1", "/h2", "/h3"});
  json q = queue_stats(lb);
  CHECK(q["queued_total"] == 2);
  CHECK(q["served_total"] == 2);
  auto lines = wait_access_lines(lb, 3);
  for (const json& l : lines) CHECK(l.value("protocol", "") == "HTTP/2");
}

TEST_CASE("queue: with two workers a slot freed on either worker serves the oldest waiter") {
  GatedServer server;
  Lb lb(queue_config(server, 10, "30s", 2));
  const int n = 8;
  std::vector<Socket> socks;
  socks.push_back(take_slot(server, lb));
  for (int i = 2; i <= n; ++i) socks.push_back(join_queue(lb, "/" + std::to_string(i), static_cast<uint64_t>(i - 1)));
  // Connections land on both workers (SO_REUSEPORT); every slot freed must
  // reach a waiter wherever it waits, long before the 30 s timeout.
  const auto t0 = Clock::now();
  server.open(n);
  for (auto& s : socks) expect_200(s);
  CHECK(elapsed_ms(t0) < 5000);
  // The waiters got their slots in ticket order, whichever worker held them.
  std::vector<std::string> want;
  for (int i = 1; i <= n; ++i) want.push_back("/" + std::to_string(i));
  CHECK(server.targets() == want);
  CHECK(queue_field(lb, "served_total") == static_cast<uint64_t>(n - 1));
  CHECK(queue_field(lb, "timeouts_total") == 0);
}

}  // TEST_SUITE
