// tests/integration/admin_test.cpp — the admin API (SPEC section 6) of the
// real lb binary: /healthz, /ready, 404/405, keep-alive; /stats counters
// exact after known traffic; /metrics through the strict exposition checker;
// /config redaction; bearer-token auth (401/403/200); server state (drain,
// maint, ready) and weight changes seen by the data path; POST /reload, good
// and bad, with /stats last_reload and the old configuration still serving.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/integration/prom_check.h"

using namespace it;

namespace {

constexpr const char* kToken = "secret";

// Listener "web" (http) on pool "p" over `ports`, admin on a free port.
json admin_config(const std::vector<uint16_t>& ports, const std::string& algorithm = "round_robin",
                  std::optional<std::string> token = kToken) {
  std::vector<json> servers;
  for (auto p : ports) servers.push_back(server(p));
  json admin = {{"listen", "127.0.0.1:0"}};
  if (token) admin["token"] = *token;
  return {{"admin", admin},
          {"listeners", {{{"name", "web"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "p"}}}},
          {"pools", {{{"name", "p"}, {"algorithm", algorithm}, {"servers", servers}}}}};
}

std::optional<HttpResponse> admin_get(Lb& lb, const std::string& path) { return http_get(*lb.admin_port(), path); }

std::optional<HttpResponse> admin_post(Lb& lb, const std::string& path, const std::string& body,
                                       std::optional<std::string> auth = std::string("Bearer ") + kToken) {
  HttpRequest r;
  r.method = "POST";
  r.target = path;
  r.body = body;
  if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
  if (auth) r.headers.emplace_back("Authorization", *auth);
  return http_request(*lb.admin_port(), r);
}

json body_json(const std::optional<HttpResponse>& r) {
  REQUIRE(r.has_value());
  json j = json::parse(r->body, nullptr, false);
  REQUIRE_MESSAGE(!j.is_discarded(), r->body);
  return j;
}

json stats(Lb& lb) {
  auto r = admin_get(lb, "/stats");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return body_json(r);
}

// GET / through the listener; the X-Backend-Port that answered (0 on failure).
uint16_t backend_of(Lb& lb) {
  auto r = http_get(lb.port("web"), "/");
  if (!r || r->status != 200) return 0;
  auto h = r->header("X-Backend-Port");
  return h ? static_cast<uint16_t>(std::stoul(*h)) : 0;
}

std::map<uint16_t, int> spread(Lb& lb, int n) {
  std::map<uint16_t, int> m;
  for (int i = 0; i < n; ++i) ++m[backend_of(lb)];
  return m;
}

std::string encoded(uint16_t port) { return "127.0.0.1%3A" + std::to_string(port); }

}  // namespace

