// tests/unit/tls_ocsp_test.cpp — OCSP stapling (SPEC 11): the response
// checks of tls/ocsp.h with responses minted through the OpenSSL API at
// crafted times (expired, not yet valid, no nextUpdate, other certificate,
// other issuer, other issuer's signature, revoked, unsuccessful, not DER), and
// which staples a tls::ServerContext keeps and which it warns about.
// Handshakes with real clients are in tests/integration/tls_edge_test.cpp.
#include <doctest/doctest.h>

#include <climits>
#include <ctime>
#include <string>
#include <vector>

#include "tests/ocsp_mint.h"
#include "tls/ocsp.h"
#include "tls/server_context.h"

namespace lb::tls::test {
std::string tls_test_file(std::string_view name);  // tests/unit/tls_pki.cpp
}

using namespace lb::tls;
using lb::tls::test::tls_test_file;

namespace {

CertificateAndKey load(const std::string& base) {
  CertificateAndKey out;
  std::string error;
  bool ok = load_certificate_and_key({tls_test_file(base + ".pem"), tls_test_file(base + ".key")}, out, error);
  REQUIRE_MESSAGE(ok, error);
  return out;
}

X509Ptr load_x509(const std::string& name) {
  BioPtr bio(BIO_new_file(tls_test_file(name).c_str(), "r"));
  REQUIRE(bio);
  X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(x);
  return x;
}

EvpPkeyPtr load_key(const std::string& name) {
  std::string error;
  EvpPkeyPtr k = load_private_key(tls_test_file(name), error);
  REQUIRE_MESSAGE(k, error);
  return k;
}

using test_ocsp::kNoNextUpdate;
using test_ocsp::mint;
using test_ocsp::Minted;

int64_t now() { return static_cast<int64_t>(::time(nullptr)); }

lb::conf::ListenerTls listener(std::vector<lb::conf::TlsCertificate> certs) {
  lb::conf::ListenerTls t;
  t.certificates = std::move(certs);
  return t;
}

lb::conf::TlsCertificate files(const std::string& base) {
  return {tls_test_file(base + ".pem"), tls_test_file(base + ".key")};
}

}  // namespace

