// tests/unit/conf_route_test.cpp — the SPEC 10 keys as they load into
// conf::Route and conf::ListenerConfig: every route key, default names and
// actions, header-rule templates split into pieces, fault defaults, route
// retries/timeouts applied key by key over the route's pool, error_pages,
// sticky, and the to_json round trip of a configuration using all of them.
// Invalid configurations: conf_route_errors_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "conf/load.h"
#include "conf/schema.h"
#include "tests/unit/conf_policy_config.h"
#include "tests/unit/conf_test_util.h"

using nlohmann::json;
using namespace lb::conf;
using namespace std::chrono_literals;
using conf_test::all;
using conf_test::load;
using conf_test::TempDir;
using Var = HeaderTemplate::Var;

namespace {

struct PolicyDir : TempDir {
  PolicyDir() : TempDir("conf_route_test") { conf_test::write_error_pages(*this); }
};

// The pieces of a template as (var, text) pairs, for one CHECK.
std::vector<std::pair<Var, std::string>> pieces(const HeaderTemplate& t) {
  std::vector<std::pair<Var, std::string>> out;
  for (const auto& p : t.pieces) out.emplace_back(p.var, p.text);
  return out;
}

std::shared_ptr<const Config> load_ok(const json& j, const std::string& path) {
  LoadResult r = load(j, path);
  INFO(all(r.errors));
  REQUIRE(r.ok());
  return r.config;
}

}  // namespace

TEST_CASE("conf routes: every route key loads into conf::Route") {
  PolicyDir dir;
  auto cfg = load_ok(conf_test::policy_config(), dir.config());
  const ListenerConfig& l = cfg->listeners.at(0);
  REQUIRE(l.routes.size() == 6);

  const Route& api = l.routes[0];
  CHECK(api.name == "api");
  CHECK(api.host == "api.example.com");  // lower-cased, trailing dot dropped
  CHECK(api.path_prefix == "/api/");
  CHECK_FALSE(api.path_exact);
  CHECK_FALSE(api.path_regex);
  CHECK(api.methods == std::vector<std::string>{"GET", "HEAD"});
  CHECK(api.headers == std::vector<std::pair<std::string, std::string>>{{"x-user-type", "premium"}});
  CHECK(api.action == Route::Action::pool);
  CHECK(api.pool == "api");
  CHECK_FALSE(api.redirect);
  CHECK_FALSE(api.respond);
  REQUIRE(api.rewrite);
  CHECK(api.rewrite->prefix == "/");
  REQUIRE(api.fault);
  CHECK(api.fault->delay == 200ms);
  CHECK(api.fault->delay_percent == 10);
  CHECK(api.fault->abort_status == 503);
  CHECK(api.fault->abort_percent == doctest::Approx(1.5));

  const Route& login = l.routes[1];
  CHECK(login.name == "route-1");
  CHECK_FALSE(login.host);
  CHECK(login.path_exact == "/login");
  CHECK(login.methods.empty());
  CHECK(login.action == Route::Action::redirect);
  CHECK(login.pool.empty());
  REQUIRE(login.redirect);
  CHECK(login.redirect->scheme == "https");
  CHECK(login.redirect->host == "login.example.com");
  CHECK(login.redirect->port == 8443);
  CHECK(login.redirect->path == "/signin");
  CHECK_FALSE(login.redirect->prefix);
  CHECK(login.redirect->status == 308);
  CHECK_FALSE(login.redirect->keep_query);
  CHECK_FALSE(login.retries);
  CHECK_FALSE(login.timeouts);

  const Route& old = l.routes[2];
  REQUIRE(old.redirect);
  CHECK(old.redirect->prefix == "/new/");
  CHECK(old.redirect->status == 302);
  CHECK(old.redirect->keep_query);
  CHECK_FALSE(old.redirect->scheme);
  CHECK_FALSE(old.redirect->host);
  CHECK_FALSE(old.redirect->port);
  CHECK_FALSE(old.redirect->path);

  const Route& items = l.routes[3];
  CHECK(items.path_regex == "^/v[0-9]+/items$");
  CHECK(items.action == Route::Action::pool);
  CHECK(items.pool == "web");  // no action: the listener's pool
  REQUIRE(items.rewrite);
  CHECK_FALSE(items.rewrite->prefix);
  CHECK(items.rewrite->regex == "^/v([0-9]+)/items$");
  CHECK(items.rewrite->replace == "/items/\\1");
  CHECK_FALSE(items.fault);
  CHECK_FALSE(items.retries);
  CHECK_FALSE(items.timeouts);
  CHECK(items.request_headers.empty());

  const Route& ping = l.routes[4];
  CHECK(ping.host == "*.example.com");
  CHECK(ping.action == Route::Action::respond);
  REQUIRE(ping.respond);
  CHECK(ping.respond->status == 204);
  CHECK(ping.respond->body.empty());
  CHECK(ping.respond->content_type == "text/plain");

  const Route& teapot = l.routes[5];
  REQUIRE(teapot.respond);
  CHECK(teapot.respond->status == 418);
  CHECK(teapot.respond->body == "short and stout");
  CHECK(teapot.respond->content_type == "text/html");
}

