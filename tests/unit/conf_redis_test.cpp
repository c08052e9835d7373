// tests/unit/conf_redis_test.cpp — the top-level "redis" object (SPEC 17):
// defaults, the password file (one trailing newline ignored, never shown by
// GET /config), mistakes at their pointer, and the GET /config dump loading
// back into the same configuration.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "conf/load.h"

using lb::conf::LoadResult;
using lb::conf::RateLimit;
using nlohmann::json;

namespace {

json redis_config() {
  return {{"listeners",
           {{{"name", "web"},
             {"listen", "127.0.0.1:8080"},
             {"pool", "p"},
             {"rate_limit", {{"rate", 5}, {"store", "redis"}, {"on_store_error", "local"}}}}}},
          {"pools", {{{"name", "p"}, {"servers", {{{"address", "127.0.0.1:9001"}}}}}}},
          {"redis", {{"address", "127.0.0.1:6379"}}}};
}

LoadResult load(const json& j) { return lb::conf::load_string(j.dump(), "/tmp/lb.json"); }

std::string only_error(const json& j) {
  LoadResult r = load(j);
  std::string all;
  for (const auto& e : r.errors) all += "  " + e + "\n";
  INFO(all);
  REQUIRE(r.errors.size() == 1);
  return r.errors[0];
}

}  // namespace

TEST_CASE("conf: redis defaults and a store \"redis\" limit") {
  LoadResult r = load(redis_config());
  REQUIRE(r.errors.empty());
  REQUIRE(r.config->redis);
  const auto& redis = *r.config->redis;
  CHECK(redis.address.port == 6379);
  CHECK(redis.database == 0);
  CHECK(redis.timeout.count() == 50);
  CHECK(redis.key_prefix == "lb:");
  CHECK(redis.password.empty());
  CHECK(r.config->listeners[0].rate_limit->store == RateLimit::Store::redis);
  CHECK(r.config->listeners[0].rate_limit->on_store_error == RateLimit::OnStoreError::local);
  const json out = lb::conf::to_json(*r.config);
  CHECK(out["redis"] == json{{"address", "127.0.0.1:6379"}, {"password_file", nullptr}, {"database", 0},
                             {"timeout", "50ms"}, {"key_prefix", "lb:"}});
  LoadResult again = lb::conf::load_string(out.dump(), "/tmp/lb.json");
  REQUIRE(again.errors.empty());
  CHECK(lb::conf::to_json(*again.config) == out);
}

TEST_CASE("conf: redis password_file drops one trailing newline and is never dumped") {
  char path[] = "/tmp/lb-redis-pass-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path) << "s3cret \n\n";
  json j = redis_config();
  j["redis"] = {{"address", "127.0.0.1:6380"}, {"password_file", path}, {"database", 3}, {"timeout", "20ms"},
                {"key_prefix", ""}};
  LoadResult r = load(j);
  std::remove(path);
  REQUIRE(r.errors.empty());
  CHECK(r.config->redis->password == "s3cret \n");
  CHECK(r.config->redis->database == 3);
  CHECK(r.config->redis->timeout.count() == 20);
  CHECK(r.config->redis->key_prefix.empty());
  const std::string dump = lb::conf::to_json(*r.config).dump();
  CHECK(dump.find("s3cret") == std::string::npos);
  CHECK(dump.find(path) != std::string::npos);
}

TEST_CASE("conf: redis mistakes are errors at their pointer") {
  struct Case {
    json redis;
    const char* pointer;
    const char* message;
  };
  const Case cases[] = {
      {{{"database", 1}}, "/redis", "missing required key \"address\""},
      {{{"address", "127.0.0.1"}}, "/redis/address", ""},
      {{{"address", "127.0.0.1:6379"}, {"database", -1}}, "/redis/database", ""},
      {{{"address", "127.0.0.1:6379"}, {"timeout", "0s"}}, "/redis/timeout", "greater than 0"},
      {{{"address", "127.0.0.1:6379"}, {"timeout", "2m"}}, "/redis/timeout", "at most \"60s\""},
      {{{"address", "127.0.0.1:6379"}, {"password_file", "/nonexistent/pass"}}, "/redis/password_file",
       "cannot read \"/nonexistent/pass\""},
      {{{"address", "127.0.0.1:6379"}, {"db", 1}}, "/redis/db", "unknown key \"db\""},
      {"127.0.0.1:6379", "/redis", "expected an object"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.redis.dump());
    json j = redis_config();
    j["redis"] = c.redis;
    const std::string error = only_error(j);
    CHECK(error.find(std::string("/tmp/lb.json: ") + c.pointer + ": ") == 0);
    CHECK(error.find(c.message) != std::string::npos);
  }
}

TEST_CASE("conf: a route's store \"redis\" without the redis object names the route's pointer") {
  json j = redis_config();
  j.erase("redis");
  j["listeners"][0].erase("rate_limit");
  j["listeners"][0]["routes"] = {{{"name", "api"}, {"path_prefix", "/"}, {"rate_limit", {{"rate", 1}, {"store", "redis"}}}}};
  const std::string error = only_error(j);
  CHECK(error.find("/tmp/lb.json: /listeners/0/routes/0/rate_limit/store: store \"redis\" needs the top-level") == 0);
}
