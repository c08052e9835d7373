// tests/integration/dns_discovery_test.cpp — SPEC 13 service discovery by
// DNS, against the real lb binary and a DNS server of the test's own whose
// answers change while lb runs (tests/integration/dns_server.py):
//   - A answers: servers join and leave without a reload; one that stays
//     keeps its counters; one that leaves drains (its in-flight request
//     finishes) and then leaves /stats; what the backends received proves
//     where requests went;
//   - failed answers (SERVFAIL, NXDOMAIN, a silent server) keep the last
//     good set, are logged and counted in lb_dns_resolutions_total;
//   - lb asks at most once a second though the answers' TTL is 1 s;
//   - SRV answers: the lowest priority is primary, others backup, weights
//     used; a TTL shorter than the interval brings changes in sooner.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <thread>

#include "tests/integration/dns_fixture.h"
#include "tests/integration/harness.h"

using namespace it;

namespace {

constexpr const char* kToken = "t";

// A backend of our own on `host`:`port` (127.0.0.2 stands in for a second machine).
struct HostBackend {
  TempDir dir;
  Child child;
  HostBackend(const std::string& host, uint16_t port) {
    child = Child({backend_bin(), "--host", host, "--http", std::to_string(port)}, dir.file("out"), dir.file("err"));
    REQUIRE_MESSAGE(wait_until([&] { return Socket::connect(port, 200ms, host).valid(); }, 10s), child.err());
  }
};

// What the backend at host:port says it received (its /stats counts itself too).
int64_t backend_requests(const std::string& host, uint16_t port) {
  Socket s = Socket::connect(port, 2s, host);
  if (!s || !s.send_all("GET /stats HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")) return -1;
  auto r = read_http_response(s, 3s);
  if (!r || r->status != 200) return -1;
  return json::parse(r->body, nullptr, false).value("requests_total", int64_t{-1});
}

json zone_a(std::vector<std::string> ips, int ttl = 1) {
  return {{"names", {{"app.test", {{"A", ips}, {"ttl", ttl}}}}}};
}

json discovery_config(const DnsServer& dns, const std::string& name, const std::string& type,
                      const std::string& algorithm = "round_robin", const std::string& interval = "1s") {
  json pool = {{"name", "p"}, {"algorithm", algorithm},
               {"discovery", {{"dns", name}, {"type", type}, {"interval", interval}}}};
  json c = make_config({http_listener_on("p")}, {pool});
  c["dns"] = dns_settings(dns, "1s");
  c["admin"] = {{"listen", "127.0.0.1:0"}, {"token", kToken}};
  return c;
}

std::set<std::string> server_addresses(Lb& lb) {
  std::set<std::string> out;
  json p = find_pool(admin_stats(lb), "p");
  if (p.is_object())
    for (const auto& s : p["servers"]) out.insert(s.value("address", ""));
  return out;
}

uint64_t resolutions(Lb& lb, const std::string& result) {
  auto r = http_get(*lb.admin_port(), "/metrics");
  if (!r) return 0;
  const std::string needle = "lb_dns_resolutions_total{pool=\"p\",result=\"" + result + "\"} ";
  auto at = r->body.find(needle);
  return at == std::string::npos ? 0 : std::stoull(r->body.substr(at + needle.size()));
}

bool logged(const Lb& lb, const std::string& msg) {
  for (const auto& j : lb.error_log())
    if (j.value("msg", "") == msg) return true;
  return false;
}

}  // namespace