TEST_CASE("conf routes: defaults of redirect, respond, names and actions") {
  json j = conf_test::policy_config();
  j["listeners"][0].erase("error_pages");
  j["listeners"][0]["routes"] = json::parse(R"([
    {"path_prefix": "/r", "redirect": {}},
    {"path_prefix": "/s", "respond": {}},
    {"name": "route-7", "pool": "api"},
    {}
  ])");
  auto cfg = load_ok(j, "lb.json");
  const auto& routes = cfg->listeners[0].routes;
  REQUIRE(routes.size() == 4);
  CHECK(routes[0].name == "route-0");
  REQUIRE(routes[0].redirect);
  CHECK(routes[0].redirect->status == 301);
  CHECK(routes[0].redirect->keep_query);
  CHECK(routes[1].name == "route-1");
  REQUIRE(routes[1].respond);
  CHECK(routes[1].respond->status == 200);
  CHECK(routes[1].respond->body.empty());
  CHECK(routes[1].respond->content_type == "text/plain");
  CHECK(routes[2].name == "route-7");  // a name that looks like a default is still just a name
  CHECK(routes[2].pool == "api");
  CHECK(routes[3].name == "route-3");
  CHECK(routes[3].action == Route::Action::pool);
  CHECK(routes[3].pool == "web");
  CHECK_FALSE(routes[3].host);
  CHECK_FALSE(routes[3].path_prefix);
  CHECK(routes[3].methods.empty());
  CHECK(routes[3].headers.empty());
  CHECK(routes[3].request_headers.empty());
  CHECK(routes[3].response_headers.empty());
  CHECK_FALSE(routes[3].fault);

  // Every redirect status the SPEC allows.
  for (int status : {301, 302, 303, 307, 308}) {
    j["listeners"][0]["routes"][0]["redirect"] = {{"status", status}, {"scheme", "http"}, {"port", 65535}};
    auto c = load_ok(j, "lb.json");
    CHECK(c->listeners[0].routes[0].redirect->status == status);
    CHECK(c->listeners[0].routes[0].redirect->scheme == "http");
    CHECK(c->listeners[0].routes[0].redirect->port == 65535);
  }
  // Wildcard hosts are lower-cased too.
  j["listeners"][0]["routes"][1]["host"] = "*.Static.Example.COM";
  CHECK(load_ok(j, "lb.json")->listeners[0].routes[1].host == "*.static.example.com");

  // Explicit nulls mean "not set", like absent keys.
  j["listeners"][0]["routes"] = json::parse(R"([{"host": null, "path_prefix": null, "path_exact": null,
    "path_regex": null, "methods": null, "headers": null, "rewrite": null, "request_headers": null,
    "response_headers": null, "fault": null, "retries": null, "timeouts": null}])");
  cfg = load_ok(j, "lb.json");
  const Route& r = cfg->listeners[0].routes.at(0);
  CHECK(r.pool == "web");
  CHECK_FALSE(r.host);
  CHECK_FALSE(r.rewrite);
  CHECK_FALSE(r.retries);
  CHECK_FALSE(r.timeouts);

  // Names are unique per listener: another listener may reuse them.
  j["listeners"].push_back({{"name", "other"}, {"listen", "127.0.0.1:8081"},
                            {"routes", json::parse(R"([{"name": "route-0", "pool": "web"}, {"pool": "api"}])")}});
  cfg = load_ok(j, "lb.json");
  CHECK(cfg->listeners[1].routes[0].name == "route-0");
  CHECK(cfg->listeners[1].routes[1].name == "route-1");
  CHECK_FALSE(cfg->listeners[1].pool);
}

