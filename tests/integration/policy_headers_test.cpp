// tests/integration/policy_headers_test.cpp — SPEC 10 header rules and error
// pages through the real lb binary: request rules as the server receives
// them and response rules as the client receives them (the listener's, then
// the route's; set, add, remove), every %{variable}, the configuration errors
// --check must name, error_pages per status and per class (content type,
// never over a server's own answer, re-read on reload, relative paths), and
// both over HTTP/2 (curl --http2-prior-knowledge).
#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>

#include "tests/integration/policy_util.h"

using namespace it;
using namespace it::policy;

namespace {

using Strings = std::vector<std::string>;

bool is_hex32(const std::string& s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string body_of(uint16_t port, const std::string& target) {
  auto r = get(port, target);
  return r ? r->body : "<no response>";
}

uint64_t generation(Lb& lb) { return admin_stats(lb).value("generation", uint64_t(0)); }

}  // namespace

TEST_SUITE("policy_headers") {

// ---- request and response rules ---------------------------------------------------
TEST_CASE("request rules: the listener's, then the route's; set replaces, add appends, remove deletes; as the server receives them") {
  RecordingServer a("a");
  json listener_rules = {{"set", {{"X-Env", "prod"}, {"X-Listener", "%{listener}"}}},
                         {"add", {{"X-Trace", "l1"}}},
                         {"remove", {"X-Remove-Me", "x-secret"}}};
  json routes = json::array({{{"name", "r"},
                              {"path_prefix", "/r/"},
                              {"request_headers",
                               {{"set", {{"x-env", "staging"}}}, {"add", {{"X-Trace", "r1"}}}, {"remove", {"X-Listener"}}}}},
                             {{"path_prefix", "/h/"}, {"request_headers", {{"set", {{"Host", "internal.example"}}}}}}});
  Lb lb(make_config({web_listener("a", {{"routes", routes}, {"request_headers", listener_rules}})}, {pool_of("a", {&a})}));
  const std::vector<std::pair<std::string, std::string>> sent{
      {"X-Env", "client"}, {"X-Trace", "c0"}, {"X-Remove-Me", "1"}, {"X-SECRET", "s"}, {"X-Keep", "k"}};

  auto r = get(lb.port(), "/r/x?y=1", sent);
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  std::string head = a.last();
  CHECK(request_line(head) == "GET /r/x?y=1 HTTP/1.1");
  CHECK(values(head, "X-Env") == Strings{"staging"});        // the route's set replaced the listener's
  CHECK(values(head, "X-Trace") == Strings{"c0", "l1", "r1"});  // add appends, the client's first
  CHECK(values(head, "X-Listener").empty());                  // the route removed what the listener set
  CHECK(values(head, "X-Remove-Me").empty());
  CHECK(values(head, "X-Secret").empty());                    // names are case-insensitive
  CHECK(value(head, "X-Keep") == "k");
  CHECK(value(head, "Host") == "127.0.0.1");

  r = get(lb.port(), "/other", sent);
  REQUIRE(r.has_value());
  head = a.last();
  CHECK(request_line(head) == "GET /other HTTP/1.1");
  CHECK(values(head, "X-Env") == Strings{"prod"});
  CHECK(values(head, "X-Trace") == Strings{"c0", "l1"});
  CHECK(values(head, "X-Listener") == Strings{"web"});
  CHECK(values(head, "X-Remove-Me").empty());
  CHECK(values(head, "X-Secret").empty());

  // A route may set Host for its servers: they get that one Host.
  r = get(lb.port(), "/h/x", {{"Host", "public.example"}});
  REQUIRE(r.has_value());
  head = a.last();
  CHECK(values(head, "Host") == Strings{"internal.example"});
  CHECK(value(head, "X-Forwarded-Host") == "public.example");
  CHECK(a.count() == 3);
}

TEST_CASE("response rules: HSTS set, the server's Server header removed, the route's after the listener's; as the client receives them") {
  RecordingServer a("a", [](const std::string&, int) {
    return RecordingServer::ok("a", "Server: test-backend/1.0\r\nX-Backend-Secret: s\r\n"
                                    "Strict-Transport-Security: max-age=1\r\nX-Multi: 1\r\nX-Multi: 2\r\n");
  });
  json listener_rules = {{"set", {{"Strict-Transport-Security", "max-age=63072000"}}},
                         {"remove", {"server"}},
                         {"add", {{"X-Served-By", "%{server}"}}}};
  json routes = json::array({
      {{"path_prefix", "/r/"},
       {"response_headers",
        {{"set", {{"Strict-Transport-Security", "max-age=0"}}},
         {"remove", {"X-Backend-Secret", "x-served-by"}},
         {"add", {{"Via", "1.1 lb"}}}}}},
      {{"path_exact", "/hello"}, {"respond", {{"body", "hi"}}}},
  });
  Lb lb(make_config({web_listener("a", {{"routes", routes}, {"response_headers", listener_rules}})},
                    {pool_of("a", {&a})}));

  auto r = get(lb.port(), "/other");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "a");
  CHECK(r->headers_named("Strict-Transport-Security") == Strings{"max-age=63072000"});
  CHECK_FALSE(r->has_header("Server"));
  CHECK(r->headers_named("X-Backend-Secret") == Strings{"s"});
  CHECK(r->headers_named("X-Multi") == Strings{"1", "2"});
  CHECK(r->headers_named("X-Served-By") == Strings{a.address()});

  r = get(lb.port(), "/r/x");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->headers_named("Strict-Transport-Security") == Strings{"max-age=0"});
  CHECK_FALSE(r->has_header("Server"));
  CHECK_FALSE(r->has_header("X-Backend-Secret"));
  CHECK_FALSE(r->has_header("X-Served-By"));
  CHECK(r->headers_named("Via") == Strings{"1.1 lb"});

