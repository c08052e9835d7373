// tests/integration/dashboard_test.cpp — the admin dashboard (SPEC 15, GET /
// on the admin listener): the page is self-contained (no URL to another
// origin, a strict Content-Security-Policy), and in real headless Chromium
// (tests/integration/dashboard/browser_check.py via Selenium) it shows every
// server, shows a killed backend down within 5 s without reloading, drains a
// server through its button once the token is typed, and stays quick with
// 50 pools × 20 servers. A failing browser check prints its screenshot path.
#include <doctest/doctest.h>

#include <signal.h>

#include <string>
#include <vector>

#include "tests/integration/harness.h"

using namespace it;

namespace {

constexpr const char* kToken = "dash-token";
const std::string kScript = "tests/integration/dashboard/browser_check.py";

std::string page_url(Lb& lb) { return "http://127.0.0.1:" + std::to_string(*lb.admin_port()) + "/"; }

}  // namespace

TEST_CASE("dashboard: GET / is one self-contained page") {
  Backend be = Backend::http(1);
  Lb lb(make_config({http_listener_on("p")}, {make_pool("p", "round_robin", servers_for(be.http_ports()))},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  auto r = http_get(*lb.admin_port(), "/");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Type").value_or("").rfind("text/html", 0) == 0);
  CHECK(r->header("Content-Security-Policy").value_or("").find("default-src 'none'") != std::string::npos);
  CHECK(r->body.find("<script src") == std::string::npos);
  CHECK(r->body.find("<link") == std::string::npos);
  CHECK(r->body.find("http://") == std::string::npos);
  CHECK(r->body.find("https://") == std::string::npos);
  CHECK(r->body.find("fetch(\"/stats\"") != std::string::npos);
}

TEST_CASE("dashboard: in headless Chromium — every server, a killed one down within 5 s, drain through the page") {
  std::vector<Backend> backends;
  std::vector<json> servers;
  for (int i = 0; i < 3; ++i) {
    backends.push_back(Backend::http(1));
    servers.push_back(server(backends.back().http_port()));
  }
  json hc = {{"type", "http"}, {"path", "/health"}, {"interval", "200ms"}, {"timeout", "500ms"}, {"rise", 1}, {"fall", 1}};
  Lb lb(make_config({http_listener_on("p")}, {make_pool("p", "round_robin", servers, {{"health_check", hc}})},
                    {{"admin", {{"listen", "127.0.0.1:0"}, {"token", kToken}}}}));
  std::vector<std::string> args = {"/usr/bin/python3", kScript, "live", page_url(lb), kToken,
                                   std::to_string(backends[0].pid())};
  for (const auto& b : backends) args.push_back(Backend::addr(b.http_port()));
  RunResult r = run_command(args, 60s);
  CHECK_MESSAGE(r.status == 0, (r.out + r.err));
  MESSAGE(r.out);
  json st = admin_stats(lb, 2s);
  REQUIRE(st["pools"].size() == 1);
  CHECK(st["pools"][0]["servers"][1]["state"] == "drain");  // the page's POST reached lb
}

TEST_CASE("dashboard: 50 pools × 20 servers in headless Chromium") {
  std::vector<json> pools;
  for (int p = 0; p < 50; ++p) {
    std::vector<json> servers;
    for (int s = 0; s < 20; ++s) servers.push_back({{"address", "127.0.0." + std::to_string(p + 2) + ":" +
                                                                    std::to_string(10000 + s)}});
    pools.push_back(make_pool("pool" + std::to_string(p), "round_robin", servers));
  }
  Lb lb(make_config({http_listener_on("pool0")}, pools, {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  RunResult r = run_command({"/usr/bin/python3", kScript, "scale", page_url(lb), "1000"}, 60s);
  CHECK_MESSAGE(r.status == 0, (r.out + r.err));
  MESSAGE(r.out);
}
