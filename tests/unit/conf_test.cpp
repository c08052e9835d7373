// tests/unit/conf_test.cpp — unit tests for conf/: value parsers (durations,
// addresses, key specs), a full valid configuration with every value set,
// defaults, to_json (round trip, redaction), and a table of invalid
// configurations each checked for the exact JSON pointer and message.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "conf/load.h"
#include "conf/values.h"
#include "tests/unit/conf_test_util.h"

using nlohmann::json;
using namespace lb::conf;
using namespace std::chrono_literals;

using conf_test::all;
using conf_test::has_error;
using conf_test::load;

namespace {

// A temporary directory holding the files a configuration refers to; removed on destruction.
struct TempDir : conf_test::TempDir {
  TempDir() {
    write("site.pem", "-----BEGIN CERTIFICATE-----\n");
    write("site.key", "-----BEGIN PRIVATE KEY-----\n");
    write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
    // The smallest OCSP response: OCSPResponse { responseStatus tryLater }.
    // conf/ only checks that it parses (tls/ decides about stapling).
    write("site.ocsp", std::string("\x30\x03\x0a\x01\x03", 5));
    write("site.pem.ocsp", "-----BEGIN CERTIFICATE-----\n");
    write("token.txt", "  file-token-123\n");
    write("empty-token.txt", "\n");
  }
};

// Every key set, nothing left at its default.
json full_config() {
  return json::parse(R"({
  "workers": 4,
  "shutdown_timeout": "45s",
  "admin": {"listen": "127.0.0.1:9901", "token": "s3cret"},
  "logging": {"level": "debug", "error_log": "-", "access_log": "access.log"},
  "listeners": [
    {"name": "web", "listen": "0.0.0.0:8080", "protocol": "http", "pool": "web",
     "routes": [
       {"host": "API.example.com", "path_prefix": "/api/", "headers": {"X-User-Type": "premium"}, "pool": "api"},
       {"host": "*.static.example.com", "pool": "web"}
     ],
     "tls": {"certificates": [{"cert": "site.pem", "key": "site.key", "ocsp": "site.ocsp"}], "min_version": "1.3",
             "alpn": ["http/1.1"], "client_ca": "ca.pem"},
     "max_connections": 1000,
     "timeouts": {"request_header": "5s", "client_idle": "2m", "tls_handshake": "3s", "body_idle": "7s", "send": "1m30s"},
     "limits": {"max_header_bytes": 16384, "max_headers": 50, "max_body_bytes": 1048576},
     "rate_limit": {"key": "header:X-Api-Key", "rate": 100, "per": "1s", "burst": 200},
     "forwarded_headers": false,
     "proxy_protocol": {"accept": true, "send": null}},
    {"name": "db", "listen": "127.0.0.1:5432", "protocol": "tcp", "pool": "db",
     "rate_limit": {"key": "client_ip", "rate": 10, "per": "1m"},
     "proxy_protocol": {"accept": false, "send": "v2"}}
  ],
  "pools": [
    {"name": "web", "algorithm": "consistent_hash", "hash_key": "cookie:session", "hash_balance_factor": 1.25,
     "servers": [
       {"address": "127.0.0.1:9001", "weight": 5, "max_connections": 100, "backup": false, "state": "ready"},
       {"address": "[::1]:9002", "weight": 1, "state": "drain"},
       {"address": "localhost:9003", "backup": true}
     ],
     "health_check": {"type": "http", "path": "/healthz", "host": "web.internal", "expect_status": [200, 204],
                      "interval": "5s", "timeout": "500ms", "rise": 3, "fall": 4,
                      "fast_interval": "1s", "down_interval": "30s"},
     "circuit_breaker": {"failure_threshold": 7, "recovery_timeout": "1m", "success_threshold": 2,
                         "max_ejection_percent": 30},
     "retries": {"attempts": 3, "on": ["connect_failure", "503"], "backoff_base": "10ms", "backoff_max": "1s",
                 "budget_percent": 10},
     "timeouts": {"connect": "1s", "response": "15s", "idle": "90s"},
     "keepalive": {"max_idle": 16, "idle_timeout": "20s"},
     "when_all_down": "panic",
     "slow_start": "30s",
     "queue": {"max": 50, "timeout": "2s"},
     "tls": {"verify": true, "ca": "ca.pem", "sni": "backend.internal"}},
    {"name": "api", "algorithm": "least_connections", "servers": [{"address": "127.0.0.1:9101"}],
     "health_check": {"type": "tcp", "interval": "1s", "timeout": "1s"}},
    {"name": "db", "algorithm": "maglev", "hash_key": "client_ip", "servers": [{"address": "127.0.0.1:6432"}]}
  ]
})");
}

json minimal_config() {
  return json::parse(R"({
  "listeners": [{"name": "web", "listen": "127.0.0.1:8080", "pool": "web"}],
  "pools": [{"name": "web", "servers": [{"address": "127.0.0.1:9001"}]}]
})");
}

}  // namespace

// ---------------------------------------------------------------- values

