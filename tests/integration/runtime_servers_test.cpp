// Servers added and removed at run time, and the state file (SPEC 14):
// POST /pools/{pool}/servers, DELETE /pools/{pool}/servers/{address}, state
// and weight changes kept across reloads and restarts by "state_file". The
// servers' own request counters (the backend's /stats) show where traffic went.
#include <doctest/doctest.h>

#include <csignal>
#include <set>

#include "tests/integration/harness.h"

using namespace it;

namespace {

constexpr const char* kToken = "secret";

// Weighted round robin: the weights of added servers count.
json dyn_config(uint16_t first_server, std::optional<std::string> state_file = std::nullopt) {
  json admin = {{"listen", "127.0.0.1:0"}, {"token", kToken}};
  json cfg = {{"admin", admin},
              {"listeners", {{{"name", "web"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "p"}}}},
              {"pools", {{{"name", "p"}, {"algorithm", "weighted_round_robin"}, {"servers", {server(first_server)}}}}}};
  if (state_file) cfg["state_file"] = *state_file;
  return cfg;
}

std::optional<HttpResponse> admin_call(Lb& lb, const std::string& method, const std::string& path,
                                       const std::string& body = "", bool with_token = true) {
  HttpRequest r;
  r.method = method;
  r.target = path;
  r.body = body;
  if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
  if (with_token) r.headers.emplace_back("Authorization", std::string("Bearer ") + kToken);
  return http_request(*lb.admin_port(), r);
}

int status_of(const std::optional<HttpResponse>& r) { return r ? r->status : 0; }

// What the backend on `port` says it served (its own /stats), not counting
// this counter's reads of /stats.
class Served {
 public:
  explicit Served(uint16_t port) : port_(port) {}
  uint64_t operator()() {
    auto r = http_get(port_, "/stats", 3s);
    REQUIRE(r.has_value());
    ++reads_;
    return json::parse(r->body).at("requests_total").get<uint64_t>() - reads_;
  }

 private:
  uint16_t port_;
  uint64_t reads_ = 0;
};

bool logged(const Lb& lb, const std::string& msg) {
  for (const auto& l : lb.error_log())
    if (l.value("msg", "") == msg) return true;
  return false;
}

std::set<std::string> server_addresses(Lb& lb) {
  std::set<std::string> out;
  json pool = find_pool(admin_stats(lb), "p");
  if (pool.is_object())
    for (const auto& s : pool["servers"]) out.insert(s["address"].get<std::string>());
  return out;
}

std::string encoded(uint16_t port) { return "127.0.0.1%3A" + std::to_string(port); }

}  // namespace

TEST_CASE("runtime servers: POST adds a server that takes traffic, DELETE drains and removes it") {
  Backend be = Backend::http(2);
  const uint16_t a = be.http_port(0), b = be.http_port(1);
  Lb lb(dyn_config(a));
  const uint16_t web = lb.port("web");

  auto r = admin_call(lb, "POST", "/pools/p/servers", json{{"address", Backend::addr(b)}, {"weight", 2}}.dump());
  REQUIRE(r.has_value());
  CHECK(r->status == 201);
  json body = json::parse(r->body);
  CHECK(body["address"] == Backend::addr(b));
  CHECK(body["weight"] == 2);
  CHECK(server_addresses(lb) == std::set<std::string>{Backend::addr(a), Backend::addr(b)});
  CHECK(status_of(admin_call(lb, "POST", "/pools/p/servers", json{{"address", Backend::addr(b)}}.dump())) == 409);

  // Weighted round robin over weights 1 and 2: the new server takes two of three.
  Served served_a(a), served_b(b);
  const uint64_t a0 = served_a(), b0 = served_b();
  for (int i = 0; i < 30; ++i) {
    auto g = http_get(web, "/");
    REQUIRE(g.has_value());
    CHECK(g->status == 200);
  }
  const uint64_t to_a = served_a() - a0, to_b = served_b() - b0;
  CHECK(to_a + to_b == 30);
  CHECK(to_b == 20);
  // GET /config shows the server in effect.
  json config = json::parse(http_get(*lb.admin_port(), "/config")->body);
  CHECK(config["pools"][0]["servers"].size() == 2);

  r = admin_call(lb, "DELETE", "/pools/p/servers/" + encoded(b));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(wait_until([&] { return server_addresses(lb) == std::set<std::string>{Backend::addr(a)}; }, 5s));
  const uint64_t b1 = served_b();
  for (int i = 0; i < 10; ++i) CHECK(status_of(http_get(web, "/")) == 200);
  CHECK(served_b() == b1);  // no request reached it
  CHECK(wait_until([&] { return logged(lb, "server removed") && logged(lb, "server added"); }, 5s));
}

