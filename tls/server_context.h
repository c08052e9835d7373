// tls/server_context.h — the TLS side of one listener, built from
// conf::ListenerTls: the certificates (SNI picks among name sets; within one,
// OpenSSL picks RSA or ECDSA by what the client can verify), OCSP staples,
// the protocol floor and cipher policy, ALPN selection, session tickets (keys
// from a shared TicketKeys) and optional client-certificate verification
// (mTLS).
//
// Certificates and contexts: OpenSSL keeps one certificate per key type in an
// SSL_CTX and, per handshake, serves the one the client's signature
// algorithms and cipher suites allow (ECDSA first: the server prefers it).
// So for every name, the first listed certificate of each key type that
// covers it (exact names before wildcards) goes into one SSL_CTX; names
// served by the same set of certificates share that SSL_CTX. SNI picks the
// SSL_CTX, OpenSSL the certificate in it. This is how nginx serves several
// ssl_certificate lines of one server block.
//
// Threading: a ServerContext is immutable after create() and is shared
// read-only by all workers (std::shared_ptr<const ServerContext>); OpenSSL
// allows concurrent SSL_new() and handshakes on one SSL_CTX. Its callbacks
// (SNI, ALPN, OCSP status, tickets) run on the worker thread driving the
// handshake and only read this object (TicketKeys is itself thread-safe).
//
// Lifetime: SSL objects made from these SSL_CTXs call back into this object,
// so every Connection holds a shared_ptr to its ServerContext. A reload builds
// a new ServerContext (re-reading the certificate and key files, with the OCSP
// responses conf/ re-read, SPEC sections 5 and 11) and new connections use
// it; live connections keep the old one until they end. Pass the same
// TicketKeys to every generation so tickets stay valid.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "tls/ocsp.h"
#include "tls/openssl_util.h"
#include "tls/ticket_keys.h"

namespace lb::tls {

class ServerContext {
 public:
  // Loads every certificate (PEM; the cert file may hold the chain, leaf
  // first) and key, checks each key matches its certificate, checks each OCSP
  // response against its certificate, applies the version/cipher/ALPN/mTLS
  // settings. On failure returns null and sets `error` to one line naming the
  // offending file, e.g.
  //   key file "site.key" does not match certificate file "site.pem"
  // An OCSP response that does not fit its certificate (another certificate,
  // expired, not "good", bad signature) is no failure: it is not stapled and
  // warnings() says why, for the caller to log.
  // `keys` may be null: the context then gets private ticket keys (tickets
  // work only on this context — fine for tests, wrong for workers).
  static std::shared_ptr<const ServerContext> create(const conf::ListenerTls& config,
                                                     std::shared_ptr<TicketKeys> keys,
                                                     std::string& error);

  // The context for new connections: what the first certificate's first name
  // gets (the first certificate, plus any certificate of another key type
  // listed for that name). SNI may switch a connection to another context
  // during the handshake.
  SSL_CTX* default_ctx() const { return ctxs_.front().get(); }
  bool requires_client_cert() const { return requires_client_cert_; }

  // The context for `server_name`: for each key type, the first certificate
  // naming it exactly, else the first whose "*.suffix" wildcard (one label)
  // covers it; case-insensitive, trailing dot ignored. default_ctx() when no
  // certificate covers the name.
  SSL_CTX* select(std::string_view server_name) const;

  // The DNS names (SAN DNS entries, else the CN), lower-cased, of
  // certificate `index` in configuration order. For logs and tests.
  const std::vector<std::string>& certificate_names(size_t index) const { return certs_.at(index).names; }
  size_t certificate_count() const { return certs_.size(); }
  // Whether certificate `index` has an OCSP response that passed the checks
  // at create() (it is stapled until its nextUpdate).
  bool has_staple(size_t index) const { return certs_.at(index).staple.has_value(); }
  // Distinct certificate sets, each one SSL_CTX.
  size_t context_count() const { return ctxs_.size(); }
  const std::vector<std::string>& alpn() const { return alpn_; }
  // Problems that do not stop the listener (an OCSP response not stapled),
  // one line each, naming the files.
  const std::vector<std::string>& warnings() const { return warnings_; }

  struct Private {};  // create() is the only way in; make_shared needs a public constructor
  explicit ServerContext(Private) {}
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

 private:
  struct Cert {
    CertificateAndKey loaded;
    int key_type = 0;  // EVP_PKEY_RSA, EVP_PKEY_EC, ...: OpenSSL's slot in an SSL_CTX
    std::vector<std::string> names;
    std::optional<OcspStaple> staple;
  };
  // Indices into certs_, ascending: the certificates one SSL_CTX holds.
  using CertSet = std::vector<size_t>;

  bool load_certificate(const conf::TlsCertificate& files, std::string& error);
  SslCtxPtr make_ctx(const CertSet& set, const conf::ListenerTls& config, const unsigned char* sid_ctx,
                     unsigned sid_ctx_len, std::string& error);

  static int servername_callback(SSL* ssl, int* alert, void* arg);
  static int alpn_callback(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                           const unsigned char* in, unsigned int inlen, void* arg);
  static int status_callback(SSL* ssl, void* arg);

  std::vector<Cert> certs_;                           // configuration order
  std::vector<SslCtxPtr> ctxs_;                       // [0] is the default
  std::unordered_map<std::string, size_t> exact_;     // name → index in ctxs_
  std::unordered_map<std::string, size_t> wildcard_;  // "example.com" for "*.example.com" → index in ctxs_
  std::vector<std::string> alpn_;                     // server preference order
  std::vector<std::string> warnings_;
  std::shared_ptr<TicketKeys> keys_;
  bool requires_client_cert_ = false;
};

}  // namespace lb::tls
