// tests/unit/conf_rate_limit_test.cpp — "rate_limit" on listeners and routes
// (SPEC 11): keys (client_ip, header:NAME, jwt.CLAIM; nothing else), the
// algorithm and what it allows (a sliding window has a whole rate and no
// burst), the store (tests/unit/conf_redis_test.cpp covers "redis"), defaults, and
// the GET /config dump loading back into the same configuration.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "conf/load.h"

using lb::conf::KeySpec;
using lb::conf::LoadResult;
using lb::conf::RateLimit;
using nlohmann::json;

namespace {

json base_config() {
  return {{"listeners",
           {{{"name", "web"},
             {"listen", "127.0.0.1:8080"},
             {"pool", "p"},
             {"routes", {{{"name", "api"}, {"path_prefix", "/api/"}}}}},
            {{"name", "db"}, {"listen", "127.0.0.1:5432"}, {"protocol", "tcp"}, {"pool", "p"}}}},
          {"pools", {{{"name", "p"}, {"servers", {{{"address", "127.0.0.1:9001"}}}}}}}};
}

LoadResult load(const json& j) { return lb::conf::load_string(j.dump(), "lb.json"); }

std::string joined(const std::vector<std::string>& errors) {
  std::string s;
  for (const auto& e : errors) s += "  " + e + "\n";
  return s;
}

// The one error loading `j` gives.
std::string only_error(const json& j) {
  LoadResult r = load(j);
  INFO(joined(r.errors));
  REQUIRE(r.errors.size() == 1);
  return r.errors[0];
}

}  // namespace

TEST_CASE("conf: rate_limit on a listener and a route, with algorithm, store and keys") {
  json j = base_config();
  j["listeners"][0]["rate_limit"] = {{"key", "header:X-Api-Key"}, {"rate", 100}, {"per", "1s"}};
  j["listeners"][0]["routes"][0]["rate_limit"] = {{"key", "jwt.sub"},
                                                 {"algorithm", "sliding_window"},
                                                 {"rate", 5},
                                                 {"per", "1m"},
                                                 {"store", "local"},
                                                 {"on_store_error", "deny"}};
  j["listeners"][1]["rate_limit"] = {{"rate", 10}, {"per", "1s"}, {"algorithm", "sliding_window"}};
  LoadResult r = load(j);
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  const RateLimit& l = *r.config->listeners[0].rate_limit;
  CHECK(l.key.kind == KeySpec::Kind::header);
  CHECK(l.key.name == "x-api-key");
  CHECK(l.algorithm == RateLimit::Algorithm::token_bucket);  // defaults
  CHECK(l.burst == 100);
  CHECK(l.store == RateLimit::Store::local);
  CHECK(l.on_store_error == RateLimit::OnStoreError::allow);
  const RateLimit& route = *r.config->listeners[0].routes[0].rate_limit;
  CHECK(route.key.kind == KeySpec::Kind::jwt_claim);
  CHECK(route.key.name == "sub");
  CHECK(route.algorithm == RateLimit::Algorithm::sliding_window);
  CHECK(route.rate == 5);
  CHECK(route.per == std::chrono::minutes(1));
  CHECK(route.burst == 0);  // unused by the window
  CHECK(route.on_store_error == RateLimit::OnStoreError::deny);
  CHECK(r.config->listeners[1].rate_limit->algorithm == RateLimit::Algorithm::sliding_window);
  CHECK_FALSE(r.config->listeners[0].routes.at(0).rate_limit->key == l.key);

  // GET /config shows every key (burst only for the bucket) and loads back the same.
  json out = lb::conf::to_json(*r.config);
  CHECK(out["listeners"][0]["rate_limit"] == json({{"key", "header:X-Api-Key"},
                                                   {"algorithm", "token_bucket"},
                                                   {"rate", 100},
                                                   {"per", "1s"},
                                                   {"burst", 100},
                                                   {"store", "local"},
                                                   {"on_store_error", "allow"}}));
  CHECK(out["listeners"][0]["routes"][0]["rate_limit"]["key"] == "jwt.sub");
  CHECK_FALSE(out["listeners"][0]["routes"][0]["rate_limit"].contains("burst"));
  LoadResult again = lb::conf::load_string(out.dump(), "lb.json");
  INFO(joined(again.errors));
  REQUIRE(again.ok());
  CHECK(lb::conf::to_json(*again.config) == out);
  CHECK(*again.config->listeners[0].routes[0].rate_limit == route);
}

