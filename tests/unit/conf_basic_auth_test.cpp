// tests/unit/conf_basic_auth_test.cpp — "auth": {"basic": …} (SPEC 11): the
// htpasswd file read at load, and the dummy hash an unknown user is checked
// against having the file's own algorithm and cost, so that check takes as
// long as a real user's (a fixed bcrypt cost 10 would answer faster or
// slower than a file of $6$ or cost-12 entries, telling names apart).
#include <crypt.h>
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "conf/load.h"
#include "tests/unit/conf_test_util.h"

using nlohmann::json;

namespace {

std::string hash_with(const char* password, const char* setting) {
  crypt_data data{};
  const char* out = crypt_r(password, setting, &data);
  REQUIRE(out);
  return out;
}

lb::conf::LoadResult load_users(conf_test::TempDir& dir, const std::string& users) {
  dir.write("htpasswd", users);
  json j = {{"listeners",
             {{{"name", "web"}, {"listen", "127.0.0.1:8080"}, {"pool", "p"},
               {"auth", {{"basic", {{"users_file", "htpasswd"}}}}}}}},
            {"pools", {{{"name", "p"}, {"servers", {{{"address", "127.0.0.1:9001"}}}}}}}};
  return conf_test::load(j, dir.config());
}

}  // namespace

TEST_CASE("conf: auth.basic's dummy hash takes the first entry's algorithm and cost") {
  conf_test::TempDir dir{"conf_basic"};
  const std::string sha512 = hash_with("secret", "$6$rounds=20000$abcdefgh$");
  lb::conf::LoadResult r = load_users(dir, "alice:" + sha512 + "\n");
  INFO(conf_test::all(r.errors));
  REQUIRE(r.ok());
  const lb::conf::BasicAuthConfig& b = *r.config->listeners[0].auth->basic;
  CHECK(b.dummy_hash.starts_with("$6$rounds=20000$abcdefgh$"));
  CHECK(b.dummy_hash != sha512);  // no known password: "secret" does not match it
  CHECK(hash_with("secret", b.dummy_hash.c_str()) != b.dummy_hash);

  const std::string bcrypt12 = hash_with("secret", "$2b$12$abcdefghijklmnopqrstuu");
  r = load_users(dir, "bob:" + bcrypt12 + "\nalice:" + sha512 + "\n");
  REQUIRE(r.ok());
  CHECK(r.config->listeners[0].auth->basic->dummy_hash.starts_with("$2b$12$"));
}
