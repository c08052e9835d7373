// tests/integration/sticky_test.cpp — cookie stickiness (SPEC 10 "Sticky
// sessions") through the real binary: the cookie lb sets on a first
// response, requests carrying it pinned to that server over round robin,
// the same value from a second lb process with the same configuration, a
// draining server keeping its sessions, and maint / a dead server / a
// reload that removes the server re-picking and replacing the cookie. Also
// the fault counter lb_faults_injected_total{listener,route,kind}.
#include <doctest/doctest.h>

#include <csignal>
#include <map>
#include <regex>
#include <set>

#include "tests/integration/harness.h"

using namespace it;

namespace {

constexpr const char* kToken = "secret";

json sticky_config(const std::vector<uint16_t>& ports, json sticky = {{"cookie", "lb_srv"}}) {
  return make_config({http_listener_on("p")},
                     {make_pool("p", "round_robin", servers_for(ports),
                                {{"sticky", sticky}, {"retries", {{"attempts", 2}, {"backoff_base", "0s"}}}})},
                     {{"admin", {{"listen", "127.0.0.1:0"}, {"token", kToken}}}});
}

struct Answer {
  int status = 0;
  uint16_t port = 0;                  // X-Backend-Port
  std::optional<std::string> cookie;  // the lb_srv value of a Set-Cookie, if any
  std::string set_cookie;             // the whole Set-Cookie field
};

// One request; nullopt when no answer came (for polling while lb reloads).
std::optional<HttpResponse> request(Lb& lb, const std::optional<std::string>& cookie) {
  HttpRequest req;
  if (cookie) req.headers.emplace_back("Cookie", "theme=dark; lb_srv=" + *cookie + "; x=1");
  return http_request(lb.port(), req, 10s);
}

Answer get(Lb& lb, const std::optional<std::string>& cookie) {
  auto r = request(lb, cookie);
  REQUIRE(r);
  Answer a;
  a.status = r->status;
  if (auto p = r->header("X-Backend-Port")) a.port = static_cast<uint16_t>(std::stoi(*p));
  if (auto sc = r->header("Set-Cookie")) {
    a.set_cookie = *sc;
    std::smatch m;
    if (std::regex_search(*sc, m, std::regex("^lb_srv=([^;]*)"))) a.cookie = m[1];
  }
  return a;
}

std::optional<HttpResponse> set_state(Lb& lb, uint16_t port, const std::string& state) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/pools/p/servers/127.0.0.1%3A" + std::to_string(port) + "/state";
  r.body = R"({"state":")" + state + R"("})";
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Authorization", std::string("Bearer ") + kToken);
  return http_request(*lb.admin_port(), r);
}

}  // namespace

TEST_CASE("sticky: the cookie pins a client to its server over round robin, the same in every lb process") {
  Backend be = Backend::http(3);
  Lb lb(sticky_config(be.http_ports(), {{"cookie", "lb_srv"}, {"max_age", "1h"}, {"secure", true}}));

  Answer first = get(lb, std::nullopt);
  REQUIRE(first.status == 200);
  REQUIRE(first.cookie);
  CHECK(std::regex_match(*first.cookie, std::regex("[0-9a-f]{16}")));
  CHECK(first.set_cookie == "lb_srv=" + *first.cookie + "; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax");

  // Round robin would rotate; the cookie wins, and is not set again.
  for (int i = 0; i < 9; ++i) {
    Answer a = get(lb, first.cookie);
    CHECK(a.port == first.port);
    CHECK_FALSE(a.cookie);
  }
  // Each server has its own value; the address is not in it.
  std::map<uint16_t, std::string> value_of;
  for (int i = 0; i < 6; ++i) {
    Answer a = get(lb, std::nullopt);
    REQUIRE(a.cookie);
    value_of[a.port] = *a.cookie;
  }
  CHECK(value_of.size() == 3);
  std::set<std::string> distinct;
  for (auto& [port, value] : value_of) {
    distinct.insert(value);
    CHECK(value.find(std::to_string(port)) == std::string::npos);
  }
  CHECK(distinct.size() == 3);

  // A second lb process with the same configuration reads the same values.
  Lb other(sticky_config(be.http_ports(), {{"cookie", "lb_srv"}, {"max_age", "1h"}, {"secure", true}}));
  for (auto& [port, value] : value_of) {
    Answer a = get(other, value);
    CHECK(a.port == port);
    CHECK_FALSE(a.cookie);
  }
  // An unknown value is a first visit: picked by the algorithm, cookie set.
  Answer stranger = get(lb, std::string("0123456789abcdef"));
  CHECK(stranger.status == 200);
  CHECK(stranger.cookie);
}

