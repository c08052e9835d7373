// tests/unit/conf_http2_test.cpp — the HTTP/2 keys of a listener (SPEC
// section 9): the "http2" object (defaults, bounds, errors at their JSON
// pointer, h2c refused on a TLS listener, refused on tcp listeners), the
// ALPN default ["h2", "http/1.1"] and which ALPN names an http listener may
// offer, and the effective-configuration dump (to_json) round trip.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "conf/load.h"

using nlohmann::json;
using namespace lb::conf;

namespace {

// A directory with a (syntactically dummy) certificate and key: the loader
// only checks that the files are readable.
struct CertDir {
  std::string path;
  CertDir() {
    char tmpl[] = "/tmp/conf_http2_test.XXXXXX";
    const char* p = mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
    std::ofstream(path + "/site.pem") << "-----BEGIN CERTIFICATE-----\n";
    std::ofstream(path + "/site.key") << "-----BEGIN PRIVATE KEY-----\n";
  }
  ~CertDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  CertDir(const CertDir&) = delete;
  CertDir& operator=(const CertDir&) = delete;
  std::string config() const { return path + "/lb.json"; }
};

// Listener 0: http without TLS; listener 1: http with TLS; listener 2: tcp.
json base_config() {
  return json::parse(R"({
  "listeners": [
    {"name": "plain", "listen": "127.0.0.1:8080", "pool": "web"},
    {"name": "secure", "listen": "127.0.0.1:8443", "pool": "web",
     "tls": {"certificates": [{"cert": "site.pem", "key": "site.key"}]}},
    {"name": "raw", "listen": "127.0.0.1:5432", "protocol": "tcp", "pool": "web"}
  ],
  "pools": [{"name": "web", "servers": [{"address": "127.0.0.1:9001"}]}]
})");
}

std::string all(const std::vector<std::string>& errors) {
  std::string s;
  for (const auto& e : errors) s += "  " + e + "\n";
  return s;
}

// Applies an RFC 6902 patch to base_config() and loads it; expects exactly
// one error, "FILE: POINTER: MESSAGE…" (message compared as a prefix).
void check_one_error(const CertDir& dir, const char* patch, const std::string& pointer, const std::string& message) {
  LoadResult r = load_string(base_config().patch(json::parse(patch)).dump(), dir.config());
  INFO("patch: " << patch);
  INFO("got:\n" << all(r.errors));
  CHECK(r.config == nullptr);
  REQUIRE(r.errors.size() == 1);
  const std::string expected = dir.config() + ": " + pointer + ": " + message;
  CHECK(r.errors[0].substr(0, expected.size()) == expected);
}

}  // namespace

TEST_CASE("conf http2: defaults, and TLS http listeners offer h2 then http/1.1") {
  CertDir dir;
  LoadResult r = load_string(base_config().dump(), dir.config());
  INFO(all(r.errors));
  REQUIRE(r.ok());
  for (const ListenerConfig& l : r.config->listeners) {
    CHECK_FALSE(l.http2.cleartext);
    CHECK(l.http2.max_concurrent_streams == 100);
    CHECK(l.http2.initial_window_size == 65535);
    CHECK(l.http2.max_requests_per_connection == 0);
  }
  const ListenerConfig& secure = r.config->listeners[1];
  REQUIRE(secure.tls);
  CHECK(secure.tls->alpn == std::vector<std::string>{"h2", "http/1.1"});
  // The struct's own default matches what the loader gives.
  CHECK(ListenerTls{}.alpn == std::vector<std::string>{"h2", "http/1.1"});
}

TEST_CASE("conf http2: every key set, bounds inclusive") {
  CertDir dir;
  json j = base_config();
  j["listeners"][0]["http2"] = {{"cleartext", true},
                                {"max_concurrent_streams", 10000},
                                {"initial_window_size", 2147483647},
                                {"max_requests_per_connection", 2147483647}};
  j["listeners"][1]["http2"] = {{"cleartext", false},
                                {"max_concurrent_streams", 1},
                                {"initial_window_size", 0},
                                {"max_requests_per_connection", 1}};
  LoadResult r = load_string(j.dump(), dir.config());
  INFO(all(r.errors));
  REQUIRE(r.ok());
  const Http2Config& a = r.config->listeners[0].http2;
  CHECK(a.cleartext);
  CHECK(a.max_concurrent_streams == Http2Config::kMaxConcurrentStreamsLimit);
  CHECK(a.initial_window_size == Http2Config::kMaxWindowSize);
  CHECK(a.max_requests_per_connection == 2147483647u);
  const Http2Config& b = r.config->listeners[1].http2;
  CHECK_FALSE(b.cleartext);
  CHECK(b.max_concurrent_streams == 1);
  CHECK(b.initial_window_size == 0);
  CHECK(b.max_requests_per_connection == 1);

  // An empty object keeps every default.
  j = base_config();
  j["listeners"][0]["http2"] = json::object();
  r = load_string(j.dump(), dir.config());
  REQUIRE(r.ok());
  CHECK(r.config->listeners[0].http2.max_concurrent_streams == 100);
}

