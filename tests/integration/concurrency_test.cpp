// tests/integration/concurrency_test.cpp — every cross-thread path of lb at
// once, so that `make test TSAN=1` sees them race: 4 workers serving HTTP
// (least_connections, least_response_time, random_two_choices) and TCP from
// several client threads, while the main thread runs active health checks,
// answers /stats and /metrics, applies admin weight and state changes,
// reloads (changing algorithms, weights and the log level) and reopens the
// logs (SIGUSR1). In the release build it is a functional check: no request
// fails, and lb's counters agree with what the clients sent.
#include <doctest/doctest.h>

#include <csignal>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

using namespace it;

namespace {

constexpr const char* kToken = "secret";

json concurrency_config(const Backend& be, int round, const TempDir& logs) {
  static const char* kAlgorithms[] = {"least_connections", "least_response_time", "random_two_choices",
                                      "round_robin"};
  json hc = {{"type", "http"}, {"path", "/health"}, {"interval", "100ms"}, {"timeout", "1s"}, {"rise", 1}, {"fall", 3}};
  std::vector<json> servers;
  for (size_t i = 0; i < be.http_ports().size(); ++i) servers.push_back(server(be.http_port(i), 1 + (round + i) % 3));
  json web = {{"name", "web"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "p"},
              {"routes", {{{"path_prefix", "/q/"}, {"pool", "q"}}}}};
  json tcp = {{"name", "tcp"}, {"listen", "127.0.0.1:0"}, {"protocol", "tcp"}, {"pool", "t"}};
  return make_config({web, tcp},
                     {make_pool("p", kAlgorithms[round % 4], servers, {{"health_check", hc}}),
                      make_pool("q", kAlgorithms[(round + 1) % 4], servers_for(be.http_ports())),
                      make_pool("t", "round_robin", servers_for(be.echo_ports()))},
                     {{"workers", 4},
                      {"admin", {{"listen", "127.0.0.1:0"}, {"token", kToken}}},
                      {"logging", {{"level", round % 2 ? "debug" : "info"}, {"error_log", logs.file("error.log")},
                                   {"access_log", logs.file("access.log")}}}});
}

std::optional<HttpResponse> admin_post(Lb& lb, const std::string& path, const std::string& body) {
  HttpRequest r;
  r.method = "POST";
  r.target = path;
  r.body = body;
  if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Authorization", std::string("Bearer ") + kToken);
  return http_request(*lb.admin_port(), r);
}

}  // namespace

TEST_SUITE("concurrency") {

TEST_CASE("concurrency: clients on 4 workers while health checks, admin, reloads and log reopens run") {
  Backend be({"0", "0"}, {"0", "0", "0"});
  TempDir logs;
  Lb lb(concurrency_config(be, 0, logs));
  // Read once: the clients' threads must not read lb.config() while the main
  // thread rewrites it.
  const uint16_t web_port = lb.port("web"), tcp_port = lb.port("tcp"), admin_port = *lb.admin_port();
  // Listen addresses as filled in by the harness, kept across rewrites.
  auto keep_ports = [&](json c) {
    c["listeners"] = lb.config()["listeners"];
    c["admin"]["listen"] = lb.config()["admin"]["listen"];
    return c;
  };

  // Pool p is health-checked: its servers take traffic once the first checks
  // pass (SPEC 5), which /ready reports. Clients start after that.
  REQUIRE(wait_until([&] {
    auto r = http_get(admin_port, "/ready");
    return r && r->status == 200;
  }, 10s));

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> http_ok{0}, http_failed{0}, tcp_ok{0}, tcp_failed{0}, admin_failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&, c] {
      Socket s;
      for (int i = 0; !stop.load(); ++i) {
        if (!s) s = Socket::connect(web_port);
        HttpRequest req;
        req.target = (i % 2 ? "/q/" : "/p/") + std::to_string(c) + "/" + std::to_string(i);
        auto r = s.send_all(req.serialize()) ? read_http_response(s, 5s) : std::nullopt;
        if (r && r->status == 200) ++http_ok;
        else ++http_failed;
        if (!r || has_token(r->header("Connection"), "close") || i % 50 == 0) s = Socket();  // new connections too
      }
    });
  clients.emplace_back([&] {
    for (int i = 0; !stop.load(); ++i) {
      Socket s = Socket::connect(tcp_port);
      std::string msg = "tcp " + std::to_string(i) + "\n";
      auto echoed = s && s.send_all(msg) ? s.recv_exact(msg.size(), 5s) : std::nullopt;
      if (echoed == msg) ++tcp_ok;
      else ++tcp_failed;
    }
  });
  clients.emplace_back([&] {  // the admin API, read side
    while (!stop.load()) {
      for (const char* path : {"/stats", "/metrics", "/config"}) {
        auto r = http_get(admin_port, path);
        if (!r || r->status != 200) ++admin_failed;
      }
    }
  });

  // The main thread: admin writes, reloads and log reopens, while clients run.
  for (int round = 1; round <= 12; ++round) {
    std::string addr = Backend::addr(be.http_port(round % 3));
    std::string previous = Backend::addr(be.http_port((round - 1) % 3));
    auto w = admin_post(lb, "/pools/p/servers/" + addr + "/weight", R"({"weight":)" + std::to_string(round % 4 + 1) + "}");
    CHECK((w && w->status == 200));
    // At most one server of q drained at a time.
    auto st = admin_post(lb, "/pools/q/servers/" + previous + "/state", R"({"state":"ready"})");
    CHECK((st && st->status == 200));
    st = admin_post(lb, "/pools/q/servers/" + addr + "/state", R"({"state":"drain"})");
    CHECK((st && st->status == 200));
    lb.rewrite_config(keep_ports(concurrency_config(be, round, logs)));
    auto rl = admin_post(lb, "/reload", "");
    REQUIRE_MESSAGE((rl && rl->status == 200), (rl ? rl->body : std::string("no answer")) << lb.diagnostics());
    REQUIRE(lb.signal(SIGUSR1));
    uint64_t before = http_ok.load();
    // Let traffic run on the new generation before the next change.
    CHECK(wait_until([&] { return http_ok.load() >= before + 20; }, 10s));
  }
  stop = true;
  for (auto& t : clients) t.join();

  MESSAGE("http ok " << http_ok.load() << " failed " << http_failed.load() << ", tcp ok " << tcp_ok.load()
                      << " failed " << tcp_failed.load() << ", admin reads failed " << admin_failed.load());
  CHECK(http_failed == 0);
  CHECK(tcp_failed == 0);
  CHECK(admin_failed == 0);
  CHECK(http_ok > 0);
  CHECK(tcp_ok > 0);
  // lb counted exactly what the clients sent, over all its workers.
  json stats = admin_stats(lb);
  uint64_t requests = 0;
  for (const auto& l : stats["listeners"])
    if (l["name"] == "web") requests = l["requests_total"].get<uint64_t>();
  CHECK(requests == http_ok.load());
  auto status = lb.stop(10s);
  REQUIRE(status);
  CHECK(*status == 0);
}

}  // TEST_SUITE
