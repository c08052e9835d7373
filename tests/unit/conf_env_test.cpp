// tests/unit/conf_env_test.cpp — environment variables in the configuration
// file (SPEC section 3, second edition; conf/env_vars.h): `${NAME}` in string
// values, `$${` and other literal dollars, errors at the value's pointer for
// unset variables and malformed references, substitution before the schema
// walk (load_string), and to_json writing a literal "${" so it loads back.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "conf/env_vars.h"
#include "conf/load.h"

using lb::conf::LoadResult;
using lb::conf::detail::Ctx;
using lb::conf::detail::escape_env_refs;
using lb::conf::detail::substitute_env;
using nlohmann::json;

namespace {

// Every error, one a line, for INFO.
std::string joined(const std::vector<std::string>& errors) {
  std::string s;
  for (const auto& e : errors) s += e + "\n";
  return s;
}

// A fixed environment, so these cases do not depend on the test runner's.
std::optional<std::string> fake_env(const std::string& name) {
  static const std::map<std::string, std::string> vars = {
      {"HOST", "10.0.0.7"}, {"PORT", "8443"}, {"EMPTY", ""}, {"_x1", "u"}, {"REF", "${HOST}"}, {"DOLLAR", "$"}};
  auto it = vars.find(name);
  if (it == vars.end()) return std::nullopt;
  return it->second;
}

// `text` substituted as a lone string value; errors go to `errors`.
std::optional<std::string> expand(const std::string& text, std::vector<std::string>* errors = nullptr) {
  Ctx ctx("f", "");
  json v = text;
  const bool ok = substitute_env(ctx, v, fake_env);
  std::vector<std::string> e = ctx.take_errors();
  CHECK(ok == e.empty());
  if (errors) *errors = std::move(e);
  if (!ok) return std::nullopt;
  return v.get<std::string>();
}

bool has_expansion(const std::string& text, std::vector<std::string>* errors) {
  return expand(text, errors).has_value();
}

// Sets environment variables for the scope, then unsets them.
struct ScopedEnv {
  std::vector<std::string> names;
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto [name, value] : vars) {
      setenv(name, value, 1);
      names.push_back(name);
    }
  }
  ~ScopedEnv() {
    for (const auto& n : names) unsetenv(n.c_str());
  }
};

json minimal() {
  return json::parse(R"({
  "listeners": [{"name": "web", "listen": "127.0.0.1:8080", "pool": "web"}],
  "pools": [{"name": "web", "servers": [{"address": "127.0.0.1:9001"}]}]
})");
}

}  // namespace

TEST_CASE("conf env: ${NAME} is replaced; $${ is a literal ${; any other $ is literal") {
  const std::pair<const char*, const char*> cases[] = {
      {"${HOST}:${PORT}", "10.0.0.7:8443"},
      {"http://${HOST}/x", "http://10.0.0.7/x"},
      {"${HOST}${PORT}", "10.0.0.78443"},
      {"a${EMPTY}b", "ab"},  // set but empty is still set
      {"${_x1}", "u"},
      {"no dollar", "no dollar"},
      {"", ""},
      {"$", "$"},
      {"$$", "$$"},  // SPEC 10: $$ not followed by { stays $$
      {"a$$b", "a$$b"},
      {"$HOST", "$HOST"},
      {"{HOST}", "{HOST}"},
      {"${HOST", nullptr},  // unterminated: an error, see below
      {"$${HOST}", "${HOST}"},
      {"$${", "${"},
      {"$$${HOST}", "$${HOST}"},  // left to right: '$', then "$${" → "${"
      {"x$${HOST}y${PORT}", "x${HOST}y8443"},
      {"}${PORT}}", "}8443}"},
      {"${REF}", "${HOST}"},  // substituted text is not scanned again
      {"${DOLLAR}{HOST}", "${HOST}"},
  };
  for (auto [in, want] : cases) {
    INFO("input: " << in);
    std::optional<std::string> got = expand(in);
    if (want) CHECK(got == std::optional<std::string>(want));
    else CHECK_FALSE(got.has_value());
  }
}

