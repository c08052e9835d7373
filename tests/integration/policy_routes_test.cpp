// tests/integration/policy_routes_test.cpp — SPEC 10 routes through the real
// lb binary, with recording servers that show byte for byte what lb
// forwarded: the normalized path (dot segments and escaped dots cannot bypass
// a path_prefix route, other escapes and the query stay as sent, a path above
// the root is a 400), matching (default names route-N, path_exact, path_prefix,
// path_regex on the whole path, methods, headers, host exact and wildcard
// with case, port and trailing dot, first match wins), the redirect, respond
// and rewrite actions, fault injection, per-route timeouts and retries,
// ${NAME} in route values, and the same policies over HTTP/2 (curl).
// Header rules and error pages are in policy_headers_test.cpp.
#include <doctest/doctest.h>

#include <cstdlib>
#include <thread>

#include "tests/integration/policy_util.h"

using namespace it;
using namespace it::policy;

using Fields = std::vector<std::pair<std::string, std::string>>;

TEST_SUITE("policy_routes") {

// ---- normalized path ------------------------------------------------------------
TEST_CASE("normalized path: dot segments and escaped dots never bypass a path_prefix route; the server gets the normal form") {
  Servers s{"a", "b"};
  json routes = json::array({{{"path_prefix", "/public/"}, {"pool", "a"}}});
  Lb lb(make_config({web_listener("b", {{"routes", routes}})}, s.pools()));

  struct Case {
    const char* sent;
    const char* pool;
    const char* received;  // the request-target the server gets
  };
  const Case cases[] = {
      {"/public/../admin", "b", "/admin"},
      {"/public/%2e%2e/admin", "b", "/admin"},
      {"/public/%2E%2E/admin", "b", "/admin"},
      {"/public/.%2e/admin", "b", "/admin"},
      {"/public//..//admin", "b", "/admin"},  // slashes merge before dot segments go
      {"/public/x/../../admin", "b", "/admin"},
      {"/public/..", "b", "/"},
      {"/public/./file", "a", "/public/file"},
      {"/public/a/../file", "a", "/public/file"},
      {"/public/%66ile", "a", "/public/file"},          // %66 is "f", unreserved
      {"/%70ublic/file", "a", "/public/file"},          // an escaped letter of the prefix itself
      {"/public/%2F..%2Fadmin", "a", "/public/%2F..%2Fadmin"},  // %2F is no separator: one segment
      {"/a/%2Fb", "b", "/a/%2Fb"},
      {"/a/%2fb%5C%20c", "b", "/a/%2fb%5C%20c"},        // other escapes keep their bytes and hex case
      {"//x//y", "b", "/x/y"},
      {"/x/y/..", "b", "/x/"},
      {"/%7Euser/%41%2d%5f", "b", "/~user/A-_"},
      {"//q/./?a=%2e%2e/..//&b=%2F", "b", "/q/?a=%2e%2e/..//&b=%2F"},  // the query stays byte for byte
      {"//x?", "b", "/x?"},                             // an empty query keeps its "?"
      {"/public/?x=/../y", "a", "/public/?x=/../y"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.sent);
    const size_t before = s.total(), before_pool = s[c.pool].count();
    auto r = get(lb.port(), c.sent);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == c.pool);
    CHECK(s.total() == before + 1);
    REQUIRE(s[c.pool].count() == before_pool + 1);
    const std::string head = s[c.pool].last();
    CHECK(request_line(head) == std::string("GET ") + c.received + " HTTP/1.1");
    CHECK(value(head, "Host") == "127.0.0.1");
  }

  // Above the root: lb answers 400 itself.
  for (const char* above : {"/..", "/../x", "/a/../../b", "/%2e%2e/x", "/.%2E/x", "/public/../../etc/passwd"}) {
    CAPTURE(above);
    const size_t before = s.total();
    auto r = get(lb.port(), above);
    REQUIRE(r.has_value());
    CHECK(r->status == 400);
    CHECK(is_json_error(*r));
    CHECK(s.total() == before);
  }
}

