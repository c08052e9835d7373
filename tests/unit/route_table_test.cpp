// tests/unit/route_table_test.cpp — lb/exchange/route_table.h: RouteTable::match
// (first match wins across the exact-host, wildcard and host-less buckets;
// path_exact, path_prefix of mixed lengths, RE2 full match, methods, headers;
// the fallback past 32 candidate lists) and normalize_host. A randomized
// differential test compares match() with a linear reference matcher written
// here from SPEC 10, using std::regex as an independent regex engine.
#include <doctest/doctest.h>

#include <re2/re2.h>

#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "conf/config.h"
#include "lb/exchange/route_table.h"

using lb::CompiledRoute;
using lb::RouteTable;
using lb::conf::Route;

namespace {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A route built field by field: R().host("a.com").prefix("/x").
struct R {
  Route r;
  R& host(std::string h) { r.host = std::move(h); return *this; }
  R& prefix(std::string p) { r.path_prefix = std::move(p); return *this; }
  R& exact(std::string p) { r.path_exact = std::move(p); return *this; }
  R& regex(std::string p) { r.path_regex = std::move(p); return *this; }
  R& methods(std::vector<std::string> m) { r.methods = std::move(m); return *this; }
  R& header(std::string name, std::string value) { r.headers.emplace_back(std::move(name), std::move(value)); return *this; }
  operator Route() const { return r; }
};

// The routes (which CompiledRoute points at) and their table, compiled as
// lb/core/runtime.cpp does.
struct Table {
  std::vector<Route> routes;
  RouteTable table;

  explicit Table(std::vector<Route> rs) : routes(std::move(rs)) {
    std::vector<CompiledRoute> compiled;
    for (size_t i = 0; i < routes.size(); ++i) {
      CompiledRoute& c = compiled.emplace_back();
      c.config = &routes[i];
      c.index = static_cast<uint32_t>(i);
      if (routes[i].path_regex) c.path_regex = std::make_unique<RE2>(*routes[i].path_regex);
    }
    table = RouteTable(std::move(compiled));
  }
  Table(const Table&) = delete;

  // The index of the matching route, or -1.
  int match(std::string_view host, std::string_view method, std::string_view path, const HeaderList& headers = {}) const {
    lb::http::Headers h;
    for (const auto& [name, value] : headers) h.fields.push_back({name, value});
    const CompiledRoute* r = table.match(host, method, path, h);
    if (r) CHECK(r == &table.routes()[r->index]);
    return r ? static_cast<int>(r->index) : -1;
  }
};

// ---------------------------------------------------------------- reference

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// SPEC 10 read literally: the first route whose every condition holds.
struct Reference {
  const std::vector<Route>& routes;
  std::vector<std::optional<std::regex>> regexes;

  explicit Reference(const std::vector<Route>& rs) : routes(rs) {
    for (const Route& r : routes) {
      if (r.path_regex) regexes.emplace_back(std::regex(*r.path_regex, std::regex::ECMAScript));
      else regexes.emplace_back();
    }
  }

  static bool host_ok(const Route& r, const std::string& host) {
    if (!r.host) return true;
    const std::string& h = *r.host;
    if (h.rfind("*.", 0) == 0) {
      // One label or more in front of ".suffix".
      const std::string suffix = h.substr(1);
      return host.size() > suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
    }
    return host == h;
  }

  int match(const std::string& host, const std::string& method, const std::string& path, const HeaderList& headers) const {
    for (size_t i = 0; i < routes.size(); ++i) {
      const Route& r = routes[i];
      if (!host_ok(r, host)) continue;
      if (r.path_exact && path != *r.path_exact) continue;
      if (r.path_prefix && path.rfind(*r.path_prefix, 0) != 0) continue;
      if (!r.methods.empty()) {
        bool any = false;
        for (const auto& m : r.methods) any = any || m == method;
        if (!any) continue;
      }
      bool headers_ok = true;
      for (const auto& [name, value] : r.headers) {
        const std::pair<std::string, std::string>* first = nullptr;
        for (const auto& h : headers)
          if (!first && iequals(h.first, name)) first = &h;
        headers_ok = headers_ok && first && first->second == value;
      }
      if (!headers_ok) continue;
      if (regexes[i] && !std::regex_match(path, *regexes[i])) continue;
      return static_cast<int>(i);
    }
    return -1;
  }
};

}  // namespace

