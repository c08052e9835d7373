// tests/integration/rate_limit_test.cpp — SPEC 11 "rate_limit" through the
// real binary: a listener limit (sliding window by client address) and a
// route limit (token bucket by header) checked in the SPEC's order; 429 with
// a truthful Retry-After and lb's JSON body; counted in /stats and /metrics;
// one access line per refusal; the backend's own request count shows no
// refused request reached it; a request refused by the listener's limit
// spends none of the route's tokens. Then: waiting Retry-After gets through
// (both algorithms, real clock); limits are kept across a reload that leaves
// them unchanged and reset by one that changes them; a trusted proxy's
// X-Forwarded-For and a PROXY header name the client that is counted.
#include <doctest/doctest.h>

#include <csignal>
#include <thread>

#include "tests/integration/curl_client.h"
#include "tests/integration/harness.h"

using namespace it;

namespace {

json window_limit(const std::string& key, int rate, const std::string& per) {
  return {{"key", key}, {"algorithm", "sliding_window"}, {"rate", rate}, {"per", per}};
}

json bucket_limit(const std::string& key, int rate, const std::string& per, int burst) {
  return {{"key", key}, {"algorithm", "token_bucket"}, {"rate", rate}, {"per", per}, {"burst", burst}};
}

json with_admin() { return {{"admin", {{"listen", "127.0.0.1:0"}}}}; }

// Retry-After as a number of seconds (0 when absent or not a number).
int retry_after(const CurlResult& r) { return std::atoi(r.header("Retry-After").c_str()); }

// The samples of /metrics as "name{labels} value" lines.
std::string metrics(Lb& lb) {
  auto r = http_get(*lb.admin_port(), "/metrics");
  return r ? r->body : "";
}

// SIGHUP, then waits until /stats shows generation `want`.
bool reload(Lb& lb, uint64_t want) {
  lb.signal(SIGHUP);
  return wait_until([&] { return admin_stats(lb).value("generation", uint64_t{0}) == want; }, 10s);
}

}  // namespace

TEST_CASE("rate limit: listener then route limit; 429 with Retry-After and JSON body; counted, logged, never reaching a server") {
  Backend be = Backend::http(1);
  json routes = json::array({{{"name", "api"}, {"path_prefix", "/api/"},
                              {"rate_limit", bucket_limit("header:X-Team", 2, "1h", 2)}}});
  json listener = http_listener_on("p", {{"routes", routes}, {"rate_limit", window_limit("client_ip", 3, "1h")}});
  Lb lb(make_config({listener}, {make_pool("p", "round_robin", servers_for(be.http_ports()))}, with_admin()));
  BackendCount backend_requests{be.http_port()};
  const uint64_t before = backend_requests().value();
  const std::vector<std::string> red = {"-H", "X-Team: red"};

  // 127.0.0.2 spends its three listener admissions on a path without a route limit.
  for (int i = 0; i < 3; ++i) CHECK(curl_from("127.0.0.2", lb.port(), "/x").status == 200);
  // Its next requests to the route are refused by the listener's window,
  // which is full for an hour after its oldest admission.
  for (int i = 0; i < 3; ++i) {
    CurlResult r = curl_from("127.0.0.2", lb.port(), "/api/a", red);
    CHECK_MESSAGE(r.status == 429, r.err);
    CHECK(r.body == "{\"error\":\"rate limit exceeded\"}\n");
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(retry_after(r) >= 3500);
    CHECK(retry_after(r) <= 3600);
  }
  // Those refusals spent none of team red's route tokens: 127.0.0.1 gets both.
  CHECK(curl_from("127.0.0.1", lb.port(), "/api/a", red).status == 200);
  CHECK(curl_from("127.0.0.1", lb.port(), "/api/b", red).status == 200);
  // The route's bucket is empty now: one token every 30 minutes.
  CurlResult by_route = curl_from("127.0.0.1", lb.port(), "/api/c", red);
  CHECK(by_route.status == 429);
  CHECK(by_route.body == "{\"error\":\"rate limit exceeded\"}\n");
  CHECK(retry_after(by_route) >= 1700);
  CHECK(retry_after(by_route) <= 1800);
  // Another team has its own bucket, but 127.0.0.1's window is full: the
  // request the route refused had passed the listener's limit and spent
  // its admission there, as the SPEC's order has it.
  CHECK(curl_from("127.0.0.1", lb.port(), "/api/d", {"-H", "X-Team: blue"}).status == 429);

  CHECK(backend_requests() == before + 5);  // none of the five refusals reached it

  auto lines = wait_access_lines(lb, 10);
  REQUIRE(lines.size() == 10);
  int refused = 0;
  for (const json& l : lines) refused += l["status"] == 429;
  CHECK(refused == 5);
  CHECK(lines[8]["route"] == "api");
  CHECK(lines[8]["client"] == "127.0.0.1");
  CHECK(lines[8]["server"].is_null());

  json stats = admin_stats(lb);
  CHECK(stats["listeners"][0]["rate_limited_total"] == 5);  // every limit of the listener
  CHECK(stats["listeners"][0]["route_rate_limited_total"] == json({{"api", 1}}));
  CHECK(stats["listeners"][0]["responses"]["4xx"] == 5);
  const std::string m = metrics(lb);
  CHECK(m.find("lb_listener_rate_limited_total{listener=\"h\"} 5\n") != std::string::npos);
  CHECK(m.find("lb_route_rate_limited_total{listener=\"h\",route=\"api\"} 1\n") != std::string::npos);
}

