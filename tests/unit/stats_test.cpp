// tests/unit/stats_test.cpp — lb/stats: the /stats JSON (every SPEC 6 field,
// state words, availability, health and circuit reporting) and /metrics (a
// strict exposition-format check plus exact values, the HTTP/2 families of
// SPEC 9 included) over a hand-built Runtime; and the admin API helpers
// (percent-decoding, bearer-token checks).
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "conf/load.h"
#include "lb/admin/admin_api.h"
#include "lb/core/runtime.h"
#include "lb/admin/stats.h"
#include "tests/integration/prom_check.h"

using nlohmann::json;
using namespace lb;

namespace {

// One http listener, one pool "web" with a primary and a backup server. The
// label-hostile pool name exercises escaping in /metrics.
std::shared_ptr<const conf::Config> test_config(bool health_check = false) {
  json pool = {{"name", "web"},
               {"algorithm", "least_connections"},
               {"servers",
                {{{"address", "127.0.0.1:9001"}, {"weight", 3}},
                 {{"address", "127.0.0.1:9002"}, {"backup", true}}}}};
  if (health_check) pool["health_check"] = {{"type", "tcp"}};
  json j = {{"listeners", {{{"name", "front"}, {"listen", "127.0.0.1:8080"}, {"pool", "web"}}}},
            {"pools", {pool}}};
  conf::LoadResult r = conf::load_string(j.dump(), "/tmp/stats_test.json");
  REQUIRE_MESSAGE(r.ok(), (r.errors.empty() ? "" : r.errors[0]));
  return r.config;
}

// A Runtime built by hand (no sockets): what build_runtime() would give.
std::shared_ptr<Runtime> test_runtime(std::shared_ptr<const conf::Config> cfg) {
  auto rt = std::make_shared<Runtime>();
  rt->config = cfg;
  rt->generation = 1;
  for (const auto& lc : cfg->listeners) {
    ListenerRuntime l;
    l.config = &lc;
    l.live = std::make_shared<ListenerLive>();
    l.default_pool = 0;
    rt->listeners.push_back(std::move(l));
  }
  for (const auto& pc : cfg->pools) {
    PoolRuntime p;
    p.config = &pc;
    p.live = std::make_shared<PoolLive>();
    for (const auto& sc : pc.servers) {
      ServerRuntime s{&sc, std::make_shared<ServerLive>()};
      s.live->weight = sc.weight;
      s.live->admin_state = sc.state;
      s.live->health_checked = pc.health_check.has_value();
      p.servers.push_back(std::move(s));
    }
    rt->pools.push_back(std::move(p));
  }
  return rt;
}

StatsFacts test_facts() {
  StatsFacts f;
  f.version = "9.8.7";
  f.uptime_s = 12.5;
  f.generation = 3;
  f.last_reload_ok = true;
  f.last_reload_at = "2026-01-02T03:04:05.678Z";
  f.now_ns = 10'000'000'000ULL;
  return f;
}

json stats_json(const Runtime& rt, const StatsFacts& f) { return json::parse(render_stats_json(take_snapshot(rt, f))); }

}  // namespace

