// tests/unit/tls_context_test.cpp — tls::ServerContext / ClientContext
// construction (errors name the file), SNI name selection, RSA and ECDSA
// certificates for the same names sharing one SSL_CTX, and TicketKeys
// rotation bookkeeping. Handshake behaviour is in tls_connection_test.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "tls/client_context.h"
#include "tls/server_context.h"

namespace lb::tls::test {
std::string tls_test_file(std::string_view name);  // tests/unit/tls_pki.cpp
}

using namespace lb::tls;
using lb::tls::test::tls_test_file;

namespace {

lb::conf::ListenerTls listener_tls(std::vector<std::pair<std::string, std::string>> pairs) {
  lb::conf::ListenerTls t;
  for (auto& [c, k] : pairs) t.certificates.push_back({tls_test_file(c), tls_test_file(k)});
  return t;
}

std::string cn_of(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  return subject_rfc2253(cert);
}

// The key types of the certificates an SSL_CTX holds.
std::vector<int> key_types(SSL_CTX* ctx) {
  X509* current = SSL_CTX_get0_certificate(ctx);  // iterating moves it; put it back after
  std::vector<int> out;
  for (int r = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST); r == 1;
       r = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT))
    out.push_back(EVP_PKEY_get_base_id(X509_get0_pubkey(SSL_CTX_get0_certificate(ctx))));
  SSL_CTX_select_current_cert(ctx, current);
  std::sort(out.begin(), out.end());
  return out;
}

int current_key_type(SSL_CTX* ctx) { return EVP_PKEY_get_base_id(X509_get0_pubkey(SSL_CTX_get0_certificate(ctx))); }

}  // namespace

TEST_CASE("tls: server context loads certificates, chains and names") {
  std::string error;
  auto ctx = ServerContext::create(listener_tls({{"a.pem", "a.key"}, {"b.pem", "b.key"}, {"c.pem", "c.key"}}),
                                   nullptr, error);
  REQUIRE_MESSAGE(ctx, error);
  CHECK(error.empty());
  CHECK(ctx->certificate_count() == 3);
  CHECK(ctx->certificate_names(0) == std::vector<std::string>{"a.example.com"});
  CHECK(ctx->certificate_names(1) == std::vector<std::string>{"*.b.example.com"});
  CHECK(ctx->certificate_names(2) == std::vector<std::string>{"c.example.com"});  // CN fallback (no SAN)
  CHECK_FALSE(ctx->requires_client_cert());
  CHECK(ctx->alpn() == std::vector<std::string>{"h2", "http/1.1"});  // conf::ListenerTls default (SPEC 9)

  // The chain file's intermediate is loaded as extra chain certificate.
  STACK_OF(X509)* chain = nullptr;
  REQUIRE(SSL_CTX_get0_chain_certs(ctx->default_ctx(), &chain) == 1);
  CHECK(sk_X509_num(chain) == 1);
}

TEST_CASE("tls: SNI selection: exact, one-label wildcard, case, default") {
  std::string error;
  auto ctx = ServerContext::create(listener_tls({{"a.pem", "a.key"}, {"b.pem", "b.key"}, {"c.pem", "c.key"}}),
                                   nullptr, error);
  REQUIRE_MESSAGE(ctx, error);
  SSL_CTX* a = ctx->default_ctx();
  CHECK(ctx->select("a.example.com") == a);
  CHECK(ctx->select("A.Example.COM") == a);
  CHECK(ctx->select("a.example.com.") == a);
  CHECK(cn_of(ctx->select("x.b.example.com")).find("CN=wildcard b") != std::string::npos);
  CHECK(ctx->select("X.B.EXAMPLE.COM") == ctx->select("x.b.example.com"));
  CHECK(ctx->select("x.b.example.com") != a);
  CHECK(ctx->select("b.example.com") == a);          // wildcard needs one label
  CHECK(ctx->select("y.x.b.example.com") == a);      // ... exactly one
  CHECK(cn_of(ctx->select("c.example.com")).find("CN=c.example.com") != std::string::npos);
  CHECK(ctx->select("unknown.org") == a);
  CHECK(ctx->select("") == a);
  CHECK(ctx->select(".") == a);
}