TEST_CASE("runtime servers: a removed server finishes its in-flight request first") {
  Backend be = Backend::http(2);
  const uint16_t a = be.http_port(0), b = be.http_port(1);
  Lb lb(dyn_config(a));
  REQUIRE(status_of(admin_call(lb, "POST", "/pools/p/servers", json{{"address", Backend::addr(b)}}.dump())) == 201);
  // Put a slow request on b (round robin alternates: try until one lands there).
  Served served_b(b);
  Socket slow;
  for (int i = 0; i < 4 && !slow; ++i) {
    const uint64_t before = served_b();
    Socket s = Socket::connect(lb.port("web"));
    REQUIRE(s);
    HttpRequest req;
    req.target = "/delay/800";
    REQUIRE(s.send_all(req.serialize()));
    // The backend counts a request when it reads it: see where this one went.
    if (wait_until([&] { return served_b() > before; }, 300ms)) slow = std::move(s);
    else REQUIRE(read_http_response(s, 5s).has_value());  // it was a's: let it finish
  }
  REQUIRE_MESSAGE(slow, "no delayed request reached the added server");
  CHECK(status_of(admin_call(lb, "DELETE", "/pools/p/servers/" + encoded(b))) == 200);
  // Draining: still listed while its request runs; gone when it is done.
  CHECK(server_addresses(lb).count(Backend::addr(b)) == 1);
  auto resp = read_http_response(slow, 5s);
  REQUIRE(resp.has_value());
  CHECK(resp->status == 200);
  CHECK(wait_until([&] { return server_addresses(lb).count(Backend::addr(b)) == 0; }, 5s));
}

TEST_CASE("runtime servers: errors") {
  Backend be = Backend::http(1);
  const uint16_t a = be.http_port(0);
  Lb lb(dyn_config(a));
  auto post = [&](const std::string& body, const std::string& path = "/pools/p/servers") {
    return admin_call(lb, "POST", path, body);
  };
  CHECK(status_of(post("{\"address\": ")) == 400);                                       // malformed JSON
  CHECK(status_of(post(json{{"address", "127.0.0.1:1"}, {"weight", 0}}.dump())) == 422);  // bad value
  CHECK(status_of(post(json{{"address", "127.0.0.1:1"}, {"colour", "red"}}.dump())) == 422);  // unknown key
  auto named = post(json{{"address", "backend.example:80"}}.dump());
  CHECK(status_of(named) == 422);
  CHECK(named->body.find("host name") != std::string::npos);
  CHECK(status_of(post(json{{"address", "127.0.0.1:1"}}.dump(), "/pools/nope/servers")) == 404);
  CHECK(status_of(admin_call(lb, "DELETE", "/pools/p/servers/127.0.0.1%3A1")) == 404);
  CHECK(status_of(admin_call(lb, "DELETE", "/pools/nope/servers/127.0.0.1%3A1")) == 404);
  // The pool's only server stays.
  CHECK(status_of(admin_call(lb, "DELETE", "/pools/p/servers/" + encoded(a))) == 409);
  // Token rules as for every mutating call; methods per path.
  CHECK(status_of(admin_call(lb, "POST", "/pools/p/servers", json{{"address", "127.0.0.1:1"}}.dump(), false)) == 401);
  CHECK(status_of(admin_call(lb, "DELETE", "/pools/p/servers/" + encoded(a), "", false)) == 401);
  CHECK(status_of(admin_call(lb, "GET", "/pools/p/servers")) == 405);
  CHECK(status_of(admin_call(lb, "POST", "/pools/p/servers/" + encoded(a))) == 405);
  // IPv6, percent-encoded in the path.
  CHECK(status_of(post(json{{"address", "[::1]:9"}, {"state", "maint"}}.dump())) == 201);
  CHECK(server_addresses(lb).count("[::1]:9") == 1);
  CHECK(status_of(admin_call(lb, "DELETE", "/pools/p/servers/%5B%3A%3A1%5D%3A9")) == 200);
  CHECK(wait_until([&] { return server_addresses(lb).count("[::1]:9") == 0; }, 5s));
  // lb kept serving throughout.
  CHECK(status_of(http_get(lb.port("web"), "/")) == 200);
}

