// tests/integration/access_log_test.cpp — SPEC 8 second edition: exactly one
// access line per request whatever ended it, with the added fields.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/script_server.h"

using namespace it;

namespace {


// The access lines whose path is `path`.
std::vector<json> lines_for(const std::vector<json>& lines, const std::string& path) {
  std::vector<json> out;
  for (const auto& l : lines)
    if (l["path"].is_string() && l["path"] == path) out.push_back(l);
  return out;
}

}  // namespace

TEST_SUITE("access_log") {

TEST_CASE("one line per request for every outcome, with method, path and pool filled") {
  Backend be = Backend::http(1);
  // Pool "down" has its only server in maintenance: 503 no server available.
  json maint = server(be.http_port());
  maint["state"] = "maint";
  // A server that reads the head, then closes: 502 after a partial upload.
  ScriptServer closer([](Socket& c, int) {
    read_request_head(c);
    c.close();
  });
  json routes = json::array({{{"path_prefix", "/down/"}, {"pool", "down"}},
                             {{"path_prefix", "/closer/"}, {"pool", "closer"}}});
  Lb lb(make_config({http_listener_on("up", {{"routes", routes}, {"limits", {{"max_body_bytes", 1000}}}})},
                    {make_pool("up", "round_robin", {server(be.http_port())}),
                     make_pool("down", "round_robin", {maint}),
                     make_pool("closer", "round_robin", {server(closer.port())}, {{"retries", {{"attempts", 0}}}})},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  size_t expected = 0;
  auto send = [&](const HttpRequest& req) {
    ++expected;
    return http_request(lb.port(), req);
  };
  HttpRequest get_ok;
  get_ok.target = "/ok?a=1&b=2";
  get_ok.headers = {{"Host", "Example.test:8443"}, {"User-Agent", "trial/1.0"}, {"X-Request-Id", "rid-123"}};
  auto r = send(get_ok);
  REQUIRE(r.has_value());
  CHECK(r->status == 200);

  HttpRequest post_down;
  post_down.method = "POST";
  post_down.target = "/down/x";
  post_down.body = "payload";
  r = send(post_down);
  REQUIRE(r.has_value());
  CHECK(r->status == 503);

  HttpRequest too_big;
  too_big.method = "POST";
  too_big.target = "/big";
  too_big.body = std::string(2000, 'b');
  r = send(too_big);
  REQUIRE(r.has_value());
  CHECK(r->status == 413);

  {
    // A partial upload the server gives up on: lb's 502 with Connection: close.
    ++expected;
    Socket s = Socket::connect(lb.port());
    REQUIRE(s.send_all("POST /closer/up HTTP/1.1\r\nHost: t\r\nContent-Length: 900\r\n\r\n" + std::string(100, 'x')));
    auto resp = read_http_response(s, 5s);
    REQUIRE(resp.has_value());
    CHECK(resp->status == 502);
    CHECK(has_token(resp->header("Connection"), "close"));
  }
  {
    // A bad chunk after a parsed head: 400 with method and path.
    ++expected;
    Socket s = Socket::connect(lb.port());
    REQUIRE(s.send_all("POST /badchunk HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
    auto resp = read_http_response(s, 5s);
    REQUIRE(resp.has_value());
    CHECK(resp->status == 400);
  }
  {
    // A WebSocket exchange is logged when its tunnel closes, with its bytes.
    ++expected;
    Socket s = Socket::connect(lb.port());
    REQUIRE(s.send_all("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
    auto head = read_http_head(s, 5s);
    REQUIRE(head.has_value());
    REQUIRE(head->status == 101);
    REQUIRE(s.send_all("ping-1234"));
    auto echo = s.recv_exact(9, 5s);
    REQUIRE(echo.has_value());
    s.close();
  }

  auto lines = wait_access_lines(lb, expected, 10s);
  json stats = admin_stats(lb);
  CHECK(stats["listeners"][0]["requests_total"] == expected);
  // Exactly: give a straggler the chance to show up, then compare.
  CHECK(lb.access_log().size() == expected);

  auto ok = lines_for(lines, "/ok");
  REQUIRE(ok.size() == 1);
  CHECK(ok[0]["query"] == "a=1&b=2");
  CHECK(ok[0]["host"] == "Example.test");
  CHECK(ok[0]["client"] == "127.0.0.1");
  CHECK(ok[0]["client_port"].is_number_integer());
  CHECK(ok[0]["protocol"] == "HTTP/1.1");
  CHECK(ok[0]["tls"].is_null());
  CHECK(ok[0]["user_agent"] == "trial/1.0");
  CHECK(ok[0]["request_id"] == "rid-123");
  CHECK(ok[0]["route"].is_null());
  CHECK(ok[0]["trace_id"].is_null());
  CHECK(ok[0]["aborted"] == false);

  auto down = lines_for(lines, "/down/x");
  REQUIRE(down.size() == 1);
  CHECK(down[0]["status"] == 503);
  CHECK(down[0]["method"] == "POST");
  CHECK(down[0]["pool"] == "down");
  CHECK(down[0]["query"].is_null());
  CHECK(down[0]["request_id"].is_string());

  auto big = lines_for(lines, "/big");
  REQUIRE(big.size() == 1);
  CHECK(big[0]["status"] == 413);
  CHECK(big[0]["method"] == "POST");

  auto up = lines_for(lines, "/closer/up");
  REQUIRE(up.size() == 1);
  CHECK(up[0]["status"] == 502);
  CHECK(up[0]["pool"] == "closer");

  auto bad = lines_for(lines, "/badchunk");
  REQUIRE(bad.size() == 1);
  CHECK(bad[0]["status"] == 400);
  CHECK(bad[0]["method"] == "POST");

  auto ws = lines_for(lines, "/ws");
  REQUIRE(ws.size() == 1);
  CHECK(ws[0]["status"] == 101);
  CHECK(ws[0]["bytes_in"].get<uint64_t>() >= 9);
  CHECK(ws[0]["bytes_out"].get<uint64_t>() >= 9);
  CHECK(ws[0]["aborted"] == false);
}

TEST_CASE("a response cut off mid-body is logged with its status and aborted: true") {
  ScriptServer srv([](Socket& c, int) {
    if (!read_request_head(c)) return;
    c.send_all("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
    c.close();
  });
  Lb lb(make_config({http_listener_on("p")}, {make_pool("p", "round_robin", {server(srv.port())})}));
  Socket s = Socket::connect(lb.port());
  REQUIRE(s.send_all("GET /cut HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto drained = s.recv_until_eof(5s);
  CHECK(drained.data.find("partial") != std::string::npos);
  auto lines = wait_access_lines(lb, 1, 5s);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["status"] == 200);
  CHECK(lines[0]["aborted"] == true);
}

TEST_CASE("tcp sessions log the client address without its port, and client_port") {
  Backend be = Backend::echo(1);
  Lb lb(make_config({{{"name", "t"}, {"listen", "127.0.0.1:0"}, {"protocol", "tcp"}, {"pool", "p"}}},
                    {make_pool("p", "round_robin", {server(be.echo_port())})}));
  uint16_t local = 0;
  {
    Socket s = Socket::connect(lb.port());
    local = s.local_port();
    REQUIRE(s.send_all("hello"));
    REQUIRE(s.recv_exact(5, 5s).has_value());
  }
  auto lines = wait_access_lines(lb, 1, 5s);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["client"] == "127.0.0.1");
  CHECK(lines[0]["client_port"] == local);
  CHECK(lines[0]["protocol"] == "TCP");
}

}  // TEST_SUITE
