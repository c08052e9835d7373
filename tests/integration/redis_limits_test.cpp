// tests/integration/redis_limits_test.cpp — SPEC 17 through the real binary
// and a real redis-server on a free port: two lb processes (two workers
// each) with a limit in "store": "redis" admit together what one would
// admit, listener and route limits, HTTP/1.1 and HTTP/2, counted by what the
// backend received; then Redis paused (calls time out), killed (refused
// connections) and restarted on the same port: on_store_error allow, deny
// and local each do what SPEC 17 says, /stats "redis" follows the
// connection and /metrics counts lb_redis_errors_total (strict checker and promtool), and shared counting
// resumes without a reload.
#include <doctest/doctest.h>

#include <csignal>

#include "tests/integration/harness.h"
#include "tests/integration/policy_util.h"
#include "tests/integration/prom_check.h"

using namespace it;
using namespace it::policy;

namespace {

// redis-server on 127.0.0.1:port without persistence; start() waits until it
// answers PING.
class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra = {}) : port_(free_port()), extra_(std::move(extra)) { start(); }

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  Child& process() { return child_; }

  void start() {
    std::vector<std::string> args = {"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--protected-mode", "no"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    child_ = Child(args, dir_.file("redis.out"), dir_.file("redis.err"));
    const std::string why = child_.out() + child_.err();
    REQUIRE_MESSAGE(wait_until([&] { return ping(); }, 10s), why);
  }
  void kill() { child_.kill_and_wait(); }

  bool ping() {
    Socket s = Socket::connect(port_, 200ms);
    if (!s || !s.send_all("PING\r\n", 200ms)) return false;
    auto line = s.recv_until("\r\n", 200ms);
    // With requirepass, PING answers NOAUTH: the server is up all the same.
    return line && (line->starts_with("+PONG") || line->starts_with("-NOAUTH"));
  }

 private:
  TempDir dir_;
  uint16_t port_;
  std::vector<std::string> extra_;
  Child child_;
};

json redis_limit(int rate, const std::string& on_error, json extra = json::object()) {
  json j = {{"key", "client_ip"}, {"algorithm", "sliding_window"}, {"rate", rate}, {"per", "1h"},
            {"store", "redis"}, {"on_store_error", on_error}};
  j.update(extra);
  return j;
}

json redis_object(const RedisServer& redis, const std::string& prefix) {
  return {{"address", redis.address()}, {"timeout", "100ms"}, {"key_prefix", prefix}};
}

int get_status(uint16_t port, const std::string& path) {
  auto r = http_get(port, path);
  return r ? r->status : 0;
}

bool redis_connected(Lb& lb) {
  const json stats = admin_stats(lb);
  return stats.contains("redis") && stats["redis"].is_object() && stats["redis"].value("connected", false);
}

std::string metrics_text(Lb& lb) {
  auto r = http_get(*lb.admin_port(), "/metrics");
  return r ? r->body : "";
}

// lb_redis_errors_total, from a /metrics that passes the strict checker.
uint64_t redis_errors(Lb& lb) {
  const promcheck::Result m = promcheck::check(metrics_text(lb));
  CHECK_MESSAGE(m.ok(), m.error_text());
  return static_cast<uint64_t>(m.value("lb_redis_errors_total").value_or(0));
}

}  // namespace