TEST_CASE("conf: durations") {
  using lb::conf::detail::format_duration;
  using lb::conf::detail::parse_duration;
  Duration d{};
  std::string err;
  CHECK((parse_duration("250ms", d, err) && d == 250ms));
  CHECK((parse_duration("2s", d, err) && d == 2000ms));
  CHECK((parse_duration("1m", d, err) && d == 60'000ms));
  CHECK((parse_duration("1h", d, err) && d == 3'600'000ms));
  CHECK((parse_duration("0s", d, err) && d == 0ms));
  CHECK((parse_duration("1.5s", d, err) && d == 1500ms));
  CHECK_FALSE(parse_duration("2", d, err));
  CHECK(err.find("has no unit") != std::string::npos);
  CHECK_FALSE(parse_duration("2 s", d, err));
  CHECK_FALSE(parse_duration("s", d, err));
  CHECK_FALSE(parse_duration("", d, err));
  CHECK_FALSE(parse_duration("-1s", d, err));
  CHECK_FALSE(parse_duration("1.5ms", d, err));
  CHECK_FALSE(parse_duration("2d", d, err));
  CHECK_FALSE(parse_duration("99999999999999h", d, err));
  CHECK_FALSE(parse_duration("8761h", d, err));
  CHECK(format_duration(0ms) == "0s");
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(1500ms) == "1500ms");
  CHECK(format_duration(2000ms) == "2s");
  CHECK(format_duration(120'000ms) == "2m");
  CHECK(format_duration(7'200'000ms) == "2h");
}

TEST_CASE("conf: addresses") {
  using lb::conf::detail::parse_address;
  Address a;
  std::string err;
  REQUIRE(parse_address("127.0.0.1:9001", a, err));
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == 9001);
  CHECK(a.sockaddr.ss_family == AF_INET);
  CHECK(a.sockaddr_len == sizeof(sockaddr_in));
  CHECK(ntohs(reinterpret_cast<sockaddr_in*>(&a.sockaddr)->sin_port) == 9001);

  REQUIRE(parse_address("[::1]:443", a, err));
  CHECK(a.host == "::1");
  CHECK(a.sockaddr.ss_family == AF_INET6);
  CHECK(ntohs(reinterpret_cast<sockaddr_in6*>(&a.sockaddr)->sin6_port) == 443);
  CHECK(a.text == "[::1]:443");

  REQUIRE(parse_address("localhost:80", a, err));
  CHECK(lb::conf::detail::is_loopback(a));

  CHECK_FALSE(parse_address("127.0.0.1:70000", a, err));
  CHECK(err == "port 70000 out of range (1..65535)");
  CHECK_FALSE(parse_address("127.0.0.1:0", a, err));
  CHECK_FALSE(parse_address("127.0.0.1", a, err));
  CHECK_FALSE(parse_address(":80", a, err));
  CHECK_FALSE(parse_address("::1:80", a, err));
  CHECK_FALSE(parse_address("[127.0.0.1]:80", a, err));
  CHECK_FALSE(parse_address("[::1]80", a, err));
  CHECK_FALSE(parse_address("[zz::1]:80", a, err));
  CHECK_FALSE(parse_address("1.2.3:80", a, err));
  CHECK_FALSE(parse_address("bad host:80", a, err));
  CHECK_FALSE(parse_address("127.0.0.1:http", a, err));
}

TEST_CASE("conf: key specs and names") {
  using lb::conf::detail::parse_key_spec;
  using lb::conf::detail::valid_name;
  KeySpec k;
  std::string err;
  REQUIRE(parse_key_spec("header:X-Api-Key", k, err));
  CHECK(k.kind == KeySpec::Kind::header);
  CHECK(k.name == "x-api-key");
  CHECK(k.text == "header:X-Api-Key");
  REQUIRE(parse_key_spec("cookie:Session", k, err));
  CHECK(k.kind == KeySpec::Kind::cookie);
  CHECK(k.name == "Session");
  REQUIRE(parse_key_spec("uri", k, err));
  CHECK(k.kind == KeySpec::Kind::uri);
  REQUIRE(parse_key_spec("path", k, err));
  CHECK(k.kind == KeySpec::Kind::path);
  REQUIRE(parse_key_spec("client_ip", k, err));
  CHECK(k.kind == KeySpec::Kind::client_ip);
  CHECK_FALSE(parse_key_spec("header:", k, err));
  CHECK_FALSE(parse_key_spec("header:a b", k, err));
  CHECK_FALSE(parse_key_spec("ip", k, err));
  CHECK(valid_name("web-1.a_b", err));
  CHECK_FALSE(valid_name("", err));
  CHECK_FALSE(valid_name("a/b", err));
}

// ---------------------------------------------------------------- valid configurations

TEST_CASE("conf: a full configuration loads with every value") {
  TempDir dir;
  LoadResult r = load(full_config(), dir.config());
  INFO(all(r.errors));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.path == dir.config());
  CHECK(c.workers == 4);
  CHECK(c.shutdown_timeout == 45s);
  REQUIRE(c.admin);
  CHECK(c.admin->listen.text == "127.0.0.1:9901");
  CHECK(c.admin->token == "s3cret");
  CHECK_FALSE(c.admin->token_file);
  CHECK(c.logging.level == LogLevel::debug);
  CHECK(c.logging.error_log == "-");
  CHECK(c.logging.access_log == dir.file("access.log"));

  REQUIRE(c.listeners.size() == 2);
  const ListenerConfig& web = c.listeners[0];
  CHECK(web.name == "web");
  CHECK(web.listen.port == 8080);
  CHECK(web.protocol == Protocol::http);
  CHECK(web.pool == "web");
  REQUIRE(web.routes.size() == 2);
  CHECK(web.routes[0].host == "api.example.com");
  CHECK(web.routes[0].path_prefix == "/api/");
  REQUIRE(web.routes[0].headers.size() == 1);
  CHECK(web.routes[0].headers[0].first == "x-user-type");
  CHECK(web.routes[0].headers[0].second == "premium");
  CHECK(web.routes[0].pool == "api");
  CHECK(web.routes[1].host == "*.static.example.com");
  CHECK_FALSE(web.routes[1].path_prefix);
  REQUIRE(web.tls);
  REQUIRE(web.tls->certificates.size() == 1);
  CHECK(web.tls->certificates[0].cert == dir.file("site.pem"));
  CHECK(web.tls->certificates[0].key == dir.file("site.key"));
  CHECK(web.tls->certificates[0].ocsp == dir.file("site.ocsp"));
  CHECK(web.tls->certificates[0].ocsp_der == std::string("\x30\x03\x0a\x01\x03", 5));  // read at load
  CHECK(web.tls->min_version == TlsVersion::v1_3);
  CHECK(web.tls->alpn == std::vector<std::string>{"http/1.1"});
  CHECK(web.tls->client_ca == dir.file("ca.pem"));
  CHECK(web.max_connections == 1000);
  CHECK(web.timeouts.request_header == 5s);
  CHECK(web.timeouts.client_idle == 120s);
  CHECK(web.timeouts.tls_handshake == 3s);
  CHECK(web.timeouts.body_idle == 7s);
  CHECK(web.timeouts.send == 90s);
  CHECK(web.limits.max_header_bytes == 16384);
  CHECK(web.limits.max_headers == 50);
  CHECK(web.limits.max_body_bytes == 1048576);
  REQUIRE(web.rate_limit);
  CHECK(web.rate_limit->key.kind == KeySpec::Kind::header);
  CHECK(web.rate_limit->key.name == "x-api-key");
  CHECK(web.rate_limit->rate == 100);
  CHECK(web.rate_limit->per == 1s);
  CHECK(web.rate_limit->burst == 200);
  CHECK_FALSE(web.forwarded_headers);
  CHECK(web.proxy_protocol.accept);
  CHECK_FALSE(web.proxy_protocol.send);

  const ListenerConfig& db = c.listeners[1];
  CHECK(db.protocol == Protocol::tcp);
  CHECK(db.pool == "db");
  REQUIRE(db.rate_limit);
  CHECK(db.rate_limit->key.kind == KeySpec::Kind::client_ip);
  CHECK(db.rate_limit->per == 60s);
  CHECK(db.rate_limit->burst == 10);  // defaults to rate
  CHECK(db.proxy_protocol.send == ProxyProtocolVersion::v2);

  REQUIRE(c.pools.size() == 3);
  const PoolConfig& p = c.pools[0];
  CHECK(p.name == "web");
  CHECK(p.algorithm == Algorithm::consistent_hash);
  CHECK(p.hash_key.kind == KeySpec::Kind::cookie);
  CHECK(p.hash_key.name == "session");
  CHECK(p.hash_balance_factor == doctest::Approx(1.25));
  REQUIRE(p.servers.size() == 3);
  CHECK(p.servers[0].address.text == "127.0.0.1:9001");
  CHECK(p.servers[0].weight == 5);
  CHECK(p.servers[0].max_connections == 100);
  CHECK_FALSE(p.servers[0].backup);
  CHECK(p.servers[0].state == ServerState::ready);
  CHECK(p.servers[1].address.sockaddr.ss_family == AF_INET6);
  CHECK(p.servers[1].state == ServerState::drain);
  CHECK(p.servers[2].backup);
  CHECK(p.servers[2].address.host == "localhost");
  REQUIRE(p.health_check);
  CHECK(p.health_check->type == HealthCheckType::http);
  CHECK(p.health_check->path == "/healthz");
  CHECK(p.health_check->host == "web.internal");
  CHECK(p.health_check->expect_status == std::vector<int>{200, 204});
  CHECK(p.health_check->interval == 5s);
  CHECK(p.health_check->timeout == 500ms);
  CHECK(p.health_check->rise == 3);
  CHECK(p.health_check->fall == 4);
  CHECK(p.health_check->fast_interval == Duration{1000});
  CHECK(p.health_check->down_interval == Duration{30'000});
  CHECK(p.circuit_breaker.failure_threshold == 7);
  CHECK(p.circuit_breaker.recovery_timeout == 60s);
  CHECK(p.circuit_breaker.success_threshold == 2);
  CHECK(p.circuit_breaker.max_ejection_percent == 30);
  CHECK(p.retries.attempts == 3);
  CHECK(p.retries.on == std::vector<RetryOn>{RetryOn::connect_failure, RetryOn::status_503});
  CHECK(p.retries.retries_on(RetryOn::status_503));
  CHECK_FALSE(p.retries.retries_on(RetryOn::status_502));
  CHECK(p.retries.backoff_base == 10ms);
  CHECK(p.retries.backoff_max == 1s);
  CHECK(p.retries.budget_percent == 10);
  CHECK(p.timeouts.connect == 1s);
  CHECK(p.timeouts.response == 15s);
  CHECK(p.timeouts.idle == 90s);
  CHECK(p.keepalive.max_idle == 16);
  CHECK(p.keepalive.idle_timeout == 20s);
  CHECK(p.when_all_down == WhenAllDown::panic);
  CHECK(p.slow_start == 30s);
  CHECK(p.queue.max == 50);
  CHECK(p.queue.timeout == 2s);
  REQUIRE(p.tls);
  CHECK(p.tls->verify);
  CHECK(p.tls->ca == dir.file("ca.pem"));
  CHECK(p.tls->sni == "backend.internal");
  REQUIRE(c.pools[1].health_check);
  CHECK(c.pools[1].health_check->type == HealthCheckType::tcp);
  CHECK(c.pools[2].algorithm == Algorithm::maglev);
  CHECK(c.find_pool("api") == &c.pools[1]);
  CHECK(c.find_pool("nope") == nullptr);
}

TEST_CASE("conf: defaults are applied") {
  LoadResult r = load(minimal_config(), "lb.json");
  INFO(all(r.errors));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.workers == 0);
  CHECK(c.shutdown_timeout == 30s);
  CHECK_FALSE(c.admin);
  CHECK(c.logging.level == LogLevel::info);
  CHECK(c.logging.error_log == "-");
  CHECK_FALSE(c.logging.access_log);
  const ListenerConfig& l = c.listeners.at(0);
  CHECK(l.protocol == Protocol::http);
  CHECK(l.routes.empty());
  CHECK_FALSE(l.tls);
  CHECK(l.max_connections == 0);
  CHECK(l.timeouts.request_header == 10s);
  CHECK(l.timeouts.client_idle == 60s);
  CHECK(l.timeouts.tls_handshake == 10s);
  CHECK(l.timeouts.body_idle == 30s);
  CHECK(l.timeouts.send == 60s);
  CHECK(l.limits.max_header_bytes == 32768);
  CHECK(l.limits.max_headers == 100);
  CHECK(l.limits.max_body_bytes == 0);
  CHECK_FALSE(l.rate_limit);
  CHECK(l.forwarded_headers);
  CHECK_FALSE(l.proxy_protocol.accept);
  CHECK_FALSE(l.proxy_protocol.send);
  const PoolConfig& p = c.pools.at(0);
  CHECK(p.algorithm == Algorithm::round_robin);
  CHECK(p.hash_key.kind == KeySpec::Kind::client_ip);
  CHECK(p.hash_key.text == "client_ip");
  CHECK(p.hash_balance_factor == 0);
  CHECK(p.servers.at(0).weight == 1);
  CHECK(p.servers.at(0).max_connections == 0);
  CHECK_FALSE(p.servers.at(0).backup);
  CHECK(p.servers.at(0).state == ServerState::ready);
  CHECK_FALSE(p.health_check);
  CHECK(p.circuit_breaker.failure_threshold == 5);
  CHECK(p.circuit_breaker.recovery_timeout == 30s);
  CHECK(p.circuit_breaker.success_threshold == 1);
  CHECK(p.circuit_breaker.max_ejection_percent == 50);
  CHECK(p.retries.attempts == 2);
  CHECK(p.retries.on.size() == 6);
  CHECK(p.retries.backoff_base == 25ms);
  CHECK(p.retries.backoff_max == 250ms);
  CHECK(p.retries.budget_percent == 20);
  CHECK(p.timeouts.connect == 2s);
  CHECK(p.timeouts.response == 30s);
  CHECK(p.timeouts.idle == 60s);
  CHECK(p.keepalive.max_idle == 32);
  CHECK(p.keepalive.idle_timeout == 30s);
  CHECK(p.when_all_down == WhenAllDown::fail);
  CHECK(p.slow_start == 0s);
  CHECK(p.queue.max == 0);  // no queue: 503 at once
  CHECK(p.queue.timeout == 5s);
  CHECK_FALSE(p.tls);

  // Defaults inside optional sections.
  json j = minimal_config();
  j["pools"][0]["health_check"] = json::object();
  j["pools"][0]["tls"] = json::object();
  j["listeners"][0]["rate_limit"] = {{"rate", 0.5}};
  j["admin"] = json::object();
  r = load(j, "lb.json");
  INFO(all(r.errors));
  REQUIRE(r.ok());
  const HealthCheckConfig& h = *r.config->pools[0].health_check;
  CHECK(h.type == HealthCheckType::http);
  CHECK(h.path == "/health");
  CHECK_FALSE(h.host);
  CHECK(h.expect_status == std::vector<int>{200});
  CHECK(h.interval == 2s);
  CHECK(h.timeout == 1s);
  CHECK(h.rise == 2);
  CHECK(h.fall == 3);
  CHECK_FALSE(h.fast_interval);
  CHECK_FALSE(h.down_interval);
  CHECK(r.config->pools[0].tls->verify);
  CHECK_FALSE(r.config->pools[0].tls->ca);
  CHECK(r.config->listeners[0].rate_limit->key.kind == KeySpec::Kind::client_ip);
  CHECK(r.config->listeners[0].rate_limit->per == 1s);
  CHECK(r.config->listeners[0].rate_limit->burst == 1);  // a bucket below one token could admit nothing
  CHECK(r.config->admin->listen.text == "127.0.0.1:9901");
  CHECK_FALSE(r.config->admin->token);
}

TEST_CASE("conf: accepted edge cases") {
  json j = minimal_config();
  j["admin"] = {{"listen", "localhost:9901"}};  // loopback by resolution: no token needed
  j["listeners"][0].erase("pool");              // routes only, no default pool
  j["listeners"][0]["routes"] = {{{"path_prefix", "/"}, {"pool", "web"}}};
  j["listeners"][0]["rate_limit"] = {{"key", "jwt.sub"}, {"rate", 2.5}, {"per", "1.5s"}};
  j["pools"][0]["algorithm"] = "consistent_hash";
  j["pools"][0]["hash_balance_factor"] = 0;
  j["pools"][0]["slow_start"] = "0s";
  j["pools"][0]["retries"] = {{"on", json::array()}, {"backoff_base", "0s"}, {"backoff_max", "0s"}, {"attempts", 0}};
  j["pools"][0]["servers"].push_back({{"address", "[::1]:9001"}, {"backup", true}});
  j["pools"][0]["health_check"] = {{"host", nullptr}, {"fast_interval", nullptr}};
  j["shutdown_timeout"] = "0s";
  LoadResult r = load(j, "lb.json");
  INFO(all(r.errors));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK_FALSE(c.listeners[0].pool);
  CHECK(c.listeners[0].rate_limit->key.kind == KeySpec::Kind::jwt_claim);
  CHECK(c.listeners[0].rate_limit->key.name == "sub");
  CHECK(c.listeners[0].rate_limit->per == 1500ms);
  CHECK(c.listeners[0].rate_limit->burst == 2.5);
  CHECK(c.pools[0].retries.on.empty());
  CHECK(c.pools[0].retries.attempts == 0);
  CHECK(c.shutdown_timeout == 0ms);
  CHECK(c.pools[0].servers.size() == 2);
}

TEST_CASE("conf: tcp listener TLS offers no ALPN by default") {
  TempDir dir;
  json j = full_config();
  j["listeners"][1]["tls"] = {{"certificates", {{{"cert", "site.pem"}, {"key", "site.key"}}}}};
  LoadResult r = load(j, dir.config());
  INFO(all(r.errors));
  REQUIRE(r.ok());
  CHECK(r.config->listeners[1].tls->alpn.empty());
  CHECK(r.config->listeners[0].tls->alpn == std::vector<std::string>{"http/1.1"});  // as full_config() sets it
}

TEST_CASE("conf: token_file is read, trimmed, and resolved against the config directory") {
  TempDir dir;
  json j = full_config();
  j["admin"] = {{"listen", "0.0.0.0:9901"}, {"token_file", "token.txt"}};
  LoadResult r = load(j, dir.config());
  INFO(all(r.errors));
  REQUIRE(r.ok());
  CHECK(r.config->admin->token == "file-token-123");
  CHECK(r.config->admin->token_file == "token.txt");
  json out = to_json(*r.config);
  CHECK(out["admin"]["token_file"] == "token.txt");
  CHECK_FALSE(out["admin"].contains("token"));
  CHECK(out.dump().find("file-token-123") == std::string::npos);
}

// ---------------------------------------------------------------- to_json

TEST_CASE("conf: to_json redacts the token, fills defaults, and round-trips") {
  TempDir dir;
  LoadResult r = load(full_config(), dir.config());
  REQUIRE(r.ok());
  json out = to_json(*r.config);
  CHECK(out["admin"]["token"] == "***");
  CHECK(out.dump().find("s3cret") == std::string::npos);
  CHECK(out["shutdown_timeout"] == "45s");
  CHECK(out["listeners"][0]["timeouts"]["client_idle"] == "2m");
  CHECK(out["listeners"][0]["tls"]["certificates"][0]["cert"] == dir.file("site.pem"));
  CHECK(out["listeners"][0]["tls"]["certificates"][0]["ocsp"] == dir.file("site.ocsp"));
  CHECK(out["listeners"][0]["rate_limit"]["rate"] == 100);
  CHECK(out["listeners"][1]["rate_limit"]["burst"] == 10);
  CHECK_FALSE(out["listeners"][1].contains("routes"));  // tcp: http-only keys left out
  CHECK(out["pools"][0]["hash_key"] == "cookie:session");
  CHECK(out["pools"][0]["hash_balance_factor"] == 1.25);
  CHECK(out["pools"][0]["queue"] == json({{"max", 50}, {"timeout", "2s"}}));
  CHECK(out["pools"][0]["retries"]["on"] == json({"connect_failure", "503"}));
  CHECK(out["pools"][1]["health_check"]["type"] == "tcp");
  CHECK_FALSE(out["pools"][1]["health_check"].contains("path"));
  CHECK_FALSE(out["pools"][1].contains("hash_key"));

  // The dump loads back into the same configuration (modulo the redacted token).
  LoadResult again = load_string(out.dump(), dir.config());
  INFO(all(again.errors));
  REQUIRE(again.ok());
  CHECK(to_json(*again.config) == out);

  // Defaults show up in the dump.
  LoadResult m = load(minimal_config(), "lb.json");
  REQUIRE(m.ok());
  json d = to_json(*m.config);
  CHECK(d["workers"] == 0);
  CHECK(d["shutdown_timeout"] == "30s");
  CHECK(d["admin"].is_null());
  CHECK(d["logging"] == json({{"level", "info"}, {"error_log", "-"}, {"access_log", nullptr}}));
  const json& l = d["listeners"][0];
  CHECK(l["protocol"] == "http");
  CHECK(l["timeouts"] == json({{"request_header", "10s"}, {"client_idle", "1m"}, {"tls_handshake", "10s"}, {"body_idle", "30s"}, {"send", "1m"}}));
  CHECK(l["limits"] == json({{"max_header_bytes", 32768}, {"max_headers", 100}, {"max_body_bytes", 0}}));
  CHECK(l["forwarded_headers"] == true);
  CHECK(l["rate_limit"].is_null());
  CHECK(l["tls"].is_null());
  CHECK(l["proxy_protocol"] == json({{"accept", false}, {"send", nullptr}}));
  const json& p = d["pools"][0];
  CHECK(p["algorithm"] == "round_robin");
  CHECK(p["servers"][0] == json({{"address", "127.0.0.1:9001"}, {"weight", 1}, {"max_connections", 0},
                                 {"backup", false}, {"state", "ready"}}));
  CHECK(p["circuit_breaker"]["recovery_timeout"] == "30s");
  CHECK(p["retries"]["on"].size() == 6);
  CHECK(p["retries"]["backoff_base"] == "25ms");
  CHECK(p["timeouts"]["response"] == "30s");
  CHECK(p["keepalive"]["max_idle"] == 32);
  CHECK(p["when_all_down"] == "fail");
  CHECK(p["slow_start"] == "0s");
  CHECK(p["queue"] == json({{"max", 0}, {"timeout", "5s"}}));
  CHECK(p["health_check"].is_null());
  CHECK(to_string(Algorithm::weighted_round_robin) == std::string("weighted_round_robin"));
  CHECK(to_string(ServerState::maint) == std::string("maint"));
  CHECK(to_string(Protocol::tcp) == std::string("tcp"));
}

// ---------------------------------------------------------------- invalid configurations

namespace {

using conf_test::Invalid;

const Invalid kInvalid[] = {
    // top level
    {R"([{"op":"replace","path":"/workers","value":300}])", "/workers", "300 out of range (0..256)"},
    {R"([{"op":"replace","path":"/workers","value":"4"}])", "/workers", "expected an integer, got string \"4\""},
    {R"([{"op":"replace","path":"/workers","value":1.5}])", "/workers", "expected an integer, got number 1.5"},
    {R"([{"op":"add","path":"/listners","value":[]}])", "/listners", "unknown key \"listners\" (did you mean \"listeners\"?)"},
    {R"([{"op":"replace","path":"/shutdown_timeout","value":30}])", "/shutdown_timeout", "bare number 30 is not a duration"},
    {R"([{"op":"replace","path":"/shutdown_timeout","value":"30"}])", "/shutdown_timeout", "has no unit"},
    {R"([{"op":"replace","path":"/shutdown_timeout","value":"30sec"}])", "/shutdown_timeout", "unknown unit \"sec\""},
    {R"([{"op":"remove","path":"/pools"}])", "", "missing required key \"pools\""},
    {R"([{"op":"replace","path":"/listeners","value":{}}])", "/listeners", "expected an array, got an object"},
    {R"([{"op":"replace","path":"/listeners","value":[]}])", "/listeners", "at least one listener is required"},
    // admin
    {R"([{"op":"replace","path":"/admin/listen","value":"0.0.0.0:9901"},{"op":"remove","path":"/admin/token"}])",
     "/admin/listen", "requires \"token\" or \"token_file\""},
    {R"([{"op":"add","path":"/admin/token_file","value":"token.txt"}])", "/admin", "mutually exclusive"},
    {R"([{"op":"replace","path":"/admin/token","value":""}])", "/admin/token", "token is empty"},
    {R"([{"op":"replace","path":"/admin/token","value":"two words"}])", "/admin/token", "printable ASCII without spaces"},
    {R"([{"op":"remove","path":"/admin/token"},{"op":"add","path":"/admin/token_file","value":"missing.txt"}])",
     "/admin/token_file", "cannot read \"missing.txt\""},
    {R"([{"op":"remove","path":"/admin/token"},{"op":"add","path":"/admin/token_file","value":"empty-token.txt"}])",
     "/admin/token_file", "is empty"},
    {R"([{"op":"replace","path":"/admin/listen","value":"127.0.0.1:5432"}])", "/admin/listen",
     "clashes with listener address \"127.0.0.1:5432\""},
    // logging
    {R"([{"op":"replace","path":"/logging/level","value":"verbose"}])", "/logging/level", "unknown log level \"verbose\""},
    {R"([{"op":"replace","path":"/logging/access_log","value":5}])", "/logging/access_log", "expected a string, got number 5"},
    {R"([{"op":"add","path":"/logging/acess_log","value":"-"}])", "/logging/acess_log", "did you mean \"access_log\"?"},
    // listeners
    {R"([{"op":"remove","path":"/listeners/0/name"}])", "/listeners/0", "missing required key \"name\""},
    {R"([{"op":"replace","path":"/listeners/0/name","value":"my web"}])", "/listeners/0/name", "invalid name \"my web\""},
    {R"([{"op":"replace","path":"/listeners/1/name","value":"web"}])", "/listeners/1/name",
     "duplicate listener name \"web\" (also at /listeners/0/name)"},
    {R"([{"op":"add","path":"/listeners/0/tiemouts","value":{}}])", "/listeners/0/tiemouts",
     "unknown key \"tiemouts\" (did you mean \"timeouts\"?)"},
    {R"([{"op":"replace","path":"/listeners/0/listen","value":"0.0.0.0:70000"}])", "/listeners/0/listen", "port 70000 out of range"},
    {R"([{"op":"replace","path":"/listeners/0/listen","value":"0.0.0.0"}])", "/listeners/0/listen", "missing port"},
    {R"([{"op":"replace","path":"/listeners/0/listen","value":"::1:8080"}])", "/listeners/0/listen", "must be in brackets"},
    {R"([{"op":"replace","path":"/listeners/0/listen","value":"256.1.1.1:80"}])", "/listeners/0/listen", "invalid IPv4 address"},
    {R"([{"op":"replace","path":"/listeners/0/listen","value":"bad_host!:80"}])", "/listeners/0/listen", "invalid host"},
    {R"([{"op":"replace","path":"/listeners/1/listen","value":"0.0.0.0:8080"}])", "/listeners/1/listen",
     "duplicate listen address \"0.0.0.0:8080\" (also at /listeners/0/listen)"},
    {R"([{"op":"replace","path":"/listeners/1/listen","value":"127.0.0.1:8080"}])", "/listeners/1/listen", "overlaps \"0.0.0.0:8080\""},
    {R"([{"op":"replace","path":"/listeners/0/protocol","value":"udp"}])", "/listeners/0/protocol", "unknown protocol \"udp\""},
    {R"([{"op":"replace","path":"/listeners/0/pool","value":"wbe"}])", "/listeners/0/pool", "unknown pool \"wbe\" (did you mean \"web\"?)"},
    {R"([{"op":"replace","path":"/listeners/0/routes/0/pool","value":"nope"}])", "/listeners/0/routes/0/pool", "unknown pool \"nope\""},
    {R"([{"op":"remove","path":"/listeners/0/routes/0/pool"},{"op":"remove","path":"/listeners/0/pool"}])", "/listeners/0/routes/0",
     "route has no action: set \"pool\", \"redirect\" or \"respond\" (the listener has no default pool)"},
    {R"([{"op":"remove","path":"/listeners/0/pool"},{"op":"remove","path":"/listeners/0/routes"}])", "/listeners/0",
     "missing required key \"pool\" (an http listener needs"},
    {R"([{"op":"remove","path":"/listeners/1/pool"}])", "/listeners/1", "missing required key \"pool\" (a tcp listener"},
    {R"([{"op":"add","path":"/listeners/1/routes","value":[]}])", "/listeners/1/routes", "routes apply only to http listeners"},
    {R"([{"op":"add","path":"/listeners/1/limits","value":{}}])", "/listeners/1/limits", "limits apply only to http listeners"},
    {R"([{"op":"add","path":"/listeners/1/forwarded_headers","value":true}])", "/listeners/1/forwarded_headers",
     "applies only to http listeners"},
    {R"([{"op":"replace","path":"/listeners/0/forwarded_headers","value":"yes"}])", "/listeners/0/forwarded_headers",
     "expected true or false"},
    {R"([{"op":"replace","path":"/listeners/1/rate_limit/key","value":"header:X-Api-Key"}])", "/listeners/1/rate_limit/key",
     "tcp listeners can only rate-limit by \"client_ip\""},
    {R"([{"op":"replace","path":"/listeners/1/proxy_protocol/send","value":"v3"}])", "/listeners/1/proxy_protocol/send",
     "unknown PROXY protocol version \"v3\""},
    {R"([{"op":"replace","path":"/listeners/0/proxy_protocol/send","value":"v1"}])", "/listeners/0/proxy_protocol/send",
     "only supported on tcp listeners"},
    {R"([{"op":"replace","path":"/listeners/0/max_connections","value":-1}])", "/listeners/0/max_connections", "-1 out of range"},
    {R"([{"op":"replace","path":"/listeners/0/timeouts/client_idle","value":"0s"}])", "/listeners/0/timeouts/client_idle",
     "must be greater than 0"},
    {R"([{"op":"replace","path":"/listeners/0/timeouts/body_idle","value":"0s"}])", "/listeners/0/timeouts/body_idle",
     "must be greater than 0"},
    {R"([{"op":"add","path":"/listeners/1/timeouts","value":{"send":"5s"}}])", "/listeners/1/timeouts/send",
     "send applies only to http listeners"},
    {R"([{"op":"replace","path":"/listeners/0/limits/max_header_bytes","value":100}])", "/listeners/0/limits/max_header_bytes",
     "100 out of range (1024.."},
    {R"([{"op":"replace","path":"/listeners/0/limits/max_headers","value":0}])", "/listeners/0/limits/max_headers", "0 out of range (1.."},
    // routes
    {R"([{"op":"replace","path":"/listeners/0/routes/0/path_prefix","value":"api"}])", "/listeners/0/routes/0/path_prefix",
     "must start with \"/\""},
    {R"([{"op":"replace","path":"/listeners/0/routes/0/host","value":"a.*.com"}])", "/listeners/0/routes/0/host",
     "wildcard is only allowed as a leading"},
    {R"([{"op":"replace","path":"/listeners/0/routes/0/host","value":"api.example.com:80"}])", "/listeners/0/routes/0/host",
     "must not include a port"},
    {R"([{"op":"replace","path":"/listeners/0/routes/0/headers/X-User-Type","value":5}])",
     "/listeners/0/routes/0/headers/X-User-Type", "expected a string, got number 5"},
    {R"([{"op":"add","path":"/listeners/0/routes/0/headers/x-user-type","value":"a"}])",
     "/listeners/0/routes/0/headers/x-user-type", "listed twice"},
    // listener tls
    {R"([{"op":"replace","path":"/listeners/0/tls/certificates","value":[]}])", "/listeners/0/tls/certificates",
     "at least one certificate is required"},
    {R"([{"op":"replace","path":"/listeners/0/tls/certificates/0/cert","value":"nope.pem"}])",
     "/listeners/0/tls/certificates/0/cert", "cannot read \"nope.pem\""},
    {R"([{"op":"replace","path":"/listeners/0/tls/certificates/0/key","value":"."}])", "/listeners/0/tls/certificates/0/key",
     "is a directory"},
    {R"([{"op":"remove","path":"/listeners/0/tls/certificates/0/key"}])", "/listeners/0/tls/certificates/0",
     "missing required key \"key\""},
    {R"([{"op":"replace","path":"/listeners/0/tls/certificates/0/ocsp","value":"nope.ocsp"}])",
     "/listeners/0/tls/certificates/0/ocsp", "cannot read \"nope.ocsp\""},
    {R"([{"op":"replace","path":"/listeners/0/tls/certificates/0/ocsp","value":"site.pem.ocsp"}])",
     "/listeners/0/tls/certificates/0/ocsp", "is not a DER OCSP response"},
    {R"([{"op":"replace","path":"/listeners/0/tls/certificates/0/ocsp","value":"."}])",
     "/listeners/0/tls/certificates/0/ocsp", "cannot read \".\""},
    {R"([{"op":"replace","path":"/listeners/0/tls/certificates/0/ocsp","value":42}])",
     "/listeners/0/tls/certificates/0/ocsp", "expected a string"},
    {R"([{"op":"replace","path":"/listeners/0/tls/min_version","value":"1.1"}])", "/listeners/0/tls/min_version",
     "unknown TLS version \"1.1\""},
    {R"([{"op":"replace","path":"/listeners/0/tls/min_version","value":1.2}])", "/listeners/0/tls/min_version",
     "expected a string (one of \"1.2\", \"1.3\"), got number 1.2"},
    {R"([{"op":"replace","path":"/listeners/0/tls/alpn","value":[""]}])", "/listeners/0/tls/alpn/0", "must not be empty"},
    {R"([{"op":"replace","path":"/listeners/0/tls/alpn","value":["h2","spdy/3"]}])", "/listeners/0/tls/alpn/1",
     "http listeners speak HTTP/2 and HTTP/1.x only; cannot offer ALPN \"spdy/3\""},
    {R"([{"op":"replace","path":"/listeners/0/tls/client_ca","value":"nope-ca.pem"}])", "/listeners/0/tls/client_ca",
     "cannot read \"nope-ca.pem\""},
    // rate limit
    {R"([{"op":"replace","path":"/listeners/0/rate_limit/rate","value":0}])", "/listeners/0/rate_limit/rate",
     "rate must be greater than 0"},
    {R"([{"op":"remove","path":"/listeners/0/rate_limit/rate"}])", "/listeners/0/rate_limit", "missing required key \"rate\""},
    {R"([{"op":"replace","path":"/listeners/0/rate_limit/burst","value":0.5}])", "/listeners/0/rate_limit/burst",
     "burst must be at least 1"},
    {R"([{"op":"replace","path":"/listeners/0/rate_limit/key","value":"heder:x"}])", "/listeners/0/rate_limit/key", "invalid key \"heder:x\""},
    {R"([{"op":"replace","path":"/listeners/0/rate_limit/per","value":1}])", "/listeners/0/rate_limit/per", "bare number 1"},
    // pools
    {R"([{"op":"remove","path":"/pools/1/name"}])", "/pools/1", "missing required key \"name\""},
    {R"([{"op":"add","path":"/pools/-","value":{"name":"api","servers":[{"address":"127.0.0.1:9999"}]}}])", "/pools/3/name",
     "duplicate pool name \"api\" (also at /pools/1/name)"},
    {R"([{"op":"replace","path":"/pools/0/algorithm","value":"round_robbin"}])", "/pools/0/algorithm",
     "unknown algorithm \"round_robbin\" (expected one of round_robin, weighted_round_robin"},
    {R"([{"op":"replace","path":"/pools/0/algorithm","value":"consistent-hash"}])", "/pools/0/algorithm",
     "did you mean \"consistent_hash\"?"},
    {R"([{"op":"add","path":"/pools/1/hash_key","value":"client_ip"}])", "/pools/1/hash_key",
     "applies only to the consistent_hash and maglev algorithms"},
    {R"([{"op":"add","path":"/pools/2/hash_balance_factor","value":1.5}])", "/pools/2/hash_balance_factor",
     "applies only to the consistent_hash algorithm"},
    {R"([{"op":"replace","path":"/pools/0/hash_key","value":"header:"}])", "/pools/0/hash_key", "missing the header name"},
    {R"([{"op":"replace","path":"/pools/0/hash_balance_factor","value":0.5}])", "/pools/0/hash_balance_factor",
     "must be 0 (off) or greater than 1"},
    {R"([{"op":"replace","path":"/pools/0/hash_balance_factor","value":1}])", "/pools/0/hash_balance_factor",
     "must be 0 (off) or greater than 1"},
    {R"([{"op":"replace","path":"/pools/0/when_all_down","value":"ignore"}])", "/pools/0/when_all_down",
     "unknown when_all_down mode \"ignore\""},
    {R"([{"op":"replace","path":"/pools/0/slow_start","value":"-1s"}])", "/pools/0/slow_start", "is negative"},
    {R"([{"op":"replace","path":"/pools/0/queue/max","value":-1}])", "/pools/0/queue/max", "-1 out of range (0..1000000)"},
    {R"([{"op":"replace","path":"/pools/0/queue/max","value":"10"}])", "/pools/0/queue/max",
     "expected an integer, got string \"10\""},
    {R"([{"op":"replace","path":"/pools/0/queue/timeout","value":5}])", "/pools/0/queue/timeout",
     "bare number 5 is not a duration"},
    {R"([{"op":"replace","path":"/pools/0/queue/timeout","value":"0s"}])", "/pools/0/queue/timeout",
     "duration must be greater than 0"},
    {R"([{"op":"add","path":"/pools/0/queue/size","value":10}])", "/pools/0/queue/size", "unknown key"},
    {R"([{"op":"replace","path":"/pools/0/queue","value":10}])", "/pools/0/queue", "expected an object"},
    {R"([{"op":"replace","path":"/pools/0/servers/0/max_connections","value":0}])", "/pools/0/queue/max",
     "no server of this pool sets max_connections"},
    // servers
    {R"([{"op":"replace","path":"/pools/0/servers/2/address","value":"127.0.0.1:70000"}])", "/pools/0/servers/2/address",
     "port 70000 out of range"},
    {R"([{"op":"replace","path":"/pools/0/servers/0/weight","value":0}])", "/pools/0/servers/0/weight",
     "weight 0 is not allowed (1..1000); to take a server out of rotation use \"state\": \"drain\""},
    {R"([{"op":"replace","path":"/pools/0/servers/0/weight","value":1001}])", "/pools/0/servers/0/weight",
     "weight 1001 out of range (1..1000)"},
    {R"([{"op":"replace","path":"/pools/0/servers/0/state","value":"down"}])", "/pools/0/servers/0/state",
     "unknown server state \"down\" (expected one of ready, drain, maint"},
    {R"([{"op":"replace","path":"/pools/0/servers","value":[]}])", "/pools/0/servers", "a pool needs at least one server"},
    {R"([{"op":"add","path":"/pools/1/servers/0/backup","value":true}])", "/pools/1/servers", "every server is a backup"},
    {R"([{"op":"replace","path":"/pools/0/servers/1/address","value":"127.0.0.1:9001"}])", "/pools/0/servers/1/address",
     "duplicate server address \"127.0.0.1:9001\" (also at /pools/0/servers/0/address)"},
    {R"([{"op":"replace","path":"/pools/0/servers/2/address","value":"localhost:9001"}])", "/pools/0/servers/2/address",
     "is the same endpoint as \"127.0.0.1:9001\""},
    {R"([{"op":"add","path":"/pools/0/servers/0/wieght","value":2}])", "/pools/0/servers/0/wieght",
     "unknown key \"wieght\" (did you mean \"weight\"?)"},
    {R"([{"op":"replace","path":"/pools/0/servers/0","value":"127.0.0.1:9001"}])", "/pools/0/servers/0",
     "expected an object, got string \"127.0.0.1:9001\""},
    {R"([{"op":"replace","path":"/pools/0/servers/0/max_connections","value":-5}])", "/pools/0/servers/0/max_connections",
     "-5 out of range"},
    // health check
    {R"([{"op":"replace","path":"/pools/0/health_check/expect_status/1","value":600}])", "/pools/0/health_check/expect_status/1",
     "600 out of range (100..599)"},
    {R"([{"op":"replace","path":"/pools/0/health_check/expect_status","value":[]}])", "/pools/0/health_check/expect_status",
     "needs at least one status code"},
    {R"([{"op":"replace","path":"/pools/0/health_check/rise","value":0}])", "/pools/0/health_check/rise", "0 out of range (1..1000)"},
    {R"([{"op":"replace","path":"/pools/0/health_check/fall","value":0}])", "/pools/0/health_check/fall", "0 out of range (1..1000)"},
    {R"([{"op":"replace","path":"/pools/0/health_check/timeout","value":"0ms"}])", "/pools/0/health_check/timeout",
     "must be greater than 0"},
    {R"([{"op":"replace","path":"/pools/0/health_check/interval","value":"2"}])", "/pools/0/health_check/interval", "has no unit"},
    {R"([{"op":"replace","path":"/pools/0/health_check/type","value":"udp"}])", "/pools/0/health_check/type",
     "unknown health check type \"udp\""},
    {R"([{"op":"add","path":"/pools/1/health_check/path","value":"/x"}])", "/pools/1/health_check/path",
     "applies only to http health checks"},
    {R"([{"op":"replace","path":"/pools/0/health_check/path","value":"healthz"}])", "/pools/0/health_check/path",
     "must start with \"/\""},
    // circuit breaker, retries, timeouts, keepalive
    {R"([{"op":"replace","path":"/pools/0/circuit_breaker/failure_threshold","value":0}])",
     "/pools/0/circuit_breaker/failure_threshold", "0 out of range (1.."},
    {R"([{"op":"replace","path":"/pools/0/circuit_breaker/success_threshold","value":0}])",
     "/pools/0/circuit_breaker/success_threshold", "0 out of range (1.."},
    {R"([{"op":"replace","path":"/pools/0/circuit_breaker/max_ejection_percent","value":101}])",
     "/pools/0/circuit_breaker/max_ejection_percent", "101 out of range (0..100)"},
    {R"([{"op":"replace","path":"/pools/0/circuit_breaker/recovery_timeout","value":"0s"}])",
     "/pools/0/circuit_breaker/recovery_timeout", "must be greater than 0"},
    {R"([{"op":"replace","path":"/pools/0/retries/on/1","value":"500"}])", "/pools/0/retries/on/1",
     "unknown retry condition \"500\""},
    {R"([{"op":"replace","path":"/pools/0/retries/on/1","value":503}])", "/pools/0/retries/on/1",
     "status codes are written as strings, e.g. \"503\""},
    {R"([{"op":"replace","path":"/pools/0/retries/on/1","value":"connect_failure"}])", "/pools/0/retries/on/1", "listed twice"},
    {R"([{"op":"replace","path":"/pools/0/retries/backoff_base","value":"2s"}])", "/pools/0/retries/backoff_base",
     "backoff_base (2s) must not exceed backoff_max (1s)"},
    {R"([{"op":"replace","path":"/pools/0/retries/budget_percent","value":150}])", "/pools/0/retries/budget_percent",
     "150 out of range (0..100)"},
    {R"([{"op":"replace","path":"/pools/0/timeouts/connect","value":"0s"}])", "/pools/0/timeouts/connect", "must be greater than 0"},
    {R"([{"op":"replace","path":"/pools/0/keepalive/idle_timeout","value":"1.5ms"}])", "/pools/0/keepalive/idle_timeout",
     "not a whole number of milliseconds"},
    // pool tls
    {R"([{"op":"replace","path":"/pools/0/tls/ca","value":"missing-ca.pem"}])", "/pools/0/tls/ca", "cannot read \"missing-ca.pem\""},
    {R"([{"op":"replace","path":"/pools/0/tls/verify","value":false}])", "/pools/0/tls/ca", "\"verify\" is false"},
    {R"([{"op":"replace","path":"/pools/0/tls/sni","value":"bad host!"}])", "/pools/0/tls/sni", "invalid sni \"bad host!\""},
    {R"([{"op":"add","path":"/pools/0/tls/ciphers","value":"x"}])", "/pools/0/tls/ciphers", "unknown key \"ciphers\""},
    // RFC 6901 escaping of '/' and '~' in the pointer
    {R"([{"op":"add","path":"/listeners/0/a~1b~0c","value":1}])", "/listeners/0/a~1b~0c", "unknown key \"a/b~c\""},
};

}  // namespace

TEST_CASE("conf: invalid configurations report the exact pointer and message") {
  TempDir dir;
  CHECK(std::size(kInvalid) >= 45);
  for (const Invalid& c : kInvalid) conf_test::check_invalid(full_config(), c, dir.config());
}

TEST_CASE("conf: the SPEC's example error, verbatim") {
  json j = minimal_config();
  j["pools"][0]["servers"] = json::parse(
      R"([{"address":"127.0.0.1:9001"},{"address":"127.0.0.1:9002"},{"address":"127.0.0.1:70000"}])");
  LoadResult r = load(j, "lb.json");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] == "lb.json: /pools/0/servers/2/address: port 70000 out of range (1..65535)");
}

