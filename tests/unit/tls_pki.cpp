// tests/unit/tls_pki.cpp — a throw-away PKI for the tls/ unit tests, generated
// with the OpenSSL API on first use into a mkdtemp directory that is removed
// at exit. Files (all PEM):
//   root.pem                server root CA (what clients trust)
//   a.pem / a.key           RSA leaf "a.example.com" (SAN), signed by an
//                           intermediate; a.pem holds leaf + intermediate
//   a-ec.pem / a-ec.key     EC leaf for the same name from the same
//                           intermediate (RSA and ECDSA side by side)
//   inter.pem / inter.key   that intermediate (signs OCSP responses in tests)
//   xb.pem / xb.key         RSA leaf "x.b.example.com", signed by root (an
//                           exact name under b's wildcard)
//   root.key                the root's key
//   b.pem / b.key           EC leaf "*.b.example.com" (SAN), signed by root
//   c.pem / c.key           EC leaf with only CN=c.example.com (no SAN)
//   client-ca.pem           CA for client certificates (mTLS)
//   client.pem / client.key client certificate CN=client-1, O=lb-test
//   rogue.pem / rogue.key   client certificate from a CA nobody trusts
//   garbage.pem             not PEM at all
// Tests reach them through tls_test_file("a.pem") (declared in each test
// file; this is the only definition).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tls/openssl_util.h"

namespace lb::tls::test {

namespace {

struct Issued {
  X509Ptr cert;
  EvpPkeyPtr key;
};

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what + ": " + drain_errors());
}

EvpPkeyPtr make_key(bool rsa) {
  EvpPkeyPtr key(rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"));
  check(key != nullptr, "keygen");
  return key;
}

void add_ext(X509* cert, X509V3_CTX* v3, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, v3, nid, value.c_str());
  check(ext != nullptr, "extension");
  check(X509_add_ext(cert, ext, -1) == 1, "add extension");
  X509_EXTENSION_free(ext);
}

enum class Kind { ca, server, client };

// Signs a certificate for `cn` with `issuer` (self-signed when null).
Issued issue(const std::string& cn, Kind kind, const std::string& san, const Issued* issuer, bool rsa = false) {
  static long serial = 1;
  Issued out{X509Ptr(X509_new()), make_key(rsa)};
  X509* x = out.cert.get();
  check(x != nullptr, "X509_new");
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
  X509_set_pubkey(x, out.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("lb-test"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert.get()) : name);

  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer ? issuer->cert.get() : x, x, nullptr, nullptr, 0);
  add_ext(x, &v3, NID_basic_constraints, kind == Kind::ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(x, &v3, NID_key_usage,
          kind == Kind::ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment");
  if (kind != Kind::ca) add_ext(x, &v3, NID_ext_key_usage, kind == Kind::client ? "clientAuth" : "serverAuth");
  if (!san.empty()) add_ext(x, &v3, NID_subject_alt_name, san);
  check(X509_sign(x, issuer ? issuer->key.get() : out.key.get(), EVP_sha256()) > 0, "sign");
  return out;
}

void write_certs(const std::string& path, std::initializer_list<const Issued*> chain) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  check(bio != nullptr, "open for write");
  for (auto* c : chain) check(PEM_write_bio_X509(bio.get(), c->cert.get()) == 1, "write cert");
}

void write_key(const std::string& path, const Issued& c) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  check(bio != nullptr, "open for write");
  check(PEM_write_bio_PrivateKey(bio.get(), c.key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1, "write key");
}

struct Pki {
  std::string dir;

  Pki() {
    char tmpl[] = "/tmp/lb-tls-test-XXXXXX";
    check(mkdtemp(tmpl) != nullptr, "mkdtemp");
    dir = tmpl;
    auto path = [&](const char* f) { return dir + "/" + f; };

    Issued root = issue("lb test root", Kind::ca, "", nullptr);
    Issued inter = issue("lb test intermediate", Kind::ca, "", &root);
    Issued a = issue("a.example.com", Kind::server, "DNS:a.example.com", &inter, /*rsa=*/true);
    Issued a_ec = issue("a.example.com ec", Kind::server, "DNS:a.example.com", &inter);
    Issued xb = issue("x.b.example.com", Kind::server, "DNS:x.b.example.com", &root, /*rsa=*/true);
    Issued b = issue("wildcard b", Kind::server, "DNS:*.b.example.com", &root);
    Issued c = issue("c.example.com", Kind::server, "", &root);
    Issued client_ca = issue("lb test client ca", Kind::ca, "", nullptr);
    Issued client = issue("client-1", Kind::client, "", &client_ca);
    Issued rogue_ca = issue("rogue ca", Kind::ca, "", nullptr);
    Issued rogue = issue("rogue", Kind::client, "", &rogue_ca);

    write_certs(path("root.pem"), {&root});
    write_key(path("root.key"), root);
    write_certs(path("inter.pem"), {&inter});
    write_key(path("inter.key"), inter);
    write_certs(path("a-ec.pem"), {&a_ec, &inter});
    write_key(path("a-ec.key"), a_ec);
    write_certs(path("xb.pem"), {&xb});
    write_key(path("xb.key"), xb);
    write_certs(path("a.pem"), {&a, &inter});
    write_key(path("a.key"), a);
    write_certs(path("b.pem"), {&b});
    write_key(path("b.key"), b);
    write_certs(path("c.pem"), {&c});
    write_key(path("c.key"), c);
    write_certs(path("client-ca.pem"), {&client_ca});
    write_certs(path("client.pem"), {&client});
    write_key(path("client.key"), client);
    write_certs(path("rogue.pem"), {&rogue});
    write_key(path("rogue.key"), rogue);
    std::ofstream(path("garbage.pem")) << "this is not a certificate\n";
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

std::string tls_test_file(std::string_view name) {
  static const Pki pki;  // generated once, removed at exit
  return pki.dir + "/" + std::string(name);
}

}  // namespace lb::tls::test
