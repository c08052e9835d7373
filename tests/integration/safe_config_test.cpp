// tests/integration/safe_config_test.cpp — issue 11 "trust what exists",
// the configuration side, against the real lb binary:
//   - a reload whose file names slowly-resolving host names does not stall
//     the admin API or the health checks (c-ares on the main loop), and
//     reloads asked for meanwhile are coalesced into one;
//   - an address another process listens on is a start-up or reload error
//     naming the listener, even when that process uses SO_REUSEPORT as lb does;
//   - `lb --check` opens the log files: an access_log in a missing directory
//     fails the check instead of the start;
//   - `${NAME}` in string values comes from lb's environment at start and at
//     every reload; an unset variable fails --check and a reload (422) at its
//     pointer.
// The slow resolver is a DNS server of the test's own (dns_fixture.h) that
// answers 3 s late; lb asks it through "dns.resolvers" (SPEC 13).
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

#include "tests/integration/dns_fixture.h"
#include "tests/integration/harness.h"

using namespace it;

namespace {

constexpr const char* kToken = "t";

json web_listener(const std::string& name, const std::string& listen = "127.0.0.1:0") {
  return {{"name", name}, {"listen", listen}, {"protocol", "http"}, {"pool", "p"}};
}

// Listener "web" on pool "p" over `servers`, admin with token "t".
json base_config(std::vector<json> servers) {
  json c = make_config({web_listener("web")}, {make_pool("p", "round_robin", std::move(servers))});
  c["admin"] = {{"listen", "127.0.0.1:0"}, {"token", kToken}};
  return c;
}

std::optional<HttpResponse> post_reload(Lb& lb, ms timeout) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/reload";
  r.headers = {{"Authorization", std::string("Bearer ") + kToken}};
  return http_request(*lb.admin_port(), r, timeout);
}

uint64_t generation(Lb& lb) { return admin_stats(lb).value("generation", uint64_t{0}); }

size_t count_msg(const Lb& lb, const std::string& msg) {
  size_t n = 0;
  for (const auto& j : lb.error_log()) n += j.value("msg", "") == msg;
  return n;
}

int backend_port(uint16_t port) {
  auto r = http_get(port, "/");
  if (!r || r->status != 200) return -1;
  auto h = r->header("X-Backend-Port");
  return h ? std::atoi(h->c_str()) : -1;
}

// Sets an environment variable for the scope (lb inherits it), then restores it.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) {
    if (const char* v = getenv(name.c_str())) old = v;
    setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old) setenv(name.c_str(), old->c_str(), 1);
    else unsetenv(name.c_str());
  }
};

}  // namespace