TEST_CASE("tls ocsp: responses are checked against their certificate") {
  CertificateAndKey a = load("a");  // leaf + intermediate
  X509Ptr inter = load_x509("inter.pem");
  X509Ptr root = load_x509("root.pem");
  EvpPkeyPtr inter_key = load_key("inter.key");
  EvpPkeyPtr root_key = load_key("root.key");
  std::string problem;

  std::string good = mint(a.leaf.get(), inter.get(), inter.get(), inter_key.get());
  auto staple = check_ocsp_response(good, a.leaf.get(), a.chain.get(), now(), problem);
  REQUIRE_MESSAGE(staple, problem);
  CHECK(staple->der == good);
  CHECK(staple->next_update > now() + 86000);
  CHECK(staple->fresh(now()));
  CHECK_FALSE(staple->fresh(staple->next_update));  // the staple-time check: gone at nextUpdate
  CHECK_FALSE(staple->fresh(staple->next_update + 1));

  SUBCASE("expired: the same response at a crafted time past its nextUpdate") {
    CHECK_FALSE(check_ocsp_response(good, a.leaf.get(), a.chain.get(), now() + 2 * 86400, problem));
    CHECK(problem.find("expired at") != std::string::npos);
  }
  SUBCASE("not yet valid: thisUpdate beyond the clock-skew leeway") {
    CHECK_FALSE(check_ocsp_response(good, a.leaf.get(), a.chain.get(), now() - 3600, problem));
    CHECK(problem.find("not valid before") != std::string::npos);
    // ... within it is fine.
    CHECK(check_ocsp_response(good, a.leaf.get(), a.chain.get(), now() - 200, problem));
  }
  SUBCASE("no nextUpdate: fresh forever") {
    Minted m;
    m.next_offset = kNoNextUpdate;
    auto s = check_ocsp_response(mint(a.leaf.get(), inter.get(), inter.get(), inter_key.get(), m), a.leaf.get(),
                                 a.chain.get(), now() + 365 * 86400, problem);
    REQUIRE_MESSAGE(s, problem);
    CHECK(s->next_update == 0);
    CHECK(s->fresh(INT64_MAX));
  }
  SUBCASE("a response for another certificate of the same issuer") {
    CertificateAndKey a_ec = load("a-ec");
    std::string other = mint(a_ec.leaf.get(), inter.get(), inter.get(), inter_key.get());
    CHECK_FALSE(check_ocsp_response(other, a.leaf.get(), a.chain.get(), now(), problem));
    CHECK(problem.find("another certificate") != std::string::npos);
    CHECK(check_ocsp_response(other, a_ec.leaf.get(), a_ec.chain.get(), now(), problem));
  }
  SUBCASE("signed by a key that is not the issuer's") {
    // Right certificate ID, but signed by the root, which never issued a.
    std::string forged = mint(a.leaf.get(), inter.get(), root.get(), root_key.get());
    CHECK_FALSE(check_ocsp_response(forged, a.leaf.get(), a.chain.get(), now(), problem));
    CHECK(problem.find("signature") != std::string::npos);
    // Without the issuer in the file the signature cannot be checked; the
    // certificate ID (serial, issuer name hash) still is.
    X509StackPtr none(sk_X509_new_null());
    CHECK(check_ocsp_response(forged, a.leaf.get(), none.get(), now(), problem));
  }
  SUBCASE("the certificate ID names another issuer") {
    // b's issuer is the root: a response about "serial of a, issued by root".
    std::string wrong_issuer = mint(a.leaf.get(), root.get(), root.get(), root_key.get());
    CHECK_FALSE(check_ocsp_response(wrong_issuer, a.leaf.get(), a.chain.get(), now(), problem));
    CHECK(problem.find("another issuer") != std::string::npos);
  }
  SUBCASE("revoked is not stapled") {
    Minted m;
    m.status = V_OCSP_CERTSTATUS_REVOKED;
    CHECK_FALSE(check_ocsp_response(mint(a.leaf.get(), inter.get(), inter.get(), inter_key.get(), m), a.leaf.get(),
                                    a.chain.get(), now(), problem));
    CHECK(problem.find("revoked") != std::string::npos);
  }
  SUBCASE("an unsuccessful response (tryLater)") {
    Minted m;
    m.response_status = OCSP_RESPONSE_STATUS_TRYLATER;
    CHECK_FALSE(check_ocsp_response(mint(nullptr, nullptr, nullptr, nullptr, m), a.leaf.get(), a.chain.get(), now(),
                                    problem));
    CHECK(problem.find("trylater") != std::string::npos);
  }
  SUBCASE("not DER at all") {
    CHECK_FALSE(check_ocsp_response("not an ocsp response", a.leaf.get(), a.chain.get(), now(), problem));
    CHECK_FALSE(check_ocsp_response("", a.leaf.get(), a.chain.get(), now(), problem));
  }
}

TEST_CASE("tls ocsp: ServerContext staples a fitting response, warns about one that does not fit") {
  CertificateAndKey a = load("a");
  CertificateAndKey a_ec = load("a-ec");
  X509Ptr inter = load_x509("inter.pem");
  EvpPkeyPtr inter_key = load_key("inter.key");

  lb::conf::TlsCertificate rsa = files("a");
  rsa.ocsp = "a.ocsp";
  rsa.ocsp_der = mint(a.leaf.get(), inter.get(), inter.get(), inter_key.get());
  lb::conf::TlsCertificate ec = files("a-ec");
  ec.ocsp = "a-ec.ocsp";
  ec.ocsp_der = rsa.ocsp_der;  // the RSA certificate's response: does not fit

  std::string error;
  auto ctx = ServerContext::create(listener({rsa, ec}), nullptr, error);
  REQUIRE_MESSAGE(ctx, error);
  CHECK(ctx->has_staple(0));
  CHECK_FALSE(ctx->has_staple(1));
  REQUIRE(ctx->warnings().size() == 1);
  const std::string& w = ctx->warnings()[0];
  CHECK(w.find(tls_test_file("a-ec.pem")) != std::string::npos);
  CHECK(w.find("a-ec.ocsp") != std::string::npos);
  CHECK(w.find("another certificate") != std::string::npos);
  // Both in one context, which has the status callback.
  CHECK(ctx->context_count() == 1);
  int (*cb)(SSL*, void*) = nullptr;
  SSL_CTX_get_tlsext_status_cb(ctx->default_ctx(), &cb);
  CHECK(bool(cb));

  // Without any staple, no callback at all.
  auto plain = ServerContext::create(listener({files("a"), files("a-ec")}), nullptr, error);
  REQUIRE_MESSAGE(plain, error);
  cb = nullptr;
  SSL_CTX_get_tlsext_status_cb(plain->default_ctx(), &cb);
  CHECK_FALSE(bool(cb));
}