TEST_CASE("conf routes: header rule values split into literal and variable pieces") {
  PolicyDir dir;
  auto cfg = load_ok(conf_test::policy_config(), dir.config());
  const ListenerConfig& l = cfg->listeners[0];
  REQUIRE(l.request_headers.set.size() == 1);
  CHECK(l.request_headers.set[0].name == "X-Forwarded-By");
  CHECK(l.request_headers.set[0].lower == "x-forwarded-by");
  CHECK(pieces(l.request_headers.set[0].value) ==
        std::vector<std::pair<Var, std::string>>{{Var::literal, "lb "}, {Var::listener, ""}});
  CHECK(l.request_headers.add.empty());
  CHECK(l.request_headers.remove == std::vector<std::string>{"x-internal"});
  REQUIRE(l.response_headers.set.size() == 1);
  CHECK(l.response_headers.set[0].value.is_literal());
  CHECK(pieces(l.response_headers.set[0].value) ==
        std::vector<std::pair<Var, std::string>>{{Var::literal, "max-age=63072000"}});
  CHECK(l.response_headers.remove == std::vector<std::string>{"server"});

  const Route& api = l.routes[0];
  REQUIRE(api.request_headers.set.size() == 1);
  CHECK(pieces(api.request_headers.set[0].value) == std::vector<std::pair<Var, std::string>>{{Var::route, ""}});
  REQUIRE(api.request_headers.add.size() == 1);
  CHECK(api.request_headers.add[0].name == "X-Client");
  CHECK(pieces(api.request_headers.add[0].value) ==
        std::vector<std::pair<Var, std::string>>{{Var::literal, "ip="},
                                                 {Var::client_ip, ""},
                                                 {Var::literal, ":"},
                                                 {Var::client_port, ""},
                                                 {Var::literal, " sub="},
                                                 {Var::jwt_claim, "sub"}});
  CHECK_FALSE(api.request_headers.add[0].value.is_literal());
  CHECK(api.request_headers.remove == std::vector<std::string>{"x-debug"});
  REQUIRE(api.response_headers.set.size() == 1);
  CHECK(pieces(api.response_headers.set[0].value) == std::vector<std::pair<Var, std::string>>{{Var::server, ""}});
  REQUIRE(api.response_headers.add.size() == 1);
  CHECK(pieces(api.response_headers.add[0].value) == std::vector<std::pair<Var, std::string>>{{Var::path, ""}});
  CHECK(api.response_headers.remove == std::vector<std::string>{"x-powered-by"});

  const Route& teapot = l.routes[5];
  REQUIRE(teapot.response_headers.set.size() == 1);
  CHECK(pieces(teapot.response_headers.set[0].value) ==
        std::vector<std::pair<Var, std::string>>{{Var::tls_version, ""},
                                                 {Var::literal, " "},
                                                 {Var::tls_sni, ""},
                                                 {Var::literal, " "},
                                                 {Var::scheme, ""},
                                                 {Var::literal, " "},
                                                 {Var::host, ""},
                                                 {Var::literal, " "},
                                                 {Var::request_id, ""}});
}

