// tests/integration/rotation_test.cpp — SPEC section 4, second edition:
// round_robin and weighted_round_robin rotate over the whole process, so with
// several workers, consecutive requests over fresh connections (which the
// kernel spreads over the workers' SO_REUSEPORT sockets) still follow one
// rotation. Checked on what the backends received: the port that accepted
// each request (X-Backend-Port, set by the backend) and each backend's own
// request counter read directly from it.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

using namespace it;

namespace {

json rotation_config(const std::string& algorithm, std::vector<json> servers) {
  json listener = {{"name", "h"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "p"}};
  return make_config({listener}, {make_pool("p", algorithm, std::move(servers))}, {{"workers", 2}});
}

// Requests served by each backend port so far, from the backend itself. Each
// /stats request counts itself, so the difference of two reads is one more
// than what lb sent in between.
std::map<uint16_t, int64_t> backend_requests(const Backend& be) {
  std::map<uint16_t, int64_t> out;
  for (uint16_t port : be.http_ports()) {
    auto r = http_get(port, "/stats", 3s);
    REQUIRE(r.has_value());
    REQUIRE(r->status == 200);
    out[port] = json::parse(r->body).value("requests_total", int64_t(-1));
  }
  return out;
}

// `n` requests in sequence, each on a new connection to lb; the backend port of each.
std::vector<uint16_t> fresh_connection_ports(Lb& lb, int n) {
  std::vector<uint16_t> ports;
  for (int k = 0; k < n; ++k) {
    auto r = http_get(lb.port("h"), "/", 5s);
    INFO("request " << k << ": " << lb.diagnostics());
    REQUIRE(r.has_value());
    REQUIRE(r->status == 200);
    auto h = r->header("X-Backend-Port");
    REQUIRE(h.has_value());
    ports.push_back(static_cast<uint16_t>(std::stoi(*h)));
  }
  return ports;
}

// What `n` sequential requests over fresh connections did: the backend port
// of each, and how many requests each backend counted meanwhile.
struct Served {
  std::vector<uint16_t> ports;
  std::map<uint16_t, int64_t> received;
};
Served serve_fresh(Lb& lb, const Backend& be, int n) {
  const auto before = backend_requests(be);
  Served out{fresh_connection_ports(lb, n), {}};
  const auto after = backend_requests(be);
  for (uint16_t port : be.http_ports()) out.received[port] = after.at(port) - before.at(port) - 1;
  return out;
}

std::string describe(const std::vector<uint16_t>& ports) {
  std::string s;
  for (uint16_t p : ports) s += std::to_string(p) + " ";
  return s;
}

}  // namespace

TEST_SUITE("rotation") {

TEST_CASE("round_robin, 2 workers: N consecutive requests over fresh connections visit N distinct servers") {
  Backend be = Backend::http(3);
  Lb lb(rotation_config("round_robin", servers_for(be.http_ports())));
  const Served served = serve_fresh(lb, be, 60);
  const auto& ports = served.ports;
  INFO("sequence: " << describe(ports));
  for (size_t k = 0; k + 3 <= ports.size(); ++k) {
    CAPTURE(k);
    CHECK(std::set<uint16_t>(ports.begin() + long(k), ports.begin() + long(k) + 3).size() == 3);
  }
  for (uint16_t port : be.http_ports()) {
    CAPTURE(port);
    CHECK(served.received.at(port) == 20);
  }
}

TEST_CASE("weighted_round_robin, 2 workers: every run of sum(weights) requests follows the weights") {
  Backend be = Backend::http(3);
  const auto& p = be.http_ports();
  Lb lb(rotation_config("weighted_round_robin", {server(p[0], 3), server(p[1], 2), server(p[2], 1)}));
  const Served served = serve_fresh(lb, be, 60);
  const auto& ports = served.ports;
  INFO("sequence: " << describe(ports));
  // One process-wide periodic sequence: any 6 consecutive picks are one cycle.
  for (size_t k = 0; k + 6 <= ports.size(); ++k) {
    CAPTURE(k);
    std::map<uint16_t, int> window;
    for (size_t j = k; j < k + 6; ++j) ++window[ports[j]];
    CHECK(window[p[0]] == 3);
    CHECK(window[p[1]] == 2);
    CHECK(window[p[2]] == 1);
  }
  // Smooth: the heavy server never gets three in a row (3:2:1 is a b a c a b).
  for (size_t k = 0; k + 3 <= ports.size(); ++k) CHECK_FALSE((ports[k] == p[0] && ports[k + 1] == p[0] && ports[k + 2] == p[0]));
  const int64_t want[3] = {30, 20, 10};
  for (size_t i = 0; i < 3; ++i) {
    CAPTURE(p[i]);
    CHECK(served.received.at(p[i]) == want[i]);
  }
}

}  // TEST_SUITE
