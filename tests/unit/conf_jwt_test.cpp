// tests/unit/conf_jwt_test.cpp — "auth": {"jwt": …} (SPEC 11): every option
// and its default, the key file read at load (a bad JWKS, a short HMAC
// secret or keys that fit no allowed algorithm are errors at the key's
// pointer naming the file), mistakes reported at their JSON pointer, and the
// GET /config dump loading back.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "conf/load.h"
#include "lb/security/jwt.h"
#include "tests/unit/conf_test_util.h"

using lb::conf::JwtAuthConfig;
using lb::conf::LoadResult;
using nlohmann::json;

namespace {

// 32 bytes of "k" as a base64url oct key.
constexpr const char* kOctJwks = R"({"keys": [{"kty": "oct", "k": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s"}]})";

struct Fixture {
  conf_test::TempDir dir{"conf_jwt"};
  Fixture() {
    dir.write("jwks.json", kOctJwks);
    dir.write("secret", "0123456789abcdef0123456789abcdef\n");
    dir.write("short", "0123456789\n");
    dir.write("bad.json", "{\"keys\": [{\"kty\": \"XYZ\"}]}");
  }
  json config(const json& jwt) const {
    return {{"listeners",
             {{{"name", "web"},
               {"listen", "127.0.0.1:8080"},
               {"pool", "p"},
               {"auth", {{"jwt", jwt}}},
               {"routes", {{{"name", "api"}, {"path_prefix", "/api/"}}}}}}},
            {"pools", {{{"name", "p"}, {"servers", {{{"address", "127.0.0.1:9001"}}}}}}}};
  }
  LoadResult load(const json& jwt) const { return conf_test::load(config(jwt), dir.config()); }
};

}  // namespace

TEST_CASE("conf: auth.jwt with every option, its defaults, and the /config dump loading back") {
  Fixture f;
  LoadResult r = f.load({{"keys", "jwks.json"}, {"algorithms", {"HS256"}}});
  INFO(conf_test::all(r.errors));
  REQUIRE(r.ok());
  const JwtAuthConfig& d = *r.config->listeners[0].auth->jwt;
  CHECK(d.keys_file == f.dir.file("jwks.json"));  // relative to the configuration file
  CHECK(d.secret_file.empty());
  CHECK(d.leeway == std::chrono::seconds(30));
  CHECK(d.from == JwtAuthConfig::From::header);
  CHECK(d.from_name == "Authorization");
  CHECK(d.bearer);
  CHECK(d.required);
  CHECK_FALSE(d.forward_token);
  CHECK_FALSE(d.issuer);
  REQUIRE(d.verifier);

  json full = {{"secret_file", "secret"},
               {"algorithms", {"HS256", "HS384"}},
               {"issuer", "https://issuer"},
               {"audiences", {"a", "b"}},
               {"leeway", "5s"},
               {"from", "cookie:session"},
               {"forward_claims", {{"sub", "X-User"}, {"groups", "X-Groups"}}},
               {"required", false},
               {"forward_token", true}};
  // HS384 needs a 48-byte secret: this one is 32.
  LoadResult short_for_384 = f.load(full);
  CHECK(conf_test::has_error(short_for_384, f.dir.config(), "/listeners/0/auth/jwt/secret_file", "secret file"));
  full["algorithms"] = {"HS256"};
  r = f.load(full);
  INFO(conf_test::all(r.errors));
  REQUIRE(r.ok());
  const JwtAuthConfig& j = *r.config->listeners[0].auth->jwt;
  CHECK(j.secret_file == f.dir.file("secret"));
  CHECK(j.issuer == "https://issuer");
  CHECK(j.audiences == std::vector<std::string>{"a", "b"});
  CHECK(j.leeway == std::chrono::seconds(5));
  CHECK(j.from == JwtAuthConfig::From::cookie);
  CHECK(j.from_name == "session");
  CHECK_FALSE(j.bearer);
  CHECK(j.forward_claims.size() == 2);
  CHECK_FALSE(j.required);
  CHECK(j.forward_token);
  CHECK(j.verifier->policy().leeway == std::chrono::seconds(5));

  const json out = lb::conf::to_json(*r.config);
  const json& dumped = out["listeners"][0]["auth"]["jwt"];
  CHECK(dumped["secret_file"] == f.dir.file("secret"));
  CHECK(dumped["from"] == "cookie:session");
  CHECK(dumped["forward_claims"]["sub"] == "X-User");
  LoadResult again = conf_test::load(out, f.dir.config());
  INFO(conf_test::all(again.errors));
  REQUIRE(again.ok());
  CHECK(lb::conf::to_json(*again.config) == out);

  // Other headers and query parameters.
  LoadResult q = f.load({{"keys", "jwks.json"}, {"algorithms", {"HS256"}}, {"from", "query:access_token"}});
  REQUIRE(q.ok());
  CHECK(q.config->listeners[0].auth->jwt->from == JwtAuthConfig::From::query);
  LoadResult h = f.load({{"keys", "jwks.json"}, {"algorithms", {"HS256"}}, {"from", "header:X-Token"}});
  REQUIRE(h.ok());
  CHECK_FALSE(h.config->listeners[0].auth->jwt->bearer);
}