TEST_SUITE("safe_config") {

TEST_CASE("a reload waiting 3 s for a slow DNS server stalls neither the admin API nor health checks; reloads asked meanwhile coalesce") {
  Backend be = Backend::http(2);
  const auto h = be.http_ports();
  // Every answer comes 3 s late; dns.timeout (5s) lets lb wait for it.
  DnsServer dns(json{{"delay_ms", 3000}, {"names", {{"slowhost.test", {{"A", {"127.0.0.1"}}}}}}});
  json config = base_config({server(h[0])});
  config["dns"] = dns_settings(dns, "5s");
  config["pools"][0]["health_check"] = {{"type", "http"}, {"path", "/"}, {"interval", "100ms"}};
  Lb lb(config);
  const uint16_t web = lb.port("web");
  REQUIRE(generation(lb) == 1);

  json next = lb.config();
  next["pools"][0]["servers"].push_back({{"address", "slowhost.test:" + std::to_string(h[1])}});
  lb.rewrite_config(next);
  const int64_t checks_before = json::parse(http_get(h[0], "/stats")->body).value("requests_total", int64_t{0});
  const auto t0 = Clock::now();
  std::optional<HttpResponse> first;
  double first_ms = 0;
  std::thread poster([&] {
    first = post_reload(lb, 15s);
    first_ms = elapsed_ms(t0);
  });
  struct JoinAtExit {
    std::thread& t;
    ~JoinAtExit() { if (t.joinable()) t.join(); }
  } join_poster{poster};
  REQUIRE_MESSAGE(wait_until([&] { return count_msg(lb, "reload requested") >= 1; }, 5s), lb.diagnostics());

  // The lookup takes 3 s; meanwhile the main loop answers at once.
  for (int i = 0; i < 5; ++i) {
    const auto t = Clock::now();
    auto r = http_get(*lb.admin_port(), "/healthz", 3s);
    const double took = elapsed_ms(t);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK_MESSAGE(took < 500, "/healthz took " << took << " ms while a reload waited for DNS");
  }
  CHECK(generation(lb) == 1);  // /stats answers too; the reload has not applied yet
  // Asked for while the first waits: a SIGHUP and a second POST become ONE more reload.
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE(wait_until([&] { return count_msg(lb, "reload queued behind the one waiting for host-name lookups") >= 1; }, 3s));
  // Health checks went on meanwhile (every 100 ms): the backend counted them.
  REQUIRE(wait_until([&] {
    return json::parse(http_get(h[0], "/stats")->body).value("requests_total", int64_t{0}) >= checks_before + 5;
  }, 2500ms));
  CHECK(elapsed_ms(t0) < 2900);  // all of the above happened while the lookup was pending
  CHECK(dns.queries("slowhost.test", "A") >= 1);
  auto second = post_reload(lb, 15s);
  poster.join();

  REQUIRE(first.has_value());
  INFO(first->body);
  CHECK(first->status == 200);
  CHECK(json::parse(first->body, nullptr, false).value("generation", 0) == 2);
  CHECK(first_ms >= 2900);  // it really waited for the answer
  REQUIRE(second.has_value());
  INFO(second->body);
  CHECK(second->status == 200);
  CHECK(json::parse(second->body, nullptr, false).value("generation", 0) == 3);
  CHECK(generation(lb) == 3);
  CHECK(count_msg(lb, "reloaded") == 2);

  // The server named by the slow name is in the pool: both backends get requests.
  std::set<int> seen;
  for (int i = 0; i < 8; ++i) seen.insert(backend_port(web));
  CHECK(seen == std::set<int>{h[0], h[1]});
}

TEST_CASE("a host name the DNS server does not know fails the reload (422) naming it; the old config serves") {
  Backend be = Backend::http(1);
  DnsServer dns(json{{"names", json::object()}});
  json config = base_config({server(be.http_port())});
  config["dns"] = dns_settings(dns, "1s");
  Lb lb(config);
  json next = lb.config();
  next["pools"][0]["servers"].push_back({{"address", "nobody.test:80"}});
  lb.rewrite_config(next);
  auto r = post_reload(lb, 10s);
  REQUIRE(r.has_value());
  CHECK(r->status == 422);
  CHECK(r->body.find("cannot resolve host \\\"nobody.test\\\"") != std::string::npos);
  CHECK(generation(lb) == 1);
  CHECK(backend_port(lb.port("web")) == be.http_port());
}

TEST_CASE("a second lb on the same port exits 1 naming the listener; the first keeps the port") {
  Backend be = Backend::http(1);
  Lb first(base_config({server(be.http_port())}));
  const uint16_t web = first.port("web");

  TempDir dir;
  json second = first.config();
  second["admin"]["listen"] = "127.0.0.1:" + std::to_string(free_port());
  second["logging"] = {{"error_log", "-"}};
  write_file(dir.file("lb.json"), second.dump());
  RunResult r = run_command({lb_bin(), "-c", dir.file("lb.json")}, 5s);
  INFO(r.err);
  REQUIRE_MESSAGE(r.status.has_value(), "the second lb started and shared the port");
  CHECK(*r.status == 1);
  CHECK(r.err.find(dir.file("lb.json") + ": /listeners/0/listen: listener \"web\": 127.0.0.1:" + std::to_string(web) +
                   " is already in use by another process") != std::string::npos);

  CHECK(pid_listens_on(first.pid(), web));
  for (int i = 0; i < 6; ++i) CHECK(backend_port(web) == be.http_port());
}

TEST_CASE("a reload adding a listener where another process listens is 422 naming it; the old config serves") {
  Backend be = Backend::http(1);
  Lb lb(base_config({server(be.http_port())}));
  const uint16_t web = lb.port("web");
  const json original = lb.config();

  for (const char* foreign_ip : {"127.0.0.1", "0.0.0.0"}) {  // the same address, then a wildcard over it
    CAPTURE(foreign_ip);
    // Another process that, like a second lb, sets SO_REUSEPORT — so lb's own
    // SO_REUSEPORT bind alone would silently succeed.
    HeldListener foreign(foreign_ip, true);
    json next = original;
    next["listeners"].push_back(web_listener("extra", "127.0.0.1:" + std::to_string(foreign.port())));
    lb.rewrite_config(next);
    auto r = post_reload(lb, 5s);
    REQUIRE(r.has_value());
    INFO(r->body);
    CHECK(r->status == 422);
    json body = json::parse(r->body, nullptr, false);
    CHECK(body.value("ok", true) == false);
    CHECK(body.value("error", "").find("/listeners/1/listen: listener \"extra\": 127.0.0.1:" +
                                       std::to_string(foreign.port()) + " is already in use by another process") !=
          std::string::npos);
    CHECK(generation(lb) == 1);
    CHECK_FALSE(pid_listens_on(lb.pid(), foreign.port()));
    CHECK(backend_port(web) == be.http_port());
  }

  // Once the other process is gone the same kind of change applies; lb's own
  // listeners (kept, or removed and re-added) never count as foreign.
  const uint16_t port = free_port();
  json next = original;
  next["listeners"].push_back(web_listener("extra", "127.0.0.1:" + std::to_string(port)));
  lb.rewrite_config(next);
  auto r = post_reload(lb, 5s);
  REQUIRE(r.has_value());
  CHECK_MESSAGE(r->status == 200, r->body);
  CHECK(backend_port(port) == be.http_port());
  next["listeners"].erase(1);
  lb.rewrite_config(next);
  REQUIRE(post_reload(lb, 5s)->status == 200);
  next["listeners"].push_back(web_listener("extra", "127.0.0.1:" + std::to_string(port)));
  lb.rewrite_config(next);
  r = post_reload(lb, 5s);
  REQUIRE(r.has_value());
  CHECK_MESSAGE(r->status == 200, r->body);
  CHECK(generation(lb) == 4);
  CHECK(backend_port(port) == be.http_port());
}

TEST_CASE("--check opens the log files: an access_log in a missing directory fails, an existing one passes untouched") {
  TempDir dir;
  json c = base_config({server(9)});
  c["admin"]["listen"] = "127.0.0.1:1";
  c["listeners"][0]["listen"] = "127.0.0.1:2";
  c["logging"] = {{"error_log", "-"}, {"access_log", dir.file("no-such-dir/access.log")}};
  write_file(dir.file("lb.json"), c.dump());
  RunResult r = run_command({lb_bin(), "-c", dir.file("lb.json"), "--check"});
  INFO(r.out << r.err);
  REQUIRE(r.status.has_value());
  CHECK(*r.status == 1);
  CHECK(r.err.find(dir.file("lb.json") + ": /logging/access_log: cannot open " + dir.file("no-such-dir/access.log") +
                   " for appending: directory " + dir.file("no-such-dir") + " does not exist") != std::string::npos);

  c["logging"]["access_log"] = dir.file("access.log");
  write_file(dir.file("lb.json"), c.dump());
  r = run_command({lb_bin(), "-c", dir.file("lb.json"), "--check"});
  INFO(r.out << r.err);
  REQUIRE(r.status.has_value());
  CHECK(*r.status == 0);
  CHECK_FALSE(std::filesystem::exists(dir.file("access.log")));  // --check creates nothing
}

TEST_CASE("${NAME} comes from lb's environment at start and on reload; an unset one fails --check and the reload") {
  Backend be = Backend::http(2);
  const auto h = be.http_ports();
  ScopedEnv token("LB_IT_ADMIN_TOKEN", kToken);
  ScopedEnv first("LB_IT_BACKEND_A", std::to_string(h[0]));
  ScopedEnv second("LB_IT_BACKEND_B", std::to_string(h[1]));
  json c = base_config({{{"address", "127.0.0.1:${LB_IT_BACKEND_A}"}}});
  c["admin"]["token"] = "${LB_IT_ADMIN_TOKEN}";
  Lb lb(c);
  const uint16_t web = lb.port("web");
  CHECK(backend_port(web) == h[0]);

  json next = lb.config();
  next["pools"][0]["servers"][0]["address"] = "127.0.0.1:${LB_IT_BACKEND_B}";
  lb.rewrite_config(next);
  auto r = post_reload(lb, 5s);  // authorised: the token came from the environment too
  REQUIRE(r.has_value());
  CHECK_MESSAGE(r->status == 200, r->body);
  CHECK(backend_port(web) == h[1]);

  next["pools"][0]["servers"][0]["address"] = "127.0.0.1:${LB_IT_UNSET_PORT}";
  lb.rewrite_config(next);
  r = post_reload(lb, 5s);
  REQUIRE(r.has_value());
  INFO(r->body);
  CHECK(r->status == 422);
  CHECK(r->body.find("/pools/0/servers/0/address: environment variable LB_IT_UNSET_PORT is not set") !=
        std::string::npos);
  CHECK(generation(lb) == 2);
  CHECK(backend_port(web) == h[1]);

  TempDir dir;
  next["admin"]["listen"] = "127.0.0.1:1";
  next["listeners"][0]["listen"] = "127.0.0.1:2";
  write_file(dir.file("lb.json"), next.dump());
  RunResult check = run_command({lb_bin(), "-c", dir.file("lb.json"), "--check"});
  INFO(check.out << check.err);
  REQUIRE(check.status.has_value());
  CHECK(*check.status == 1);
  CHECK(check.err.find(dir.file("lb.json") +
                       ": /pools/0/servers/0/address: environment variable LB_IT_UNSET_PORT is not set") !=
        std::string::npos);
  ScopedEnv now_set("LB_IT_UNSET_PORT", std::to_string(h[0]));
  check = run_command({lb_bin(), "-c", dir.file("lb.json"), "--check"});
  REQUIRE(check.status.has_value());
  CHECK(*check.status == 0);
}

}  // TEST_SUITE