TEST_CASE("route table: an empty table matches nothing") {
  Table t(std::vector<Route>{});
  CHECK(t.table.empty());
  CHECK(t.match("example.com", "GET", "/") == -1);
  CHECK(t.match("", "GET", "/") == -1);
}

TEST_CASE("route table: first match wins across host buckets") {
  // A host-less route listed first beats a later exact-host route…
  Table a({R().prefix("/a"), R().host("api.example.com").prefix("/")});
  CHECK(a.match("api.example.com", "GET", "/a/x") == 0);
  CHECK(a.match("api.example.com", "GET", "/b") == 1);
  CHECK(a.match("www.example.com", "GET", "/b") == -1);
  // …and an exact-host route listed first beats a later host-less one.
  Table b({R().host("api.example.com").prefix("/"), R().prefix("/")});
  CHECK(b.match("api.example.com", "GET", "/a") == 0);
  CHECK(b.match("www.example.com", "GET", "/a") == 1);
  CHECK(b.match("", "GET", "/a") == 1);
  // Wildcard before exact, exact before wildcard, and two wildcards of one host.
  Table c({R().host("*.example.com").exact("/x"), R().host("api.example.com").prefix("/"),
           R().host("*.example.com").prefix("/"), R().host("*.b.example.com").prefix("/"), R().prefix("/")});
  CHECK(c.match("api.example.com", "GET", "/x") == 0);
  CHECK(c.match("api.example.com", "GET", "/y") == 1);
  CHECK(c.match("www.example.com", "GET", "/y") == 2);
  CHECK(c.match("a.b.example.com", "GET", "/y") == 2);  // *.example.com (2) comes before *.b.example.com (3)
  CHECK(c.match("example.com", "GET", "/y") == 4);
  Table d({R().host("*.b.example.com").prefix("/"), R().host("*.example.com").prefix("/")});
  CHECK(d.match("a.b.example.com", "GET", "/") == 0);
  CHECK(d.match("b.example.com", "GET", "/") == 1);
}

TEST_CASE("route table: exact and wildcard hosts") {
  Table t({R().host("example.com").exact("/e"), R().host("*.example.com").exact("/w")});
  CHECK(t.match("example.com", "GET", "/e") == 0);
  CHECK(t.match("a.example.com", "GET", "/e") == -1);
  CHECK(t.match("a.example.com", "GET", "/w") == 1);
  CHECK(t.match("a.b.example.com", "GET", "/w") == 1);
  CHECK(t.match("example.com", "GET", "/w") == -1);  // the wildcard needs a label in front
  CHECK(t.match("aexample.com", "GET", "/w") == -1);
  CHECK(t.match("a.example.com.evil", "GET", "/w") == -1);
  CHECK(t.match("a.example.co", "GET", "/w") == -1);
  CHECK(t.match("", "GET", "/w") == -1);
  CHECK(t.match("", "GET", "/e") == -1);
  CHECK(t.match("com", "GET", "/w") == -1);
}