TEST_CASE("redis limits: two lb processes admit together the configured rate, not twice it") {
  RedisServer redis;
  RecordingServer backend("app");
  // The listener allows 6 an hour per client, the route /h2/ 4 (token
  // bucket, burst 4): both counted in Redis under the same prefix.
  json route = {{"name", "h2"}, {"path_prefix", "/h2/"},
                {"rate_limit", {{"key", "client_ip"}, {"rate", 4}, {"per", "1h"}, {"burst", 4}, {"store", "redis"}}}};
  json listener = web_listener("app", {{"rate_limit", redis_limit(6, "deny")},
                                       {"routes", json::array({route})},
                                       {"http2", {{"cleartext", true}}}});
  json config = make_config({listener}, {pool_of("app", {&backend})},
                            {{"workers", 2}, {"admin", {{"listen", "127.0.0.1:0"}}}, {"redis", redis_object(redis, "t1:")}});
  Lb a(config), b(config);
  REQUIRE(wait_until([&] { return redis_connected(a) && redis_connected(b); }, 5s));

  // Listener limit over HTTP/1.1, alternating instances: 6 of 10 pass.
  int admitted = 0, refused = 0;
  for (int i = 0; i < 10; ++i) {
    const int status = get_status(i % 2 ? b.port() : a.port(), "/x" + std::to_string(i));
    admitted += status == 200;
    refused += status == 429;
  }
  CHECK(admitted == 6);
  CHECK(refused == 4);
  CHECK(backend.count() == 6);
  // A refusal carries Retry-After (about the hour until the oldest admission expires).
  auto r = http_get(a.port(), "/again");
  REQUIRE(r);
  CHECK(r->status == 429);
  CHECK(std::stoi(r->header("Retry-After").value_or("0")) > 3500);

  // The route's own limit over HTTP/2 from another client address (the
  // listener's window is per client): its 4 tokens are shared too.
  admitted = 0;
  for (int i = 0; i < 6; ++i) {
    CurlResult c = curl({"--http2-prior-knowledge", "--interface", "127.0.0.2"},
                        base_url(i % 2 ? b.port() : a.port()) + "/h2/" + std::to_string(i));
    CHECK(c.response.version == "HTTP/2");
    admitted += c.response.status == 200;
  }
  CHECK(admitted == 4);
  CHECK(backend.count() == 10);
  const json stats = admin_stats(a);
  CHECK(stats["redis"]["last_error"].is_null());

  // A reload that changes key_prefix keeps the connection and counts
  // under the new keys: 127.0.0.1 starts afresh on instance a only.
  json reloaded = a.config();
  reloaded["redis"]["key_prefix"] = "t1-reloaded:";
  a.rewrite_config(reloaded);
  a.signal(SIGHUP);
  REQUIRE(wait_until([&] { return admin_stats(a).value("generation", 0) == 2; }, 5s));
  CHECK(redis_connected(a));
  CHECK(get_status(a.port(), "/new-prefix") == 200);
  CHECK(get_status(b.port(), "/old-prefix") == 429);
}

TEST_CASE("redis limits: Redis paused, killed and back: allow, deny and local; /stats and /metrics; no reload") {
  RedisServer redis;
  RecordingServer backend("app");
  // Three listeners, one per on_store_error, each 2 an hour per client.
  json allow = web_listener("app", {{"name", "allow"}, {"rate_limit", redis_limit(2, "allow")}});
  json deny = web_listener("app", {{"name", "deny"}, {"rate_limit", redis_limit(2, "deny")}});
  json local = web_listener("app", {{"name", "local"}, {"rate_limit", redis_limit(2, "local")}});
  Lb lb(make_config({allow, deny, local}, {pool_of("app", {&backend})},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}, {"redis", redis_object(redis, "t2:")}}));
  REQUIRE(wait_until([&] { return redis_connected(lb); }, 5s));

  // Shared counting: local's window fills in Redis.
  CHECK(get_status(lb.port("local"), "/1") == 200);
  CHECK(get_status(lb.port("local"), "/2") == 200);
  CHECK(get_status(lb.port("local"), "/3") == 429);
  const uint64_t errors_before = redis_errors(lb);

  // Paused: every call times out (100 ms), then on_store_error applies.
  REQUIRE(redis.process().signal(SIGSTOP));
  // A client that leaves while its request waits for Redis: the late
  // answer (after SIGCONT) must find no exchange to resume.
  for (const char* listener : {"allow", "deny"}) {
    Socket gone = Socket::connect(lb.port(listener));
    REQUIRE(gone.send_all("GET /gone HTTP/1.1\r\nHost: x\r\n\r\n"));
    gone.close();
  }
  CHECK(get_status(lb.port("allow"), "/p") == 200);
  CHECK(get_status(lb.port("deny"), "/p") == 429);
  REQUIRE(redis.process().signal(SIGCONT));
  CHECK(redis_errors(lb) >= errors_before + 2);
  // Redis still ran the calls that timed out (allow's and deny's windows
  // are full now): lb answers a request once those late replies are in.
  CHECK(wait_until([&] { return get_status(lb.port("allow"), "/after") == 429; }, 2s));
  CHECK(lb.running());

  // Killed: the connection drops, /stats says so.
  redis.kill();
  REQUIRE(wait_until([&] { return !redis_connected(lb); }, 5s));
  const json down = admin_stats(lb);
  CHECK(down["redis"]["last_error"].is_string());
  const size_t before = backend.count();
  // allow admits everything.
  for (int i = 0; i < 4; ++i) CHECK(get_status(lb.port("allow"), "/a" + std::to_string(i)) == 200);
  // deny refuses with Retry-After.
  auto denied = http_get(lb.port("deny"), "/d");
  REQUIRE(denied);
  CHECK(denied->status == 429);
  CHECK(denied->header("Retry-After").has_value());
  // local counts in this process from empty: 2 more pass, then 429.
  CHECK(get_status(lb.port("local"), "/l1") == 200);
  CHECK(get_status(lb.port("local"), "/l2") == 200);
  CHECK(get_status(lb.port("local"), "/l3") == 429);
  CHECK(backend.count() == before + 6);
  CHECK(redis_errors(lb) > errors_before + 2);
  const promcheck::Result m = promcheck::check(metrics_text(lb));
  CHECK(m.value("lb_redis_connected") == 0.0);
  CHECK(m.types.at("lb_redis_errors_total") == "counter");
  write_file(lb.file("metrics.txt"), metrics_text(lb));
  const RunResult promtool =
      run_command({"/bin/sh", "-c", "exec /usr/bin/promtool check metrics < '" + lb.file("metrics.txt") + "'"}, 20s);
  const std::string promtool_output = promtool.out + promtool.err;
  CHECK_MESSAGE(promtool.status == 0, promtool_output);

  // Back on the same port (empty: no persistence): lb reconnects by itself
  // and deny's requests are counted in Redis again — 2 pass, the third is
  // refused by the shared window (deny cannot have counted them locally).
  redis.start();
  REQUIRE(wait_until([&] { return redis_connected(lb); }, 5s));
  CHECK(get_status(lb.port("deny"), "/r1") == 200);
  CHECK(get_status(lb.port("deny"), "/r2") == 200);
  CHECK(get_status(lb.port("deny"), "/r3") == 429);
  CHECK(admin_stats(lb).value("generation", 0) == 1);  // no reload happened
}