TEST_CASE("tls: RSA and ECDSA certificates for one name share an SSL_CTX; other names keep theirs") {
  std::string error;
  // a (RSA) and a-ec (EC) both name a.example.com; b is EC for *.b.example.com.
  auto ctx = ServerContext::create(listener_tls({{"a.pem", "a.key"}, {"b.pem", "b.key"}, {"a-ec.pem", "a-ec.key"}}),
                                   nullptr, error);
  REQUIRE_MESSAGE(ctx, error);
  CHECK(ctx->warnings().empty());
  CHECK(ctx->context_count() == 2);  // {a, a-ec} and {b}
  SSL_CTX* a = ctx->select("a.example.com");
  CHECK(a == ctx->default_ctx());  // no SNI: what the first certificate's first name gets
  CHECK(key_types(a) == std::vector<int>{EVP_PKEY_RSA, EVP_PKEY_EC});
  CHECK(current_key_type(a) == EVP_PKEY_RSA);  // the first listed is the context's current one
  CHECK(key_types(ctx->select("x.b.example.com")) == std::vector<int>{EVP_PKEY_EC});
  CHECK(ctx->select("unknown.org") == a);

  SUBCASE("ECDSA listed first: the same pair, ECDSA current") {
    auto swapped = ServerContext::create(listener_tls({{"a-ec.pem", "a-ec.key"}, {"a.pem", "a.key"}}), nullptr, error);
    REQUIRE_MESSAGE(swapped, error);
    CHECK(swapped->context_count() == 1);
    CHECK(key_types(swapped->default_ctx()) == std::vector<int>{EVP_PKEY_RSA, EVP_PKEY_EC});
    CHECK(current_key_type(swapped->default_ctx()) == EVP_PKEY_EC);
  }
  SUBCASE("an exact name and a wildcard of another key type covering it are served together") {
    // xb (RSA) names x.b.example.com exactly, b (EC) covers it as *.b.example.com.
    auto c = ServerContext::create(listener_tls({{"b.pem", "b.key"}, {"xb.pem", "xb.key"}}), nullptr, error);
    REQUIRE_MESSAGE(c, error);
    CHECK(key_types(c->select("x.b.example.com")) == std::vector<int>{EVP_PKEY_RSA, EVP_PKEY_EC});
    CHECK(key_types(c->select("y.b.example.com")) == std::vector<int>{EVP_PKEY_EC});  // the wildcard alone
    CHECK(c->context_count() == 2);
  }
  SUBCASE("a second certificate of the same key type and names is never served, and says so") {
    auto c = ServerContext::create(listener_tls({{"b.pem", "b.key"}, {"c.pem", "c.key"}, {"b.pem", "b.key"}}),
                                   nullptr, error);
    REQUIRE_MESSAGE(c, error);
    REQUIRE(c->warnings().size() == 1);
    CHECK(c->warnings()[0].find("is never served") != std::string::npos);
    CHECK(c->context_count() == 2);
  }
}

TEST_CASE("tls: server context errors name the offending file") {
  std::string error;
  SUBCASE("key does not match certificate") {
    auto ctx = ServerContext::create(listener_tls({{"a.pem", "b.key"}}), nullptr, error);
    CHECK_FALSE(ctx);
    CHECK(error.find("does not match") != std::string::npos);
    CHECK(error.find(tls_test_file("b.key")) != std::string::npos);
    CHECK(error.find(tls_test_file("a.pem")) != std::string::npos);
  }
  SUBCASE("second pair bad, first fine") {
    auto ctx = ServerContext::create(listener_tls({{"a.pem", "a.key"}, {"c.pem", "b.key"}}), nullptr, error);
    CHECK_FALSE(ctx);
    CHECK(error.find(tls_test_file("c.pem")) != std::string::npos);
  }
  SUBCASE("missing certificate file") {
    auto ctx = ServerContext::create(listener_tls({{"nope.pem", "a.key"}}), nullptr, error);
    CHECK_FALSE(ctx);
    CHECK(error.find("certificate file \"" + tls_test_file("nope.pem") + "\"") == 0);
  }
  SUBCASE("certificate file is not PEM") {
    auto ctx = ServerContext::create(listener_tls({{"garbage.pem", "a.key"}}), nullptr, error);
    CHECK_FALSE(ctx);
    CHECK(error.find(tls_test_file("garbage.pem")) != std::string::npos);
  }
  SUBCASE("key file is not a key") {
    auto ctx = ServerContext::create(listener_tls({{"a.pem", "garbage.pem"}}), nullptr, error);
    CHECK_FALSE(ctx);
    CHECK(error.find("key file \"" + tls_test_file("garbage.pem") + "\"") == 0);
  }
  SUBCASE("missing client_ca") {
    auto t = listener_tls({{"a.pem", "a.key"}});
    t.client_ca = tls_test_file("nope-ca.pem");
    auto ctx = ServerContext::create(t, nullptr, error);
    CHECK_FALSE(ctx);
    CHECK(error.find("client_ca file \"" + tls_test_file("nope-ca.pem") + "\"") == 0);
  }
  SUBCASE("no certificates") {
    auto ctx = ServerContext::create(lb::conf::ListenerTls{}, nullptr, error);
    CHECK_FALSE(ctx);
    CHECK_FALSE(error.empty());
  }
  SUBCASE("bad alpn") {
    auto t = listener_tls({{"a.pem", "a.key"}});
    t.alpn = {""};
    CHECK_FALSE(ServerContext::create(t, nullptr, error));
    CHECK(error.find("alpn") != std::string::npos);
  }
}