TEST_CASE("route table: path_exact, path_prefix of mixed lengths, no path condition") {
  Table t({R().exact("/login"), R().prefix("/api/v1/").methods({"POST"}), R().prefix("/api/"),
           R().prefix("/api/v1/users"), R().prefix("/static"), R().exact("/"), R().methods({"DELETE"})});
  CHECK(t.match("h", "GET", "/login") == 0);
  CHECK(t.match("h", "GET", "/login/") == -1);
  CHECK(t.match("h", "GET", "/login2") == -1);
  CHECK(t.match("h", "DELETE", "/login2") == 6);
  CHECK(t.match("h", "POST", "/api/v1/users") == 1);
  CHECK(t.match("h", "GET", "/api/v1/users") == 2);  // first match, not the longest prefix
  CHECK(t.match("h", "GET", "/api/") == 2);
  CHECK(t.match("h", "GET", "/api") == -1);
  CHECK(t.match("h", "GET", "/staticfile") == 4);  // a prefix is a prefix of bytes, not of segments
  CHECK(t.match("h", "GET", "/static") == 4);
  CHECK(t.match("h", "GET", "/") == 5);
  CHECK(t.match("h", "GET", "") == -1);
  Table u({R().prefix("/api/v1/users"), R().prefix("/api/")});
  CHECK(u.match("h", "GET", "/api/v1/users/7") == 0);
  CHECK(u.match("h", "GET", "/api/v1/user") == 1);
  // Several routes on one exact path or one prefix keep their order.
  Table v({R().exact("/x").methods({"PUT"}), R().prefix("/x").methods({"GET"}), R().exact("/x"), R().prefix("/x")});
  CHECK(v.match("h", "PUT", "/x") == 0);
  CHECK(v.match("h", "GET", "/x") == 1);
  CHECK(v.match("h", "POST", "/x") == 2);
  CHECK(v.match("h", "POST", "/xy") == 3);
}

TEST_CASE("route table: path_regex must match the whole path") {
  Table t({R().regex("/v[0-9]+/items"), R().regex("/a|/b/c"), R().regex("^/anchored$"), R().regex(".*\\.png")});
  CHECK(t.match("h", "GET", "/v1/items") == 0);
  CHECK(t.match("h", "GET", "/v12/items") == 0);
  CHECK(t.match("h", "GET", "/v1/items/x") == -1);
  CHECK(t.match("h", "GET", "/x/v1/items") == -1);
  CHECK(t.match("h", "GET", "/v/items") == -1);
  CHECK(t.match("h", "GET", "/a") == 1);
  CHECK(t.match("h", "GET", "/b/c") == 1);
  CHECK(t.match("h", "GET", "/ab") == -1);   // not "^/a" …
  CHECK(t.match("h", "GET", "/a/c") == -1);  // … nor "/b/c$" alone
  CHECK(t.match("h", "GET", "/x/b/c") == -1);
  CHECK(t.match("h", "GET", "/anchored") == 2);
  CHECK(t.match("h", "GET", "/img/a.png") == 3);
  CHECK(t.match("h", "GET", "/img/a.png.txt") == -1);
}

TEST_CASE("route table: methods and headers") {
  Table t({R().methods({"GET", "HEAD"}).exact("/m"),
           R().header("x-user-type", "premium").header("x-region", "eu").prefix("/h"),
           R().header("x-user-type", "premium").prefix("/h"), R().prefix("/")});
  CHECK(t.match("h", "GET", "/m") == 0);
  CHECK(t.match("h", "HEAD", "/m") == 0);
  CHECK(t.match("h", "POST", "/m") == 3);
  CHECK(t.match("h", "get", "/m") == 3);  // methods are case-sensitive
  CHECK(t.match("h", "GET", "/h", {{"X-User-Type", "premium"}, {"X-REGION", "eu"}}) == 1);
  CHECK(t.match("h", "GET", "/h", {{"x-region", "eu"}, {"x-user-type", "premium"}}) == 1);
  CHECK(t.match("h", "GET", "/h", {{"X-User-Type", "premium"}}) == 2);
  CHECK(t.match("h", "GET", "/h", {{"X-User-Type", "Premium"}, {"X-Region", "eu"}}) == 3);  // values exact
  CHECK(t.match("h", "GET", "/h", {{"X-User-Type", "premium "}}) == 3);
  CHECK(t.match("h", "GET", "/h", {{"X-Other", "premium"}}) == 3);
  CHECK(t.match("h", "GET", "/h") == 3);
}