TEST_CASE("conf: rate_limit mistakes are errors at their pointer") {
  struct Case {
    const char* where;  // "listener", "route" or "tcp"
    json rate_limit;
    const char* pointer;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"route", {{"rate", 5}, {"algorithm", "sliding_window"}, {"burst", 10}}, "/burst",
       "burst applies to the token_bucket only"},
      {"route", {{"rate", 2.5}, {"algorithm", "sliding_window"}}, "/rate", "rate must be an integer"},
      {"listener", {{"rate", 2000000}, {"algorithm", "sliding_window"}}, "/rate", "rate is at most 1000000"},
      {"listener", {{"rate", 5}, {"algorithm", "sliding-window"}}, "/algorithm",
       "unknown rate-limit algorithm \"sliding-window\""},
      {"listener", {{"rate", 5}, {"store", "redis"}}, "/store", "store \"redis\" needs the top-level \"redis\" object"},
      {"tcp", {{"rate", 5}, {"store", "redis"}}, "/store", "store \"redis\" applies to http listeners only"},
      {"route", {{"rate", 5}, {"store", "memcached"}}, "/store", "unknown rate-limit store \"memcached\""},
      {"listener", {{"rate", 5}, {"on_store_error", "ignore"}}, "/on_store_error", "unknown on_store_error \"ignore\""},
      {"listener", {{"rate", 5}, {"key", "path"}}, "/key",
       "rate limits are keyed by client_ip, header:NAME or jwt.CLAIM, not \"path\""},
      {"route", {{"rate", 5}, {"key", "cookie:session"}}, "/key", "rate limits are keyed by"},
      {"route", {{"rate", 5}, {"key", "jwt."}}, "/key", "needs a claim name after \"jwt.\""},
      {"route", {{"rate", 5}, {"key", "ip"}}, "/key", "invalid key \"ip\" (expected client_ip, header:NAME or jwt.CLAIM)"},
      {"tcp", {{"rate", 5}, {"key", "jwt.sub"}}, "/key", "tcp listeners can only rate-limit by \"client_ip\""},
      {"route", {{"rate", 5}, {"window", "1s"}}, "/window", "unknown key \"window\""},
      {"route", {{"rate", 0}}, "/rate", "rate must be greater than 0"},
      {"route", {{"rate", 5}, {"per", "0s"}}, "/per", "greater than 0"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.rate_limit.dump());
    json j = base_config();
    std::string at;
    if (std::string(c.where) == "listener") {
      j["listeners"][0]["rate_limit"] = c.rate_limit;
      at = "/listeners/0/rate_limit";
    } else if (std::string(c.where) == "route") {
      j["listeners"][0]["routes"][0]["rate_limit"] = c.rate_limit;
      at = "/listeners/0/routes/0/rate_limit";
    } else {
      j["listeners"][1]["rate_limit"] = c.rate_limit;
      at = "/listeners/1/rate_limit";
    }
    const std::string error = only_error(j);
    CHECK(error.find("lb.json: " + at + c.pointer + ": ") == 0);
    CHECK(error.find(c.message) != std::string::npos);
  }
}

TEST_CASE("conf: per_client on http and tcp listeners") {
  json j = base_config();
  j["listeners"][0]["per_client"] = {{"max_connections", 20}, {"connection_rate", {{"rate", 50}, {"per", "1s"}}}};
  j["listeners"][1]["per_client"] = {{"connection_rate", {{"rate", 0.5}, {"per", "1m"}}}};
  LoadResult r = load(j);
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  const auto& http = r.config->listeners[0].per_client;
  CHECK(http.max_connections == 20);
  REQUIRE(http.connection_rate);
  CHECK(http.connection_rate->rate == 50);
  CHECK(http.connection_rate->burst == 50);  // SPEC 11: burst equals rate
  CHECK(http.connection_rate->algorithm == RateLimit::Algorithm::token_bucket);
  const auto& tcp = r.config->listeners[1].per_client;
  CHECK(tcp.max_connections == 0);
  CHECK(tcp.connection_rate->burst == 1);  // at least one, or nothing could connect
  json out = lb::conf::to_json(*r.config);
  CHECK(out["listeners"][0]["per_client"] ==
        json({{"max_connections", 20}, {"connection_rate", {{"rate", 50}, {"per", "1s"}}}}));
  LoadResult again = lb::conf::load_string(out.dump(), "lb.json");
  REQUIRE(again.ok());
  CHECK(again.config->listeners[1].per_client == tcp);
  // Defaults: nothing limited, shown in GET /config.
  LoadResult plain = load(base_config());
  REQUIRE(plain.ok());
  CHECK_FALSE(plain.config->listeners[0].per_client.any());
  CHECK(lb::conf::to_json(*plain.config)["listeners"][0]["per_client"] ==
        json({{"max_connections", 0}, {"connection_rate", nullptr}}));

  j = base_config();
  j["listeners"][0]["per_client"] = {{"max_connection", 20}};
  CHECK(only_error(j).find("/listeners/0/per_client/max_connection: unknown key \"max_connection\"") != std::string::npos);
  j["listeners"][0]["per_client"] = {{"connection_rate", {{"rate", 5}, {"burst", 9}}}};
  CHECK(only_error(j).find("/listeners/0/per_client/connection_rate/burst: unknown key \"burst\"") != std::string::npos);
  j["listeners"][0]["per_client"] = {{"connection_rate", {{"per", "1s"}}}};
  CHECK(only_error(j).find("missing required key \"rate\"") != std::string::npos);
  j["listeners"][0]["per_client"] = {{"max_connections", -1}};
  CHECK(only_error(j).find("/listeners/0/per_client/max_connections: ") != std::string::npos);
}