TEST_CASE("curl --path-as-is over HTTP/1.1 and HTTP/2: /public/../admin and /public/%2e%2e/admin reach /admin on the default pool") {
  Servers s{"a", "b"};
  json routes = json::array({{{"path_prefix", "/public/"}, {"pool", "a"}}});
  Lb lb(make_config({web_listener("b", {{"routes", routes}, {"http2", {{"cleartext", true}}}})}, s.pools()));
  for (const char* proto : {"--http1.1", "--http2-prior-knowledge"}) {
    for (const char* path : {"/public/../admin?x=1&y=/../z", "/public/%2e%2e/admin?x=1&y=/../z"}) {
      CAPTURE(proto);
      CAPTURE(path);
      const size_t before = s["b"].count();
      CurlResult c = curl({proto, "--path-as-is"}, base_url(lb.port()) + path);
      REQUIRE_MESSAGE(c.error.empty(), c.error);
      CHECK(c.response.version == (std::string(proto) == "--http1.1" ? "HTTP/1.1" : "HTTP/2"));
      CHECK(c.response.status == 200);
      CHECK(c.response.body == "b");
      REQUIRE(s["b"].count() == before + 1);
      CHECK(request_line(s["b"].last()) == "GET /admin?x=1&y=/../z HTTP/1.1");
    }
    CurlResult above = curl({proto, "--path-as-is"}, base_url(lb.port()) + "/public/../../x");
    REQUIRE_MESSAGE(above.error.empty(), above.error);
    CHECK(above.response.status == 400);
  }
  CHECK(s["a"].count() == 0);
}

// ---- matching ----------------------------------------------------------------------
TEST_CASE("matching: default names route-N, path_exact, whole-path path_regex, methods, headers, first match wins") {
  Servers s{"def", "exact", "regex", "regex2", "write", "premium", "api", "never"};
  json routes = json::array({
      {{"name", "exact"}, {"path_exact", "/login"}, {"pool", "exact"}},
      {{"path_regex", "^/v[0-9]+/items$"}, {"pool", "regex"}},
      {{"path_regex", "/w[0-9]+"}, {"pool", "regex2"}},  // no anchors: still the whole path
      {{"name", "writes"}, {"path_prefix", "/api/"}, {"methods", {"POST", "PUT"}}, {"pool", "write"}},
      {{"name", "premium"}, {"path_prefix", "/api/"}, {"headers", {{"X-User-Type", "premium"}}}, {"pool", "premium"}},
      {{"name", "api"}, {"path_prefix", "/api/"}, {"pool", "api"}},
      {{"name", "shadowed"}, {"path_prefix", "/api/v1/"}, {"pool", "never"}},
  });
  // %{route} shows the server which route matched (empty without one). The
  // access log's "route" field would show it too, but lb leaves it null so far.
  json listener = web_listener("def", {{"routes", routes}, {"request_headers", {{"set", {{"X-Route", "%{route}"}}}}}});
  Lb lb(make_config({listener}, s.pools()));

  struct Case {
    const char* method;
    const char* target;
    Fields headers;
    const char* pool;
    const char* route;
  };
  const Case cases[] = {
      {"GET", "/login", {}, "exact", "exact"},
      {"GET", "/login/", {}, "def", ""},
      {"GET", "/loginx", {}, "def", ""},
      {"GET", "/login?next=/x", {}, "exact", "exact"},
      {"GET", "/v1/items", {}, "regex", "route-1"},
      {"GET", "/v42/items?x=1", {}, "regex", "route-1"},
      {"GET", "/v1//items", {}, "regex", "route-1"},  // matched after normalization
      {"GET", "/v1/items/", {}, "def", ""},
      {"GET", "/x/v1/items", {}, "def", ""},
      {"GET", "/vx/items", {}, "def", ""},
      {"GET", "/w7", {}, "regex2", "route-2"},
      {"GET", "/w7/x", {}, "def", ""},
      {"GET", "/aw7", {}, "def", ""},
      {"POST", "/api/x", {}, "write", "writes"},
      {"PUT", "/api/x", {{"X-User-Type", "premium"}}, "write", "writes"},  // the first match wins
      {"GET", "/api/x", {{"X-User-Type", "premium"}}, "premium", "premium"},
      {"GET", "/api/x", {{"x-user-type", "premium"}}, "premium", "premium"},  // names are case-insensitive
      {"GET", "/api/x", {{"X-User-Type", "Premium"}}, "api", "api"},          // values are exact
      {"GET", "/api/x", {}, "api", "api"},
      {"DELETE", "/api/v1/x", {}, "api", "api"},  // a longer prefix later in the list does not win
      {"GET", "/apix", {}, "def", ""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.target);
    const size_t before = s.total(), before_pool = s[c.pool].count();
    auto r = send(lb.port(), c.method, c.target, c.headers);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == c.pool);
    CHECK(s.total() == before + 1);
    REQUIRE(s[c.pool].count() == before_pool + 1);
    CHECK(value(s[c.pool].last(), "X-Route") == c.route);
  }
  CHECK(s["never"].count() == 0);
}