  // lb's own answer (a respond route) carries the listener's rules too.
  r = get(lb.port(), "/hello");
  REQUIRE(r.has_value());
  CHECK(r->body == "hi");
  CHECK(r->headers_named("Strict-Transport-Security") == Strings{"max-age=63072000"});

  CurlResult c = curl({"--http1.1"}, base_url(lb.port()) + "/other");
  REQUIRE_MESSAGE(c.error.empty(), c.error);
  CHECK(c.response.headers_named("Strict-Transport-Security") == Strings{"max-age=63072000"});
  CHECK_FALSE(c.response.has_header("Server"));
  CHECK(a.count() == 3);
}

TEST_CASE("variables: client_ip, client_port, request_id, scheme, host, path (normalized, before rewrite), listener, route, server") {
  RecordingServer a("a");
  json request_rules = {{"set",
                         {{"X-V-Ip", "%{client_ip}"},
                          {"X-V-Port", "%{client_port}"},
                          {"X-V-Rid", "%{request_id}"},
                          {"X-V-Scheme", "%{scheme}"},
                          {"X-V-Host", "%{host}"},
                          {"X-V-Path", "%{path}"},
                          {"X-V-Listener", "%{listener}"},
                          {"X-V-Route", "%{route}"},
                          {"X-V-Combo", "%{scheme}://%{host}%{path} via %{listener}/%{route}"}}}};
  json response_rules = {
      {"set", {{"X-R-Server", "%{server}"}, {"X-R-Rid", "%{request_id}"}, {"X-R-Route", "%{route}"}, {"X-R-Path", "%{path}"}}}};
  json routes = json::array({{{"name", "api"}, {"path_prefix", "/api/"}, {"rewrite", {{"prefix", "/"}}}}});
  Lb lb(make_config({web_listener("a", {{"routes", routes},
                                        {"request_headers", request_rules},
                                        {"response_headers", response_rules}})},
                    {pool_of("a", {&a})}));

  Socket conn = Socket::connect(lb.port());
  REQUIRE(conn.send_all("GET /api/a/../b?q=1 HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n"));
  auto r = read_http_response(conn, 5s);
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  std::string head = a.last();
  CHECK(request_line(head) == "GET /b?q=1 HTTP/1.1");
  CHECK(value(head, "X-V-Ip") == "127.0.0.1");
  CHECK(value(head, "X-V-Port") == std::to_string(conn.local_port()));
  const std::string rid = value(head, "X-Request-Id");
  CHECK(is_hex32(rid));  // generated by lb
  CHECK(value(head, "X-V-Rid") == rid);
  CHECK(value(head, "X-V-Scheme") == "http");
  CHECK(lower(value(head, "X-V-Host")) == "example.com");
  CHECK(value(head, "X-V-Path") == "/api/b");
  CHECK(value(head, "X-V-Listener") == "web");
  CHECK(value(head, "X-V-Route") == "api");
  CHECK(lower(value(head, "X-V-Combo")) == "http://example.com/api/b via web/api");
  CHECK(r->header("X-R-Server").value_or("<none>") == a.address());
  CHECK(r->header("X-R-Rid").value_or("<none>") == rid);
  CHECK(r->header("X-R-Route").value_or("<none>") == "api");
  CHECK(r->header("X-R-Path").value_or("<none>") == "/api/b");

  // The client's X-Request-Id is the one the server gets, once, and the variable's value.
  REQUIRE(conn.send_all("GET /other HTTP/1.1\r\nHost: example.com\r\nX-Request-Id: client-rid-1\r\n\r\n"));
  r = read_http_response(conn, 5s);
  REQUIRE(r.has_value());
  head = a.last();
  CHECK(values(head, "X-Request-Id") == Strings{"client-rid-1"});
  CHECK(value(head, "X-V-Rid") == "client-rid-1");
  CHECK(value(head, "X-V-Route") == "");  // no route matched
  CHECK(value(head, "X-V-Port") == std::to_string(conn.local_port()));
  CHECK(r->header("X-R-Rid").value_or("<none>") == "client-rid-1");
}