TEST_CASE("stats: /stats JSON carries every SPEC 6 field with live values") {
  auto rt = test_runtime(test_config());
  ListenerLive& l = *rt->listeners[0].live;
  l.connections_active = 2;
  l.connections_total.add(10);
  l.requests_total.add(7);
  l.count_status(200);
  l.count_status(204);
  l.count_status(503);
  l.rate_limited_total.add(1);
  l.bytes_in.add(1000);
  l.bytes_out.add(2000);
  PoolLive& p = *rt->pools[0].live;
  p.requests_total.add(7);
  p.retries_total.add(2);
  p.no_server_total.add(1);
  ServerLive& s0 = *rt->pools[0].servers[0].live;
  s0.active = 4;
  s0.requests_total.add(6);
  s0.failures_total.add(1);
  s0.bytes_in.add(300);
  s0.bytes_out.add(400);
  s0.set_latency({12.3456, 5});

  json j = stats_json(*rt, test_facts());
  CHECK(j["version"] == "9.8.7");
  CHECK(j["uptime_s"] == 12);
  CHECK(j["generation"] == 3);
  CHECK(j["last_reload"] == json({{"ok", true}, {"at", "2026-01-02T03:04:05.678Z"}, {"error", nullptr}}));

  REQUIRE(j["listeners"].size() == 1);
  json lj = j["listeners"][0];
  CHECK(lj["name"] == "front");
  CHECK(lj["listen"] == "127.0.0.1:8080");
  CHECK(lj["protocol"] == "http");
  CHECK(lj["connections_active"] == 2);
  CHECK(lj["connections_total"] == 10);
  CHECK(lj["requests_total"] == 7);
  CHECK(lj["responses"] == json({{"1xx", 0}, {"2xx", 2}, {"3xx", 0}, {"4xx", 0}, {"5xx", 1}}));
  CHECK(lj["rate_limited_total"] == 1);
  CHECK(lj["bytes_in"] == 1000);
  CHECK(lj["bytes_out"] == 2000);

  REQUIRE(j["pools"].size() == 1);
  json pj = j["pools"][0];
  CHECK(pj["name"] == "web");
  CHECK(pj["algorithm"] == "least_connections");
  CHECK(pj["servers_available"] == 2);
  CHECK(pj["servers_total"] == 2);
  CHECK(pj["requests_total"] == 7);
  CHECK(pj["retries_total"] == 2);
  CHECK(pj["no_server_total"] == 1);
  CHECK(pj["panic"] == false);
  REQUIRE(pj["servers"].size() == 2);
  json sj = pj["servers"][0];
  CHECK(sj["address"] == "127.0.0.1:9001");
  CHECK(sj["weight"] == 3);
  CHECK(sj["backup"] == false);
  CHECK(sj["state"] == "up");
  CHECK(sj["health"] == json({{"status", "unchecked"}, {"last_check_ms_ago", nullptr}, {"last_error", nullptr}}));
  CHECK(sj["circuit"] == "closed");
  CHECK(sj["connections_active"] == 4);
  CHECK(sj["requests_total"] == 6);
  CHECK(sj["failures_total"] == 1);
  CHECK(sj["response_time_ms"].get<double>() == doctest::Approx(12.346));
  CHECK(sj["bytes_in"] == 300);
  CHECK(sj["bytes_out"] == 400);
  CHECK(pj["servers"][1]["backup"] == true);
  CHECK(pj["servers"][1]["weight"] == 1);
}

TEST_CASE("stats: failed reload is reported with its message") {
  auto rt = test_runtime(test_config());
  StatsFacts f = test_facts();
  f.last_reload_ok = false;
  f.last_reload_error = "lb.json: /pools/0/servers/0/address: port 70000 out of range";
  json j = stats_json(*rt, f);
  CHECK(j["last_reload"]["ok"] == false);
  CHECK(j["last_reload"]["error"] == f.last_reload_error);
  CHECK(j["last_reload"]["at"] == f.last_reload_at);
}