TEST_CASE("tls: client_ca turns on client certificate verification") {
  std::string error;
  auto t = listener_tls({{"a.pem", "a.key"}});
  t.client_ca = tls_test_file("client-ca.pem");
  auto ctx = ServerContext::create(t, nullptr, error);
  REQUIRE_MESSAGE(ctx, error);
  CHECK(ctx->requires_client_cert());
  CHECK(SSL_CTX_get_verify_mode(ctx->default_ctx()) == (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT));
  CHECK(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(ctx->default_ctx())) == 1);
}

TEST_CASE("tls: min_version and cipher policy") {
  std::string error;
  auto t = listener_tls({{"a.pem", "a.key"}});
  auto v12 = ServerContext::create(t, nullptr, error);
  REQUIRE(v12);
  CHECK(SSL_CTX_get_min_proto_version(v12->default_ctx()) == TLS1_2_VERSION);
  t.min_version = lb::conf::TlsVersion::v1_3;
  auto v13 = ServerContext::create(t, nullptr, error);
  REQUIRE(v13);
  CHECK(SSL_CTX_get_min_proto_version(v13->default_ctx()) == TLS1_3_VERSION);

  // Every TLS 1.2 suite offered is ECDHE + AEAD.
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(v12->default_ctx());
  REQUIRE(ciphers);
  int tls12 = 0;
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
    std::string name = SSL_CIPHER_get_name(c);
    if (name.rfind("TLS_", 0) == 0) continue;  // TLS 1.3 suites
    ++tls12;
    CHECK_MESSAGE(name.rfind("ECDHE-", 0) == 0, name);
    CHECK_MESSAGE(SSL_CIPHER_is_aead(c) == 1, name);
  }
  CHECK(tls12 == 6);
}

TEST_CASE("tls: client context") {
  std::string error;
  lb::conf::PoolTls p;
  SUBCASE("verify with a CA file and sni override") {
    p.ca = tls_test_file("root.pem");
    p.sni = "a.example.com";
    auto ctx = ClientContext::create(p, error);
    REQUIRE_MESSAGE(ctx, error);
    CHECK(ctx->verify());
    CHECK(SSL_CTX_get_verify_mode(ctx->ctx()) == SSL_VERIFY_PEER);
    CHECK(ctx->server_name("10.0.0.1") == "a.example.com");
  }
  SUBCASE("verify with the system store") {
    auto ctx = ClientContext::create(p, error);
    REQUIRE_MESSAGE(ctx, error);
    CHECK(ctx->server_name("backend.internal") == "backend.internal");
  }
  SUBCASE("verify off") {
    p.verify = false;
    auto ctx = ClientContext::create(p, error);
    REQUIRE_MESSAGE(ctx, error);
    CHECK(SSL_CTX_get_verify_mode(ctx->ctx()) == SSL_VERIFY_NONE);
  }
  SUBCASE("missing CA file") {
    p.ca = tls_test_file("nope.pem");
    CHECK_FALSE(ClientContext::create(p, error));
    CHECK(error.find("ca file \"" + tls_test_file("nope.pem") + "\"") == 0);
  }
  SUBCASE("client certificate mismatch") {
    ClientOptions o;
    o.certificate = lb::conf::TlsCertificate{tls_test_file("client.pem"), tls_test_file("rogue.key")};
    CHECK_FALSE(ClientContext::create(p, o, error));
    CHECK(error.find("does not match") != std::string::npos);
  }
}

TEST_CASE("tls: ticket keys rotate and keep a bounded history") {
  TicketKeys keys(std::chrono::hours(1), 3);
  CHECK(keys.key_count() == 1);
  CHECK(keys.ticket_lifetime() == std::chrono::hours(2));
  CHECK(keys.rotate());
  CHECK(keys.key_count() == 2);
  CHECK(keys.rotate());
  CHECK(keys.rotate());
  CHECK(keys.key_count() == 3);

  // Concurrent rotations are safe and each one lands.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 50; ++j) keys.rotate();
    });
  for (auto& t : threads) t.join();
  CHECK(keys.key_count() == 3);
}
