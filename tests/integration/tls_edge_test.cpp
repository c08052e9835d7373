// tests/integration/tls_edge_test.cpp — SPEC 11 "TLS at the edge" on the real
// lb binary, seen by `openssl s_client`: RSA and ECDSA certificates for the
// same name side by side (a client offering only ECDSA signature algorithms
// gets the ECDSA certificate, one offering only RSA ones the RSA certificate,
// over TLS 1.2 and 1.3, whichever is listed first), a certificate with other
// names still chosen by SNI, and OCSP stapling: `s_client -status` sees a
// "successful"/"good" staple of exactly the certificate served; a response
// for another certificate or an expired one is not stapled and is logged; a
// response expiring while lb runs stops being stapled; SIGHUP re-reads the
// file; a missing or unparsable file is a configuration error at its JSON
// pointer (also for `lb --check`).
//
// Key material is made per test process with the openssl CLI: an ECDSA CA,
// an RSA and an ECDSA leaf for edge.example.com (O=edge-rsa / O=edge-ecdsa,
// serials 0x1001 / 0x1002), an RSA leaf for other.example.com, and `openssl
// ocsp` responses from a CA index file. Expired responses, which `openssl
// ocsp` cannot write, are minted with the OpenSSL API (tests/ocsp_mint.h).
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/ocsp_mint.h"

using namespace it;

namespace {

constexpr const char* kOpenssl = "/usr/bin/openssl";
constexpr const char* kName = "edge.example.com";
constexpr const char* kEcdsaOnly = "ECDSA+SHA256";
constexpr const char* kRsaOnly = "RSA-PSS+SHA256:RSA+SHA256";

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

void openssl(std::vector<std::string> args) {
  args.insert(args.begin(), kOpenssl);
  RunResult r = run_command(args, 30s);
  if (!r.status || *r.status != 0) {
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    throw std::runtime_error("failed: " + cmd + "\n" + r.out + r.err);
  }
}

struct EdgePki {
  TempDir dir;
  std::string f(const std::string& name) const { return dir.file(name); }

