// tests/integration/tracing_slo_test.cpp — SPEC 15 tracing and SLOs of the
// real lb binary: W3C traceparent continued (same trace id and sampled flag,
// a new parent id, tracestate kept) or started (tracestate dropped, sampled
// per sample_percent) over HTTP/1.1 and HTTP/2 clients, the access log's
// trace_id, listeners without tracing untouched; SLO good/total and burn
// rates in /stats and lb_slo_error_budget_burn_rate; --check errors at the
// JSON pointer for bad "tracing" and "slo" values.
#include <doctest/doctest.h>

#include <regex>
#include <string>

#include "tests/integration/harness.h"
#include "tests/integration/policy_util.h"
#include "tests/integration/prom_check.h"

using namespace it;
using namespace it::policy;

namespace {

const std::regex kTraceparent("00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])");

json traced_config(const RecordingServer& server, int sample_percent) {
  json l = web_listener("p", {{"tracing", {{"sample_percent", sample_percent}}}, {"http2", {{"cleartext", true}}}});
  return make_config({l}, {pool_of("p", {&server})},
                     {{"admin", {{"listen", "127.0.0.1:0"}}}});
}

}  // namespace

TEST_CASE("tracing: a client's traceparent is continued with a new parent id; tracestate kept; trace_id logged") {
  RecordingServer server;
  Lb lb(traced_config(server, 0));  // sample_percent only decides traces lb starts
  const std::string client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  auto r = get(lb.port("web"), "/a",
               {{"traceparent", "00-" + client_trace + "-00f067aa0ba902b7-01"}, {"tracestate", "congo=t61rcWkgMzE"}});
  REQUIRE(r);
  CHECK(r->status == 200);
  const std::string head = server.last();
  std::smatch m;
  const std::string tp = value(head, "traceparent");
  REQUIRE_MESSAGE(std::regex_match(tp, m, kTraceparent), head);
  CHECK(m[1] == client_trace);
  CHECK(m[2] != "00f067aa0ba902b7");  // lb's own span
  CHECK(m[3] == "01");                // the client's sampled flag, not sample_percent's
  CHECK(value(head, "tracestate") == "congo=t61rcWkgMzE");
  auto lines = wait_access_lines(lb, 1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["trace_id"] == client_trace);
}

TEST_CASE("tracing: without a valid traceparent lb starts a trace and drops tracestate") {
  RecordingServer server;
  Lb lb(traced_config(server, 100));
  const uint16_t port = lb.port("web");
  // Invalid: upper-case hex, all-zero trace id, version ff, wrong length.
  const std::vector<std::string> bad = {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                                        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                                        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"};
  for (const std::string& tp : bad) {
    auto r = get(port, "/b", {{"traceparent", tp}, {"tracestate", "congo=t61rcWkgMzE"}});
    REQUIRE(r);
    const std::string head = server.last();
    std::smatch m;
    const std::string sent = value(head, "traceparent");
    REQUIRE_MESSAGE(std::regex_match(sent, m, kTraceparent), head);
    CHECK(m[1] != "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(m[3] == "01");  // sample_percent 100
    CHECK(values(head, "tracestate").empty());
  }
  // No traceparent at all, over HTTP/2 (h2c prior knowledge): started too.
  CurlResult c = curl({"--http2-prior-knowledge", "-H", "tracestate: x=1"}, base_url(port) + "/h2");
  REQUIRE_MESSAGE(c.response.status == 200, c.error);
  CHECK(c.response.version == "HTTP/2");
  std::smatch m;
  const std::string h2_head = server.last();
  const std::string sent = value(h2_head, "traceparent");
  REQUIRE_MESSAGE(std::regex_match(sent, m, kTraceparent), h2_head);
  CHECK(values(h2_head, "tracestate").empty());
  auto lines = wait_access_lines(lb, bad.size() + 1);
  REQUIRE(lines.size() == bad.size() + 1);
  CHECK(lines.back()["trace_id"] == m[1].str());
  CHECK(lines.back()["protocol"] == "HTTP/2");
}

TEST_CASE("tracing: sample_percent 0 starts unsampled traces; a listener without tracing forwards untouched") {
  RecordingServer server;
  json traced = web_listener("p", {{"tracing", {{"sample_percent", 0}}}});
  json plain = web_listener("p", {{"name", "plain"}});
  Lb lb(make_config({traced, plain}, {pool_of("p", {&server})}));  // the harness logs access to a file
  REQUIRE(get(lb.port("web"), "/c"));
  std::smatch m;
  const std::string sent = value(server.last(), "traceparent");
  REQUIRE(std::regex_match(sent, m, kTraceparent));
  CHECK(m[3] == "00");
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  REQUIRE(get(lb.port("plain"), "/d", {{"traceparent", tp}, {"tracestate", "a=b"}}));
  CHECK(value(server.last(), "traceparent") == tp);
  CHECK(value(server.last(), "tracestate") == "a=b");
  auto lines = wait_access_lines(lb, 2);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1]["trace_id"].is_null());
}