TEST_CASE("stats: state words, availability and health details") {
  auto rt = test_runtime(test_config(/*health_check=*/true));
  ServerLive& a = *rt->pools[0].servers[0].live;
  ServerLive& b = *rt->pools[0].servers[1].live;
  StatsFacts f = test_facts();

  // Health-checked servers before their first check: down, unavailable.
  json j = stats_json(*rt, f);
  CHECK(j["pools"][0]["servers"][0]["state"] == "down");
  CHECK(j["pools"][0]["servers"][0]["health"]["status"] == "unchecked");
  CHECK(j["pools"][0]["servers_available"] == 0);

  a.health = HealthStatus::passing;
  a.last_check_ns = f.now_ns - 250'000'000;  // 250 ms ago
  b.health = HealthStatus::failing;
  b.last_check_ns = f.now_ns - 1'000'000'000;
  {
    std::lock_guard lock(b.last_error_mutex);
    b.last_error = "connect: connection refused";
  }
  j = stats_json(*rt, f);
  json sa = j["pools"][0]["servers"][0], sb = j["pools"][0]["servers"][1];
  CHECK(sa["state"] == "up");
  CHECK(sa["health"] == json({{"status", "passing"}, {"last_check_ms_ago", 250}, {"last_error", nullptr}}));
  CHECK(sb["state"] == "down");
  CHECK(sb["health"] ==
        json({{"status", "failing"}, {"last_check_ms_ago", 1000}, {"last_error", "connect: connection refused"}}));
  CHECK(j["pools"][0]["servers_available"] == 1);

  // An open circuit takes a healthy server down.
  {
    conf::CircuitBreakerConfig cb;
    cb.failure_threshold = 1;
    health::EjectionBudget budget(2);
    a.breaker.on_failure(1'000'000, cb, budget);
    REQUIRE(a.breaker.state() == health::CircuitState::open);
    j = stats_json(*rt, f);
    CHECK(j["pools"][0]["servers"][0]["circuit"] == "open");
    CHECK(j["pools"][0]["servers"][0]["state"] == "down");
    CHECK(j["pools"][0]["servers_available"] == 0);
    std::string text = render_metrics(take_snapshot(*rt, f));
    promcheck::Result r = promcheck::check(text);
    CHECK(r.value("lb_server_circuit_open", {{"pool", "web"}, {"server", "127.0.0.1:9001"}}) == 1);
    CHECK(r.value("lb_server_up", {{"pool", "web"}, {"server", "127.0.0.1:9001"}}) == 0);
    a.breaker.close(budget);
  }

  // Operator states win over health and take the server out of rotation.
  a.admin_state = conf::ServerState::drain;
  b.admin_state = conf::ServerState::maint;
  j = stats_json(*rt, f);
  CHECK(j["pools"][0]["servers"][0]["state"] == "drain");
  CHECK(j["pools"][0]["servers"][1]["state"] == "maint");
  CHECK(j["pools"][0]["servers_available"] == 0);

  // Live weight (admin API) is what is reported.
  a.weight = 42;
  CHECK(stats_json(*rt, f)["pools"][0]["servers"][0]["weight"] == 42);
}

TEST_CASE("stats: server_state_word") {
  using health::CircuitState;
  CHECK(server_state_word(conf::ServerState::ready, true, CircuitState::closed) == "up");
  CHECK(server_state_word(conf::ServerState::ready, true, CircuitState::half_open) == "up");
  CHECK(server_state_word(conf::ServerState::ready, true, CircuitState::open) == "down");
  CHECK(server_state_word(conf::ServerState::ready, false, CircuitState::closed) == "down");
  CHECK(server_state_word(conf::ServerState::drain, false, CircuitState::open) == "drain");
  CHECK(server_state_word(conf::ServerState::maint, true, CircuitState::closed) == "maint");
}

TEST_CASE("stats: /metrics passes the strict exposition checker, values exact") {
  auto rt = test_runtime(test_config());
  rt->listeners[0].live->requests_total.add(5);
  rt->listeners[0].live->count_status(404);
  rt->pools[0].live->retries_total.add(9);
  ServerLive& s0 = *rt->pools[0].servers[0].live;
  s0.requests_total.add(11);
  s0.set_latency({250.0, 1});
  rt->pools[0].servers[1].live->admin_state = conf::ServerState::maint;
  StatsFacts f = test_facts();
  f.reloads_ok = 4;
  f.reloads_failed = 1;

  std::string text = render_metrics(take_snapshot(*rt, f));
  promcheck::Result r = promcheck::check(text);
  REQUIRE_MESSAGE(r.ok(), (r.error_text() + "\n" + text));

  CHECK(r.value("lb_config_generation") == 3);
  CHECK(r.value("lb_uptime_seconds") == 12.5);
  CHECK(r.value("lb_build_info", {{"version", "9.8.7"}}) == 1);
  CHECK(r.value("lb_reloads_total", {{"result", "ok"}}) == 4);
  CHECK(r.value("lb_reloads_total", {{"result", "error"}}) == 1);
  CHECK(r.value("lb_listener_requests_total", {{"listener", "front"}}) == 5);
  CHECK(r.value("lb_listener_responses_total", {{"listener", "front"}, {"code", "4xx"}}) == 1);
  CHECK(r.value("lb_listener_responses_total", {{"listener", "front"}, {"code", "2xx"}}) == 0);
  CHECK(r.value("lb_pool_retries_total", {{"pool", "web"}}) == 9);
  CHECK(r.value("lb_pool_servers_available", {{"pool", "web"}}) == 1);
  promcheck::Labels s0l = {{"pool", "web"}, {"server", "127.0.0.1:9001"}};
  promcheck::Labels s1l = {{"pool", "web"}, {"server", "127.0.0.1:9002"}};
  CHECK(r.value("lb_server_requests_total", s0l) == 11);
  CHECK(r.value("lb_server_up", s0l) == 1);
  CHECK(r.value("lb_server_up", s1l) == 0);
  CHECK(r.value("lb_server_weight", s0l) == 3);
  CHECK(r.value("lb_server_response_time_seconds", s0l) == doctest::Approx(0.25));
  CHECK(r.count("lb_server_bytes_in_total") == 2);
  for (const auto& [name, type] : r.types) {
    bool total = name.size() > 6 && name.substr(name.size() - 6) == "_total";
    CHECK_MESSAGE(total == (type == "counter"), name);
    CHECK(name.rfind("lb_", 0) == 0);
  }

  // Without reload counts the family is left out rather than invented.
  f.reloads_ok.reset();
  f.reloads_failed.reset();
  promcheck::Result r2 = promcheck::check(render_metrics(take_snapshot(*rt, f)));
  CHECK(r2.ok());
  CHECK(r2.types.count("lb_reloads_total") == 0);
}

