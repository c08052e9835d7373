// tests/integration/access_test.cpp — SPEC 11 "access" and "trusted_proxies"
// through the real binary: curl from 127.0.0.1 and 127.0.0.2 (distinct
// client addresses on loopback), allow/deny on a listener and on a route
// (deny wins; 403 with lb's JSON body, counted, one access line, and the
// backend's own request counter unchanged), a tcp listener closing a denied
// client, and a trusted proxy's X-Forwarded-For deciding the client address
// for access rules, the access log and the forwarded X-Forwarded-For.
#include <doctest/doctest.h>

#include "tests/integration/curl_client.h"
#include "tests/integration/harness.h"

using namespace it;

TEST_CASE("access: listener and route rules admit and refuse by client address; deny wins; nothing reaches a server") {
  Backend be = Backend::http(1);
  json routes = json::array({
      {{"name", "admin"}, {"path_prefix", "/admin/"}, {"access", {{"allow", {"127.0.0.1/32", "::1"}}}}},
  });
  json listener = http_listener_on("p", {{"routes", routes},
                                         {"access", {{"allow", {"127.0.0.0/8"}}, {"deny", {"127.0.0.3", "10.0.0.0/8"}}}}});
  Lb lb(make_config({listener}, {make_pool("p", "round_robin", servers_for(be.http_ports()))},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  BackendCount backend_requests{be.http_port()};
  const uint64_t before = backend_requests().value();

  CHECK(curl_from("127.0.0.1", lb.port(), "/x").status == 200);
  CHECK(curl_from("127.0.0.2", lb.port(), "/x").status == 200);
  CHECK(curl_from("127.0.0.1", lb.port(), "/admin/panel").status == 200);
  CHECK(backend_requests() == before + 3);

  // Route rule: only 127.0.0.1 may reach /admin/. Listener deny: 127.0.0.3 is out everywhere.
  CurlResult denied = curl_from("127.0.0.2", lb.port(), "/admin/panel");
  CHECK(denied.status == 403);
  CHECK(denied.body == "{\"error\":\"access denied\"}\n");
  CHECK(denied.headers.find("Content-Type: application/json") != std::string::npos);
  CHECK(curl_from("127.0.0.3", lb.port(), "/x").status == 403);
  CHECK(curl_from("127.0.0.3", lb.port(), "/admin/panel").status == 403);
  CHECK(backend_requests() == before + 3);  // none of the refusals reached it

  auto lines = wait_access_lines(lb, 6);
  int refused = 0;
  for (const json& l : lines) refused += l["status"] == 403;
  CHECK(refused == 3);
  json stats = admin_stats(lb);
  CHECK(stats["listeners"][0]["access_denied_total"] == 3);
  auto metrics = http_get(*lb.admin_port(), "/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("lb_listener_access_denied_total{listener=\"h\"} 3") != std::string::npos);
}

TEST_CASE("access: a tcp listener closes a denied client before connecting a server") {
  Backend be = Backend::echo(1);
  json tcp = {{"name", "t"}, {"listen", "127.0.0.1:0"}, {"protocol", "tcp"}, {"pool", "e"},
              {"access", {{"deny", {"127.0.0.2/32"}}}}};
  Lb lb(make_config({tcp}, {make_pool("e", "round_robin", servers_for(be.echo_ports()))}));
  // Allowed: the echo comes back.
  RunResult ok = run_command({"/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(lb.port()) +
                                                "; printf hi >&3; head -c2 <&3"},
                             10s);
  CHECK(ok.out == "hi");
  // Denied (curl binds 127.0.0.2; telnet:// sends stdin raw): closed with no byte back.
  RunResult denied = run_command({"/bin/bash", "-c", "printf hi | curl -s --max-time 5 --interface 127.0.0.2 telnet://127.0.0.1:" +
                                                    std::to_string(lb.port()) + "; echo \" rc=$?\""},
                                 10s);
  CHECK(denied.out.find("hi") == std::string::npos);
  auto lines = wait_access_lines(lb, 2);
  bool saw_403 = false;
  for (const json& l : lines) saw_403 = saw_403 || (l["status"] == 403 && l["client"] == "127.0.0.2");
  CHECK(saw_403);
}

TEST_CASE("trusted_proxies: a trusted proxy's X-Forwarded-For names the client for access, logs and forwarding") {
  Backend be = Backend::http(1);
  json listener = http_listener_on("p", {{"trusted_proxies", {"127.0.0.2/32", "10.0.0.0/8"}},
                                         {"access", {{"deny", {"192.0.2.66"}}}}});
  Lb lb(make_config({listener}, {make_pool("p", "round_robin", servers_for(be.http_ports()))}));
  auto seen_xff = [](const CurlResult& r) {
    size_t at = r.headers.find("X-Seen-X-Forwarded-For: ");
    if (at == std::string::npos) return std::string("<none>");
    size_t end = r.headers.find("\r\n", at);
    return r.headers.substr(at + 24, end - at - 24);
  };

  // From the trusted proxy: the right-most untrusted entry is the client;
  // the forwarded chain ends with it (the trusted hop after it is dropped).
  CurlResult a = curl_from("127.0.0.2", lb.port(), "/echo", {"-H", "X-Forwarded-For: 198.51.100.7, 203.0.113.9, 10.1.2.3"});
  CHECK_MESSAGE(a.status == 200, a.err);
  CHECK(seen_xff(a) == "198.51.100.7, 203.0.113.9");
  // Every entry trusted: the left-most is the client.
  CurlResult b = curl_from("127.0.0.2", lb.port(), "/echo", {"-H", "X-Forwarded-For: 10.9.9.9, 10.1.1.1"});
  CHECK(seen_xff(b) == "10.9.9.9");
  // The derived client meets the access rule.
  CHECK(curl_from("127.0.0.2", lb.port(), "/echo", {"-H", "X-Forwarded-For: 192.0.2.66"}).status == 403);
  // From an untrusted peer the header is just data: the peer is the client.
  CurlResult c = curl_from("127.0.0.1", lb.port(), "/echo", {"-H", "X-Forwarded-For: 192.0.2.66"});
  CHECK(c.status == 200);
  CHECK(seen_xff(c) == "192.0.2.66, 127.0.0.1");

  auto lines = wait_access_lines(lb, 4);
  REQUIRE(lines.size() >= 4);
  CHECK(lines[0]["client"] == "203.0.113.9");
  CHECK(lines[1]["client"] == "10.9.9.9");
  CHECK(lines[2]["client"] == "192.0.2.66");
  CHECK(lines[2]["status"] == 403);
  CHECK(lines[3]["client"] == "127.0.0.1");

  // Several X-Forwarded-For fields are one list, walked right to left
  // across them; what is left of the client goes on, in order.
  CurlResult d = curl_from("127.0.0.2", lb.port(), "/echo",
                           {"-H", "X-Forwarded-For: 198.51.100.1, junk", "-H", "X-Forwarded-For: 198.51.100.7 , 10.1.2.3"});
  CHECK(seen_xff(d) == "198.51.100.1, junk, 198.51.100.7");
  // An entry that is not an address ends the walk: right-most, nothing is
  // believed and the trusted peer stays the client.
  CurlResult e = curl_from("127.0.0.2", lb.port(), "/echo", {"-H", "X-Forwarded-For: 198.51.100.7, junk"});
  CHECK(seen_xff(e) == "198.51.100.7, junk, 127.0.0.2");
  lines = wait_access_lines(lb, 6);
  REQUIRE(lines.size() >= 6);
  CHECK(lines[4]["client"] == "198.51.100.7");
  CHECK(lines[5]["client"] == "127.0.0.2");
}

TEST_CASE("access: bad CIDRs are configuration errors at their pointer") {
  TempDir dir;
  json listener = http_listener_on("p", {{"access", {{"allow", {"10.0.0.1/8", "300.0.0.0/8", "::1/129"}}}}});
  json cfg = make_config({listener}, {make_pool("p", "round_robin", {server(9)})});
  cfg["listeners"][0]["listen"] = "127.0.0.1:1";
  write_file(dir.file("lb.json"), cfg.dump());
  RunResult r = run_command({lb_bin(), "--check", "-c", dir.file("lb.json")});
  CHECK(r.status != 0);
  CHECK(r.err.find("/listeners/0/access/allow/0: \"10.0.0.1/8\" has bits set past its prefix length") != std::string::npos);
  CHECK(r.err.find("/listeners/0/access/allow/1: invalid IP address") != std::string::npos);
  CHECK(r.err.find("/listeners/0/access/allow/2: prefix length of \"::1/129\" must be 0..128") != std::string::npos);
}

TEST_CASE("proxy_protocol.accept on an http listener: the PROXY source is the client everywhere; no header → closed") {
  Backend be = Backend::http(1);
  json listener = http_listener_on("p", {{"proxy_protocol", {{"accept", true}}}, {"access", {{"deny", {"192.0.2.66"}}}}});
  Lb lb(make_config({listener}, {make_pool("p", "round_robin", servers_for(be.http_ports()))}));

  // v1 header, then a request in the same write.
  Socket s = Socket::connect(lb.port());
  REQUIRE(s);
  REQUIRE(s.send_all("PROXY TCP4 198.51.100.7 127.0.0.1 5555 80\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = read_http_response(s, 5s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("X-Seen-X-Forwarded-For") == "198.51.100.7");

  // The header split across writes, and a second request on the connection.
  Socket t = Socket::connect(lb.port());
  REQUIRE(t);
  REQUIRE(t.send_all("PROXY TCP4 203.0.1"));
  CHECK(t.wait_closed(200ms) == Io::timeout);  // an incomplete header waits for the rest
  REQUIRE(t.send_all("13.9 127.0.0.1 6666 80\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r2 = read_http_response(t, 5s);
  REQUIRE(r2);
  CHECK(r2->header("X-Seen-X-Forwarded-For") == "203.0.113.9");

  // The PROXY address meets the access rule.
  Socket u = Socket::connect(lb.port());
  REQUIRE(u.send_all("PROXY TCP4 192.0.2.66 127.0.0.1 7777 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r3 = read_http_response(u, 5s);
  REQUIRE(r3);
  CHECK(r3->status == 403);

  // No header: closed without an answer.
  Socket v = Socket::connect(lb.port());
  REQUIRE(v.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto drained = v.recv_until_eof(5s);
  CHECK(drained.data.empty());
  CHECK(drained.io != Io::timeout);

  auto lines = wait_access_lines(lb, 3);
  REQUIRE(lines.size() >= 3);
  CHECK(lines[0]["client"] == "198.51.100.7");
  CHECK(lines[1]["client"] == "203.0.113.9");
  CHECK(lines[2]["client"] == "192.0.2.66");
}