TEST_CASE("conf routes: header templates parsed directly (edge cases)") {
  using lb::conf::detail::Ctx;
  using lb::conf::detail::HeaderDirection;
  using lb::conf::detail::parse_header_template;
  using lb::conf::detail::Pointer;
  auto parse = [](std::string_view text, HeaderDirection dir, HeaderTemplate& t, std::string* error = nullptr) {
    Ctx ctx("lb.json", "");
    bool ok = parse_header_template(ctx, Pointer{} / "h", text, dir, t);
    auto errors = ctx.take_errors();
    CHECK(ok == errors.empty());
    if (error) *error = errors.empty() ? "" : errors[0];
    return ok;
  };
  HeaderTemplate t;
  REQUIRE(parse("", HeaderDirection::request, t));
  CHECK(t.pieces.empty());
  CHECK(t.is_literal());
  // A '%' not followed by '{', a lone '}' and "{…}" stay literal.
  REQUIRE(parse("100% {x} }%", HeaderDirection::request, t));
  CHECK(pieces(t) == std::vector<std::pair<Var, std::string>>{{Var::literal, "100% {x} }%"}});
  REQUIRE(parse("%{host}%{path}", HeaderDirection::request, t));
  CHECK(pieces(t) == std::vector<std::pair<Var, std::string>>{{Var::host, ""}, {Var::path, ""}});
  REQUIRE(parse("%{jwt.groups}-%{jwt.a.b}", HeaderDirection::request, t));
  CHECK(pieces(t) ==
        std::vector<std::pair<Var, std::string>>{{Var::jwt_claim, "groups"}, {Var::literal, "-"}, {Var::jwt_claim, "a.b"}});
  REQUIRE(parse("%{server}", HeaderDirection::response, t));
  CHECK(pieces(t) == std::vector<std::pair<Var, std::string>>{{Var::server, ""}});

  std::string err;
  t = {};
  CHECK_FALSE(parse("%{server}", HeaderDirection::request, t, &err));
  CHECK(err.find("lb.json: /h: %{server} is only known for response headers") == 0);
  CHECK_FALSE(parse(std::string_view("a\0b", 3), HeaderDirection::response, t, &err));
  CHECK(err == "lb.json: /h: header value must not contain CR, LF or NUL");
  CHECK_FALSE(parse("a\rb", HeaderDirection::response, t, &err));
  CHECK(err == "lb.json: /h: header value must not contain CR, LF or NUL");
  CHECK_FALSE(parse("a\nb", HeaderDirection::response, t, &err));
  CHECK_FALSE(parse("x %{host", HeaderDirection::response, t, &err));
  CHECK(err.find("unterminated %{") != std::string::npos);
  CHECK_FALSE(parse("%{jwt.}", HeaderDirection::response, t, &err));
  CHECK(err.find("unknown header variable \"jwt.\"") != std::string::npos);
  CHECK_FALSE(parse("%{}", HeaderDirection::response, t, &err));
  CHECK(err.find("unknown header variable \"\"") != std::string::npos);
  CHECK_FALSE(parse("%{HOST}", HeaderDirection::response, t, &err));  // names are case-sensitive
  CHECK(t.pieces.empty());  // a failed parse leaves the output alone
}

