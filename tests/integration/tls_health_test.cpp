// tests/integration/tls_health_test.cpp — active health checks over TLS for
// pools with backend TLS ("tls": {"verify", "ca", "sni"}), seen from outside:
// one lb process terminates TLS on one listener (certificate from a throw-away
// CA made with the openssl CLI) and health-checks that same listener over TLS
// from a pool, verifying the chain and the name. /stats must show the TLS pool
// "passing", a TLS pool aimed at a plain-HTTP port "failing" with a TLS error,
// and a TLS pool expecting another name "failing" with a hostname mismatch.
#include <doctest/doctest.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

using namespace it;

namespace {

// The openssl CLI ($OPENSSL_BIN, else the usual places; run_command does not search PATH).
std::string openssl_bin() {
  std::string env = env_or("OPENSSL_BIN", "");
  if (!env.empty()) return env;
  for (const char* p : {"/usr/bin/openssl", "/usr/local/bin/openssl", "/bin/openssl"})
    if (access(p, X_OK) == 0) return p;
  return "openssl";
}

// CA + leaf for localhost / 127.0.0.1 in `dir` (ca.pem, leaf.pem, leaf.key).
void make_pki(const TempDir& dir) {
  auto run = [](const std::vector<std::string>& args) {
    RunResult r = run_command(args, 30s);
    if (!r.status || *r.status != 0)
      throw std::runtime_error("openssl failed: " + args[1] + ": " + r.err);
  };
  const std::string ec = "ec", curve = "ec_paramgen_curve:P-256";
  run({openssl_bin(), "req", "-x509", "-newkey", ec, "-pkeyopt", curve, "-nodes", "-keyout", dir.file("ca.key"),
       "-out", dir.file("ca.pem"), "-days", "2", "-subj", "/CN=lb tls-health test CA", "-addext",
       "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  run({openssl_bin(), "req", "-new", "-newkey", ec, "-pkeyopt", curve, "-nodes", "-keyout", dir.file("leaf.key"),
       "-out", dir.file("leaf.csr"), "-subj", "/CN=localhost"});
  write_file(dir.file("leaf.ext"),
             "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
             "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n");
  run({openssl_bin(), "x509", "-req", "-in", dir.file("leaf.csr"), "-CA", dir.file("ca.pem"), "-CAkey",
       dir.file("ca.key"), "-set_serial", "2", "-days", "2", "-extfile", dir.file("leaf.ext"), "-out",
       dir.file("leaf.pem")});
}

std::string health_field(const json& server, const char* field) {
  if (!server.is_object() || !server.contains("health") || !server["health"].contains(field)) return "";
  const json& v = server["health"][field];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

TEST_CASE("tls health: http checks over TLS pass against a TLS listener, fail against plain HTTP and a wrong name") {
  TempDir pki;
  make_pki(pki);
  Backend backend({}, {"0", "0"});  // [0] behind the https listener, [1] plain HTTP aimed at with TLS
  const std::string plain_addr = Backend::addr(backend.http_port(1));

  auto pool_tls = [&](const std::string& sni) {
    return json{{"verify", true}, {"ca", pki.file("ca.pem")}, {"sni", sni}};
  };
  auto check = [](const std::string& timeout) {
    return json{{"type", "http"}, {"path", "/health"}, {"interval", "300ms"}, {"timeout", timeout}};
  };

  // The https listener needs a fixed port (the TLS pools point at it), so a
  // lost race for it is retried with another one.
  std::unique_ptr<Lb> lb;
  std::string https_addr;
  for (int attempt = 0; !lb; ++attempt) {
    https_addr = Backend::addr(free_port());
    json config = {
        {"admin", {{"listen", "127.0.0.1:0"}, {"token", "t"}}},
        {"listeners",
         {{{"name", "https"},
           {"listen", https_addr},
           {"protocol", "http"},
           {"pool", "plain"},
           {"tls", {{"certificates", {{{"cert", pki.file("leaf.pem")}, {"key", pki.file("leaf.key")}}}}}}},
          {{"name", "web"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "tlspool"}}}},
        {"pools",
         {{{"name", "plain"}, {"servers", {{{"address", Backend::addr(backend.http_port(0))}}}}},
          {{"name", "tlspool"},
           {"servers", {{{"address", https_addr}}}},
           {"tls", pool_tls("localhost")},
           {"health_check", check("2s")}},
          {{"name", "tls-to-plain"},
           {"servers", {{{"address", plain_addr}}}},
           {"tls", pool_tls("localhost")},
           {"health_check", check("500ms")}},
          {{"name", "tls-wrong-name"},
           {"servers", {{{"address", https_addr}}}},
           {"tls", pool_tls("other.example")},
           {"health_check", check("2s")}}}}};
    try {
      lb = std::make_unique<Lb>(config);
    } catch (const std::exception&) {
      if (attempt >= 3) throw;
    }
  }

  json good, to_plain, wrong_name;
  const bool settled = wait_until(
      [&] {
        const json stats = admin_stats(*lb);
        good = find_server(stats, "tlspool", https_addr);
        to_plain = find_server(stats, "tls-to-plain", plain_addr);
        wrong_name = find_server(stats, "tls-wrong-name", https_addr);
        return health_field(good, "status") == "passing" && health_field(to_plain, "status") == "failing" &&
               health_field(wrong_name, "status") == "failing";
      },
      15s, 50ms);
  INFO("tlspool: " << good.dump() << "\ntls-to-plain: " << to_plain.dump() << "\ntls-wrong-name: "
                   << wrong_name.dump() << "\n" << lb->diagnostics());
  REQUIRE(settled);

  CHECK(health_field(good, "last_error") == "null");
  const std::string plain_error = health_field(to_plain, "last_error");
  CHECK(plain_error.rfind("tls: ", 0) == 0);
  const std::string name_error = health_field(wrong_name, "last_error");
  CHECK(name_error.rfind("tls: ", 0) == 0);
  CHECK(name_error.find("hostname mismatch") != std::string::npos);

  // The data path through the same TLS pool agrees with the checks.
  auto r = http_get(lb->port("web"), "/health");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);

  bool logged_up = false;
  for (const auto& line : lb->error_log())
    logged_up |= line.value("msg", "") == "server up" && line.value("pool", "") == "tlspool";
  CHECK(logged_up);
  CHECK(lb->stop() == 0);
}
