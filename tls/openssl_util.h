// tls/openssl_util.h — small RAII owners for OpenSSL objects and helpers that
// turn the thread-local OpenSSL error queue into readable text.
//
// Threading: the owners are plain unique_ptrs (move-only, no sharing). The
// error helpers read and clear the *calling thread's* OpenSSL error queue, so
// call them on the thread that made the failing call, right after it.
#pragma once

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace lb::tls {

template <auto Free>
struct OpensslDeleter {
  template <typename T>
  void operator()(T* p) const noexcept { Free(p); }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, OpensslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpensslDeleter<SSL_free>>;
using SessionPtr = std::unique_ptr<SSL_SESSION, OpensslDeleter<SSL_SESSION_free>>;
using X509Ptr = std::unique_ptr<X509, OpensslDeleter<X509_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpensslDeleter<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, OpensslDeleter<BIO_free_all>>;

// An owned stack of owned certificates (a chain).
inline void free_x509_stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
using X509StackPtr = std::unique_ptr<STACK_OF(X509), OpensslDeleter<free_x509_stack>>;

// Drains the calling thread's OpenSSL error queue and returns the reasons,
// most specific first, joined by "; " (e.g. "no start line"). Returns
// `fallback` when the queue was empty.
std::string drain_errors(std::string_view fallback = "unknown OpenSSL error");

// The cipher list for TLS 1.2: forward-secret AEAD suites only (no RC4, 3DES,
// CBC, export, NULL). TLS 1.3 suites are OpenSSL's defaults (all AEAD).
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Applies what server and client contexts share: TLS 1.0/1.1 off, the given
// minimum version, kTls12Ciphers, no compression, no renegotiation, and
// SSL_MODE_RELEASE_BUFFERS (idle connections give their record buffers back).
// Returns false (error queue set) on failure.
bool apply_common_settings(SSL_CTX* ctx, int min_version);

// Loads a PEM private key without ever prompting for a passphrase (an
// encrypted key fails instead of blocking on the terminal).
EvpPkeyPtr load_private_key(const std::string& path, std::string& error);

// A certificate file's contents and its key, checked to belong together.
struct CertificateAndKey {
  X509Ptr leaf;
  X509StackPtr chain;  // the file's other certificates, in file order (may be empty)
  EvpPkeyPtr key;
};

// Reads files.cert (PEM, leaf first, then its chain) and files.key, and
// checks the key is the leaf's. On failure returns false and sets `error` to
// one line naming the file, e.g.
//   key file "site.key" does not match certificate file "site.pem"
bool load_certificate_and_key(const conf::TlsCertificate& files, CertificateAndKey& out, std::string& error);

// Installs a loaded certificate, its chain and key in ctx, in the slot of
// the key's type (RSA, ECDSA, ...): one context holds one certificate per
// key type and OpenSSL serves the one the peer's signature algorithms allow.
// Returns false (error set) on failure.
bool use_certificate(SSL_CTX* ctx, const CertificateAndKey& cert, std::string& error);

// load_certificate_and_key + use_certificate.
bool use_certificate(SSL_CTX* ctx, const conf::TlsCertificate& files, std::string& error);

// One-line RFC 2253 form of a certificate's subject ("CN=x,O=y"); "" for null.
std::string subject_rfc2253(const X509* cert);

}  // namespace lb::tls