TEST_CASE("a request rule on a header lb forwards itself replaces it: one X-Forwarded-Proto, no X-Forwarded-Host") {
  RecordingServer a("a");
  json rules = {{"set", {{"X-Forwarded-Proto", "https"}}}, {"remove", {"X-Forwarded-Host"}}};
  Lb lb(make_config({web_listener("a", {{"request_headers", rules}})}, {pool_of("a", {&a})}));
  auto r = get(lb.port(), "/x", {{"Host", "site.example"}});
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  const std::string head = a.last();
  INFO(head);
  CHECK(values(head, "X-Forwarded-Proto") == Strings{"https"});
  CHECK(values(head, "X-Forwarded-Host").empty());
  CHECK(values(head, "X-Forwarded-For") == Strings{"127.0.0.1"});  // untouched ones stay
}

TEST_CASE("--check refuses bad header rules and error pages, naming each JSON pointer") {
  TempDir dir;
  json routes = json::array({{{"path_prefix", "/r/"},
                              {"request_headers", {{"set", {{"X-Server", "%{server}"}}}}},
                              {"response_headers", {{"set", {{"X-Open", "%{client_ip"}, {"X-Fine", "%{server}"}}}}}},
                             {{"path_exact", "/p"}, {"redirect", {{"prefix", "/q/"}}}},
                             {{"path_exact", "/e"}, {"rewrite", {{"prefix", "/"}}}}});
  json listener = web_listener(
      "p", {{"routes", routes},
            {"request_headers", {{"set", {{"X-Unknown", "%{nope}"}}}, {"add", {{"X-Lf", "a\nb"}}}}},
            {"response_headers", {{"add", {{"X-Crlf", "a\r\nInjected: 1"}}}}},
            {"error_pages", {{"503", "missing.html"}, {"5x", "x.html"}}}});
  json config = make_config({listener}, {make_pool("p", "round_robin", {server(9)})});
  RunResult check = check_config(dir, config);
  INFO(check.err);
  CHECK(check.status == std::optional<int>(1));
  const std::string file = dir.file("lb.json");
  for (const char* pointer : {"/listeners/0/request_headers/set/X-Unknown",
                              "/listeners/0/request_headers/add/X-Lf",
                              "/listeners/0/response_headers/add/X-Crlf",
                              "/listeners/0/routes/0/request_headers/set/X-Server",
                              "/listeners/0/routes/0/response_headers/set/X-Open",
                              "/listeners/0/routes/1/redirect/prefix",
                              "/listeners/0/routes/2/rewrite/prefix",
                              "/listeners/0/error_pages/503",
                              "/listeners/0/error_pages/5x"}) {
    CAPTURE(pointer);
    CHECK(check.err.find(file + ": " + pointer + ": ") != std::string::npos);
  }
  CHECK(check.err.find("nope") != std::string::npos);
  CHECK(check.err.find("/routes/0/response_headers/set/X-Fine") == std::string::npos);  // %{server} is fine there

  // The same file without those mistakes passes, an error page found next to it.
  std::filesystem::create_directories(dir.file("errors"));
  write_file(dir.file("errors/503.html"), "<p>busy</p>");
  json good = config;
  json& l = good["listeners"][0];
  l["request_headers"] = {{"set", {{"X-Known", "%{client_ip}:%{client_port}"}}}};
  l["response_headers"] = {{"add", {{"X-Fine", "a b\tc"}}}};
  l["error_pages"] = {{"503", "errors/503.html"}};
  l["routes"] = json::array({{{"path_prefix", "/r/"}, {"response_headers", {{"set", {{"X-Fine", "%{server}"}}}}}}});
  check = check_config(dir, good);
  INFO(check.err);
  CHECK(check.status == std::optional<int>(0));
  CHECK(check.out.find(file + ": ok") != std::string::npos);
}

