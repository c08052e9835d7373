// tests/integration/per_client_test.cpp — SPEC 11 "per_client" through the
// real binary: max_connections per client address on an http listener (the
// connection past it has its request answered 429 with Retry-After,
// Connection: close and lb's JSON body, counted, logged, never reaching a
// server; other clients are unaffected; a closed connection frees its slot;
// open connections stay counted across a reload), connection_rate (a token
// bucket of `rate` connections; a trusted proxy is not limited), and a tcp
// listener closing the connection past max_connections.
#include <doctest/doctest.h>

#include <csignal>

#include "tests/integration/curl_client.h"
#include "tests/integration/harness.h"

using namespace it;

namespace {

const std::string kGet = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";

// One keep-alive request on `s`.
std::optional<HttpResponse> get_on(Socket& s) {
  if (!s.send_all(kGet)) return std::nullopt;
  return read_http_response(s, 5s);
}

uint64_t listener_stat(Lb& lb, size_t listener, const char* key) {
  json s = admin_stats(lb);
  if (!s.contains("listeners") || s["listeners"].size() <= listener) return ~uint64_t{0};
  return s["listeners"][listener].value(key, ~uint64_t{0});
}

}  // namespace

TEST_CASE("per_client: max_connections on http: 429 + Retry-After + Connection: close past it; slots freed on close") {
  Backend be = Backend::http(1);
  Lb lb(make_config({http_listener_on("p", {{"per_client", {{"max_connections", 2}}}})},
                    {make_pool("p", "round_robin", servers_for(be.http_ports()))},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  BackendCount backend_requests{be.http_port()};
  const uint64_t before = backend_requests().value();

  Socket a = Socket::connect(lb.port(), 2s, "127.0.0.1", "127.0.0.2");
  Socket b = Socket::connect(lb.port(), 2s, "127.0.0.1", "127.0.0.2");
  REQUIRE(a);
  REQUIRE(b);
  auto ra = get_on(a), rb = get_on(b);
  REQUIRE(ra);
  REQUIRE(rb);
  CHECK(ra->status == 200);
  CHECK(rb->status == 200);

  // A reload leaves the two open connections counted.
  json c = lb.config();
  c["listeners"][0]["forwarded_headers"] = false;
  lb.rewrite_config(c);
  lb.signal(SIGHUP);
  REQUIRE(wait_until([&] { return admin_stats(lb).value("generation", uint64_t{0}) == 2; }, 10s));

  Socket third = Socket::connect(lb.port(), 2s, "127.0.0.1", "127.0.0.2");
  REQUIRE(third);
  auto refused = get_on(third);
  REQUIRE(refused);
  CHECK(refused->status == 429);
  CHECK(refused->header("Retry-After") == "1");
  CHECK(has_token(refused->header("Connection"), "close"));
  CHECK(is_json_error(*refused));
  CHECK(refused->body == "{\"error\":\"too many connections from this client\"}\n");
  CHECK(third.wait_closed(5s) != Io::ok);

  // Another client address has its own count.
  CHECK(curl_from("127.0.0.1", lb.port(), "/x").status == 200);
  CHECK(backend_requests() == before + 3);  // the refused request never reached it

  // Closing one frees its slot (once lb has seen the close).
  a.close();
  REQUIRE(wait_until([&] { return listener_stat(lb, 0, "connections_active") == 1; }, 5s));
  Socket again = Socket::connect(lb.port(), 2s, "127.0.0.1", "127.0.0.2");
  REQUIRE(again);
  auto ok = get_on(again);
  REQUIRE(ok);
  CHECK(ok->status == 200);

  CHECK(listener_stat(lb, 0, "per_client_refused_total") == 1);
  auto m = http_get(*lb.admin_port(), "/metrics");
  REQUIRE(m);
  CHECK(m->body.find("lb_listener_per_client_refused_total{listener=\"h\"} 1\n") != std::string::npos);
  auto lines = wait_access_lines(lb, 4);
  int refusals = 0;
  for (const json& l : lines) refusals += l["status"] == 429 && l["client"] == "127.0.0.2" && l["server"].is_null();
  CHECK(refusals == 1);
}

TEST_CASE("per_client: connection_rate is a bucket of rate connections; a trusted proxy is not limited") {
  Backend be = Backend::http(1);
  json listener = http_listener_on("p", {{"per_client", {{"connection_rate", {{"rate", 2}, {"per", "1h"}}}}},
                                         {"trusted_proxies", {"127.0.0.3/32"}}});
  Lb lb(make_config({listener}, {make_pool("p", "round_robin", servers_for(be.http_ports()))}));
  CHECK(curl_from("127.0.0.2", lb.port(), "/x").status == 200);
  CHECK(curl_from("127.0.0.2", lb.port(), "/x").status == 200);
  CurlResult r = curl_from("127.0.0.2", lb.port(), "/x");
  CHECK(r.status == 429);
  // One connection every 30 minutes.
  CHECK(std::atoi(r.header("Retry-After").c_str()) >= 1700);
  CHECK(std::atoi(r.header("Retry-After").c_str()) <= 1800);
  CHECK(r.header("Connection") == "close");
  // A trusted proxy's connections carry many clients, named per request.
  for (int i = 0; i < 4; ++i)
    CHECK(curl_from("127.0.0.3", lb.port(), "/x", {"-H", "X-Forwarded-For: 198.51.100.9"}).status == 200);
}

TEST_CASE("per_client behind PROXY: the header's source is the counted client, not the proxy's socket address") {
  Backend be = Backend::http(1);
  json listener = http_listener_on("p", {{"per_client", {{"max_connections", 1}}}, {"proxy_protocol", {{"accept", true}}}});
  Lb lb(make_config({listener}, {make_pool("p", "round_robin", servers_for(be.http_ports()))},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  BackendCount backend_requests{be.http_port()};
  const uint64_t before = backend_requests().value();
  auto proxied_get = [&](Socket& s, const char* source) -> std::optional<HttpResponse> {
    std::string req = std::string("PROXY TCP4 ") + source + " 127.0.0.1 5555 80\r\n" + kGet;
    if (!s.send_all(req)) return std::nullopt;
    return read_http_response(s, 5s);
  };
  // Every connection comes from 127.0.0.1; the PROXY sources differ.
  Socket a = Socket::connect(lb.port());
  Socket b = Socket::connect(lb.port());
  Socket c = Socket::connect(lb.port());
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  auto ra = proxied_get(a, "198.51.100.1");
  auto rb = proxied_get(b, "198.51.100.2");
  REQUIRE(ra);
  REQUIRE(rb);
  CHECK(ra->status == 200);
  CHECK(rb->status == 200);  // another client, though the same socket address
  auto rc = proxied_get(c, "198.51.100.1");
  REQUIRE(rc);
  CHECK(rc->status == 429);  // the first client's second connection
  CHECK(backend_requests() == before + 2);
  CHECK(listener_stat(lb, 0, "per_client_refused_total") == 1);
}

TEST_CASE("per_client: a tcp listener closes the connection past max_connections") {
  Backend echo = Backend::echo(1);
  json tcp = {{"name", "t"}, {"listen", "127.0.0.1:0"}, {"protocol", "tcp"}, {"pool", "e"},
              {"per_client", {{"max_connections", 1}}}};
  Lb lb(make_config({tcp}, {make_pool("e", "round_robin", servers_for(echo.echo_ports()))},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  auto echoes = [](Socket& s) { return s.send_all("hi") && s.recv_exact(2, 3s) == "hi"; };
  Socket first = Socket::connect(lb.port(), 2s, "127.0.0.1", "127.0.0.2");
  REQUIRE(first);
  CHECK(echoes(first));
  Socket second = Socket::connect(lb.port(), 2s, "127.0.0.1", "127.0.0.2");
  REQUIRE(second);
  second.send_all("hi");
  Socket::Drain d = second.recv_until_eof(3s);
  CHECK(d.data.empty());
  CHECK(d.io != Io::timeout);  // closed by lb
  Socket other = Socket::connect(lb.port(), 2s, "127.0.0.1", "127.0.0.3");
  REQUIRE(other);
  CHECK(echoes(other));

  first.close();
  REQUIRE(wait_until([&] { return listener_stat(lb, 0, "connections_active") == 1; }, 5s));
  Socket later = Socket::connect(lb.port(), 2s, "127.0.0.1", "127.0.0.2");
  REQUIRE(later);
  CHECK(echoes(later));
  CHECK(listener_stat(lb, 0, "per_client_refused_total") == 1);
}