TEST_CASE("runtime servers: without a state file a reload forgets them") {
  Backend be = Backend::http(2);
  Lb lb(dyn_config(be.http_port(0)));
  REQUIRE(status_of(admin_call(lb, "POST", "/pools/p/servers", json{{"address", Backend::addr(be.http_port(1))}}.dump())) == 201);
  CHECK(server_addresses(lb).size() == 2);
  const uint64_t gen = admin_stats(lb)["generation"].get<uint64_t>();
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE(wait_until([&] { return admin_stats(lb).value("generation", uint64_t(0)) > gen; }, 5s));
  CHECK(server_addresses(lb) == std::set<std::string>{Backend::addr(be.http_port(0))});
}

TEST_CASE("state file: runtime changes survive a reload and a restart; contradicted or corrupt entries are dropped") {
  Backend be = Backend::http(2);
  const uint16_t a = be.http_port(0), b = be.http_port(1);
  TempDir keep;
  const std::string state = keep.file("lb-state.json");
  {
    Lb lb(dyn_config(a, state));
    REQUIRE(status_of(admin_call(lb, "POST", "/pools/p/servers", json{{"address", Backend::addr(b)}}.dump())) == 201);
    REQUIRE(status_of(admin_call(lb, "POST", "/pools/p/servers/" + encoded(a) + "/weight", "{\"weight\": 7}")) == 200);
    // On disk before the answer.
    auto text = read_file(state);
    REQUIRE(text.has_value());
    json on_disk = json::parse(*text);
    CHECK(on_disk["pools"]["p"]["added"][0]["address"] == Backend::addr(b));
    CHECK(on_disk["pools"]["p"]["weight"][Backend::addr(a)] == 7);
    // A reload re-applies them over the file's content.
    const uint64_t gen = admin_stats(lb)["generation"].get<uint64_t>();
    REQUIRE(lb.signal(SIGHUP));
    REQUIRE(wait_until([&] { return admin_stats(lb).value("generation", uint64_t(0)) > gen; }, 5s));
    CHECK(server_addresses(lb) == std::set<std::string>{Backend::addr(a), Backend::addr(b)});
    CHECK(find_server(admin_stats(lb), "p", Backend::addr(a))["weight"] == 7);
    CHECK(lb.stop() == std::optional<int>(0));
  }
  {
    // A restart reads the file.
    Lb lb(dyn_config(a, state));
    CHECK(server_addresses(lb) == std::set<std::string>{Backend::addr(a), Backend::addr(b)});
    CHECK(find_server(admin_stats(lb), "p", Backend::addr(a))["weight"] == 7);
    // The file's own entry wins over a runtime one for the same address.
    json cfg = lb.config();  // the same ports
    cfg["pools"][0]["servers"].push_back(server(b, 3));
    lb.rewrite_config(cfg);
    const uint64_t gen = admin_stats(lb)["generation"].get<uint64_t>();
    REQUIRE(lb.signal(SIGHUP));
    REQUIRE(wait_until([&] { return admin_stats(lb).value("generation", uint64_t(0)) > gen; }, 5s));
    CHECK(find_server(admin_stats(lb), "p", Backend::addr(b))["weight"] == 3);
    json on_disk = json::parse(*read_file(state));
    CHECK(on_disk["pools"]["p"]["added"].empty());
    CHECK(wait_until([&] { return logged(lb, "runtime change dropped"); }, 5s));
    CHECK(lb.stop() == std::optional<int>(0));
  }
  {
    // Corrupt: reported, ignored, lb starts from the configuration file.
    write_file(state, "{\"version\": 1, \"pools\": {\"p\": {\"added\": [{\"address\": 5}]}}}");
    Lb lb(dyn_config(a, state));
    CHECK(server_addresses(lb) == std::set<std::string>{Backend::addr(a)});
    CHECK(wait_until([&] { return logged(lb, "state file corrupt, ignored"); }, 5s));
    // Rewritten at the next change.
    REQUIRE(status_of(admin_call(lb, "POST", "/pools/p/servers/" + encoded(a) + "/state", "{\"state\": \"drain\"}")) == 200);
    json on_disk = json::parse(*read_file(state));
    CHECK(on_disk["pools"]["p"]["state"][Backend::addr(a)] == "drain");
  }
}
