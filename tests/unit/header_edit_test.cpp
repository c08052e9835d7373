// tests/unit/header_edit_test.cpp — lb/exchange/header_edit.h: the
// request_headers / response_headers rules of a listener and then its route
// (SPEC 10): remove, set, add in that order within one rule set; set replaces
// every earlier set/add of the name (case-insensitively), across rule sets
// too; drops() for received fields; added() values with %{…} expanded by
// expand_header_template (a jwt claim from the verified token's claims, empty
// without a token, the claim, or when the value holds control characters).
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "conf/config.h"
#include "lb/exchange/header_edit.h"
#include "lb/security/jwt.h"

using lb::HeaderEdits;
using lb::HeaderVars;
using lb::conf::HeaderRules;
using lb::conf::HeaderTemplate;
using Var = HeaderTemplate::Var;
using Fields = std::vector<std::pair<std::string, std::string>>;

namespace {

HeaderTemplate literal(std::string text) { return {{{Var::literal, std::move(text)}}}; }

HeaderRules::Field field(std::string name, HeaderTemplate value) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return {std::move(name), std::move(lower), std::move(value)};
}
HeaderRules::Field field(std::string name, std::string value) { return field(std::move(name), literal(std::move(value))); }

Fields added(const HeaderEdits& e) {
  Fields out;
  for (const auto& f : e.added()) out.emplace_back(std::string(f.name), std::string(f.value));
  return out;
}

HeaderVars sample_vars() {
  HeaderVars v;
  v.client_ip = "192.0.2.7";
  v.client_port = "51234";
  v.request_id = "req-1";
  v.scheme = "https";
  v.host = "api.example.com";
  v.path = "/api/items";
  v.listener = "web";
  v.route = "api";
  v.server = "127.0.0.1:9001";
  v.tls_version = "TLSv1.3";
  v.tls_sni = "api.example.com";
  return v;
}

std::string expand(const HeaderTemplate& t, const HeaderVars& v) {
  std::string out = "[";
  lb::expand_header_template(t, v, out);  // appends
  return out;
}

}  // namespace

TEST_CASE("header edits: expand_header_template substitutes every variable") {
  const HeaderVars v = sample_vars();
  const std::pair<Var, const char*> kVars[] = {
      {Var::client_ip, "192.0.2.7"}, {Var::client_port, "51234"}, {Var::request_id, "req-1"},
      {Var::scheme, "https"},        {Var::host, "api.example.com"}, {Var::path, "/api/items"},
      {Var::listener, "web"},        {Var::route, "api"},         {Var::server, "127.0.0.1:9001"},
      {Var::tls_version, "TLSv1.3"}, {Var::tls_sni, "api.example.com"},
  };
  for (const auto& [var, value] : kVars) {
    CHECK(expand(HeaderTemplate{{{var, ""}}}, v) == std::string("[") + value);
    CHECK(expand(HeaderTemplate{{{var, ""}}}, HeaderVars{}) == "[");  // no value: empty
  }
  HeaderTemplate t{{{Var::literal, "ip="}, {Var::client_ip, ""}, {Var::literal, ":"}, {Var::client_port, ""},
                    {Var::literal, " sub="}, {Var::jwt_claim, "sub"}, {Var::literal, ";"}}};
  CHECK(expand(t, v) == "[ip=192.0.2.7:51234 sub=;");  // no verified token: the claim is empty
  CHECK(expand(HeaderTemplate{}, v) == "[");
  CHECK(expand(literal("%{host}"), v) == "[%{host}");  // literals are never re-expanded
}

TEST_CASE("header edits: %{jwt.CLAIM} expands the verified token's claim") {
  lb::security::JwtClaims claims;
  claims.payload = {{"sub", "alice"}, {"n", 42}, {"groups", {"a", "b"}}, {"evil", "x\r\nSet-Cookie: y"}};
  HeaderVars v = sample_vars();
  v.jwt = &claims;
  auto claim = [&](const char* name) { return expand(HeaderTemplate{{{Var::jwt_claim, name}}}, v); };
  CHECK(claim("sub") == "[alice");
  CHECK(claim("n") == "[42");
  CHECK(claim("groups") == "[[\"a\",\"b\"]");
  CHECK(claim("missing") == "[");
  CHECK(claim("evil") == "[");  // CR/LF never reach a header
}

TEST_CASE("header edits: one rule set removes, then sets, then adds") {
  HeaderRules rules;
  rules.remove = {"x-gone", "x-both"};
  rules.set = {field("X-Set", "s"), field("X-Both", "set")};
  rules.add = {field("X-Add", "a1"), field("X-Add", "a2"), field("X-Both", "added")};
  HeaderEdits e;
  CHECK(e.empty());
  e.apply(rules, sample_vars());
  e.finish();
  CHECK_FALSE(e.empty());
  CHECK(added(e) == Fields{{"X-Set", "s"}, {"X-Both", "set"}, {"X-Add", "a1"}, {"X-Add", "a2"}, {"X-Both", "added"}});
  // Removed and set names drop the received field; added-only names keep it.
  CHECK(e.drops("x-gone"));
  CHECK(e.drops("X-GONE"));
  CHECK(e.drops("x-set"));
  CHECK(e.drops("X-Both"));
  CHECK_FALSE(e.drops("x-add"));
  CHECK_FALSE(e.drops("x-other"));
  CHECK_FALSE(e.drops("x-gon"));
  CHECK(std::vector<std::string_view>(e.dropped().begin(), e.dropped().end()) ==
        std::vector<std::string_view>{"x-gone", "x-both", "x-set"});
}