TEST_CASE("conf routes: fault percents and their defaults") {
  json j = conf_test::policy_config();
  j["listeners"][0].erase("error_pages");
  auto fault_of = [&](const char* fault) {
    j["listeners"][0]["routes"][0]["fault"] = json::parse(fault);
    auto cfg = load_ok(j, "lb.json");
    REQUIRE(cfg->listeners[0].routes[0].fault);
    return *cfg->listeners[0].routes[0].fault;
  };
  Fault f = fault_of(R"({"delay": "1s"})");  // a delay without its share delays every request
  CHECK(f.delay == 1s);
  CHECK(f.delay_percent == 100);
  CHECK(f.abort_status == 0);
  CHECK(f.abort_percent == 0);
  f = fault_of(R"({"abort_status": 502})");
  CHECK(f.delay == 0ms);
  CHECK(f.delay_percent == 0);
  CHECK(f.abort_status == 502);
  CHECK(f.abort_percent == 100);
  f = fault_of(R"({"delay": "50ms", "delay_percent": 0, "abort_status": 599, "abort_percent": 100})");
  CHECK(f.delay_percent == 0);
  CHECK(f.abort_percent == 100);
  f = fault_of(R"({"delay": "50ms", "delay_percent": 0.25, "abort_status": 200, "abort_percent": 0})");
  CHECK(f.delay_percent == doctest::Approx(0.25));
  CHECK(f.abort_status == 200);
  CHECK(f.abort_percent == 0);
  f = fault_of("{}");
  CHECK(f.delay == 0ms);
  CHECK(f.delay_percent == 0);
  CHECK(f.abort_status == 0);
}

TEST_CASE("conf routes: retries and timeouts override the route's pool key by key") {
  PolicyDir dir;
  auto cfg = load_ok(conf_test::policy_config(), dir.config());
  const Route& api = cfg->listeners[0].routes[0];
  // Pool "api": attempts 5, on [connect_failure, 503], 20ms..2s, budget 30; the route sets backoff_base only.
  REQUIRE(api.retries);
  CHECK(api.retries->attempts == 5);
  CHECK(api.retries->on == std::vector<RetryOn>{RetryOn::connect_failure, RetryOn::status_503});
  CHECK(api.retries->backoff_base == 10ms);
  CHECK(api.retries->backoff_max == 2s);
  CHECK(api.retries->budget_percent == 30);
  // Pool "api": connect 1s, response 20s, idle 90s; the route sets response only.
  REQUIRE(api.timeouts);
  CHECK(api.timeouts->connect == 1s);
  CHECK(api.timeouts->response == 5s);
  CHECK(api.timeouts->idle == 90s);
  // The pool itself is untouched.
  const PoolConfig* pool = cfg->find_pool("api");
  REQUIRE(pool);
  CHECK(pool->retries.backoff_base == 20ms);
  CHECK(pool->timeouts.response == 20s);

  // A route without an action takes its overrides over the listener's pool.
  json j = conf_test::policy_config();
  j["listeners"][0]["routes"][3]["retries"] = {{"attempts", 0}, {"on", json::array()}};
  j["listeners"][0]["routes"][3]["timeouts"] = {{"connect", "250ms"}, {"idle", "5m"}};
  j["pools"][0]["retries"] = {{"attempts", 7}, {"budget_percent", 1}};
  j["pools"][0]["timeouts"] = {{"response", "45s"}};
  cfg = load_ok(j, dir.config());
  const Route& items = cfg->listeners[0].routes[3];
  REQUIRE(items.retries);
  CHECK(items.retries->attempts == 0);
  CHECK(items.retries->on.empty());
  CHECK(items.retries->backoff_base == 25ms);  // neither sets it: the default
  CHECK(items.retries->budget_percent == 1);   // from pool "web"
  REQUIRE(items.timeouts);
  CHECK(items.timeouts->connect == 250ms);
  CHECK(items.timeouts->response == 45s);  // from pool "web"
  CHECK(items.timeouts->idle == 5min);
  CHECK_FALSE(cfg->listeners[0].routes[0].retries->attempts == 7);  // route 0 is on pool "api"

  // Empty objects copy the pool's values whole.
  j["listeners"][0]["routes"][3]["retries"] = json::object();
  j["listeners"][0]["routes"][3]["timeouts"] = json::object();
  cfg = load_ok(j, dir.config());
  CHECK(cfg->listeners[0].routes[3].retries->attempts == 7);
  CHECK(cfg->listeners[0].routes[3].timeouts->response == 45s);
  CHECK(cfg->listeners[0].routes[3].timeouts->connect == 2s);
}