TEST_CASE("host matching: exact and wildcard, lower-cased, without port and trailing dot") {
  Servers s{"def", "api", "wild", "other"};
  json routes = json::array({
      {{"host", "api.example.com"}, {"pool", "api"}},
      {{"host", "*.example.com"}, {"pool", "wild"}},
      {{"host", "Other.Example.ORG."}, {"pool", "other"}},  // the pattern is normalized too
  });
  Lb lb(make_config({web_listener("def", {{"routes", routes}})}, s.pools()));
  const std::pair<const char*, const char*> cases[] = {
      {"api.example.com", "api"},
      {"API.Example.com.:443", "api"},
      {"api.example.com:8080", "api"},
      {"api.example.com.", "api"},
      {"x.example.com", "wild"},
      {"a.b.example.com", "wild"},
      {"X.EXAMPLE.COM.", "wild"},
      {"example.com", "def"},
      {"api.example.com.evil", "def"},
      {"apiexample.com", "def"},
      {"other.example.org", "other"},
      {"OTHER.example.org.:80", "other"},
  };
  for (const auto& [host, pool] : cases) {
    CAPTURE(host);
    const size_t before_pool = s[pool].count();
    auto r = get(lb.port(), "/", {{"Host", host}});
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == pool);
    REQUIRE(s[pool].count() == before_pool + 1);
    CHECK(value(s[pool].last(), "Host") == host);  // the Host header itself is forwarded as sent
  }
}