TEST_CASE("rate limit: waiting Retry-After gets through, with a sliding window and with a token bucket") {
  Backend be = Backend::http(1);
  json routes = json::array({
      {{"name", "window"}, {"path_prefix", "/w/"}, {"rate_limit", window_limit("client_ip", 2, "3s")}},
      {{"name", "bucket"}, {"path_prefix", "/b/"}, {"rate_limit", bucket_limit("client_ip", 1, "2s", 2)}},
  });
  Lb lb(make_config({http_listener_on("p", {{"routes", routes}})},
                    {make_pool("p", "round_robin", servers_for(be.http_ports()))}));
  const auto start = Clock::now();
  for (const char* path : {"/w/1", "/w/2", "/b/1", "/b/2"}) CHECK(curl_from("127.0.0.1", lb.port(), path).status == 200);
  CurlResult w = curl_from("127.0.0.1", lb.port(), "/w/3");
  const auto w_at = Clock::now();
  CurlResult b = curl_from("127.0.0.1", lb.port(), "/b/3");
  const auto b_at = Clock::now();
  REQUIRE(w.status == 429);
  REQUIRE(b.status == 429);
  // Whole seconds until the oldest admission leaves the 3s window / a token
  // is back (one per 2s): never more than that from the first admission.
  CHECK(retry_after(w) >= 1);
  CHECK(retry_after(w) <= 3);
  CHECK(retry_after(b) >= 1);
  CHECK(retry_after(b) <= 2);
  // Waiting what it said is enough (this wait is the behaviour under test).
  std::this_thread::sleep_until(w_at + std::chrono::seconds(retry_after(w)));
  CHECK(curl_from("127.0.0.1", lb.port(), "/w/4").status == 200);
  // And the window held: its third admission came 3s or more after its first.
  CHECK(elapsed_ms(start) >= 3000);
  std::this_thread::sleep_until(b_at + std::chrono::seconds(retry_after(b)));
  CHECK(curl_from("127.0.0.1", lb.port(), "/b/4").status == 200);
}

TEST_CASE("rate limit: a reload keeps an unchanged limit's state and resets a changed one") {
  Backend be = Backend::http(1);
  json routes = json::array({{{"name", "api"}, {"path_prefix", "/api/"},
                              {"rate_limit", window_limit("client_ip", 1, "1h")}}});
  json listener = http_listener_on("p", {{"routes", routes}, {"rate_limit", bucket_limit("client_ip", 4, "1h", 4)}});
  Lb lb(make_config({listener}, {make_pool("p", "round_robin", servers_for(be.http_ports()))}, with_admin()));
  CHECK(curl_from("127.0.0.1", lb.port(), "/api/x").status == 200);  // listener: 3 tokens left
  CHECK(curl_from("127.0.0.1", lb.port(), "/api/x").status == 429);  // the route's window; listener: 2 left

  // An unrelated change: both limits keep their state.
  json c = lb.config();
  c["listeners"][0]["routes"].push_back({{"name", "other"}, {"path_prefix", "/other/"}});
  lb.rewrite_config(c);
  REQUIRE(reload(lb, 2));
  CHECK(curl_from("127.0.0.1", lb.port(), "/api/x").status == 429);  // route window still full; listener: 1 left
  CHECK(curl_from("127.0.0.1", lb.port(), "/x").status == 200);      // listener: the last token
  CHECK(curl_from("127.0.0.1", lb.port(), "/x").status == 429);      // listener bucket spent

  // Both limits change: a fresh window and a fresh, full bucket.
  c["listeners"][0]["routes"][0]["rate_limit"]["rate"] = 2;
  c["listeners"][0]["rate_limit"]["burst"] = 5;
  lb.rewrite_config(c);
  REQUIRE(reload(lb, 3));
  CHECK(curl_from("127.0.0.1", lb.port(), "/api/x").status == 200);
  CHECK(curl_from("127.0.0.1", lb.port(), "/api/x").status == 200);
  CHECK(curl_from("127.0.0.1", lb.port(), "/api/x").status == 429);
  json stats = admin_stats(lb);
  CHECK(stats["listeners"][0]["route_rate_limited_total"] == json({{"api", 3}}));  // counters survive reloads
  CHECK(stats["listeners"][0]["rate_limited_total"] == 4);
}