TEST_CASE("conf routes: error_pages by status and class, body read, content type from the extension") {
  PolicyDir dir;
  auto cfg = load_ok(conf_test::policy_config(), dir.config());
  const ListenerConfig& l = cfg->listeners[0];
  REQUIRE(l.error_pages.size() == 3);
  const ErrorPage* p503 = l.error_page(503);
  REQUIRE(p503);
  CHECK_FALSE(p503->is_class);
  CHECK(p503->status == 503);
  CHECK(p503->path == dir.file("errors/503.html"));  // relative to the configuration file
  CHECK(p503->body == "<h1>busy</h1>\n");
  CHECK(p503->content_type == "text/html; charset=utf-8");
  const ErrorPage* p502 = l.error_page(502);  // no exact page: the class
  REQUIRE(p502);
  CHECK(p502->is_class);
  CHECK(p502->status == 5);
  CHECK(p502->body == "{\"error\": \"server\"}");
  CHECK(p502->content_type == "application/json");
  CHECK(l.error_page(599) == p502);
  const ErrorPage* p404 = l.error_page(404);
  REQUIRE(p404);
  CHECK(p404->body == "not here");
  CHECK(p404->content_type == "text/plain; charset=utf-8");
  CHECK(l.error_page(429) == nullptr);  // no 4xx class page
  CHECK(l.error_page(200) == nullptr);

  // More extensions; an empty file is a valid (empty) page; absolute paths work.
  const std::pair<const char*, const char*> kTypes[] = {
      {"p.HTM", "text/html; charset=utf-8"}, {"p.xml", "application/xml"}, {"p.css", "text/css"},
      {"p.js", "text/javascript"},           {"p.svg", "image/svg+xml"},   {"p.bin", "application/octet-stream"},
      {"html", "application/octet-stream"},
  };
  json pages = json::object();
  int status = 500;
  for (const auto& [name, type] : kTypes) {
    dir.write(name, "");
    pages[std::to_string(status++)] = dir.file(name);
  }
  pages["1xx"] = "p.xml";
  pages["4xx"] = "errors/404.txt";
  json j = conf_test::policy_config();
  j["listeners"][0]["error_pages"] = pages;
  cfg = load_ok(j, dir.config());
  status = 500;
  for (const auto& [name, type] : kTypes) {
    const ErrorPage* p = cfg->listeners[0].error_page(status++);
    REQUIRE(p);
    CHECK(p->content_type == type);
    CHECK(p->body.empty());
  }
  CHECK(cfg->listeners[0].error_page(101)->content_type == "application/xml");
  CHECK(cfg->listeners[0].error_page(429)->body == "not here");
  CHECK(cfg->listeners[0].error_page(510) == nullptr);  // exact pages only, no 5xx here

  j["listeners"][0]["error_pages"] = nullptr;
  cfg = load_ok(j, dir.config());
  CHECK(cfg->listeners[0].error_pages.empty());
}

TEST_CASE("conf routes: sticky defaults and same_site values") {
  json j = conf_test::policy_config();
  j["listeners"][0].erase("error_pages");
  j["pools"][0]["sticky"] = json::object();
  auto cfg = load_ok(j, "lb.json");
  REQUIRE(cfg->pools[0].sticky);
  const StickyConfig& d = *cfg->pools[0].sticky;
  CHECK(d.cookie == "lb_srv");
  CHECK_FALSE(d.max_age);
  CHECK_FALSE(d.secure);
  CHECK(d.http_only);
  CHECK(d.same_site == StickyConfig::SameSite::lax);
  CHECK_FALSE(cfg->pools[1].sticky);  // no "sticky": no cookie

  const std::pair<json, StickyConfig::SameSite> kSameSite[] = {
      {"Strict", StickyConfig::SameSite::strict},
      {"Lax", StickyConfig::SameSite::lax},
      {"None", StickyConfig::SameSite::none},
      {nullptr, StickyConfig::SameSite::unset},
  };
  for (const auto& [value, expected] : kSameSite) {
    j["pools"][0]["sticky"] = {{"same_site", value}, {"secure", true}};
    cfg = load_ok(j, "lb.json");
    CHECK(cfg->pools[0].sticky->same_site == expected);
  }

  PolicyDir dir;
  cfg = load_ok(conf_test::policy_config(), dir.config());
  const StickyConfig& s = *cfg->pools[0].sticky;
  CHECK(s.cookie == "srv");
  CHECK(s.max_age == 1h);
  CHECK(s.secure);
  CHECK_FALSE(s.http_only);
  CHECK(s.same_site == StickyConfig::SameSite::strict);

  j["pools"][0]["sticky"] = nullptr;
  cfg = load_ok(j, "lb.json");
  CHECK_FALSE(cfg->pools[0].sticky);
}