// ---- actions -------------------------------------------------------------------------
TEST_CASE("redirect: scheme, host, port, path, prefix, keep_query and every status; lb answers without a server") {
  Servers s{"a"};
  json routes = json::array({
      {{"name", "to-https"}, {"path_prefix", "/secure/"}, {"redirect", {{"scheme", "https"}, {"status", 308}}}},
      {{"path_exact", "/moved"}, {"redirect", {{"path", "/new"}, {"status", 301}}}},
      {{"path_exact", "/found"}, {"redirect", {{"path", "/f"}, {"status", 302}, {"keep_query", false}}}},
      {{"path_exact", "/see"}, {"redirect", {{"host", "other.example"}, {"status", 303}}}},
      {{"path_exact", "/temp"}, {"redirect", {{"port", 8443}, {"status", 307}}}},
      {{"path_prefix", "/old/"}, {"redirect", {{"prefix", "/new/"}}}},  // status 301 by default
      {{"path_exact", "/tls"}, {"redirect", {{"scheme", "https"}, {"port", 443}, {"path", "/x"}, {"status", 302}}}},
      {{"path_exact", "/plain"}, {"redirect", {{"host", "h.example"}, {"port", 80}}}},
  });
  Lb lb(make_config({web_listener("a", {{"routes", routes}})}, s.pools()));
  struct Case {
    const char* host;
    const char* target;
    int status;
    const char* reason;
    const char* location;
  };
  const Case cases[] = {
      {"example.com:8080", "/secure/a?b=1", 308, "Permanent Redirect", "https://example.com/secure/a?b=1"},
      {"example.com", "/secure/../secure/a", 308, "Permanent Redirect", "https://example.com/secure/a"},
      {"example.com:8080", "/moved?q=1", 301, "Moved Permanently", "/new?q=1"},
      {"example.com:8080", "/found?q=1", 302, "Found", "/f"},
      {"example.com:8080", "/see?x", 303, "See Other", "http://other.example:8080/see?x"},
      {"example.com:8080", "/temp", 307, "Temporary Redirect", "http://example.com:8443/temp"},
      {"example.com", "/old/a/b?z=9", 301, "Moved Permanently", "/new/a/b?z=9"},
      {"example.com", "/old//a/./b", 301, "Moved Permanently", "/new/a/b"},
      {"example.com:8080", "/tls", 302, "Found", "https://example.com/x"},
      {"example.com:8080", "/plain", 301, "Moved Permanently", "http://h.example/plain"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.host);
    CAPTURE(c.target);
    auto r = get(lb.port(), c.target, {{"Host", c.host}});
    REQUIRE(r.has_value());
    CHECK(r->status == c.status);
    CHECK(r->reason == c.reason);
    CHECK(r->header("Location").value_or("<none>") == c.location);
    CHECK(r->headers_named("Location").size() == 1);
  }
  // A redirect on a keep-alive connection leaves it usable.
  Socket conn = Socket::connect(lb.port());
  HttpRequest req;
  req.target = "/moved";
  req.headers = {{"Host", "example.com"}};
  for (int i = 0; i < 3; ++i) {
    auto r = roundtrip(conn, req);
    REQUIRE(r.has_value());
    CHECK(r->status == 301);
    CHECK(r->body.empty());
  }
  // curl sees the same.
  CurlResult c = curl({"-H", "Host: example.com:8080"}, base_url(lb.port()) + "/secure/x?y=%2F");
  REQUIRE_MESSAGE(c.error.empty(), c.error);
  CHECK(c.response.status == 308);
  CHECK(c.response.header("Location").value_or("<none>") == "https://example.com/secure/x?y=%2F");
  CHECK(s["a"].count() == 0);
}

TEST_CASE("redirect: Location stays relative when the scheme, host and port do not change") {
  Servers s{"a"};
  json routes = json::array({
      {{"path_exact", "/same-scheme"}, {"redirect", {{"scheme", "http"}, {"path", "/s"}}}},
      {{"path_exact", "/same-host"}, {"redirect", {{"host", "example.com"}, {"path", "/h"}}}},
  });
  Lb lb(make_config({web_listener("a", {{"routes", routes}})}, s.pools()));
  auto r = get(lb.port(), "/same-scheme", {{"Host", "example.com:8080"}});
  REQUIRE(r.has_value());
  CHECK(r->status == 301);
  CHECK(r->header("Location").value_or("<none>") == "/s");
  r = get(lb.port(), "/same-host", {{"Host", "example.com"}});
  REQUIRE(r.has_value());
  CHECK(r->status == 301);
  CHECK(r->header("Location").value_or("<none>") == "/h");
}

TEST_CASE("redirect: the body-less answer carries no empty Content-Type") {
  Servers s{"a"};
  json routes = json::array({{{"path_exact", "/moved"}, {"redirect", {{"path", "/new"}}}}});
  Lb lb(make_config({web_listener("a", {{"routes", routes}})}, s.pools()));
  auto r = get(lb.port(), "/moved");
  REQUIRE(r.has_value());
  CHECK(r->status == 301);
  CHECK(r->header("Content-Length").value_or("<none>") == "0");
  for (const std::string& type : r->headers_named("Content-Type")) CHECK_MESSAGE(!type.empty(), "Content-Type: (empty)");
}