  EdgePki() {
    write_file(f("openssl.cnf"),
               "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
               "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
               "subjectKeyIdentifier = hash\n");
    openssl({"req", "-x509", "-config", f("openssl.cnf"), "-extensions", "v3_ca", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "3",
             "-subj", "/CN=lb-edge test CA"});
    leaf("rsa", {"-newkey", "rsa:2048"}, "/CN=edge.example.com/O=edge-rsa", "DNS:edge.example.com", "0x1001");
    leaf("ecdsa", {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"}, "/CN=edge.example.com/O=edge-ecdsa",
         "DNS:edge.example.com", "0x1002");
    leaf("other", {"-newkey", "rsa:2048"}, "/CN=other.example.com/O=edge-other", "DNS:other.example.com", "0x1003");
    // The CA database `openssl ocsp -index` answers from: status, expiry,
    // revocation date, serial (hex), file, subject.
    write_file(f("index.txt"), "V\t351231235959Z\t\t1001\tunknown\t/CN=edge.example.com/O=edge-rsa\n"
                               "V\t351231235959Z\t\t1002\tunknown\t/CN=edge.example.com/O=edge-ecdsa\n");
    ocsp("rsa");
    ocsp("ecdsa");
    write_file(f("request.txt"), "GET /echo HTTP/1.1\r\nHost: edge.example.com\r\nConnection: close\r\n\r\n");
  }

  // The certificate entry lb gets: leaf + CA in the cert file, so lb can
  // check the OCSP response's issuer key hash and signature.
  json entry(const std::string& name, const std::string& ocsp_file = "") const {
    json e = {{"cert", f(name + "-chain.pem")}, {"key", f(name + ".key")}};
    if (!ocsp_file.empty()) e["ocsp"] = ocsp_file;
    return e;
  }

  // A response about `name`'s certificate minted at will (see ocsp_mint.h).
  std::string minted(const std::string& name, const test_ocsp::Minted& m) const {
    auto leaf = test_ocsp::read_cert(f(name + ".pem"));
    auto ca = test_ocsp::read_cert(f("ca.pem"));
    auto key = test_ocsp::read_key(f("ca.key"));
    return test_ocsp::mint(leaf.get(), ca.get(), ca.get(), key.get(), m);
  }

 private:
  void leaf(const std::string& name, std::vector<std::string> newkey, const std::string& subj, const std::string& san,
            const std::string& serial) {
    write_file(f(name + ".ext"), "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
                                 "extendedKeyUsage = serverAuth\nsubjectAltName = " + san + "\n");
    std::vector<std::string> req = {"req", "-new", "-config", f("openssl.cnf")};
    req.insert(req.end(), newkey.begin(), newkey.end());
    req.insert(req.end(), {"-nodes", "-keyout", f(name + ".key"), "-out", f(name + ".csr"), "-subj", subj});
    openssl(req);
    openssl({"x509", "-req", "-in", f(name + ".csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-set_serial", serial,
             "-days", "3", "-extfile", f(name + ".ext"), "-out", f(name + ".pem")});
    write_file(f(name + "-chain.pem"), read_file(f(name + ".pem")).value() + read_file(f("ca.pem")).value());
  }
  void ocsp(const std::string& name) {
    openssl({"ocsp", "-index", f("index.txt"), "-CA", f("ca.pem"), "-rsigner", f("ca.pem"), "-rkey", f("ca.key"),
             "-issuer", f("ca.pem"), "-cert", f(name + ".pem"), "-respout", f(name + ".ocsp"), "-ndays", "1"});
  }
};

const EdgePki& pki() {
  static EdgePki p;
  return p;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// `openssl s_client -connect 127.0.0.1:PORT -CAfile ca.pem EXTRA < stdin_file`.
RunResult s_client(uint16_t port, const std::vector<std::string>& extra, const std::string& stdin_file = "/dev/null") {
  std::string cmd = std::string(kOpenssl) + " s_client -connect 127.0.0.1:" + std::to_string(port) + " -CAfile " +
                    shell_quote(pki().f("ca.pem"));
  for (const auto& e : extra) cmd += " " + shell_quote(e);
  cmd += " < " + shell_quote(stdin_file) + " 2>&1";
  return run_command({"/bin/sh", "-c", cmd}, 15s);
}

// s_client as a client that can verify only `sigalgs`, over `version`
// ("-tls1_2" / "-tls1_3"), with SNI edge.example.com unless told otherwise.
RunResult handshake(uint16_t port, const std::string& sigalgs, const std::string& version,
                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {version};
  if (!sigalgs.empty()) args.insert(args.end(), {"-sigalgs", sigalgs});
  bool sni_given = false;
  for (const auto& e : extra) sni_given = sni_given || e == "-servername" || e == "-noservername";
  if (!sni_given) args.insert(args.end(), {"-servername", kName});
  args.insert(args.end(), extra.begin(), extra.end());
  return s_client(port, args);
}

// "rsaEncryption" / "id-ecPublicKey": the public key algorithm of the leaf
// s_client printed, as `openssl x509 -text` reads it.
std::string peer_key_type(const std::string& out) {
  // After "Server certificate": with -status the OCSP section before it may
  // print the responder's certificate too.
  size_t b = out.find("-----BEGIN CERTIFICATE-----", out.find("\nServer certificate\n"));
  size_t e = out.find("-----END CERTIFICATE-----", b);
  if (b == std::string::npos || e == std::string::npos) return "(no certificate)";
  TempDir tmp;
  write_file(tmp.file("peer.pem"), out.substr(b, e + 25 - b) + "\n");
  RunResult r = run_command({kOpenssl, "x509", "-in", tmp.file("peer.pem"), "-noout", "-text"}, 10s);
  size_t p = r.out.find("Public Key Algorithm: ");
  if (p == std::string::npos) return "(unreadable certificate)";
  p += 22;
  return r.out.substr(p, r.out.find('\n', p) - p);
}

// A completed handshake whose certificate chain verified. (Not "Verify
// return code: 0": s_client prints that after a failed handshake too.)
bool handshake_ok(const std::string& out) {
  return contains(out, "\nVerification: OK") && contains(out, "\nNew, TLSv1.");
}

std::string subject_org(const std::string& out) {
  size_t p = out.find("\nsubject=");
  if (p == std::string::npos) return "(no subject)";
  std::string line = out.substr(p + 9, out.find('\n', p + 1) - p - 9);
  size_t o = line.find("O = ");
  return o == std::string::npos ? "(no O)" : line.substr(o + 4, line.find(',', o) - o - 4);
}

// What s_client -status printed about the staple: "none" for "no response
// sent", else the serial the response is about and its status, e.g.
// "1002 good"; "successful" is checked on the way.
std::string staple_of(const std::string& out) {
  if (contains(out, "OCSP response: no response sent")) return "none";
  if (!contains(out, "OCSP Response Status: successful")) return "(no OCSP section)";
  auto field = [&](const std::string& name) {
    size_t p = out.find(name + ": ");
    if (p == std::string::npos) return std::string("?");
    p += name.size() + 2;
    return out.substr(p, out.find('\n', p) - p);
  };
  return field("Serial Number") + " " + field("Cert Status");
}

// Served and verified, with nothing stapled.
void check_unstapled(const RunResult& r) {
  INFO(r.out);
  CHECK(handshake_ok(r.out));
  CHECK(staple_of(r.out) == "none");
}

json pool(uint16_t port) {
  return {{"name", "p"}, {"algorithm", "round_robin"}, {"servers", {server(port)}}};
}

json edge_config(json certificates, uint16_t backend_port) {
  return {{"listeners",
           {{{"name", "web"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "p"},
             {"tls", {{"certificates", certificates}}}}}},
          {"pools", {pool(backend_port)}},
          {"admin", {{"listen", "127.0.0.1:0"}, {"token", "t"}}}};
}

uint64_t generation(Lb& lb) { return admin_stats(lb).value("generation", uint64_t(0)); }

std::vector<std::string> tls_warnings(Lb& lb) {
  std::vector<std::string> out;
  for (const auto& j : lb.error_log())
    if (j.value("msg", "") == "tls: certificate problem" && j.value("level", "") == "warn")
      out.push_back(j.value("reason", ""));
  return out;
}

}  // namespace

TEST_SUITE("tls_edge") {

TEST_CASE("tls edge: RSA and ECDSA for one name — each client gets the certificate it can verify (TLS 1.2 and 1.3)") {
  Backend be = Backend::http(1);
  for (bool rsa_first : {true, false}) {
    CAPTURE(rsa_first);
    json certs = rsa_first ? json{pki().entry("rsa"), pki().entry("ecdsa"), pki().entry("other")}
                           : json{pki().entry("ecdsa"), pki().entry("rsa"), pki().entry("other")};
    Lb lb(edge_config(certs, be.http_port()));
    const uint16_t port = lb.port("web");
    for (const char* version : {"-tls1_2", "-tls1_3"}) {
      CAPTURE(version);
      RunResult ec = handshake(port, kEcdsaOnly, version);
      INFO(ec.out);
      CHECK(handshake_ok(ec.out));
      CHECK(peer_key_type(ec.out) == "id-ecPublicKey");
      CHECK(subject_org(ec.out) == "edge-ecdsa");
      CHECK(contains(ec.out, "Peer signature type: ECDSA"));

      RunResult rsa = handshake(port, kRsaOnly, version);
      INFO(rsa.out);
      CHECK(handshake_ok(rsa.out));
      CHECK(peer_key_type(rsa.out) == "rsaEncryption");
      CHECK(subject_org(rsa.out) == "edge-rsa");

      // A client that can do both gets ECDSA (smaller, faster): the server's
      // preference, whatever the order of the list.
      RunResult both = handshake(port, "", version);
      INFO(both.out);
      CHECK(peer_key_type(both.out) == "id-ecPublicKey");

      // No SNI: the default is what the first certificate's name gets — both.
      CHECK(peer_key_type(handshake(port, kEcdsaOnly, version, {"-noservername"}).out) == "id-ecPublicKey");
      CHECK(peer_key_type(handshake(port, kRsaOnly, version, {"-noservername"}).out) == "rsaEncryption");

      // A certificate with other names is still chosen by SNI; it is RSA
      // only, so an ECDSA-only client asking for it cannot be served.
      RunResult other = handshake(port, kRsaOnly, version, {"-servername", "other.example.com"});
      INFO(other.out);
      CHECK(subject_org(other.out) == "edge-other");
      RunResult other_ec = handshake(port, kEcdsaOnly, version, {"-servername", "other.example.com"});
      INFO(other_ec.out);
      CHECK(contains(other_ec.out, "alert handshake failure"));
      CHECK(subject_org(other_ec.out) == "(no subject)");
    }
    // The whole exchange, not just the handshake: an ECDSA-only client's request is proxied.
    RunResult req = s_client(port, {"-servername", kName, "-sigalgs", kEcdsaOnly, "-ign_eof"},
                             pki().f("request.txt"));
    INFO(req.out);
    CHECK(contains(req.out, "HTTP/1.1 200"));
    CHECK(tls_warnings(lb).empty());
  }
}

TEST_CASE("tls edge: OCSP stapling — s_client -status sees the staple of the certificate it was served") {
  Backend be = Backend::http(1);
  Lb lb(edge_config({pki().entry("rsa", pki().f("rsa.ocsp")), pki().entry("ecdsa", pki().f("ecdsa.ocsp")),
                     pki().entry("other")},
                    be.http_port()));
  const uint16_t port = lb.port("web");
  CHECK(tls_warnings(lb).empty());
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    CAPTURE(version);
    RunResult ec = handshake(port, kEcdsaOnly, version, {"-status"});
    INFO(ec.out);
    CHECK(peer_key_type(ec.out) == "id-ecPublicKey");
    CHECK(contains(ec.out, "OCSP Response Status: successful"));
    CHECK(staple_of(ec.out) == "1002 good");

    RunResult rsa = handshake(port, kRsaOnly, version, {"-status"});
    INFO(rsa.out);
    CHECK(peer_key_type(rsa.out) == "rsaEncryption");
    CHECK(staple_of(rsa.out) == "1001 good");

    // A certificate without a response file: nothing stapled, handshake fine.
    check_unstapled(handshake(port, kRsaOnly, version, {"-status", "-servername", "other.example.com"}));
  }
}

TEST_CASE("tls edge: a response for another certificate or an expired one is not stapled, and is logged") {
  Backend be = Backend::http(1);
  TempDir tmp;
  test_ocsp::Minted expired;
  expired.this_offset = -3 * 86400;
  expired.next_offset = -2 * 86400;
  write_file(tmp.file("ecdsa-expired.ocsp"), pki().minted("ecdsa", expired));
  // rsa gets the ECDSA certificate's (valid) response: another certificate.
  Lb lb(edge_config({pki().entry("rsa", pki().f("ecdsa.ocsp")), pki().entry("ecdsa", tmp.file("ecdsa-expired.ocsp"))},
                    be.http_port()));
  const uint16_t port = lb.port("web");
  std::vector<std::string> warnings;
  REQUIRE_MESSAGE(wait_until([&] { return (warnings = tls_warnings(lb)).size() >= 2; }, 5s), lb.diagnostics());
  CHECK(warnings.size() == 2);
  bool other_cert = false, expired_logged = false;
  for (const auto& w : warnings) {
    MESSAGE(w);
    other_cert = other_cert || (contains(w, "rsa-chain.pem") && contains(w, "ecdsa.ocsp") &&
                                contains(w, "another certificate (serial 4098, ours is 4097)"));
    expired_logged = expired_logged || (contains(w, "ecdsa-expired.ocsp") && contains(w, "expired at"));
  }
  CHECK(other_cert);
  CHECK(expired_logged);
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    CAPTURE(version);
    for (const char* sigalgs : {kEcdsaOnly, kRsaOnly}) {
      check_unstapled(handshake(port, sigalgs, version, {"-status"}));  // the certificate is served all the same
    }
  }
}

TEST_CASE("tls edge: a response that expires while lb runs is no longer stapled after its nextUpdate") {
  Backend be = Backend::http(1);
  TempDir tmp;
  test_ocsp::Minted soon;
  soon.next_offset = 6;
  const auto minted_at = Clock::now();
  write_file(tmp.file("soon.ocsp"), pki().minted("ecdsa", soon));
  Lb lb(edge_config({pki().entry("ecdsa", tmp.file("soon.ocsp"))}, be.http_port()));
  const uint16_t port = lb.port("web");
  RunResult before = handshake(port, kEcdsaOnly, "-tls1_3", {"-status"});
  if (Clock::now() - minted_at > 4s) {
    MESSAGE("lb took too long to start for this timing test; skipped");
    return;
  }
  INFO(before.out);
  CHECK(staple_of(before.out) == "1002 good");
  CHECK(tls_warnings(lb).empty());
  // Past nextUpdate (plus a second of ASN.1 time granularity): no staple,
  // without any reload.
  std::this_thread::sleep_until(minted_at + 8s);
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    check_unstapled(handshake(port, kEcdsaOnly, version, {"-status"}));
  }
}

TEST_CASE("tls edge: SIGHUP re-reads a changed OCSP file; a broken or missing one fails the reload at its pointer") {
  Backend be = Backend::http(1);
  TempDir site;
  const std::string file = site.file("site.ocsp");
  write_file(file, read_file(pki().f("rsa.ocsp")).value());  // the RSA certificate's: does not fit
  Lb lb(edge_config({pki().entry("ecdsa", file)}, be.http_port()));
  const uint16_t port = lb.port("web");
  CHECK(staple_of(handshake(port, kEcdsaOnly, "-tls1_3", {"-status"}).out) == "none");

  const uint64_t gen = generation(lb);
  write_file(file, read_file(pki().f("ecdsa.ocsp")).value());
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE_MESSAGE(wait_until([&] { return generation(lb) == gen + 1; }, 5s), lb.diagnostics());
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    RunResult r = handshake(port, kEcdsaOnly, version, {"-status"});
    INFO(r.out);
    CHECK(staple_of(r.out) == "1002 good");
  }

