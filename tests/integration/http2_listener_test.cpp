// tests/integration/http2_listener_test.cpp — what the real lb binary does
// about HTTP/2 before any HTTP/2 byte is exchanged (SPEC section 9): ALPN on
// TLS listeners (the default offers "h2" first, a client without ALPN still
// gets HTTP/1.1, ["http/1.1"] turns HTTP/2 off, ["h2"] alone is allowed),
// the "http2" keys in --check and GET /config, and the HTTP/2 families of
// /metrics (strict exposition check) and the "http2" object of /stats.
//
// The HTTP/2 data path itself is tested with the codec; here the clients are
// `openssl s_client` (it prints the negotiated protocol) and curl. The
// certificate is a self-signed one made with the openssl CLI for the run.
#include <doctest/doctest.h>

#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/integration/prom_check.h"

using namespace it;

namespace {

constexpr const char* kOpenssl = "/usr/bin/openssl";
constexpr const char* kCurl = "/usr/bin/curl";
const char* const kReasons[] = {"rapid_reset",  "continuation_flood", "control_flood",
                                "empty_frames", "stream_limit",       "protocol_error"};

// A self-signed certificate for "localhost" in its own directory.
struct SelfSigned {
  TempDir dir;
  SelfSigned() {
    RunResult r = run_command({kOpenssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                               "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
                               "subjectAltName=DNS:localhost", "-keyout", key(), "-out", cert()},
                              20s);
    REQUIRE_MESSAGE(r.status == 0, r.err);
  }
  std::string cert() const { return dir.file("cert.pem"); }
  std::string key() const { return dir.file("key.pem"); }
  json tls(std::optional<std::vector<std::string>> alpn = std::nullopt) const {
    json t = {{"certificates", {{{"cert", cert()}, {"key", key()}}}}};
    if (alpn) t["alpn"] = *alpn;
    return t;
  }
};

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// The protocol lb selects when `openssl s_client` offers `offer` (a comma
// list, or "" for no ALPN extension at all): its "ALPN protocol: X" line, ""
// for "No ALPN negotiated", else the whole output (a failed handshake shows
// in the CHECK). stdin is /dev/null: s_client handshakes, reports and leaves.
std::string negotiated(uint16_t port, const std::string& offer) {
  std::vector<std::string> args{kOpenssl, "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                                "-servername", "localhost"};
  if (!offer.empty()) {
    args.push_back("-alpn");
    args.push_back(offer);
  }
  RunResult r = run_command(args, 10s);
  const std::string out = r.out + r.err;
  const std::string tag = "ALPN protocol: ";
  if (size_t p = out.find(tag); p != std::string::npos) {
    p += tag.size();
    return out.substr(p, out.find('\n', p) - p);
  }
  return contains(out, "No ALPN negotiated") ? "" : out;
}

json web_listener(const std::string& name, json extra) {
  json l = {{"name", name}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "p"}};
  for (auto& [k, v] : extra.items()) l[k] = v;
  return l;
}

}  // namespace