TEST_CASE("rate limit: the client counted is the one a trusted proxy names, and on tcp the PROXY header's source") {
  Backend be = Backend::http(1);
  Backend echo = Backend::echo(1);
  json http = http_listener_on("p", {{"trusted_proxies", {"127.0.0.2/32"}},
                                     {"rate_limit", window_limit("client_ip", 1, "1h")}});
  json tcp = {{"name", "t"}, {"listen", "127.0.0.1:0"}, {"protocol", "tcp"}, {"pool", "e"},
              {"proxy_protocol", {{"accept", true}}}, {"rate_limit", window_limit("client_ip", 1, "1h")}};
  Lb lb(make_config({http, tcp}, {make_pool("p", "round_robin", servers_for(be.http_ports())),
                                  make_pool("e", "round_robin", servers_for(echo.echo_ports()))}));
  auto xff = [](const char* ip) { return std::vector<std::string>{"-H", std::string("X-Forwarded-For: ") + ip}; };
  CHECK(curl_from("127.0.0.2", lb.port("h"), "/", xff("198.51.100.1")).status == 200);
  CHECK(curl_from("127.0.0.2", lb.port("h"), "/", xff("198.51.100.2")).status == 200);
  CHECK(curl_from("127.0.0.2", lb.port("h"), "/", xff("198.51.100.1")).status == 429);
  // An untrusted peer's header is just data: the peer is counted.
  CHECK(curl_from("127.0.0.3", lb.port("h"), "/", xff("198.51.100.3")).status == 200);
  CHECK(curl_from("127.0.0.3", lb.port("h"), "/", xff("198.51.100.4")).status == 429);

  // tcp: every connection comes from 127.0.0.1, the PROXY header names the client.
  auto session = [&](const char* source) {
    Socket s = Socket::connect(lb.port("t"));
    REQUIRE(s);
    REQUIRE(s.send_all(std::string("PROXY TCP4 ") + source + " 127.0.0.1 40000 5000\r\nhi"));
    Socket::Drain d = s.recv_until_eof(3s, 2);
    return d.data;
  };
  CHECK(session("192.0.2.1") == "hi");
  CHECK(session("192.0.2.2") == "hi");
  CHECK(session("192.0.2.1").empty());  // closed: 192.0.2.1 spent its one
  auto lines = wait_access_lines(lb, 8);
  int refused = 0;
  for (const json& l : lines) refused += l["status"] == 429;
  CHECK(refused == 3);
}

// Each request on a keep-alive connection goes through the limits afresh:
// how far the previous request's checks got is per-request state, reset as
// a whole when the connection's exchange begins its next request.
TEST_CASE("rate limit: every request of one keep-alive connection is counted") {
  Backend be = Backend::http(1);
  json listener = http_listener_on("p", {{"rate_limit", window_limit("client_ip", 3, "1h")}});
  Lb lb(make_config({listener}, {make_pool("p", "round_robin", servers_for(be.http_ports()))}));
  BackendCount backend_requests{be.http_port()};
  const uint64_t before = backend_requests().value();

  Socket s = Socket::connect(lb.port());
  REQUIRE(s);
  std::vector<int> statuses;
  for (int i = 0; i < 5; ++i) {
    HttpRequest req;
    req.target = "/n" + std::to_string(i);
    REQUIRE(s.send_all(req.serialize()));
    auto r = read_http_response(s, 5s);
    REQUIRE(r);
    statuses.push_back(r->status);
    if (r->status == 429) break;
  }
  CHECK(statuses == std::vector<int>{200, 200, 200, 429});
  CHECK(backend_requests().value() == before + 3);
}