TEST_CASE("conf routes: to_json of every SPEC 10 key loads back to the same dump") {
  PolicyDir dir;
  json j = conf_test::policy_config();
  j["pools"][1]["sticky"] = {{"same_site", nullptr}};
  auto cfg = load_ok(j, dir.config());
  json out = to_json(*cfg);

  const json& routes = out["listeners"][0]["routes"];
  REQUIRE(routes.size() == 6);
  CHECK(routes[1]["name"] == "route-1");
  CHECK(routes[0]["host"] == "api.example.com");
  CHECK(routes[0]["methods"] == json({"GET", "HEAD"}));
  CHECK(routes[0]["request_headers"]["add"]["X-Client"] == "ip=%{client_ip}:%{client_port} sub=%{jwt.sub}");
  CHECK(routes[0]["response_headers"]["set"]["X-Served-By"] == "%{server}");
  CHECK(routes[0]["retries"]["attempts"] == 5);  // the effective values, the pool's included
  CHECK(routes[0]["retries"]["backoff_base"] == "10ms");
  CHECK(routes[0]["timeouts"] == json({{"connect", "1s"}, {"response", "5s"}, {"idle", "90s"}}));
  CHECK(routes[0]["fault"] ==
        json({{"delay", "200ms"}, {"delay_percent", 10}, {"abort_status", 503}, {"abort_percent", 1.5}}));
  CHECK(routes[0]["rewrite"] == json({{"prefix", "/"}}));
  CHECK(routes[1]["redirect"]["port"] == 8443);
  CHECK(routes[2]["redirect"]["prefix"] == "/new/");
  CHECK(routes[3]["pool"] == "web");
  CHECK(routes[3]["rewrite"] == json({{"regex", "^/v([0-9]+)/items$"}, {"replace", "/items/\\1"}}));
  CHECK(routes[4]["respond"] == json({{"status", 204}, {"body", ""}, {"content_type", "text/plain"}}));
  CHECK_FALSE(routes[4].contains("request_headers"));  // forwarding-only keys stay off other actions
  CHECK(out["listeners"][0]["error_pages"]["5xx"] == dir.file("errors/5xx.json"));
  CHECK(out["listeners"][0]["response_headers"]["set"]["Strict-Transport-Security"] == "max-age=63072000");
  CHECK(out["pools"][0]["sticky"] ==
        json({{"cookie", "srv"}, {"max_age", "1h"}, {"secure", true}, {"http_only", false}, {"same_site", "Strict"}}));
  CHECK(out["pools"][1]["sticky"]["same_site"].is_null());

  LoadResult again = load_string(out.dump(), dir.config());
  INFO(all(again.errors));
  REQUIRE(again.ok());
  CHECK(to_json(*again.config) == out);
  const Route& a = again.config->listeners[0].routes[0];
  CHECK(pieces(a.request_headers.add.at(0).value) == pieces(cfg->listeners[0].routes[0].request_headers.add.at(0).value));
  CHECK(again.config->listeners[0].error_page(503)->body == "<h1>busy</h1>\n");
}