TEST_CASE("redis limits: store redis without the redis object, and a bad redis object, are refused with their pointer") {
  TempDir dir;
  json listener = web_listener("app", {{"rate_limit", redis_limit(2, "allow")}});
  json config = make_config({listener}, {{{"name", "app"}, {"servers", {{{"address", "127.0.0.1:9"}}}}}});
  RunResult r = check_config(dir, config);
  CHECK(r.status != 0);
  CHECK(r.err.find("/listeners/0/rate_limit/store: store \"redis\" needs the top-level \"redis\" object") !=
        std::string::npos);
  config["redis"] = {{"address", "127.0.0.1:6379"}, {"timeout", "soon"}};
  r = check_config(dir, config);
  CHECK(r.status != 0);
  CHECK(r.err.find("/redis/timeout: ") != std::string::npos);
}

TEST_CASE("redis limits: AUTH from password_file and SELECT database; a wrong password shows in /stats") {
  RedisServer redis({"--requirepass", "s3cret"});
  RecordingServer backend("app");
  TempDir dir;
  write_file(dir.file("good"), "s3cret\n");
  write_file(dir.file("bad"), "nope\n");
  json listener = web_listener("app", {{"rate_limit", redis_limit(1, "allow")}});
  json redis_cfg = redis_object(redis, "t4:");
  redis_cfg["password_file"] = dir.file("good");
  redis_cfg["database"] = 3;
  Lb lb(make_config({listener}, {pool_of("app", {&backend})},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}, {"redis", redis_cfg}}));
  REQUIRE(wait_until([&] { return redis_connected(lb); }, 5s));
  CHECK(get_status(lb.port(), "/1") == 200);
  CHECK(get_status(lb.port(), "/2") == 429);  // counted in Redis: allow would have admitted on an error
  // The key is in database 3.
  RunResult keys = run_command({"/usr/bin/redis-cli", "-p", std::to_string(redis.port()), "-a", "s3cret",
                                "--no-auth-warning", "-n", "3", "--scan", "--pattern", "t4:*"});
  CHECK(keys.out == "t4:rl:web::sw:127.0.0.1\n");

  // A wrong password: never connected, the reason in /stats, allow admits.
  json bad_cfg = redis_cfg;
  bad_cfg["password_file"] = dir.file("bad");
  bad_cfg["key_prefix"] = "t4b:";
  Lb wrong(make_config({listener}, {pool_of("app", {&backend})},
                       {{"admin", {{"listen", "127.0.0.1:0"}}}, {"redis", bad_cfg}}));
  REQUIRE(wait_until([&] { return admin_stats(wrong)["redis"]["last_error"].is_string(); }, 5s));
  CHECK(!redis_connected(wrong));
  const std::string error = admin_stats(wrong)["redis"]["last_error"].get<std::string>();
  CHECK_MESSAGE(error.find("setup: ") == 0, error);
  CHECK(get_status(wrong.port(), "/3") == 200);
  CHECK(get_status(wrong.port(), "/4") == 200);
  // Retried with backoff, refused each time, logged once (one worker).
  REQUIRE(wait_until([&] { return admin_stats(wrong)["redis"]["errors_total"].get<uint64_t>() >= 6; }, 10s));
  int logged = 0;
  for (const json& line : wrong.error_log())
    if (line.value("msg", "") == "redis setup failed") ++logged;
  CHECK(logged == 1);
}