TEST_CASE("route table: normalize_host") {
  char buf[256];
  CHECK(lb::normalize_host("API.Example.com.:443", buf) == "api.example.com");
  CHECK(lb::normalize_host("api.example.com", buf) == "api.example.com");
  CHECK(lb::normalize_host("Api.Example.Com.", buf) == "api.example.com");
  CHECK(lb::normalize_host("example.com:8080", buf) == "example.com");
  CHECK(lb::normalize_host("[::1]:8080", buf) == "[::1]");
  CHECK(lb::normalize_host("[::1]", buf) == "[::1]");
  CHECK(lb::normalize_host("[FE80::A]:1", buf) == "[fe80::a]");
  CHECK(lb::normalize_host("10.0.0.1:80", buf) == "10.0.0.1");
  CHECK(lb::normalize_host("", buf).empty());
  CHECK(lb::normalize_host(".", buf) == ".");
  const std::string longest(256, 'A');
  CHECK(lb::normalize_host(longest, buf) == std::string(256, 'a'));
  CHECK(lb::normalize_host(std::string(257, 'a'), buf).empty());
  CHECK(lb::normalize_host(std::string(257, 'a') + ":80", buf).empty());
  CHECK(lb::normalize_host(std::string(256, 'a') + ".:80", buf) == std::string(256, 'a'));
}

TEST_CASE("route table: more than 32 candidate lists fall back to checking every route in order") {
  // 40 prefixes of distinct lengths all match "/aaa…a" (45 a's): one list each.
  std::vector<Route> routes;
  for (int len = 40; len >= 1; --len) routes.push_back(R().prefix("/" + std::string(len - 1, 'a')).methods({"POST"}));
  routes[37].methods.clear();  // prefix "/aa"
  routes.push_back(R().host("*.example.com").prefix("/"));
  routes.push_back(R().host("api.example.com").regex("/a+"));
  Table t(std::move(routes));
  const std::string path = "/" + std::string(45, 'a');
  CHECK(t.match("h", "POST", path) == 0);
  CHECK(t.match("h", "GET", path) == 37);
  CHECK(t.match("h", "GET", "/aaa") == 37);
  CHECK(t.match("h", "GET", "/a") == -1);
  CHECK(t.match("x.example.com", "GET", "/a") == 40);
  CHECK(t.match("example.com", "GET", "/a") == -1);
  CHECK(t.match("api.example.com", "GET", "/a") == 40);
  CHECK(t.match("x.example.com", "GET", "/b") == 40);

  Table u({R().host("*.example.com").prefix("/").methods({"PUT"}), R().host("api.example.com").regex("/a+")});
  std::vector<Route> more(u.routes.begin(), u.routes.end());
  for (int len = 1; len <= 40; ++len) more.push_back(R().prefix("/" + std::string(len, 'a')).header("x-n", std::to_string(len)));
  Table w(std::move(more));
  CHECK(w.match("api.example.com", "GET", path) == 1);
  CHECK(w.match("api.example.com", "PUT", path) == 0);
  CHECK(w.match("www.example.com", "GET", path, {{"X-N", "17"}}) == 18);
  CHECK(w.match("www.example.com", "GET", path, {{"X-N", "41"}}) == -1);
}

namespace {

// Random routes and requests over small alphabets so that they often match.
struct Generator {
  std::mt19937 rng;
  bool long_paths;  // paths of many 'a's: many distinct prefix lengths (the overflow fallback)

  Generator(uint32_t seed, bool long_paths) : rng(seed), long_paths(long_paths) {}