TEST_SUITE("http2_listener") {

TEST_CASE("ALPN: the default offers h2 first; no ALPN or http/1.1 still gets HTTP/1.1") {
  SelfSigned pki;
  Backend be = Backend::http(1);
  Lb lb(make_config({web_listener("web", {{"tls", pki.tls()}})},
                    {make_pool("p", "round_robin", servers_for(be.http_ports()))}));
  const uint16_t port = lb.port("web");

  CHECK(negotiated(port, "h2,http/1.1") == "h2");
  CHECK(negotiated(port, "http/1.1,h2") == "h2");  // lb's preference decides, not the client's order
  CHECK(negotiated(port, "http/1.1") == "http/1.1");
  CHECK(negotiated(port, "") == "");

  // A client offering no ALPN is served HTTP/1.1.
  RunResult cu = run_command({kCurl, "-q", "-sS", "-k", "--no-alpn", "--http1.1", "--noproxy", "*", "--max-time", "8",
                              "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                              "https://127.0.0.1:" + std::to_string(port) + "/"},
                             10s);
  INFO(cu.err);
  CHECK(cu.status == 0);
  CHECK(cu.out == "200 1.1");
}

TEST_CASE("ALPN: [\"http/1.1\"] turns HTTP/2 off; [\"h2\"] alone offers only h2") {
  SelfSigned pki;
  Backend be = Backend::http(1);
  Lb lb(make_config({web_listener("h1", {{"tls", pki.tls(std::vector<std::string>{"http/1.1"})}}),
                     web_listener("h2only", {{"tls", pki.tls(std::vector<std::string>{"h2"})}})},
                    {make_pool("p", "round_robin", servers_for(be.http_ports()))}));

  CHECK(negotiated(lb.port("h1"), "h2,http/1.1") == "http/1.1");
  CHECK(negotiated(lb.port("h1"), "h2") == "");  // no overlap: the handshake goes on without ALPN
  CHECK(negotiated(lb.port("h2only"), "h2,http/1.1") == "h2");
  CHECK(negotiated(lb.port("h2only"), "http/1.1") == "");
}

TEST_CASE("--check: http2 keys validated with their JSON pointer; GET /config shows them") {
  SelfSigned pki;
  TempDir dir;
  json bad = make_config({web_listener("secure", {{"listen", "127.0.0.1:1"},
                                                  {"tls", pki.tls()},
                                                  {"http2", {{"cleartext", true}}}}),
                          web_listener("plain", {{"listen", "127.0.0.1:2"},
                                                 {"http2", {{"max_concurrent_streams", 0}}}})},
                         {make_pool("p", "round_robin", {server(9)})});
  write_file(dir.file("bad.json"), bad.dump(2));
  RunResult r = run_command({lb_bin(), "-c", dir.file("bad.json"), "--check"});
  INFO("stdout: " << r.out << " stderr: " << r.err);
  CHECK(r.status == 1);
  CHECK(contains(r.err, dir.file("bad.json") + ": /listeners/0/http2/cleartext: cleartext HTTP/2 (h2c) is only for "
                                               "listeners without \"tls\""));
  CHECK(contains(r.err, dir.file("bad.json") + ": /listeners/1/http2/max_concurrent_streams: 0 out of range"));

  Backend be = Backend::http(1);
  Lb lb(make_config({web_listener("web", {{"http2", {{"cleartext", true}, {"max_requests_per_connection", 500}}}})},
                    {make_pool("p", "round_robin", servers_for(be.http_ports()))},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  auto c = http_get(*lb.admin_port(), "/config");
  REQUIRE(c);
  REQUIRE(c->status == 200);
  json cfg = json::parse(c->body);
  CHECK(cfg["listeners"][0]["http2"] == json({{"cleartext", true},
                                              {"max_concurrent_streams", 100},
                                              {"initial_window_size", 65535},
                                              {"max_requests_per_connection", 500}}));
}

TEST_CASE("/metrics: HTTP/2 families for every http listener and reason; /stats http2 object") {
  Backend be = Backend::http(1);
  Lb lb(make_config({web_listener("web", json::object()), web_listener("h2c", {{"http2", {{"cleartext", true}}}}),
                     {{"name", "raw"}, {"listen", "127.0.0.1:0"}, {"protocol", "tcp"}, {"pool", "p"}}},
                    {make_pool("p", "round_robin", servers_for(be.http_ports()))},
                    {{"admin", {{"listen", "127.0.0.1:0"}}}}));
  auto m = http_get(*lb.admin_port(), "/metrics");
  REQUIRE(m);
  REQUIRE(m->status == 200);
  promcheck::Result res = promcheck::check(m->body);
  REQUIRE_MESSAGE(res.ok(), (res.error_text() + m->body));
  CHECK(res.types["lb_http2_streams_total"] == "counter");
  CHECK(res.types["lb_http2_connections_closed_total"] == "counter");
  for (const char* listener : {"web", "h2c"}) {
    CAPTURE(listener);
    CHECK(res.value("lb_http2_streams_total", {{"listener", listener}}) == 0);
    for (const char* reason : kReasons)
      CHECK(res.value("lb_http2_connections_closed_total", {{"listener", listener}, {"reason", reason}}) == 0);
  }
  CHECK(res.count("lb_http2_streams_total") == 2);  // not the tcp listener
  CHECK(res.count("lb_http2_connections_closed_total") == 2 * std::size(kReasons));

  json stats = admin_stats(lb);
  REQUIRE(stats["listeners"].size() == 3);
  json closed = json::object();
  for (const char* reason : kReasons) closed[reason] = 0;
  CHECK(stats["listeners"][0]["http2"] == json({{"connections_closed", closed}, {"streams_total", 0}}));
  CHECK(stats["listeners"][1]["http2"] == json({{"connections_closed", closed}, {"streams_total", 0}}));
  CHECK_FALSE(stats["listeners"][2].contains("http2"));
}

}  // TEST_SUITE