TEST_CASE("header edits: the listener's rules apply first, then the route's") {
  HeaderRules listener, route;
  listener.set = {field("X-A", "listener"), field("Strict-Transport-Security", "max-age=1")};
  listener.add = {field("X-B", "l1"), field("X-C", "l2"), field("X-Keep", "k")};
  listener.remove = {"x-d"};
  route.set = {field("x-a", "route"), field("X-B", "route-b")};  // replace the listener's set and add
  route.remove = {"x-c", "strict-transport-security"};           // and drop what it set or added
  route.add = {field("X-D", "back"), field("X-Keep", "k2")};      // re-add a name the listener removed
  HeaderEdits e;
  e.apply(listener, sample_vars());
  e.apply(route, sample_vars());
  e.finish();
  CHECK(added(e) == Fields{{"X-Keep", "k"}, {"x-a", "route"}, {"X-B", "route-b"}, {"X-D", "back"}, {"X-Keep", "k2"}});
  for (const char* name : {"X-A", "x-b", "X-C", "x-d", "STRICT-TRANSPORT-SECURITY"}) {
    INFO(name);
    CHECK(e.drops(name));
  }
  CHECK_FALSE(e.drops("x-keep"));
}

TEST_CASE("header edits: set replaces earlier fields case-insensitively, within one rule set too") {
  HeaderRules a, b;
  a.add = {field("x-token", "1"), field("X-TOKEN", "2")};
  b.set = {field("X-Token", "3")};
  HeaderEdits e;
  e.apply(a, {});
  e.apply(b, {});
  e.finish();
  CHECK(added(e) == Fields{{"X-Token", "3"}});

  HeaderRules c;
  c.set = {field("X-One", "first"), field("x-one", "second")};
  e.reset();
  CHECK(e.empty());
  CHECK(added(e).empty());
  CHECK_FALSE(e.drops("x-token"));
  e.apply(c, {});
  e.finish();
  CHECK(added(e) == Fields{{"x-one", "second"}});
}

TEST_CASE("header edits: added() values carry expanded variables") {
  HeaderRules listener, route;
  listener.set = {field("X-Request-Id", HeaderTemplate{{{Var::request_id, ""}}})};
  route.add = {field("X-Client", HeaderTemplate{{{Var::literal, "ip="}, {Var::client_ip, ""}, {Var::literal, ":"},
                                                  {Var::client_port, ""}}}),
               field("X-Route", HeaderTemplate{{{Var::listener, ""}, {Var::literal, "/"}, {Var::route, ""}}}),
               field("X-User", HeaderTemplate{{{Var::jwt_claim, "sub"}}}),
               field("X-Tls", HeaderTemplate{{{Var::tls_version, ""}, {Var::literal, " "}, {Var::tls_sni, ""}}})};
  HeaderVars vars = sample_vars();
  vars.tls_sni = {};  // plain listener
  vars.tls_version = {};
  HeaderEdits e;
  e.apply(listener, vars);
  e.apply(route, vars);
  e.append("Set-Cookie", "lb_srv=0123456789abcdef; Path=/");
  e.finish();
  CHECK(added(e) == Fields{{"X-Request-Id", "req-1"},
                           {"X-Client", "ip=192.0.2.7:51234"},
                           {"X-Route", "web/api"},
                           {"X-User", ""},
                           {"X-Tls", " "},
                           {"Set-Cookie", "lb_srv=0123456789abcdef; Path=/"}});
  CHECK_FALSE(e.drops("set-cookie"));

  // add_field after finish(): appended once per name.
  const lb::http::Header cert{"X-Client-Cert", "subject"};
  e.add_field(cert);
  e.add_field(cert);
  CHECK(added(e).size() == 7);
  CHECK(added(e).back() == std::pair<std::string, std::string>{"X-Client-Cert", "subject"});
}

TEST_CASE("header edits: values stay valid while many rules grow the buffer") {
  HeaderRules rules;
  for (int i = 0; i < 200; ++i) rules.add.push_back(field("X-N" + std::to_string(i), std::string(100, 'a' + i % 26)));
  HeaderEdits e;
  e.apply(rules, {});
  e.finish();
  REQUIRE(e.added().size() == 200);
  for (int i = 0; i < 200; ++i) {
    CHECK(e.added()[i].name == "X-N" + std::to_string(i));
    CHECK(e.added()[i].value == std::string(100, 'a' + i % 26));
  }
}