  int below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); }
  bool chance(int percent) { return below(100) < percent; }
  template <class T> const T& pick(const std::vector<T>& v) { return v[below(static_cast<int>(v.size()))]; }

  std::string path() {
    if (long_paths) return "/" + std::string(below(45), 'a') + (chance(20) ? "/b" : "");
    static const std::vector<std::string> segments = {"a", "ab", "api", "v1", "v22", "items", "x", "img", "b"};
    std::string p;
    for (int n = below(5); n > 0; --n) p += "/" + pick(segments);
    if (p.empty() || chance(25)) p += "/";
    return p;
  }
  std::string request_host() {
    static const std::vector<std::string> hosts = {"",          "example.com",   "a.example.com", "api.example.com",
                                                   "b.example.com", "a.b.example.com", "x.a.b.example.com",
                                                   "other.org", "www.other.org"};
    return pick(hosts);
  }
  Route route() {
    static const std::vector<std::string> hosts = {"example.com",   "api.example.com", "*.example.com", "*.b.example.com",
                                                   "*.a.b.example.com", "b.example.com", "other.org",     "*.other.org"};
    static const std::vector<std::string> regexes = {"/v[0-9]+/items", "/a.*",   "/api/[a-z]+", "/(a|ab)/.*",
                                                     ".*/items/?",      "/a|/x/", "/[^/]*",      "/a{3,9}"};
    static const std::vector<std::string> methods = {"GET", "HEAD", "POST", "PUT"};
    R r;
    if (!chance(15)) r.host(pick(hosts));
    const int kind = below(20);
    if (kind < 7) {
      const std::string p = path();
      const int len = static_cast<int>(p.size());
      r.prefix(p.substr(0, len < 3 ? len : 2 + below(len - 1)));
    } else if (kind < 12) {
      r.exact(path());
    } else if (kind < 17 && !long_paths) {
      r.regex(pick(regexes));
    } else if (kind < 17) {
      r.regex("/a{" + std::to_string(below(20)) + ",}");
    }
    if (chance(40)) {
      std::vector<std::string> m;
      for (const auto& x : methods)
        if (chance(50)) m.push_back(x);
      if (m.empty()) m.push_back(pick(methods));
      r.methods(m);
    }
    if (chance(35)) r.header("x-a", chance(50) ? "1" : "2");
    if (chance(20)) r.header("x-b", chance(50) ? "y" : "Y");
    // Host-less routes carry a header condition, else the first broad one
    // would hide every route after it.
    if (!r.r.host && r.r.headers.empty()) r.header("x-b", chance(50) ? "y" : "Y");
    return r;
  }
  HeaderList headers() {
    HeaderList h;
    if (chance(50)) h.emplace_back(pick(std::vector<std::string>{"x-a", "X-A", "X-a"}), chance(50) ? "1" : "2");
    if (chance(15)) h.emplace_back("Accept", "*/*");
    if (chance(40)) h.emplace_back(pick(std::vector<std::string>{"x-b", "X-B"}), pick(std::vector<std::string>{"y", "Y", "z"}));
    return h;
  }
};

void differential(uint32_t seed, bool long_paths, int routes, int requests) {
  Generator g(seed, long_paths);
  std::vector<Route> rs;
  for (int i = 0; i < routes; ++i) rs.push_back(g.route());
  Table t(std::move(rs));
  Reference ref(t.routes);
  std::set<int> seen;
  int unmatched = 0;
  static const std::vector<std::string> methods = {"GET", "HEAD", "POST", "PUT", "DELETE"};
  for (int i = 0; i < requests; ++i) {
    const std::string host = g.request_host(), method = g.pick(methods), path = g.path();
    const HeaderList headers = g.headers();
    const int expected = ref.match(host, method, path, headers);
    const int got = t.match(host, method, path, headers);
    if (got != expected) {
      INFO("seed " << seed << " request " << i << ": host=\"" << host << "\" " << method << " " << path);
      CHECK(got == expected);
    }
    seen.insert(expected);
    unmatched += expected < 0;
  }
  // The generator is useful only if it reaches many routes and leaves some requests unmatched.
  CHECK(seen.size() >= 30);
  CHECK(unmatched > 0);
}

}  // namespace

TEST_CASE("route table: randomized differential against a linear reference") {
  for (uint32_t seed : {1u, 2u, 3u}) differential(seed, false, 300, 5000);
}

TEST_CASE("route table: randomized differential, many prefix lengths (overflow fallback)") {
  for (uint32_t seed : {11u, 12u}) differential(seed, true, 300, 5000);
}