TEST_CASE("conf: every error is reported at once") {
  TempDir dir;
  json j = full_config();
  j["workers"] = -1;
  j["tiemouts"] = json::object();
  j["listeners"][0]["listen"] = "0.0.0.0:99999";
  j["listeners"][0]["pool"] = "nope";
  j["listeners"][1]["routes"] = json::array();
  j["pools"][0]["servers"][1]["weight"] = 0;
  j["pools"][0]["health_check"]["interval"] = 2;
  j["pools"][1]["algorithm"] = "fastest";
  j["pools"][2].erase("servers");
  LoadResult r = load(j, dir.config());
  INFO(all(r.errors));
  CHECK(r.config == nullptr);
  CHECK(r.errors.size() == 9);
  const std::string f = dir.config();
  CHECK(has_error(r, f, "/workers", "-1 out of range"));
  CHECK(has_error(r, f, "/tiemouts", "unknown key"));
  CHECK(has_error(r, f, "/listeners/0/listen", "port 99999 out of range"));
  CHECK(has_error(r, f, "/listeners/0/pool", "unknown pool \"nope\""));
  CHECK(has_error(r, f, "/listeners/1/routes", "only to http listeners"));
  CHECK(has_error(r, f, "/pools/0/servers/1/weight", "weight 0 is not allowed"));
  CHECK(has_error(r, f, "/pools/0/health_check/interval", "bare number 2"));
  CHECK(has_error(r, f, "/pools/1/algorithm", "unknown algorithm \"fastest\""));
  CHECK(has_error(r, f, "/pools/2", "a pool needs \"servers\", \"discovery\" or both"));
}

