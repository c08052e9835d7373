// tests/unit/conf_discovery_test.cpp — SPEC 13's configuration: the
// top-level "dns" (resolvers, timeout) and a pool's "discovery" (dns, type,
// interval, weight): defaults, a pool with discovery and no servers, one
// error per mistake at its JSON pointer, and the GET /config dump (which
// loads back to itself and never lists discovered servers).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "conf/load.h"
#include "tests/unit/conf_test_util.h"

using nlohmann::json;
using namespace lb::conf;
using conf_test::check_invalid;
using conf_test::Invalid;

namespace {

const std::string kPath = "/etc/lb/discovery.json";

json base() {
  return json::parse(R"({
    "dns": {"resolvers": ["127.0.0.1:5353", "10.0.0.2", "::1"], "timeout": "1500ms"},
    "listeners": [{"name": "web", "listen": "127.0.0.1:8080", "protocol": "http", "pool": "app"}],
    "pools": [{"name": "app", "discovery": {"dns": "app.internal:8080", "interval": "2s", "weight": 3}},
              {"name": "srv", "servers": [{"address": "127.0.0.1:9001", "backup": true}],
               "discovery": {"dns": "_http._tcp.app.internal", "type": "SRV"}}]
  })");
}

}  // namespace

TEST_CASE("conf discovery: values, defaults, and a pool without servers") {
  LoadResult r = conf_test::load(base(), kPath);
  INFO(conf_test::all(r.errors));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.dns.resolvers == std::vector<std::string>{"127.0.0.1:5353", "10.0.0.2:53", "[::1]:53"});
  CHECK(c.dns.timeout == Duration(1500));
  const PoolConfig& app = c.pools[0];
  REQUIRE(app.discovery);
  CHECK(app.servers.empty());
  CHECK(app.discovery->name == "app.internal");
  CHECK(app.discovery->port == 8080);
  CHECK(app.discovery->type == DiscoveryType::a);
  CHECK(app.discovery->interval == Duration(2000));
  CHECK(app.discovery->weight == 3);
  const PoolConfig& srv = c.pools[1];
  REQUIRE(srv.discovery);
  CHECK(srv.discovery->type == DiscoveryType::srv);
  CHECK(srv.discovery->name == "_http._tcp.app.internal");
  CHECK(srv.discovery->interval == Duration(5000));  // default
  CHECK(srv.servers.size() == 1);                     // only a backup: fine beside discovery

  json plain = base();
  plain.erase("dns");
  LoadResult d = conf_test::load(plain, kPath);
  REQUIRE(d.ok());
  CHECK(d.config->dns.resolvers.empty());  // the system's resolv.conf
  CHECK(d.config->dns.timeout == Duration(2000));
}

TEST_CASE("conf discovery: each mistake is one error at its pointer") {
  const Invalid cases[] = {
      {R"([{"op": "remove", "path": "/pools/0/discovery"}])", "/pools/0", "a pool needs \"servers\", \"discovery\" or both"},
      {R"([{"op": "add", "path": "/pools/0/discovery/type", "value": "MX"}])", "/pools/0/discovery/type",
       "unknown discovery type \"MX\""},
      {R"([{"op": "replace", "path": "/pools/0/discovery/dns", "value": "app.internal"}])", "/pools/0/discovery/dns",
       "missing port"},
      {R"([{"op": "replace", "path": "/pools/0/discovery/dns", "value": "10.0.0.1:80"}])", "/pools/0/discovery/dns",
       "discovery needs a host name to resolve"},
      {R"([{"op": "replace", "path": "/pools/0/discovery/interval", "value": "500ms"}])",
       "/pools/0/discovery/interval", "at most once a second"},
      {R"([{"op": "replace", "path": "/pools/0/discovery/weight", "value": 0}])", "/pools/0/discovery/weight",
       "out of range"},
      {R"([{"op": "add", "path": "/pools/1/discovery/weight", "value": 2}])", "/pools/1/discovery/weight",
       "SRV records carry their own weights"},
      {R"([{"op": "replace", "path": "/pools/1/discovery/dns", "value": "bad name!"}])", "/pools/1/discovery/dns",
       "invalid SRV name"},
      {R"([{"op": "add", "path": "/pools/0/discovery/port", "value": 1}])", "/pools/0/discovery/port", "unknown key"},
      {R"([{"op": "replace", "path": "/dns/resolvers/1", "value": "ns1.example.com"}])", "/dns/resolvers/1",
       "a resolver must be an IP address"},
      {R"([{"op": "replace", "path": "/dns/timeout", "value": "2m"}])", "/dns/timeout", "longer than 60s"},
      {R"([{"op": "replace", "path": "/pools/1/servers", "value": []}, {"op": "remove", "path": "/pools/1/discovery"}])",
       "/pools/1/servers", "a pool needs at least one server"},
  };
  for (const auto& c : cases) check_invalid(base(), c, kPath);
}

TEST_CASE("conf discovery: GET /config shows dns and discovery and loads back to itself") {
  LoadResult r = conf_test::load(base(), kPath);
  REQUIRE(r.ok());
  // A server found by DNS is never dumped: it is not in the file.
  auto with_found = std::make_shared<Config>(*r.config);
  with_found->pools[0].servers.emplace_back();
  with_found->pools[0].servers.back().address.text = "10.1.1.1:8080";
  with_found->pools[0].servers.back().discovered = true;
  json dumped = to_json(*with_found);
  CHECK(dumped["pools"][0]["servers"] == json::array());
  CHECK(dumped["pools"][0]["discovery"] ==
        json{{"dns", "app.internal:8080"}, {"type", "A"}, {"interval", "2s"}, {"weight", 3}});
  CHECK_FALSE(dumped["pools"][1]["discovery"].contains("weight"));  // SRV: weights are the records'
  CHECK(dumped["dns"]["resolvers"] == json{"127.0.0.1:5353", "10.0.0.2:53", "[::1]:53"});
  LoadResult again = conf_test::load(dumped, kPath);
  INFO(conf_test::all(again.errors));
  REQUIRE(again.ok());
  CHECK(to_json(*again.config) == dumped);
}