TEST_CASE("respond: status, body and content type from the route, no server, keep-alive kept") {
  Servers s{"a"};
  json routes = json::array({
      {{"path_exact", "/hello"},
       {"respond", {{"status", 200}, {"body", "hello world\n"}, {"content_type", "text/plain; charset=utf-8"}}}},
      {{"path_exact", "/teapot"},
       {"respond", {{"status", 418}, {"body", "{\"short\":true}"}, {"content_type", "application/json"}}}},
      {{"path_prefix", "/gone/"}, {"respond", {{"status", 410}, {"body", "gone"}}}},
      {{"path_exact", "/empty"}, {"respond", json::object()}},
  });
  Lb lb(make_config({web_listener("a", {{"routes", routes}})}, s.pools()));
  const Expected cases[] = {
      {"/hello", 200, "hello world\n", "text/plain; charset=utf-8"},
      {"/hello?x=1", 200, "hello world\n", "text/plain; charset=utf-8"},
      {"/teapot", 418, "{\"short\":true}", "application/json"},
      {"/gone/a/../b", 410, "gone", "text/plain"},
      {"/empty", 200, "", "text/plain"},
  };
  Socket conn = Socket::connect(lb.port());
  for (const Expected& c : cases) {
    HttpRequest req;
    req.target = c.target;
    auto r = roundtrip(conn, req);
    check_answer(r, c);
    CHECK_FALSE(has_token(r->header("Connection"), "close"));
  }
  // A POST with a body to a respond route: answered, and the body never reaches a server.
  HttpRequest post;
  post.method = "POST";
  post.target = "/teapot";
  post.body = "12345";
  auto answered = http_request(lb.port(), post);
  REQUIRE(answered.has_value());
  CHECK(answered->status == 418);
  CHECK(s["a"].count() == 0);
  auto passed = get(lb.port(), "/other");
  REQUIRE(passed.has_value());
  CHECK(passed->body == "a");
}

TEST_CASE("respond: a HEAD request gets the head without the body, over HTTP/1.1 (the connection stays in step) and HTTP/2") {
  Servers s{"a"};
  json routes = json::array({{{"path_exact", "/hello"}, {"respond", {{"body", "hello world\n"}}}}});
  Lb lb(make_config({web_listener("a", {{"routes", routes}, {"http2", {{"cleartext", true}}}})}, s.pools()));
  Socket conn = Socket::connect(lb.port());
  HttpRequest head;
  head.method = "HEAD";
  head.target = "/hello";
  auto r = roundtrip(conn, head);
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->header("Content-Length").value_or("<none>") == "12");
  HttpRequest next;
  next.target = "/hello";
  r = roundtrip(conn, next);
  CHECK_MESSAGE(r.has_value(), "the next response on the connection did not parse: " << conn.buffer());
  if (r) {
    CHECK(r->status == 200);
    CHECK(r->body == "hello world\n");
  }

  CurlResult c = curl({"--http2-prior-knowledge", "--head"}, base_url(lb.port()) + "/hello");
  CHECK_MESSAGE(c.error.empty(), c.error);
  CHECK(c.response.status == 200);
  CHECK(c.response.body.empty());
}