TEST_CASE("sticky: a draining server keeps its sessions; maint re-picks and replaces the cookie") {
  Backend be = Backend::http(2);
  Lb lb(sticky_config(be.http_ports()));
  Answer first = get(lb, std::nullopt);
  REQUIRE(first.cookie);
  const uint16_t pinned = first.port;
  const uint16_t other = pinned == be.http_port(0) ? be.http_port(1) : be.http_port(0);

  auto r = set_state(lb, pinned, "drain");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  for (int i = 0; i < 5; ++i) {
    CHECK(get(lb, first.cookie).port == pinned);  // its sessions stay
    Answer fresh = get(lb, std::nullopt);         // no new ones
    CHECK(fresh.port == other);
    CHECK(fresh.cookie);
  }

  r = set_state(lb, pinned, "maint");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  Answer moved = get(lb, first.cookie);
  CHECK(moved.port == other);
  REQUIRE(moved.cookie);
  CHECK(*moved.cookie != *first.cookie);
  // The replaced cookie sticks to the new server, even once the old one is back.
  r = set_state(lb, pinned, "ready");
  REQUIRE(r);
  for (int i = 0; i < 4; ++i) CHECK(get(lb, moved.cookie).port == other);
}

TEST_CASE("sticky: a dead server or one removed by a reload loses its sessions to another server") {
  Backend a = Backend::http(1), b = Backend::http(1);
  Lb lb(sticky_config({a.http_port(), b.http_port()}));
  // Find the cookie value that names server a.
  std::optional<std::string> a_cookie;
  for (int i = 0; i < 4 && !a_cookie; ++i) {
    Answer x = get(lb, std::nullopt);
    if (x.port == a.http_port()) a_cookie = x.cookie;
  }
  REQUIRE(a_cookie);
  CHECK(get(lb, a_cookie).port == a.http_port());

  // a dies: the connect fails, the retry goes to b and the cookie is replaced.
  REQUIRE(a.stop());
  Answer moved = get(lb, a_cookie);
  CHECK(moved.status == 200);
  CHECK(moved.port == b.http_port());
  REQUIRE(moved.cookie);
  CHECK(*moved.cookie != *a_cookie);

  // A reload without b: its cookie no longer names a server of the pool.
  Backend c = Backend::http(1);
  lb.rewrite_config(sticky_config({c.http_port()}));
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE(wait_until(
      [&] {
        auto r = request(lb, std::nullopt);
        return r && r->header("X-Backend-Port") == std::to_string(c.http_port());
      },
      10s));
  Answer after = get(lb, moved.cookie);
  CHECK(after.port == c.http_port());
  REQUIRE(after.cookie);
  CHECK(*after.cookie != *moved.cookie);
}

TEST_CASE("fault: injected aborts and delays are counted in lb_faults_injected_total") {
  Backend be = Backend::http(1);
  json routes = json::array({
      {{"name", "boom"}, {"path_prefix", "/boom/"}, {"fault", {{"abort_status", 503}, {"abort_percent", 100}}}},
      {{"name", "slow"}, {"path_prefix", "/slow/"}, {"fault", {{"delay", "50ms"}, {"delay_percent", 100}}}},
  });
  Lb lb(make_config({http_listener_on("p", {{"routes", routes}})}, {make_pool("p", "round_robin", servers_for(be.http_ports()))},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  for (int i = 0; i < 3; ++i) {
    auto r = http_get(lb.port(), "/boom/x");
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK_FALSE(r->has_header("X-Backend-Port"));  // no server was asked
  }
  for (int i = 0; i < 2; ++i) {
    auto r = http_get(lb.port(), "/slow/x");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  auto metrics = http_get(*lb.admin_port(), "/metrics");
  REQUIRE(metrics);
  const std::string& m = metrics->body;
  CHECK(m.find("lb_faults_injected_total{listener=\"h\",route=\"boom\",kind=\"abort\"} 3") != std::string::npos);
  CHECK(m.find("lb_faults_injected_total{listener=\"h\",route=\"boom\",kind=\"delay\"} 0") != std::string::npos);
  CHECK(m.find("lb_faults_injected_total{listener=\"h\",route=\"slow\",kind=\"delay\"} 2") != std::string::npos);
  CHECK(m.find("lb_faults_injected_total{listener=\"h\",route=\"slow\",kind=\"abort\"} 0") != std::string::npos);
}