  struct Bad {
    std::string what, content, expect;
  };
  for (const Bad& bad : {Bad{"not an OCSP response", "this is not DER\n", "is not a DER OCSP response"},
                         Bad{"missing", "", "cannot read"}}) {
    CAPTURE(bad.what);
    const uint64_t before = generation(lb);
    if (bad.what == "missing") ::unlink(file.c_str());
    else write_file(file, bad.content);
    REQUIRE(lb.signal(SIGHUP));
    json s;
    REQUIRE_MESSAGE(wait_until([&] {
                      s = admin_stats(lb);
                      return s.contains("last_reload") && !s["last_reload"].value("ok", true);
                    }, 5s),
                    lb.diagnostics());
    const std::string error = s["last_reload"].value("error", "");
    MESSAGE(bad.what << " → " << error);
    CHECK(contains(error, "/listeners/0/tls/certificates/0/ocsp"));
    CHECK(contains(error, bad.expect));
    CHECK(s.value("generation", uint64_t(0)) == before);
    // The running configuration keeps stapling what it read.
    CHECK(staple_of(handshake(port, kEcdsaOnly, "-tls1_3", {"-status"}).out) == "1002 good");
    write_file(file, read_file(pki().f("ecdsa.ocsp")).value());  // heal, so the next round starts from ok
    REQUIRE(lb.signal(SIGHUP));
    REQUIRE_MESSAGE(wait_until([&] { return generation(lb) == before + 1; }, 5s), lb.diagnostics());
  }
}