TEST_CASE("conf http2: alpn lists an http listener may offer") {
  CertDir dir;
  struct Case {
    json alpn;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {json{"h2"}, {"h2"}},                                 // HTTP/2 only is allowed (SPEC 9)
      {json{"http/1.1"}, {"http/1.1"}},                     // turns HTTP/2 off
      {json{"http/1.1", "h2"}, {"http/1.1", "h2"}},         // the order is the server's preference
      {json{"h2", "http/1.1", "http/1.0"}, {"h2", "http/1.1", "http/1.0"}},
      {json::array(), {}},                                  // no ALPN: every client speaks HTTP/1.1
  };
  for (const Case& c : cases) {
    json j = base_config();
    j["listeners"][1]["tls"]["alpn"] = c.alpn;
    LoadResult r = load_string(j.dump(), dir.config());
    INFO(c.alpn.dump() << "\n" << all(r.errors));
    REQUIRE(r.ok());
    CHECK(r.config->listeners[1].tls->alpn == c.want);
  }

  // A tcp listener with TLS offers nothing by default, and anything it is told to.
  json j = base_config();
  j["listeners"][2]["tls"] = {{"certificates", {{{"cert", "site.pem"}, {"key", "site.key"}}}}};
  LoadResult r = load_string(j.dump(), dir.config());
  REQUIRE(r.ok());
  CHECK(r.config->listeners[2].tls->alpn.empty());
  j["listeners"][2]["tls"]["alpn"] = {"imap"};
  r = load_string(j.dump(), dir.config());
  REQUIRE(r.ok());
  CHECK(r.config->listeners[2].tls->alpn == std::vector<std::string>{"imap"});
}

TEST_CASE("conf http2: invalid values are one error each, at their pointer") {
  CertDir dir;
  check_one_error(dir, R"([{"op":"add","path":"/listeners/1/http2","value":{"cleartext":true}}])",
                  "/listeners/1/http2/cleartext",
                  "cleartext HTTP/2 (h2c) is only for listeners without \"tls\"");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/2/http2","value":{}}])", "/listeners/2/http2",
                  "http2 applies only to http listeners");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/0/http2","value":{"cleartxt":true}}])",
                  "/listeners/0/http2/cleartxt", "unknown key \"cleartxt\" (did you mean \"cleartext\"?)");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/0/http2","value":{"cleartext":"yes"}}])",
                  "/listeners/0/http2/cleartext", "expected true or false");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/0/http2","value":[]}])", "/listeners/0/http2",
                  "expected an object, got an array");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/0/http2","value":null}])", "/listeners/0/http2",
                  "expected an object, got null");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/0/http2","value":{"max_concurrent_streams":0}}])",
                  "/listeners/0/http2/max_concurrent_streams", "0 out of range (1..10000)");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/0/http2","value":{"max_concurrent_streams":10001}}])",
                  "/listeners/0/http2/max_concurrent_streams", "10001 out of range (1..10000)");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/0/http2","value":{"initial_window_size":-1}}])",
                  "/listeners/0/http2/initial_window_size", "-1 out of range (0..2147483647)");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/0/http2","value":{"initial_window_size":2147483648}}])",
                  "/listeners/0/http2/initial_window_size", "2147483648 out of range (0..2147483647)");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/0/http2","value":{"initial_window_size":1.5}}])",
                  "/listeners/0/http2/initial_window_size", "expected an integer, got number 1.5");
  check_one_error(dir,
                  R"([{"op":"add","path":"/listeners/0/http2","value":{"max_requests_per_connection":-1}}])",
                  "/listeners/0/http2/max_requests_per_connection", "-1 out of range (0..2147483647)");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/1/tls/alpn","value":["h3"]}])",
                  "/listeners/1/tls/alpn/0",
                  "http listeners speak HTTP/2 and HTTP/1.x only; cannot offer ALPN \"h3\" "
                  "(use \"h2\", \"http/1.1\" or \"http/1.0\")");
  check_one_error(dir, R"([{"op":"add","path":"/listeners/1/tls/alpn","value":["H2"]}])",
                  "/listeners/1/tls/alpn/0", "http listeners speak HTTP/2 and HTTP/1.x only");
}

TEST_CASE("conf http2: cleartext is fine on a listener whose tls is null") {
  CertDir dir;
  json j = base_config();
  j["listeners"][0]["tls"] = nullptr;
  j["listeners"][0]["http2"] = {{"cleartext", true}};
  LoadResult r = load_string(j.dump(), dir.config());
  INFO(all(r.errors));
  REQUIRE(r.ok());
  CHECK(r.config->listeners[0].http2.cleartext);
  CHECK_FALSE(r.config->listeners[0].tls);
}

TEST_CASE("conf http2: to_json prints the http2 object of http listeners and round-trips") {
  CertDir dir;
  json j = base_config();
  j["listeners"][0]["http2"] = {{"cleartext", true}, {"max_requests_per_connection", 1000}};
  j["listeners"][1]["http2"] = {{"max_concurrent_streams", 250}, {"initial_window_size", 1048576}};
  j["listeners"][1]["tls"]["alpn"] = {"h2"};
  LoadResult r = load_string(j.dump(), dir.config());
  INFO(all(r.errors));
  REQUIRE(r.ok());
  json out = to_json(*r.config);
  CHECK(out["listeners"][0]["http2"] == json({{"cleartext", true},
                                              {"max_concurrent_streams", 100},
                                              {"initial_window_size", 65535},
                                              {"max_requests_per_connection", 1000}}));
  CHECK(out["listeners"][1]["http2"] == json({{"cleartext", false},
                                              {"max_concurrent_streams", 250},
                                              {"initial_window_size", 1048576},
                                              {"max_requests_per_connection", 0}}));
  CHECK(out["listeners"][1]["tls"]["alpn"] == json({"h2"}));
  CHECK_FALSE(out["listeners"][2].contains("http2"));  // tcp: the loader would refuse it

  LoadResult again = load_string(out.dump(), dir.config());
  INFO(all(again.errors));
  REQUIRE(again.ok());
  CHECK(to_json(*again.config) == out);

  // The default ALPN list shows up in the dump.
  r = load_string(base_config().dump(), dir.config());
  REQUIRE(r.ok());
  CHECK(to_json(*r.config)["listeners"][1]["tls"]["alpn"] == json({"h2", "http/1.1"}));
}