TEST_CASE("conf: JSON syntax errors carry line and column; duplicate keys are errors") {
  LoadResult r = load_string("{\n  \"workers\": 1,\n  \"pools\": [,]\n}\n", "bad.json");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].rfind("bad.json: line 3, column ", 0) == 0);
  CHECK(r.errors[0].find("syntax error") != std::string::npos);
  CHECK(r.config == nullptr);

  r = load_string("", "empty.json");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].rfind("empty.json: line 1, column ", 0) == 0);

  r = load_string("{\"workers\": 1} trailing", "t.json");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].find("t.json: line 1, column") == 0);

  r = load_string("// comment\n{}", "c.json");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].find("c.json: line 1, column") == 0);

  r = load_string("[1, 2]", "arr.json");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] == "arr.json: expected an object, got an array");

  json j = minimal_config();
  std::string text = j.dump();
  text.insert(text.find("\"name\":\"web\",\"servers\""), "\"name\":\"other\",");
  r = load_string(text, "dup.json");
  INFO(all(r.errors));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] == "dup.json: /pools/0/name: duplicate key \"name\"");
}

TEST_CASE("conf: load_file") {
  TempDir dir;
  LoadResult r = load_file(dir.file("does-not-exist.json"));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] == dir.file("does-not-exist.json") + ": cannot read: No such file or directory");

  r = load_file(dir.path);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] == dir.path + ": cannot read: is a directory");

  // A real file, with certificate paths relative to it.
  dir.write("lb.json", full_config().dump());
  r = load_file(dir.config());
  INFO(all(r.errors));
  REQUIRE(r.ok());
  CHECK(r.config->listeners[0].tls->certificates[0].cert == dir.file("site.pem"));

  // An unreadable referenced file made with mkstemp, then removed.
  char tmpl[] = "/tmp/conf_test_cert.XXXXXX";
  int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  close(fd);
  json j = full_config();
  j["listeners"][0]["tls"]["certificates"][0]["cert"] = std::string(tmpl);
  r = load(j, dir.config());
  CHECK(r.ok());
  unlink(tmpl);
  r = load(j, dir.config());
  REQUIRE(r.errors.size() == 1);
  CHECK(has_error(r, dir.config(), "/listeners/0/tls/certificates/0/cert", "No such file or directory"));
}