TEST_CASE("tls edge: lb --check — a missing or unparsable OCSP file is an error at its pointer, a stale one a warning") {
  TempDir dir;
  auto check = [&](const json& entry) {
    json cfg = edge_config({entry}, 9);
    cfg["listeners"][0]["listen"] = "127.0.0.1:1";  // --check never binds
    cfg.erase("admin");
    std::string path = dir.file("check.json");
    std::ofstream(path) << cfg.dump(2);
    return run_command({lb_bin(), "-c", path, "--check"}, 20s);
  };
  RunResult good = check(pki().entry("ecdsa", pki().f("ecdsa.ocsp")));
  REQUIRE(good.status.has_value());
  CHECK(*good.status == 0);
  CHECK(good.err.find("warning") == std::string::npos);

  // Relative to the configuration file's directory, like every path.
  write_file(dir.file("rel.ocsp"), read_file(pki().f("ecdsa.ocsp")).value());
  RunResult relative = check(pki().entry("ecdsa", "rel.ocsp"));
  REQUIRE(relative.status.has_value());
  CHECK(*relative.status == 0);

  RunResult stale = check(pki().entry("ecdsa", pki().f("rsa.ocsp")));
  REQUIRE(stale.status.has_value());
  INFO("stderr: " << stale.err);
  CHECK(*stale.status == 0);
  CHECK(contains(stale.err, "warning: /listeners/0/tls"));
  CHECK(contains(stale.err, "another certificate"));

  RunResult missing = check(pki().entry("ecdsa", dir.file("nope.ocsp")));
  REQUIRE(missing.status.has_value());
  INFO("stderr: " << missing.err);
  CHECK(*missing.status == 1);
  CHECK(contains(missing.err, "/listeners/0/tls/certificates/0/ocsp"));

  RunResult garbage = check(pki().entry("ecdsa", pki().f("ecdsa.pem")));  // PEM, not an OCSP response
  REQUIRE(garbage.status.has_value());
  INFO("stderr: " << garbage.err);
  CHECK(*garbage.status == 1);
  CHECK(contains(garbage.err, "/listeners/0/tls/certificates/0/ocsp"));
  CHECK(contains(garbage.err, "is not a DER OCSP response"));
}

}  // TEST_SUITE