TEST_CASE("rewrite: prefix and regex with capture groups; the server gets the rewritten path and the query as sent") {
  Servers s{"a", "b"};
  json routes = json::array({
      {{"path_prefix", "/api/v1/"}, {"rewrite", {{"prefix", "/"}}}, {"pool", "a"}},
      {{"path_prefix", "/static/"}, {"rewrite", {{"prefix", "/assets/"}}}, {"pool", "a"}},
      {{"path_regex", "^/old/([a-z]+)/([0-9]+)$"},
       {"rewrite", {{"regex", "^/old/([a-z]+)/([0-9]+)$"}, {"replace", "/new/\\2/\\1"}}},
       {"pool", "a"}},
      {{"path_prefix", "/r/"}, {"rewrite", {{"regex", "^/r/(.*)$"}, {"replace", "/\\1"}}}, {"pool", "a"}},
      {{"path_prefix", "/nomatch/"}, {"rewrite", {{"regex", "^/zzz/(.*)$"}, {"replace", "/\\1"}}}, {"pool", "a"}},
  });
  Lb lb(make_config({web_listener("b", {{"routes", routes}})}, s.pools()));
  const std::tuple<const char*, const char*, const char*> cases[] = {
      {"/api/v1/users/7?x=1&y=%2F", "a", "/users/7?x=1&y=%2F"},
      {"/api/v1/", "a", "/"},
      {"/api/v1//users/../items", "a", "/items"},  // normalized first, then rewritten
      {"/api/v1/a%2Fb?", "a", "/a%2Fb?"},
      {"/static/css/a.css", "a", "/assets/css/a.css"},
      {"/old/abc/42?q", "a", "/new/42/abc?q"},
      {"/old/abc/x", "b", "/old/abc/x"},  // the route's regex does not match: default pool, as sent
      {"/r/x/../y?k=v", "a", "/y?k=v"},
      {"/nomatch/a?z", "a", "/nomatch/a?z"},  // a rewrite regex that does not match changes nothing
  };
  for (const auto& [sent, pool, received] : cases) {
    CAPTURE(sent);
    const size_t before = s[pool].count();
    auto r = get(lb.port(), sent, {{"Host", "site.example"}});
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    REQUIRE(s[pool].count() == before + 1);
    const std::string head = s[pool].last();
    CHECK(request_line(head) == std::string("GET ") + received + " HTTP/1.1");
    CHECK(value(head, "Host") == "site.example");
  }
}

// ---- fault injection ---------------------------------------------------------------
TEST_CASE("fault: abort_percent 100 never reaches a server, delay_percent 100 delays forwarding, percent 0 never fires") {
  Servers s{"a"};
  json routes = json::array({
      {{"path_prefix", "/abort/"}, {"fault", {{"abort_status", 503}, {"abort_percent", 100}}}},
      {{"path_prefix", "/delay/"}, {"fault", {{"delay", "300ms"}, {"delay_percent", 100}}}},
      {{"path_prefix", "/never/"},
       {"fault", {{"delay", "5s"}, {"delay_percent", 0}, {"abort_status", 500}, {"abort_percent", 0}}}},
      {{"path_prefix", "/half/"}, {"fault", {{"abort_status", 418}, {"abort_percent", 50}}}},
  });
  Lb lb(make_config({web_listener("a", {{"routes", routes}})}, s.pools()));
  Socket conn = Socket::connect(lb.port());
  auto one = [&](const std::string& target) {
    HttpRequest req;
    req.target = target;
    auto r = roundtrip(conn, req);
    if (!r || has_token(r->header("Connection"), "close")) conn = Socket::connect(lb.port());
    return r;
  };

  for (int i = 0; i < 20; ++i) {
    auto r = one("/abort/x");
    REQUIRE(r.has_value());
    CHECK(r->status == 503);
    CHECK(is_json_error(*r));
  }
  CHECK(s["a"].count() == 0);

  {
    const auto t0 = Clock::now();
    auto r = one("/delay/x?d=1");
    const double took = elapsed_ms(t0);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    REQUIRE(s["a"].count() == 1);
    CHECK(request_line(s["a"].last()) == "GET /delay/x?d=1 HTTP/1.1");
    // The delay comes before forwarding: the server got the request no sooner.
    // lb's timers run on libuv's loop clock, cached in whole (coarse)
    // milliseconds, so they may end a few milliseconds short of real time.
    const double arrived = std::chrono::duration<double, std::milli>(*s["a"].last_arrival() - t0).count();
    CHECK(arrived >= 300 - 5);
    CHECK(took >= arrived);
  }

  for (int i = 0; i < 30; ++i) {
    const auto t0 = Clock::now();
    auto r = one("/never/x");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(elapsed_ms(t0) < 5000);
  }
  CHECK(s["a"].count() == 31);

  int aborted = 0;
  const size_t before = s["a"].count();
  for (int i = 0; i < 200; ++i) {
    auto r = one("/half/x");
    REQUIRE(r.has_value());
    REQUIRE((r->status == 418 || r->status == 200));
    aborted += r->status == 418;
  }
  CHECK(s["a"].count() - before == static_cast<size_t>(200 - aborted));
  CHECK(aborted >= 40);  // Binomial(200, 0.5): outside 40..160 is beyond 8 sigma
  CHECK(aborted <= 160);
}