TEST_CASE("conf env: unset variables and malformed references are errors at the value's pointer") {
  std::vector<std::string> errors;
  CHECK_FALSE(has_expansion("${NOPE}", &errors));
  CHECK(errors == std::vector<std::string>{"f: environment variable NOPE is not set"});

  CHECK_FALSE(has_expansion("${HOST", &errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("f: \"${\" without a closing \"}\" in \"${HOST\"", 0) == 0);
  CHECK_FALSE(has_expansion("${}", &errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("f: empty environment variable name in \"${}\"", 0) == 0);
  for (const char* bad : {"${1X}", "${A-B}", "${A B}", "${é}", "${$X}"}) {
    INFO(bad);
    CHECK_FALSE(has_expansion(bad, &errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("f: invalid environment variable name ") == 0);
    CHECK(errors[0].find("names are letters, digits and '_', not starting with a digit") != std::string::npos);
  }
  // Every problem in one string is reported, each once.
  CHECK_FALSE(has_expansion("${NOPE}/${HOST}/${ALSO_NOPE}/${NOPE}", &errors));
  CHECK(errors == std::vector<std::string>{"f: environment variable NOPE is not set",
                                           "f: environment variable ALSO_NOPE is not set"});

  // Nested values: the pointer is the value's; keys are never substituted.
  Ctx ctx("lb.json", "");
  json doc = json::parse(R"({"a": {"${HOST}": "${HOST}", "k/~": ["x", "${NOPE}"]}, "b": ["${PORT}", 5, null, true],
                             "c": "${HOST"})");
  CHECK_FALSE(substitute_env(ctx, doc, fake_env));
  errors = ctx.take_errors();
  REQUIRE(errors.size() == 2);
  CHECK(errors[0] == "lb.json: /a/k~1~0/1: environment variable NOPE is not set");
  CHECK(errors[1].rfind("lb.json: /c: \"${\" without a closing \"}\"", 0) == 0);
  CHECK(doc["a"]["${HOST}"] == "10.0.0.7");
  CHECK(doc["b"] == json({"8443", 5, nullptr, true}));
  CHECK(doc["a"]["k/~"][1] == "${NOPE}");  // a failed value is left as written
}

TEST_CASE("conf env: load_string substitutes before the walk, so readers and errors see the final value") {
  ScopedEnv env({{"LB_UT_TOKEN", "s3cret-from-env"}, {"LB_UT_PORT", "8081"}, {"LB_UT_POOL", "web"},
                 {"LB_UT_BAD_PORT", "x80"}});
  json c = minimal();
  c["admin"] = {{"token", "${LB_UT_TOKEN}"}};
  c["listeners"][0]["listen"] = "127.0.0.1:${LB_UT_PORT}";
  c["listeners"][0]["pool"] = "${LB_UT_POOL}";
  c["shutdown_timeout"] = "1$${m}";  // not a reference, so the duration reader sees "1${m}"
  LoadResult r = lb::conf::load_string(c.dump(), "/etc/lb/lb.json");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].rfind("/etc/lb/lb.json: /shutdown_timeout: unknown unit \"${m}\"", 0) == 0);

  c.erase("shutdown_timeout");
  r = lb::conf::load_string(c.dump(), "/etc/lb/lb.json");
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  REQUIRE(r.config->admin);
  CHECK(r.config->admin->token == std::optional<std::string>("s3cret-from-env"));
  CHECK(r.config->listeners[0].listen.port == 8081);
  CHECK(r.config->listeners[0].listen.text == "127.0.0.1:8081");
  CHECK(r.config->listeners[0].pool == std::optional<std::string>("web"));

  // A substituted value that is wrong is reported like a written one.
  c["listeners"][0]["listen"] = "127.0.0.1:${LB_UT_BAD_PORT}";
  r = lb::conf::load_string(c.dump(), "/etc/lb/lb.json");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] == "/etc/lb/lb.json: /listeners/0/listen: invalid port \"x80\" (expected a number 1..65535)");

  // Unset: one error per reference, and no walk (so no second error at the same pointer).
  c["listeners"][0]["listen"] = "127.0.0.1:${LB_UT_UNSET_PORT}";
  c["pools"][0]["servers"][0]["address"] = "${LB_UT_UNSET_BACKEND}";
  r = lb::conf::load_string(c.dump(), "/etc/lb/lb.json");
  CHECK(r.config == nullptr);
  CHECK(r.errors == std::vector<std::string>{
                        "/etc/lb/lb.json: /listeners/0/listen: environment variable LB_UT_UNSET_PORT is not set",
                        "/etc/lb/lb.json: /pools/0/servers/0/address: environment variable LB_UT_UNSET_BACKEND is not set"});
}

TEST_CASE("conf env: to_json writes a literal ${ as $${, so GET /config loads back unchanged") {
  CHECK(escape_env_refs("") == "");
  CHECK(escape_env_refs("plain $ and $$") == "plain $ and $$");
  CHECK(escape_env_refs("${X}") == "$${X}");
  CHECK(escape_env_refs("$${X}") == "$$${X}");
  CHECK(escape_env_refs("a{b}$") == "a{b}$");

  // Substituting the escaped form gives back the original, for every string
  // of up to 7 characters over the characters that matter.
  const std::string alphabet = "${}a";
  std::vector<std::string> layer = {""};
  std::size_t checked = 0;
  for (int len = 0; len <= 7; ++len) {
    std::vector<std::string> next;
    for (const std::string& s : layer) {
      Ctx ctx("f", "");
      json v = escape_env_refs(s);
      const bool ok = substitute_env(ctx, v, [](const std::string&) -> std::optional<std::string> {
        return std::string("LOOKED-UP");  // an escaped string must hold no reference
      });
      if (!ok || v != s) FAIL_CHECK("escape_env_refs(" << s << ") = " << escape_env_refs(s) << " → " << v.dump());
      ++checked;
      for (char c : alphabet) next.push_back(s + c);
    }
    layer = std::move(next);
  }
  CHECK(checked == 21845);  // 4^0 + … + 4^7

  // Through the loader: "$${" in the file is "${" in the Config and "$${" again in to_json.
  json c = minimal();
  c["listeners"][0]["routes"] = json::array({json{{"path_prefix", "/t/$${id}/"}, {"pool", "web"}}});
  LoadResult r = lb::conf::load_string(c.dump(), "/etc/lb/lb.json");
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  CHECK(r.config->listeners[0].routes[0].path_prefix == std::optional<std::string>("/t/${id}/"));
  json out = lb::conf::to_json(*r.config);
  CHECK(out["listeners"][0]["routes"][0]["path_prefix"] == "/t/$${id}/");
  LoadResult again = lb::conf::load_string(out.dump(), "/etc/lb/lb.json");
  REQUIRE(again.ok());
  CHECK(lb::conf::to_json(*again.config) == out);
}