// ---- error pages ---------------------------------------------------------------------
TEST_CASE("error_pages: per status and per class, content type from the extension, on lb's own answers only") {
  TempDir pages;
  write_file(pages.file("404.html"), "<h1>not here</h1>\n");
  write_file(pages.file("5xx.txt"), "lb is having trouble\n");
  write_file(pages.file("502.json"), "{\"page\":502}");
  RecordingServer app("app"), boom("boom", [](const std::string&, int) { return RecordingServer::status(500, "server says 500"); }),
      busy("busy", [](const std::string&, int) { return RecordingServer::status(503, "server says 503"); });
  json maint = server(app.port());
  maint["state"] = "maint";
  const json once = {{"retries", {{"attempts", 0}}}};
  json routes = json::array({
      {{"path_prefix", "/app/"}, {"pool", "app"}},
      {{"path_prefix", "/down/"}, {"pool", "down"}},
      {{"path_prefix", "/boom/"}, {"pool", "boom"}},
      {{"path_prefix", "/busy/"}, {"pool", "busy"}},
      {{"path_prefix", "/abort/"}, {"pool", "app"}, {"fault", {{"abort_status", 502}}}},
  });
  json listener = web_listener("", {{"routes", routes},
                                    {"http2", {{"cleartext", true}}},
                                    {"error_pages",
                                     {{"404", pages.file("404.html")},
                                      {"5xx", pages.file("5xx.txt")},
                                      {"502", pages.file("502.json")}}}});
  Lb lb(make_config({listener}, {pool_of("app", {&app}), make_pool("down", "round_robin", {maint}),
                                 pool_of("boom", {&boom}, once), pool_of("busy", {&busy}, once)}));
  const Expected cases[] = {
      {"/nothing", 404, "<h1>not here</h1>\n", "text/html"},     // no route, no default pool
      {"/down/x", 503, "lb is having trouble\n", "text/plain"},  // no server: the class page
      {"/abort/x", 502, "{\"page\":502}", "application/json"},   // a fault abort: the status page wins
      {"/boom/x", 500, "server says 500", nullptr},              // the server's own 5xx, as it sent it
      {"/busy/x", 503, "server says 503", nullptr},
      {"/app/x", 200, "app", nullptr},
  };
  for (const Expected& c : cases) check_answer(get(lb.port(), c.target), c);
  auto down = get(lb.port(), "/down/x");
  REQUIRE(down.has_value());
  CHECK(down->has_header("Retry-After"));
  // No page for 400 or 4xx: lb's JSON stays.
  auto bad = get(lb.port(), "/..");
  REQUIRE(bad.has_value());
  CHECK(bad->status == 400);
  CHECK(is_json_error(*bad));
  // HTTP/2 streams get the pages too.
  CurlResult c = curl({"--http2-prior-knowledge"}, base_url(lb.port()) + "/nothing");
  REQUIRE_MESSAGE(c.error.empty(), c.error);
  CHECK(c.response.status == 404);
  CHECK(c.response.body == "<h1>not here</h1>\n");
  CHECK(c.response.header("content-type").value_or("<none>").starts_with("text/html"));
  CHECK(app.count() == 1);
}