TEST_SUITE("dns_discovery") {

TEST_CASE("A discovery: servers join and leave without a reload, stayers keep their state, leavers drain") {
  Backend first = Backend::http(1);
  const uint16_t port = first.http_port();
  HostBackend second("127.0.0.2", port);
  DnsServer dns(zone_a({"127.0.0.1"}));
  const auto t0 = Clock::now();
  Lb lb(discovery_config(dns, "app.test:" + std::to_string(port), "A"));
  const std::string a1 = "127.0.0.1:" + std::to_string(port), a2 = "127.0.0.2:" + std::to_string(port);

  REQUIRE_MESSAGE(wait_until([&] { return server_addresses(lb) == std::set<std::string>{a1}; }, 5s), lb.diagnostics());
  const uint16_t web = lb.port();
  for (int i = 0; i < 4; ++i) REQUIRE(http_get(web, "/")->status == 200);
  const uint64_t a1_before = find_server(admin_stats(lb), "p", a1).value("requests_total", uint64_t{0});
  CHECK(a1_before == 4);

  // A second address joins.
  dns.set_zone(zone_a({"127.0.0.1", "127.0.0.2"}));
  REQUIRE(wait_until([&] { return server_addresses(lb) == std::set<std::string>{a1, a2}; }, 5s));
  const int64_t second_before = backend_requests("127.0.0.2", port);
  for (int i = 0; i < 10; ++i) REQUIRE(http_get(web, "/")->status == 200);
  // It got its share, and the stayer kept its counters.
  CHECK(backend_requests("127.0.0.2", port) - second_before - 1 == 5);
  CHECK(find_server(admin_stats(lb), "p", a1).value("requests_total", uint64_t{0}) == a1_before + 5);

  // A request in flight on each server, then 127.0.0.2 leaves the answer.
  std::vector<std::optional<HttpResponse>> slow(2);
  std::vector<std::thread> clients;
  for (int i = 0; i < 2; ++i) clients.emplace_back([&, i] { slow[i] = http_get(web, "/delay/1500", 10s); });
  struct Join {
    std::vector<std::thread>& t;
    ~Join() { for (auto& x : t) if (x.joinable()) x.join(); }
  } join{clients};
  REQUIRE(wait_until([&] { return find_pool(admin_stats(lb), "p").value("requests_total", 0) >= 16; }, 3s));
  dns.set_zone(zone_a({"127.0.0.1"}));
  REQUIRE(wait_until([&] { return find_server(admin_stats(lb), "p", a2).value("state", "") == "drain"; }, 5s));
  for (int i = 0; i < 4; ++i) REQUIRE(http_get(web, "/")->status == 200);  // none of these go to the leaver
  for (auto& c : clients) c.join();
  for (auto& r : slow) {
    REQUIRE(r.has_value());
    CHECK(r->status == 200);  // the leaver finished its request
  }
  REQUIRE(wait_until([&] { return server_addresses(lb) == std::set<std::string>{a1}; }, 5s));
  CHECK(backend_requests("127.0.0.2", port) - second_before - 2 == 6);  // 5 + the slow one, nothing after
  CHECK(logged(lb, "dns: server left"));
  CHECK(logged(lb, "dns: server drained and removed"));

  // At most one question a second, though every answer says TTL 1.
  const double seconds = elapsed_ms(t0) / 1000.0;
  CHECK(static_cast<double>(dns.queries("app.test", "A")) <= seconds + 2);
}

TEST_CASE("failed answers keep the last good servers, are logged and counted by result") {
  Backend be = Backend::http(1);
  const uint16_t port = be.http_port();
  DnsServer dns(zone_a({"127.0.0.1"}));
  Lb lb(discovery_config(dns, "app.test:" + std::to_string(port), "A"));
  const std::string a1 = "127.0.0.1:" + std::to_string(port);
  REQUIRE(wait_until([&] { return server_addresses(lb) == std::set<std::string>{a1}; }, 5s));
  CHECK(resolutions(lb, "ok") >= 1);

  auto keeps_serving = [&] {
    CHECK(server_addresses(lb) == std::set<std::string>{a1});
    auto r = http_get(lb.port(), "/");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
  };
  dns.set_zone({{"names", {{"app.test", {{"rcode", "SERVFAIL"}}}}}});
  REQUIRE(wait_until([&] { return resolutions(lb, "servfail") >= 1; }, 5s));
  keeps_serving();
  dns.set_zone({{"names", json::object()}});
  REQUIRE(wait_until([&] { return resolutions(lb, "nxdomain") >= 1; }, 5s));
  keeps_serving();
  dns.set_zone({{"names", {{"app.test", {{"A", json::array()}}}}}});
  REQUIRE(wait_until([&] { return resolutions(lb, "empty") >= 1; }, 5s));
  keeps_serving();
  // Answers later than dns.timeout (1s) are timeouts.
  json late = zone_a({"127.0.0.1"});
  late["delay_ms"] = 2500;
  dns.set_zone(late);
  REQUIRE(wait_until([&] { return resolutions(lb, "timeout") >= 1; }, 8s));
  keeps_serving();
  CHECK(logged(lb, "dns: resolution failed, keeping the last good servers"));
}

TEST_CASE("AAAA discovery: servers are [IPv6]:port and receive the requests") {
  const uint16_t port = free_port();
  HostBackend v6("::1", port);
  DnsServer dns(json{{"names", {{"app.test", {{"A", {"127.0.0.1"}}, {"AAAA", {"::1"}}, {"ttl", 1}}}}}});
  Lb lb(discovery_config(dns, "app.test:" + std::to_string(port), "AAAA"));
  const std::string a6 = "[::1]:" + std::to_string(port);
  REQUIRE_MESSAGE(wait_until([&] { return server_addresses(lb) == std::set<std::string>{a6}; }, 5s), lb.diagnostics());
  const int64_t before = backend_requests("::1", port);
  for (int i = 0; i < 3; ++i) REQUIRE(http_get(lb.port(), "/")->status == 200);
  CHECK(backend_requests("::1", port) - before - 1 == 3);
}

TEST_CASE("SRV discovery: the lowest priority serves, the others are backups, SRV weights are weights") {
  Backend be = Backend::http(3);
  const auto ports = be.http_ports();
  auto srv_zone = [&](json records) {
    return json{{"names",
                 {{"_http._tcp.svc.test", {{"SRV", records}, {"ttl", 1}}},
                  {"a.test", {{"A", {"127.0.0.1"}}}},
                  {"b.test", {{"A", {"127.0.0.1"}}}}}}};
  };
  DnsServer dns(srv_zone({{10, 5, ports[0], "a.test"}, {10, 1, ports[1], "a.test"}, {20, 1, ports[2], "b.test"}}));
  // interval 30s: only the answers' TTL (1 s) makes lb ask again soon.
  Lb lb(discovery_config(dns, "_http._tcp.svc.test", "SRV", "weighted_round_robin", "30s"));
  auto addr = [&](int i) { return "127.0.0.1:" + std::to_string(ports[i]); };
  REQUIRE_MESSAGE(wait_until([&] { return server_addresses(lb).size() == 3; }, 5s), lb.diagnostics());
  json stats = admin_stats(lb);
  CHECK(find_server(stats, "p", addr(0)).value("weight", 0) == 5);
  CHECK(find_server(stats, "p", addr(1)).value("weight", 0) == 1);
  CHECK(find_server(stats, "p", addr(0)).value("backup", true) == false);
  CHECK(find_server(stats, "p", addr(2)).value("backup", false) == true);
  std::map<std::string, int> seen;
  for (int i = 0; i < 60; ++i) {
    auto r = http_get(lb.port(), "/");
    REQUIRE(r.has_value());
    seen[r->header("X-Backend-Port").value_or("")]++;
  }
  CHECK(seen[std::to_string(ports[0])] == 50);
  CHECK(seen[std::to_string(ports[1])] == 10);
  CHECK(seen.count(std::to_string(ports[2])) == 0);  // the backup waits

  // The TTL, not the 30 s interval, brings the change within seconds.
  dns.set_zone(srv_zone({{10, 1, ports[1], "a.test"}, {20, 1, ports[2], "b.test"}}));
  CHECK(wait_until([&] { return server_addresses(lb) == std::set<std::string>{addr(1), addr(2)}; }, 5s));
}

}  // TEST_SUITE