TEST_CASE("slo: good, total and burn rates per window in /stats and /metrics") {
  RecordingServer server("s", [](const std::string& head, int) {
    return request_line(head).find("/fail") != std::string::npos ? RecordingServer::status(503, "no")
                                                                 : RecordingServer::ok("ok");
  });
  json l = web_listener("p", {{"slo", {{"availability", 99}, {"latency", "5s"}, {"latency_percent", 90}}}});
  Lb lb(make_config({l}, {pool_of("p", {&server})}, {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  const uint16_t port = lb.port("web");
  for (int i = 0; i < 8; ++i) REQUIRE(get(port, "/ok"));
  for (int i = 0; i < 2; ++i) REQUIRE(get(port, "/fail"));
  json avail;
  REQUIRE(wait_until(
      [&] {
        auto r = http_get(*lb.admin_port(), "/stats");
        if (!r) return false;
        json st = json::parse(r->body, nullptr, false);
        avail = st["listeners"][0]["slo"]["availability"];
        return avail["windows"]["5m"]["total"] == 10;
      },
      5s));
  CHECK(avail["target"] == 99);
  for (const char* w : {"5m", "1h", "6h"}) {
    CHECK(avail["windows"][w]["good"] == 8);
    CHECK(avail["windows"][w]["total"] == 10);
    // 20% errors against a 1% budget: burning 20 times too fast.
    CHECK(avail["windows"][w]["burn_rate"].get<double>() == doctest::Approx(20.0));
  }
  auto r = http_get(*lb.admin_port(), "/stats");
  REQUIRE(r);
  json lat = json::parse(r->body)["listeners"][0]["slo"]["latency"];
  CHECK(lat["target"] == 90);
  CHECK(lat["windows"]["1h"]["good"] == 10);  // every answer well within 5 s
  CHECK(lat["windows"]["1h"]["burn_rate"] == 0);
  auto m = http_get(*lb.admin_port(), "/metrics");
  REQUIRE(m);
  promcheck::Result res = promcheck::check(m->body);
  REQUIRE_MESSAGE(res.ok(), res.error_text());
  CHECK(res.value("lb_slo_error_budget_burn_rate", {{"listener", "web"}, {"objective", "availability"}, {"window", "6h"}})
            .value_or(0) == doctest::Approx(20.0));
  CHECK(res.value("lb_slo_error_budget_burn_rate", {{"listener", "web"}, {"objective", "latency"}, {"window", "5m"}}) ==
        0);
}

TEST_CASE("tracing and slo: --check names the JSON pointer of bad values") {
  TempDir dir;
  RecordingServer server;
  json l = web_listener("p", {{"tracing", {{"sample_percent", 101}}}, {"slo", {{"availability", 100}}}});
  json tcp = {{"name", "t"}, {"listen", "127.0.0.1:0"}, {"protocol", "tcp"}, {"pool", "p"},
              {"tracing", {{"sample_percent", 5}}}};
  RunResult r = check_config(dir, make_config({l, tcp}, {pool_of("p", {&server})}));
  CHECK(r.status == 1);
  CHECK_MESSAGE(r.err.find("/listeners/0/tracing/sample_percent") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find("/listeners/0/slo/availability") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find("/listeners/1/tracing: tracing applies only to http listeners") != std::string::npos, r.err);
  json typo = web_listener("p", {{"slo", {{"latency", "300ms"}, {"latency_pct", 99}}}});
  r = check_config(dir, make_config({typo}, {pool_of("p", {&server})}));
  CHECK(r.status == 1);
  CHECK_MESSAGE(r.err.find("/listeners/0/slo/latency_pct") != std::string::npos, r.err);
}