// ---- per-route timeouts and retries ---------------------------------------------------
TEST_CASE("route timeouts: response 200ms on a slow server is a 504 while another route on the pool waits") {
  RecordingServer slow("slow", [](const std::string&, int) {
    std::this_thread::sleep_for(800ms);  // the server's own pace, not a synchronisation
    return RecordingServer::ok("slow");
  });
  json pool = pool_of("p", {&slow}, {{"timeouts", {{"response", "5s"}}}, {"retries", {{"attempts", 0}}}});
  json routes = json::array({{{"path_prefix", "/impatient/"}, {"timeouts", {{"response", "200ms"}}}}});
  Lb lb(make_config({web_listener("p", {{"routes", routes}})}, {pool}));

  auto t0 = Clock::now();
  auto r = get(lb.port(), "/impatient/x");
  REQUIRE(r.has_value());
  CHECK(r->status == 504);
  CHECK(is_json_error(*r));
  CHECK(elapsed_ms(t0) >= 200);
  CHECK(slow.count() == 1);

  t0 = Clock::now();
  r = get(lb.port(), "/patient");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "slow");
  CHECK(elapsed_ms(t0) >= 800);
  CHECK(slow.count() == 2);
}

TEST_CASE("route retries: attempts 0 and a narrower \"on\" override the pool's, key by key") {
  auto busy = [](const std::string&, int) { return RecordingServer::status(503, "busy"); };
  RecordingServer f1("f1", busy), f2("f2", busy), f3("f3", busy);
  // Three servers: lb retries on a server not tried yet, so three tries need three.
  json pool = pool_of("f", {&f1, &f2, &f3},
                      {{"retries", {{"attempts", 2}, {"backoff_base", "1ms"}, {"backoff_max", "5ms"}}}});
  json routes = json::array({
      {{"name", "once"}, {"path_prefix", "/once/"}, {"retries", {{"attempts", 0}}}},
      {{"name", "connect-only"}, {"path_prefix", "/conn/"}, {"retries", {{"on", {"connect_failure"}}}}},
  });
  Lb lb(make_config({web_listener("f", {{"routes", routes}})}, {pool}));
  auto received = [&] { return f1.count() + f2.count() + f3.count(); };

  struct Case {
    const char* target;
    size_t tries;
  };
  const Case cases[] = {{"/once/x", 1}, {"/conn/x", 1}, {"/x", 3}};
  for (const Case& c : cases) {
    CAPTURE(c.target);
    const size_t before = received();
    auto r = get(lb.port(), c.target);
    REQUIRE(r.has_value());
    CHECK(r->status == 503);
    CHECK(r->body == "busy");  // the server's own answer, passed on
    CHECK(received() - before == c.tries);
  }
  auto lines = wait_access_lines(lb, 3);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["attempts"] == 1);
  CHECK(lines[1]["attempts"] == 1);
  CHECK(lines[2]["attempts"] == 3);
}