TEST_CASE("error_pages are read at load and re-read on reload (SIGHUP), a relative path next to the configuration") {
  TempDir pages;
  write_file(pages.file("5xx.html"), "v1");
  RecordingServer unused("unused");
  json maint = server(unused.port());
  maint["state"] = "maint";
  json listener = web_listener("down", {{"error_pages", {{"5xx", pages.file("5xx.html")}}}});
  Lb lb(make_config({listener}, {make_pool("down", "round_robin", {maint})}, {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  CHECK(body_of(lb.port(), "/") == "v1");

  write_file(pages.file("5xx.html"), "v2");
  CHECK(body_of(lb.port(), "/") == "v1");  // read at load, not per answer
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE_MESSAGE(wait_until([&] { return generation(lb) == 2; }, 5s), lb.diagnostics());
  CHECK(body_of(lb.port(), "/") == "v2");

  std::filesystem::create_directories(lb.file("errors"));
  write_file(lb.file("errors/5xx.txt"), "v3 relative");
  json next = lb.config();
  next["listeners"][0]["error_pages"] = {{"5xx", "errors/5xx.txt"}};
  lb.rewrite_config(next);
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE_MESSAGE(wait_until([&] { return generation(lb) == 3; }, 5s), lb.diagnostics());
  auto r = get(lb.port(), "/");
  REQUIRE(r.has_value());
  CHECK(r->status == 503);
  CHECK(r->body == "v3 relative");
  CHECK(r->header("Content-Type").value_or("<none>").starts_with("text/plain"));

  // A page that went missing fails the reload; the old page keeps serving.
  std::filesystem::remove(lb.file("errors/5xx.txt"));
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE_MESSAGE(wait_until([&] { return admin_stats(lb)["last_reload"].value("ok", true) == false; }, 5s),
                  lb.diagnostics());
  json stats = admin_stats(lb);
  CHECK(stats["generation"] == 3);
  CHECK(stats["last_reload"]["error"].get<std::string>().find("/listeners/0/error_pages/5xx") != std::string::npos);
  CHECK(body_of(lb.port(), "/") == "v3 relative");
  CHECK(unused.count() == 0);
}

// ---- HTTP/2 ------------------------------------------------------------------------------
TEST_CASE("HTTP/2 streams get the header rules: request rules reach the server, response rules the client") {
  RecordingServer a("a", [](const std::string&, int) { return RecordingServer::ok("a", "Server: test-backend/1.0\r\n"); });
  json routes = json::array({{{"name", "h2route"},
                              {"path_prefix", "/r/"},
                              {"request_headers", {{"add", {{"X-Trace", "r1"}}}}},
                              {"response_headers", {{"set", {{"X-Route", "%{route}"}}}}}}});
  json listener = web_listener("a", {{"routes", routes},
                                     {"http2", {{"cleartext", true}}},
                                     {"request_headers", {{"set", {{"X-Env", "prod"}, {"X-Scheme", "%{scheme}"}}}}},
                                     {"response_headers",
                                      {{"set", {{"Strict-Transport-Security", "max-age=63072000"}}}, {"remove", {"Server"}}}}});
  Lb lb(make_config({listener}, {pool_of("a", {&a})}));
  CurlResult c = curl({"--http2-prior-knowledge", "-H", "X-Env: client", "-H", "X-Trace: c0"},
                      base_url(lb.port()) + "/r/x?k=v");
  REQUIRE_MESSAGE(c.error.empty(), c.error);
  CHECK(c.response.version == "HTTP/2");
  CHECK(c.response.status == 200);
  CHECK(c.response.body == "a");
  CHECK(c.response.headers_named("strict-transport-security") == Strings{"max-age=63072000"});
  CHECK_FALSE(c.response.has_header("server"));
  CHECK(c.response.headers_named("x-route") == Strings{"h2route"});
  REQUIRE(a.count() == 1);
  const std::string head = a.last();
  CHECK(request_line(head) == "GET /r/x?k=v HTTP/1.1");
  CHECK(values(head, "X-Env") == Strings{"prod"});
  CHECK(values(head, "X-Trace") == Strings{"c0", "r1"});
  CHECK(value(head, "X-Scheme") == "http");
}

}  // TEST_SUITE