TEST_CASE("stats: HTTP/2 counters per http listener, every close reason, in /metrics and /stats") {
  json j = {{"listeners",
             {{{"name", "front"}, {"listen", "127.0.0.1:8080"}, {"pool", "web"}},
              {{"name", "raw"}, {"listen", "127.0.0.1:5432"}, {"protocol", "tcp"}, {"pool", "web"}}}},
            {"pools", {{{"name", "web"}, {"servers", {{{"address", "127.0.0.1:9001"}}}}}}}};
  conf::LoadResult loaded = conf::load_string(j.dump(), "/tmp/stats_test.json");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.errors.empty() ? "" : loaded.errors[0]));
  auto rt = test_runtime(loaded.config);
  ListenerLive& front = *rt->listeners[0].live;
  front.http2_streams_total.add(42);
  front.count_http2_close(Http2CloseReason::rapid_reset);
  front.count_http2_close(Http2CloseReason::rapid_reset);
  front.count_http2_close(Http2CloseReason::protocol_error);
  front.count_http2_close(Http2CloseReason::count_);  // not a reason: ignored

  const char* const kReasons[] = {"rapid_reset",  "continuation_flood", "control_flood",
                                  "empty_frames", "stream_limit",       "protocol_error"};
  REQUIRE(std::size(kReasons) == kHttp2CloseReasons);
  for (size_t i = 0; i < kHttp2CloseReasons; ++i)
    CHECK(std::string(to_string(static_cast<Http2CloseReason>(i))) == kReasons[i]);

  std::string text = render_metrics(take_snapshot(*rt, test_facts()));
  promcheck::Result r = promcheck::check(text);
  REQUIRE_MESSAGE(r.ok(), (r.error_text() + "\n" + text));
  CHECK(r.types["lb_http2_streams_total"] == "counter");
  CHECK(r.types["lb_http2_connections_closed_total"] == "counter");
  CHECK(r.value("lb_http2_streams_total", {{"listener", "front"}}) == 42);
  CHECK(r.count("lb_http2_streams_total") == 1);  // the tcp listener has none
  CHECK(r.count("lb_http2_connections_closed_total") == kHttp2CloseReasons);
  for (const char* reason : kReasons) {
    const double want = std::string(reason) == "rapid_reset" ? 2 : std::string(reason) == "protocol_error" ? 1 : 0;
    CHECK_MESSAGE(r.value("lb_http2_connections_closed_total", {{"listener", "front"}, {"reason", reason}}) == want,
                  reason);
  }

  json sj = stats_json(*rt, test_facts());
  REQUIRE(sj["listeners"].size() == 2);
  CHECK(sj["listeners"][0]["http2"] == json({{"connections_closed",
                                              {{"rapid_reset", 2},
                                               {"continuation_flood", 0},
                                               {"control_flood", 0},
                                               {"empty_frames", 0},
                                               {"stream_limit", 0},
                                               {"protocol_error", 1}}},
                                             {"streams_total", 42}}));
  CHECK_FALSE(sj["listeners"][1].contains("http2"));
}