TEST_CASE("admin: /healthz, /ready, unknown path 404, wrong method 405, HEAD, keep-alive") {
  Backend be = Backend::http(1);
  Lb lb(admin_config(be.http_ports()));

  auto r = admin_get(lb, "/healthz");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "ok");
  CHECK(wait_until([&] { auto x = admin_get(lb, "/ready"); return x && x->status == 200 && x->body == "ready"; }, 5s));

  r = admin_get(lb, "/nope");
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(body_json(r).contains("error"));
  CHECK(r->header("Content-Type").value_or("") == "application/json");

  r = admin_post(lb, "/stats", "");
  REQUIRE(r);
  CHECK(r->status == 405);
  CHECK(body_json(r).contains("error"));
  CHECK(r->header("Allow").has_value());
  r = admin_get(lb, "/reload");
  REQUIRE(r);
  CHECK(r->status == 405);
  CHECK(r->header("Allow").value_or("") == "POST");

  // Several requests on one connection, including HEAD (no body).
  Socket s = Socket::connect(*lb.admin_port());
  REQUIRE(s);
  for (const char* method : {"GET", "HEAD", "GET"}) {
    HttpRequest req;
    req.method = method;
    req.target = "/healthz";
    REQUIRE(s.send_all(req.serialize()));
    auto resp = read_http_response(s, 5s, method);
    REQUIRE(resp);
    CHECK(resp->status == 200);
    CHECK(resp->body == (std::string(method) == "HEAD" ? "" : "ok"));
    CHECK(resp->header("Content-Length").value_or("") == "2");
  }
  // Pipelined: answers in order.
  REQUIRE(s.send_all("GET /nope HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
  auto p1 = read_http_response(s, 5s);
  auto p2 = read_http_response(s, 5s);
  REQUIRE(p1);
  REQUIRE(p2);
  CHECK(p1->status == 404);
  CHECK(p2->status == 200);
  // A malformed request: 400 and the connection closes.
  REQUIRE(s.send_all("GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"));
  auto bad = read_http_response(s, 5s);
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(s.wait_closed(2s) == Io::eof);
}

TEST_CASE("admin: /stats carries every field and exact counters after N requests") {
  Backend be = Backend::http(2);
  Lb lb(admin_config(be.http_ports()));
  constexpr int kRequests = 10;

  // Kept-alive connection: one connection, N requests, exact bytes sent.
  Socket s = Socket::connect(lb.port("web"));
  REQUIRE(s);
  uint64_t sent = 0;
  std::map<std::string, int> by_port;
  for (int i = 0; i < kRequests; ++i) {
    HttpRequest req;
    req.target = "/bytes/100";
    std::string wire = req.serialize();
    sent += wire.size();
    REQUIRE(s.send_all(wire));
    auto r = read_http_response(s, 5s);
    REQUIRE(r);
    REQUIRE(r->status == 200);
    ++by_port[r->header("X-Backend-Port").value_or("?")];
  }
  s.close();
  CHECK(wait_until([&] { return stats(lb)["listeners"][0]["connections_active"] == 0; }, 5s));

  json j = stats(lb);
  CHECK(j["version"].is_string());
  CHECK(!j["version"].get<std::string>().empty());
  CHECK(j["uptime_s"].is_number());
  CHECK(j["generation"] == 1);
  CHECK(j["last_reload"]["ok"] == true);
  CHECK(j["last_reload"]["at"].is_string());
  CHECK(j["last_reload"]["error"].is_null());

  REQUIRE(j["listeners"].size() == 1);
  json l = j["listeners"][0];
  CHECK(l["name"] == "web");
  CHECK(l["listen"] == lb.config()["listeners"][0]["listen"]);
  CHECK(l["protocol"] == "http");
  CHECK(l["connections_active"] == 0);
  CHECK(l["connections_total"] == 1);
  CHECK(l["requests_total"] == kRequests);
  CHECK(l["responses"] == json({{"1xx", 0}, {"2xx", kRequests}, {"3xx", 0}, {"4xx", 0}, {"5xx", 0}}));
  CHECK(l["rate_limited_total"] == 0);
  CHECK(l["bytes_in"] == sent);
  CHECK(l["bytes_out"].get<uint64_t>() >= kRequests * 100u);

  REQUIRE(j["pools"].size() == 1);
  json p = j["pools"][0];
  CHECK(p["name"] == "p");
  CHECK(p["algorithm"] == "round_robin");
  CHECK(p["servers_available"] == 2);
  CHECK(p["servers_total"] == 2);
  CHECK(p["requests_total"] == kRequests);
  CHECK(p["retries_total"] == 0);
  CHECK(p["no_server_total"] == 0);
  CHECK(p["panic"] == false);
  REQUIRE(p["servers"].size() == 2);
  uint64_t total = 0;
  for (size_t i = 0; i < 2; ++i) {
    json sv = p["servers"][i];
    CHECK(sv["address"] == Backend::addr(be.http_port(i)));
    CHECK(sv["weight"] == 1);
    CHECK(sv["backup"] == false);
    CHECK(sv["state"] == "up");
    CHECK(sv["health"]["status"] == "unchecked");
    CHECK(sv["health"].contains("last_check_ms_ago"));
    CHECK(sv["health"]["last_error"].is_null());
    CHECK(sv["circuit"] == "closed");
    CHECK(sv["connections_active"] == 0);
    CHECK(sv["requests_total"] == by_port[std::to_string(be.http_port(i))]);
    CHECK(sv["failures_total"] == 0);
    CHECK(sv["response_time_ms"].is_number());
    CHECK(sv["bytes_in"].get<uint64_t>() >= by_port[std::to_string(be.http_port(i))] * 100u);
    CHECK(sv["bytes_out"].get<uint64_t>() > 0);
    total += sv["requests_total"].get<uint64_t>();
  }
  CHECK(total == kRequests);
  CHECK(by_port.size() == 2);  // round robin used both
}

TEST_CASE("admin: /metrics passes the strict exposition checker and matches /stats") {
  Backend be = Backend::http(2);
  Lb lb(admin_config(be.http_ports()));
  for (int i = 0; i < 6; ++i) REQUIRE(backend_of(lb) != 0);
  auto r = http_get(lb.port("web"), "/status/404");
  REQUIRE(r);
  CHECK(r->status == 404);

  auto m = admin_get(lb, "/metrics");
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK(m->header("Content-Type").value_or("") == "text/plain; version=0.0.4; charset=utf-8");
  promcheck::Result res = promcheck::check(m->body);
  REQUIRE_MESSAGE(res.ok(), (res.error_text() + m->body));
  CHECK(res.value("lb_listener_requests_total", {{"listener", "web"}}) == 7);
  CHECK(res.value("lb_listener_responses_total", {{"listener", "web"}, {"code", "2xx"}}) == 6);
  CHECK(res.value("lb_listener_responses_total", {{"listener", "web"}, {"code", "4xx"}}) == 1);
  CHECK(res.value("lb_pool_requests_total", {{"pool", "p"}}) == 7);
  CHECK(res.value("lb_pool_servers_available", {{"pool", "p"}}) == 2);
  CHECK(res.value("lb_config_generation") == 1);
  for (auto port : be.http_ports()) {
    promcheck::Labels lab = {{"pool", "p"}, {"server", Backend::addr(port)}};
    CHECK(res.value("lb_server_up", lab) == 1);
    CHECK(res.value("lb_server_requests_total", lab).value_or(0) >= 3);
  }
  for (const auto& [name, type] : res.types) {
    CHECK((name.rfind("lb_", 0) == 0 || name.rfind("process_", 0) == 0));  // SPEC 15: process_* are standard
    bool total = name.size() > 6 && name.substr(name.size() - 6) == "_total";
    CHECK_MESSAGE(total == (type == "counter"), name);
  }
}

TEST_CASE("admin: /config is the running configuration with the token redacted") {
  Backend be = Backend::http(1);
  Lb lb(admin_config(be.http_ports()));
  auto r = admin_get(lb, "/config");
  REQUIRE(r);
  CHECK(r->status == 200);
  json c = body_json(r);
  CHECK(c["admin"]["token"] == "***");
  CHECK(r->body.find(kToken) == std::string::npos);
  CHECK(c["pools"][0]["name"] == "p");
  CHECK(c["pools"][0]["servers"][0]["address"] == Backend::addr(be.http_port()));
  CHECK(c["listeners"][0]["listen"] == lb.config()["listeners"][0]["listen"]);
}

TEST_CASE("admin: mutating calls need the bearer token (401 without, 403 wrong, 403 when none configured)") {
  Backend be = Backend::http(1);
  {
    Lb lb(admin_config(be.http_ports()));
    auto r = admin_post(lb, "/reload", "", std::nullopt);
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(r->header("WWW-Authenticate").value_or("").rfind("Bearer", 0) == 0);
    CHECK(body_json(r).contains("error"));
    r = admin_post(lb, "/reload", "", std::string("Basic c2VjcmV0"));
    REQUIRE(r);
    CHECK(r->status == 401);
    r = admin_post(lb, "/reload", "", std::string("Bearer wrong"));
    REQUIRE(r);
    CHECK(r->status == 403);
    CHECK(body_json(r).contains("error"));
    r = admin_post(lb, "/reload", "", std::string("Bearer secretX"));
    REQUIRE(r);
    CHECK(r->status == 403);
    std::string path = "/pools/p/servers/" + encoded(be.http_port()) + "/state";
    r = admin_post(lb, path, R"({"state":"drain"})", std::nullopt);
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(stats(lb)["pools"][0]["servers"][0]["state"] == "up");  // nothing changed
    r = admin_post(lb, "/reload", "");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(body_json(r) == json({{"ok", true}, {"generation", 2}}));
    // GETs need no token.
    r = admin_get(lb, "/stats");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  {
    Lb lb(admin_config(be.http_ports(), "round_robin", std::nullopt));  // loopback, no token
    auto r = admin_post(lb, "/reload", "");
    REQUIRE(r);
    CHECK(r->status == 403);
    r = admin_post(lb, "/reload", "", std::nullopt);
    REQUIRE(r);
    CHECK(r->status == 403);
    CHECK(stats(lb)["generation"] == 1);
  }
}

TEST_CASE("admin: drain and maint take a server out of rotation; ready brings it back") {
  Backend be = Backend::http(2);
  Lb lb(admin_config(be.http_ports()));
  uint16_t a = be.http_port(0), b = be.http_port(1);
  auto before = spread(lb, 10);
  CHECK(before[a] == 5);
  CHECK(before[b] == 5);

  auto r = admin_post(lb, "/pools/p/servers/" + encoded(a) + "/state", R"({"state":"drain"})");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(body_json(r)["state"] == "drain");
  json j = stats(lb);
  CHECK(j["pools"][0]["servers"][0]["state"] == "drain");
  CHECK(j["pools"][0]["servers_available"] == 1);
  uint64_t a_before = j["pools"][0]["servers"][0]["requests_total"];
  auto drained = spread(lb, 20);
  CHECK(drained[b] == 20);
  CHECK(drained.count(a) == 0);
  CHECK(stats(lb)["pools"][0]["servers"][0]["requests_total"] == a_before);

  // Unencoded ':' in the path works too; maint is reported as such.
  r = admin_post(lb, "/pools/p/servers/" + Backend::addr(a) + "/state", R"({"state":"maint"})");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(stats(lb)["pools"][0]["servers"][0]["state"] == "maint");
  CHECK(spread(lb, 6)[b] == 6);

  r = admin_post(lb, "/pools/p/servers/" + encoded(a) + "/state", R"({"state":"ready"})");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(stats(lb)["pools"][0]["servers"][0]["state"] == "up");
  auto after = spread(lb, 10);
  CHECK(after[a] == 5);
  CHECK(after[b] == 5);

  // Errors: unknown pool or server → 404; bad bodies → 400.
  r = admin_post(lb, "/pools/nope/servers/" + encoded(a) + "/state", R"({"state":"drain"})");
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(body_json(r).contains("error"));
  r = admin_post(lb, "/pools/p/servers/127.0.0.1%3A1/state", R"({"state":"drain"})");
  REQUIRE(r);
  CHECK(r->status == 404);
  // Trailing bytes and duplicate keys too: '{"state":"drain","state":"ready"}'
  // used to be taken as "ready" (the last key won).
  for (const char* bad : {R"({"state":"bogus"})", "not json", R"({"state":1})", R"(["drain"])", "",
                          R"({"state":"drain","x":1})", R"({"state":"drain"} x)", R"({"state":"drain"}{"state":"maint"})",
                          R"({"state":"drain","state":"ready"})", R"({"state":"dr\u0000ain"})"}) {
    r = admin_post(lb, "/pools/p/servers/" + encoded(a) + "/state", bad);
    REQUIRE(r);
    CHECK_MESSAGE(r->status == 400, bad);
    CHECK(body_json(r).contains("error"));
  }
  r = admin_post(lb, "/pools/p/servers/" + encoded(a) + "/bogus", R"({"state":"drain"})");
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(stats(lb)["pools"][0]["servers"][0]["state"] == "up");
}

TEST_CASE("admin: weight changes are reported and followed by weighted_round_robin") {
  Backend be = Backend::http(2);
  Lb lb(admin_config(be.http_ports(), "weighted_round_robin"));
  uint16_t a = be.http_port(0), b = be.http_port(1);
  auto r = admin_post(lb, "/pools/p/servers/" + encoded(a) + "/weight", R"({"weight":3})");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(body_json(r)["weight"] == 3);
  CHECK(stats(lb)["pools"][0]["servers"][0]["weight"] == 3);
  auto m = spread(lb, 40);
  CHECK(m[a] == 30);
  CHECK(m[b] == 10);

  for (const char* bad : {R"({"weight":0})", R"({"weight":1001})", R"({"weight":"5"})", R"({"weight":2.5})",
                          R"({"weight":-1})", R"({})", "x", R"({"weight":5,"weight":6})", R"({"weight":5} 6)"}) {
    r = admin_post(lb, "/pools/p/servers/" + encoded(a) + "/weight", bad);
    REQUIRE(r);
    CHECK_MESSAGE(r->status == 400, bad);
    CHECK(body_json(r).contains("error"));
  }
  CHECK(stats(lb)["pools"][0]["servers"][0]["weight"] == 3);
  r = admin_post(lb, "/pools/p/servers/" + encoded(a) + "/weight", R"({"weight":1000})");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("admin: POST /reload applies an edited file; an invalid file → 422, old config keeps serving") {
  Backend be = Backend::http(2);
  Lb lb(admin_config({be.http_port(0)}));
  uint16_t a = be.http_port(0), b = be.http_port(1);
  REQUIRE(backend_of(lb) == a);

  // Runtime overrides last until the next reload.
  REQUIRE(admin_post(lb, "/pools/p/servers/" + encoded(a) + "/weight", R"({"weight":7})")->status == 200);

  json c = lb.config();
  c["pools"][0]["servers"].push_back(server(b));
  lb.rewrite_config(c);
  auto r = admin_post(lb, "/reload", "");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(body_json(r) == json({{"ok", true}, {"generation", 2}}));
  json j = stats(lb);
  CHECK(j["generation"] == 2);
  CHECK(j["last_reload"]["ok"] == true);
  CHECK(j["pools"][0]["servers_total"] == 2);
  CHECK(j["pools"][0]["servers"][0]["weight"] == 1);  // back to the file's value
  auto m = spread(lb, 10);
  CHECK(m[a] == 5);
  CHECK(m[b] == 5);
  // Counters of the kept server survived the reload.
  CHECK(j["pools"][0]["servers"][0]["requests_total"].get<uint64_t>() >= 1);

  // Semantically invalid (weight 0), then not even JSON.
  json bad = lb.config();
  bad["pools"][0]["servers"][0]["weight"] = 0;
  lb.rewrite_config(bad);
  r = admin_post(lb, "/reload", "");
  REQUIRE(r);
  CHECK(r->status == 422);
  json e = body_json(r);
  CHECK(e["ok"] == false);
  CHECK(e["error"].get<std::string>().find("weight") != std::string::npos);
  j = stats(lb);
  CHECK(j["generation"] == 2);
  CHECK(j["last_reload"]["ok"] == false);
  CHECK(j["last_reload"]["error"].is_string());
  CHECK(j["last_reload"]["error"] == e["error"]);
  CHECK(j["pools"][0]["servers_total"] == 2);

  write_file(lb.config_path(), "{ this is not json");
  r = admin_post(lb, "/reload", "");
  REQUIRE(r);
  CHECK(r->status == 422);
  CHECK(!body_json(r)["error"].get<std::string>().empty());
  j = stats(lb);
  CHECK(j["generation"] == 2);
  CHECK(j["last_reload"]["ok"] == false);
  // The old configuration keeps serving, on both servers.
  m = spread(lb, 10);
  CHECK(m[a] == 5);
  CHECK(m[b] == 5);
  CHECK(admin_get(lb, "/config")->status == 200);
  CHECK(body_json(admin_get(lb, "/config"))["pools"][0]["servers"].size() == 2);

  // Fixing the file: the next reload succeeds and clears the error.
  lb.rewrite_config(c);
  r = admin_post(lb, "/reload", "");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(body_json(r)["generation"] == 3);
  j = stats(lb);
  CHECK(j["last_reload"]["ok"] == true);
  CHECK(j["last_reload"]["error"].is_null());
}