TEST_CASE("conf: auth.jwt mistakes are errors at their pointer") {
  Fixture f;
  struct Case {
    json jwt;
    const char* pointer;  // under /listeners/0/auth/jwt
    const char* message;
  };
  const json hs = {"HS256"};
  const std::vector<Case> cases = {
      {{{"algorithms", hs}}, "", "jwt needs \"keys\" (a JWKS file) or \"secret_file\""},
      {{{"keys", "jwks.json"}, {"secret_file", "secret"}, {"algorithms", hs}}, "", "exclude each other"},
      {{{"keys", "missing.json"}, {"algorithms", hs}}, "/keys", "cannot read \"missing.json\""},
      {{{"keys", "bad.json"}, {"algorithms", hs}}, "/keys", "JWKS file \""},
      {{{"secret_file", "short"}, {"algorithms", hs}}, "/secret_file", "secret file \""},
      {{{"keys", "jwks.json"}, {"algorithms", {"RS256"}}}, "/keys", "JWKS file \""},
      {{{"keys", "jwks.json"}}, "", "missing required key \"algorithms\""},
      {{{"keys", "jwks.json"}, {"algorithms", json::array()}}, "/algorithms", "needs at least one algorithm"},
      {{{"keys", "jwks.json"}, {"algorithms", {"none"}}}, "/algorithms/0", "\"none\" (unsigned tokens) is never accepted"},
      {{{"keys", "jwks.json"}, {"algorithms", {"HS257"}}}, "/algorithms/0", "unknown algorithm \"HS257\""},
      {{{"keys", "jwks.json"}, {"algorithms", hs}, {"issuer", 5}}, "/issuer", "expected a string"},
      {{{"keys", "jwks.json"}, {"algorithms", hs}, {"audiences", "api"}}, "/audiences", "expected an array"},
      {{{"keys", "jwks.json"}, {"algorithms", hs}, {"leeway", "soon"}}, "/leeway", "soon"},
      {{{"keys", "jwks.json"}, {"algorithms", hs}, {"from", "body:token"}}, "/from", "invalid token source \"body:token\""},
      {{{"keys", "jwks.json"}, {"algorithms", hs}, {"from", "header:"}}, "/from", "invalid token source"},
      {{{"keys", "jwks.json"}, {"algorithms", hs}, {"forward_claims", {{"sub", "X User"}}}}, "/forward_claims/sub",
       "invalid header name \"X User\""},
      {{{"keys", "jwks.json"}, {"algorithms", hs}, {"forward_claims", {"sub"}}}, "/forward_claims",
       "expected an object of claim → header name"},
      {{{"keys", "jwks.json"}, {"algorithms", hs}, {"required", "yes"}}, "/required", "expected"},
      {{{"keys", "jwks.json"}, {"algorithms", hs}, {"kid", "x"}}, "/kid", "unknown key \"kid\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.jwt.dump());
    LoadResult r = f.load(c.jwt);
    INFO(conf_test::all(r.errors));
    CHECK(r.errors.size() == 1);
    CHECK(conf_test::has_error(r, f.dir.config(), std::string("/listeners/0/auth/jwt") + c.pointer, c.message));
  }
  // Both kinds at once.
  json j = f.config({{"keys", "jwks.json"}, {"algorithms", hs}});
  j["listeners"][0]["auth"]["basic"] = {{"users_file", "x"}};
  LoadResult both = conf_test::load(j, f.dir.config());
  CHECK(conf_test::has_error(both, f.dir.config(), "/listeners/0/auth", "exactly one of \"jwt\" and \"basic\""));
}