TEST_CASE("stats: label values are escaped") {
  CHECK(escape_label_value("plain") == "plain");
  CHECK(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  // Round trip through the checker with a hostile label value.
  StatsFacts f = test_facts();
  f.version = "1.0 \"beta\"\\\nx";
  StatsSnapshot snap;
  snap.facts = f;
  promcheck::Result r = promcheck::check(render_metrics(snap));
  REQUIRE_MESSAGE(r.ok(), r.error_text());
  CHECK(r.value("lb_build_info", {{"version", f.version}}) == 1);
}

TEST_CASE("promcheck: the checker itself rejects what it should") {
  const char* ok = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\"} 1\n";
  CHECK(promcheck::check(ok).ok());
  CHECK_FALSE(promcheck::check("a_total 1\n").ok());                                            // no HELP/TYPE
  CHECK_FALSE(promcheck::check("# HELP a x\n# TYPE a counter\na 1\n").ok());                      // counter w/o _total
  CHECK_FALSE(promcheck::check("# HELP a x\n# TYPE a gauge\na{l=\"v\\q\"} 1\n").ok());           // bad escape
  CHECK_FALSE(promcheck::check("# HELP a x\n# TYPE a gauge\na{l=\"v\"} one\n").ok());            // bad value
  CHECK_FALSE(promcheck::check("# HELP a x\n# TYPE a gauge\na 1\na 2\n").ok());                   // duplicate
  CHECK_FALSE(promcheck::check("# HELP a x\n# TYPE a gauge\na 1").ok());                          // no final \n
  CHECK_FALSE(promcheck::check("# HELP a x\n# TYPE a gauge\na{1l=\"v\"} 1\n").ok());             // label name
  CHECK_FALSE(promcheck::check("# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\na 1\n").ok());  // not contiguous
  CHECK_FALSE(promcheck::check("# HELP 9a x\n# TYPE 9a gauge\n").ok());                           // metric name
  CHECK(promcheck::check("# HELP a x\n# TYPE a gauge\na NaN\na{x=\"1\"} +Inf\n").ok());
}

TEST_CASE("admin: percent_decode") {
  CHECK(percent_decode("127.0.0.1%3A9001") == "127.0.0.1:9001");
  CHECK(percent_decode("127.0.0.1%3a9001") == "127.0.0.1:9001");
  CHECK(percent_decode("%5B%3A%3A1%5D:80") == "[::1]:80");
  CHECK(percent_decode("a+b") == "a+b");
  CHECK(percent_decode("") == "");
  CHECK_FALSE(percent_decode("%").has_value());
  CHECK_FALSE(percent_decode("%3").has_value());
  CHECK_FALSE(percent_decode("%zz").has_value());
  CHECK_FALSE(percent_decode("a%00b").has_value());
}

TEST_CASE("admin: bearer token checks") {
  std::optional<std::string> token = "s3cret";
  CHECK(check_bearer(token, std::string("Bearer s3cret")) == AuthResult::ok);
  CHECK(check_bearer(token, std::string("bearer s3cret")) == AuthResult::ok);
  CHECK(check_bearer(token, std::string("Bearer wrong")) == AuthResult::wrong);
  CHECK(check_bearer(token, std::string("Bearer s3cret2")) == AuthResult::wrong);
  CHECK(check_bearer(token, std::string("Bearer s3cre")) == AuthResult::wrong);
  CHECK(check_bearer(token, std::nullopt) == AuthResult::missing);
  CHECK(check_bearer(token, std::string("Basic czNjcmV0")) == AuthResult::missing);
  CHECK(check_bearer(token, std::string("Bearer ")) == AuthResult::missing);
  CHECK(check_bearer(std::nullopt, std::string("Bearer s3cret")) == AuthResult::no_token);
  CHECK(check_bearer(std::nullopt, std::nullopt) == AuthResult::no_token);
  CHECK(tokens_equal("abc", "abc"));
  CHECK_FALSE(tokens_equal("abc", "abd"));
  CHECK_FALSE(tokens_equal("abc", ""));
  json e = json::parse(json_error("bad \"thing\"\n"));
  CHECK(e == json({{"error", "bad \"thing\"\n"}}));
}