// ---- environment variables -----------------------------------------------------------
TEST_CASE("${NAME} in route values comes from lb's environment; $${ and $$ stay literal") {
  REQUIRE(getenv("LB_IT_POLICY_BODY") == nullptr);  // given to lb only, through LbOptions::env
  Servers s{"a"};
  json routes = json::array({
      {{"path_exact", "/env"},
       {"respond", {{"body", "${LB_IT_POLICY_BODY} $${NOT_A_VAR} $$5"}, {"content_type", "${LB_IT_POLICY_TYPE}"}}}},
      {{"path_exact", "/go"}, {"redirect", {{"host", "${LB_IT_POLICY_HOST}"}, {"status", 302}}}},
  });
  json config = make_config({web_listener("a", {{"routes", routes}})}, s.pools());
  LbOptions opts;
  opts.env = {{"LB_IT_POLICY_BODY", "hello from the environment"},
              {"LB_IT_POLICY_TYPE", "text/x-env"},
              {"LB_IT_POLICY_HOST", "env.example"}};
  Lb lb(config, opts);
  auto r = get(lb.port(), "/env");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "hello from the environment ${NOT_A_VAR} $$5");
  CHECK(r->header("Content-Type").value_or("<none>") == "text/x-env");
  r = get(lb.port(), "/go", {{"Host", "example.com"}});
  REQUIRE(r.has_value());
  CHECK(r->status == 302);
  CHECK(r->header("Location").value_or("<none>") == "http://env.example/go");
  CHECK(s["a"].count() == 0);

  // Without the variables --check names each pointer.
  TempDir dir;
  RunResult check = check_config(dir, config);
  INFO(check.err);
  CHECK(check.status == std::optional<int>(1));
  CHECK(check.err.find(": /listeners/0/routes/0/respond/body: environment variable LB_IT_POLICY_BODY is not set") !=
        std::string::npos);
  CHECK(check.err.find(": /listeners/0/routes/1/redirect/host: environment variable LB_IT_POLICY_HOST is not set") !=
        std::string::npos);
}

// ---- HTTP/2 ------------------------------------------------------------------------------
TEST_CASE("HTTP/2 streams get the same routes: redirect, respond, rewrite and matching (curl --http2-prior-knowledge)") {
  Servers s{"a", "b"};
  json routes = json::array({
      {{"path_prefix", "/secure/"}, {"redirect", {{"scheme", "https"}, {"status", 308}}}},
      {{"path_exact", "/hello"}, {"respond", {{"status", 202}, {"body", "hi h2"}, {"content_type", "text/x-h2"}}}},
      {{"host", "*.example.com"}, {"path_prefix", "/api/"}, {"methods", {"GET"}}, {"rewrite", {{"prefix", "/v2/"}}},
       {"pool", "a"}},
  });
  Lb lb(make_config({web_listener("b", {{"routes", routes}, {"http2", {{"cleartext", true}}}})}, s.pools()));
  const std::vector<std::string> h2{"--http2-prior-knowledge"};
  const std::string url = base_url(lb.port());

  CurlResult c = curl({"--http2-prior-knowledge", "-H", "Host: Shop.Example.com:8080"}, url + "/secure/cart?id=7");
  REQUIRE_MESSAGE(c.error.empty(), c.error);
  CHECK(c.response.version == "HTTP/2");
  CHECK(c.response.status == 308);
  CHECK(lower(c.response.header("Location").value_or("")) == "https://shop.example.com/secure/cart?id=7");

  c = curl(h2, url + "/hello");
  REQUIRE_MESSAGE(c.error.empty(), c.error);
  CHECK(c.response.status == 202);
  CHECK(c.response.body == "hi h2");
  CHECK(c.response.header("content-type").value_or("<none>") == "text/x-h2");

  c = curl({"--http2-prior-knowledge", "-H", "Host: shop.example.com"}, url + "/api/items?page=2");
  REQUIRE_MESSAGE(c.error.empty(), c.error);
  CHECK(c.response.status == 200);
  CHECK(c.response.body == "a");
  REQUIRE(s["a"].count() == 1);
  CHECK(request_line(s["a"].last()) == "GET /v2/items?page=2 HTTP/1.1");
  CHECK(value(s["a"].last(), "Host") == "shop.example.com");

  c = curl({"--http2-prior-knowledge", "-X", "DELETE", "-H", "Host: shop.example.com"}, url + "/api/items");
  REQUIRE_MESSAGE(c.error.empty(), c.error);
  CHECK(c.response.body == "b");  // methods: GET only
  CHECK(request_line(s["b"].last()) == "DELETE /api/items HTTP/1.1");
}

}  // TEST_SUITE
