// tests/integration/observability_test.cpp — SPEC 15 metrics of the real lb
// binary: the latency histograms, responses by exact status per route
// (route="none" when none matched), health-check and TLS-handshake counters
// and the process_* metrics, checked with the strict exposition checker and
// with Debian's `promtool check metrics`; /stats latency_ms and routes; and a
// real Prometheus server that scrapes lb's admin /metrics and answers a
// query about it through its HTTP API.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <cmath>
#include <string>

#include "tests/integration/curl_client.h"
#include "tests/integration/harness.h"
#include "tests/integration/prom_check.h"

using namespace it;

namespace {

// Listener "web": route "api" (path_prefix /api/) and the default pool, both
// pool "p" over `ports`, health-checked every 100 ms; admin on a free port.
json observed_config(const std::vector<uint16_t>& ports) {
  json hc = {{"type", "http"}, {"path", "/health"}, {"interval", "100ms"}, {"timeout", "1s"}, {"rise", 1}, {"fall", 1}};
  json listener = http_listener_on("p", {{"name", "web"},
                                         {"routes", {{{"name", "api"}, {"path_prefix", "/api/"}, {"pool", "p"}}}}});
  return make_config({listener}, {make_pool("p", "round_robin", servers_for(ports), {{"health_check", hc}})},
                     {{"admin", {{"listen", "127.0.0.1:0"}}}});
}

std::string admin_body(Lb& lb, const std::string& path) {
  auto r = http_get(*lb.admin_port(), path);
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return r->body;
}

// `promtool check metrics` on `text`: its exit status and output.
RunResult promtool_check(Lb& lb, const std::string& text) {
  const std::string file = lb.file("metrics.txt");
  write_file(file, text);
  return run_command({"/bin/sh", "-c", "exec /usr/bin/promtool check metrics < '" + file + "'"}, 20s);
}

// Until both servers passed their first health check.
void wait_servers_up(Lb& lb) {
  REQUIRE(wait_until(
      [&] {
        auto r = http_get(*lb.admin_port(), "/stats");
        if (!r || r->status != 200) return false;
        json st = json::parse(r->body, nullptr, false);
        return !st.is_discarded() && st["pools"][0]["servers_available"] == st["pools"][0]["servers_total"];
      },
      5s));
}

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST_CASE("observability: histograms, exact codes by route, health checks and process metrics; promtool passes") {
  Backend be = Backend::http(2);
  Lb lb(observed_config(be.http_ports()));
  wait_servers_up(lb);
  const uint16_t port = lb.port("web");
  for (int i = 0; i < 3; ++i) {
    auto r = http_get(port, "/api/x");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  for (int i = 0; i < 2; ++i) {
    auto r = http_get(port, "/status/404");
    REQUIRE(r);
    CHECK(r->status == 404);
  }
  // Each request is counted as its exchange ends, just after the last byte went out.
  promcheck::Result res;
  std::string body;
  REQUIRE(wait_until(
      [&] {
        body = admin_body(lb, "/metrics");
        res = promcheck::check(body);
        return res.value("lb_http_request_duration_seconds_count", {{"listener", "web"}, {"route", "none"}}) == 2 &&
               res.value("lb_health_checks_total", {{"pool", "p"}, {"server", Backend::addr(be.http_port(1))},
                                                    {"result", "pass"}})
                       .value_or(0) >= 1;
      },
      5s));
  REQUIRE_MESSAGE(res.ok(), (res.error_text() + body));
  CHECK(res.types["lb_http_request_duration_seconds"] == "histogram");
  CHECK(res.types["lb_upstream_response_seconds"] == "histogram");
  const promcheck::Labels api = {{"listener", "web"}, {"route", "api"}};
  CHECK(res.value("lb_http_request_duration_seconds_count", api) == 3);
  promcheck::Labels inf = api;
  inf["le"] = "+Inf";
  CHECK(res.value("lb_http_request_duration_seconds_bucket", inf) == 3);
  promcheck::Labels smallest = api;
  smallest["le"] = "0.0005";
  CHECK(res.value("lb_http_request_duration_seconds_bucket", smallest).has_value());
  CHECK(res.value("lb_http_request_duration_seconds_sum", api).value_or(-1) > 0);
  CHECK(res.count("lb_http_request_duration_seconds_bucket") == 2 * 15);  // api and none, 14 bounds + Inf
  CHECK(res.value("lb_http_responses_total", {{"listener", "web"}, {"route", "api"}, {"code", "200"}}) == 3);
  CHECK(res.value("lb_http_responses_total", {{"listener", "web"}, {"route", "none"}, {"code", "404"}}) == 2);
  CHECK(!res.value("lb_http_responses_total", {{"listener", "web"}, {"route", "api"}, {"code", "404"}}));
  double upstream = 0;
  for (auto p : be.http_ports())
    upstream += res.value("lb_upstream_response_seconds_count", {{"pool", "p"}, {"server", Backend::addr(p)}})
                    .value_or(0);
  CHECK(upstream == 5);
  CHECK(res.value("lb_health_checks_total", {{"pool", "p"}, {"server", Backend::addr(be.http_port(0))},
                                             {"result", "fail"}}) == 0);
  CHECK(res.value("process_open_fds").value_or(0) > 5);
  CHECK(res.value("process_max_fds").value_or(0) >= res.value("process_open_fds").value_or(0));
  CHECK(res.value("process_resident_memory_bytes").value_or(0) > 1e6);
  CHECK(res.value("process_cpu_seconds_total").value_or(-1) >= 0);
  CHECK(std::abs(res.value("process_start_time_seconds").value_or(0) - now_unix()) < 120);

  RunResult check = promtool_check(lb, body);
  REQUIRE(check.status.has_value());
  CHECK_MESSAGE(*check.status == 0, (check.out + check.err));

  // /stats: latency percentiles per listener and server, per-route figures.
  json st = json::parse(admin_body(lb, "/stats"));
  json l = st["listeners"][0];
  CHECK(l["latency_ms"]["p50"].get<double>() > 0);
  CHECK(l["latency_ms"]["p50"].get<double>() <= l["latency_ms"]["p90"].get<double>());
  CHECK(l["latency_ms"]["p90"].get<double>() <= l["latency_ms"]["p99"].get<double>());
  CHECK(l["latency_ms"]["p99"].get<double>() < 10'000);
  REQUIRE(l["routes"].size() == 2);
  CHECK(l["routes"][0]["name"] == "api");
  CHECK(l["routes"][0]["requests_total"] == 3);
  CHECK(l["routes"][0]["responses"]["2xx"] == 3);
  CHECK(l["routes"][1]["name"] == "none");
  CHECK(l["routes"][1]["requests_total"] == 2);
  CHECK(l["routes"][1]["responses"]["4xx"] == 2);
  CHECK(l["routes"][1]["latency_ms"]["p50"].get<double>() > 0);
  for (const json& s : st["pools"][0]["servers"]) {
    CHECK(s["latency_ms"]["p50"].get<double>() > 0);
    CHECK(s["latency_ms"]["p99"].get<double>() >= s["latency_ms"]["p50"].get<double>());
  }
}

TEST_CASE("observability: TLS handshakes by version and result") {
  Backend be = Backend::http(1);
  TempDir certs;
  RunResult gen = run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                               "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                               "-keyout", certs.file("k.pem"), "-out", certs.file("c.pem")},
                              20s);
  REQUIRE(gen.status == 0);
  json listener = http_listener_on(
      "p", {{"name", "sec"},
            {"tls", {{"certificates", {{{"cert", certs.file("c.pem")}, {"key", certs.file("k.pem")}}}}}}});
  Lb lb(make_config({listener}, {make_pool("p", "round_robin", servers_for(be.http_ports()))},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  const uint16_t port = lb.port("sec");
  RunResult ok = run_command({"/usr/bin/curl", "-sk", "--tlsv1.3", "-o", "/dev/null", "-w", "%{http_code}",
                              "https://127.0.0.1:" + std::to_string(port) + "/"},
                             10s);
  CHECK(ok.out == "200");
  {
    Socket s = Socket::connect(port);  // plaintext HTTP on a TLS port: a failed handshake
    s.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(s.wait_closed(5s) != Io::timeout);
  }
  promcheck::Result res;
  CHECK(wait_until(
      [&] {
        res = promcheck::check(admin_body(lb, "/metrics"));
        return res.value("lb_tls_handshakes_total", {{"listener", "sec"}, {"version", "unknown"}, {"result", "error"}}) ==
               1;
      },
      5s));
  CHECK(res.value("lb_tls_handshakes_total", {{"listener", "sec"}, {"version", "TLSv1.3"}, {"result", "ok"}}) == 1);
  CHECK(res.value("lb_tls_handshakes_total", {{"listener", "sec"}, {"version", "TLSv1.2"}, {"result", "ok"}}) == 0);
}

TEST_CASE("observability: a real Prometheus server scrapes lb and answers a query about it") {
  Backend be = Backend::http(1);
  Lb lb(observed_config(be.http_ports()));
  wait_servers_up(lb);
  for (int i = 0; i < 4; ++i) REQUIRE(http_get(lb.port("web"), "/api/y"));

  TempDir prom;
  const uint16_t prom_port = free_port();
  write_file(prom.file("prometheus.yml"),
             "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
             "scrape_configs:\n  - job_name: lb\n    static_configs:\n      - targets: ['127.0.0.1:" +
                 std::to_string(*lb.admin_port()) + "']\n");
  Child server({"/usr/bin/prometheus", "--config.file=" + prom.file("prometheus.yml"),
                "--storage.tsdb.path=" + prom.file("data"),
                "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"},
               prom.file("out.log"), prom.file("err.log"));
  // sum(lb_http_request_duration_seconds_count{route="api"}), URL-encoded.
  const std::string query =
      "/api/v1/query?query=sum%28lb_http_request_duration_seconds_count%7Broute%3D%22api%22%7D%29";
  json answer;
  bool got = wait_until(
      [&] {
        auto r = http_get(prom_port, query, 2s);
        if (!r || r->status != 200) return false;
        answer = json::parse(r->body, nullptr, false);
        if (answer.is_discarded() || answer["data"]["result"].empty()) return false;
        return answer["data"]["result"][0]["value"][1] == "4";
      },
      30s, 200ms);
  CHECK_MESSAGE(got, (answer.dump() + "\nprometheus stderr:\n" + server.err()));
  // The scrape itself was healthy: up == 1 for the job.
  auto up = http_get(prom_port, "/api/v1/query?query=up%7Bjob%3D%22lb%22%7D", 2s);
  REQUIRE(up);
  json uj = json::parse(up->body, nullptr, false);
  REQUIRE(!uj.is_discarded());
  CHECK(uj["data"]["result"][0]["value"][1] == "1");
  server.signal(SIGTERM);
  server.wait(10s);
}
