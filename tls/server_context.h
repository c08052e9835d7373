// tls/server_context.h — the TLS side of one listener, built from
// conf::ListenerTls: one SSL_CTX per certificate (SNI picks among them), the
// protocol floor and cipher policy, ALPN selection, session tickets (keys from
// a shared TicketKeys) and optional client-certificate verification (mTLS).
//
// Threading: a ServerContext is immutable after create() and is shared
// read-only by all workers (std::shared_ptr<const ServerContext>); OpenSSL
// allows concurrent SSL_new() and handshakes on one SSL_CTX. Its callbacks
// (SNI, ALPN, tickets) run on the worker thread driving the handshake and only
// read this object (TicketKeys is itself thread-safe).
//
// Lifetime: SSL objects made from these SSL_CTXs call back into this object,
// so every Connection holds a shared_ptr to its ServerContext. A reload builds
// a new ServerContext (re-reading the certificate and key files, SPEC section
// 5) and new connections use it; live connections keep the old one until they
// end. Pass the same TicketKeys to every generation so tickets stay valid.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "tls/openssl_util.h"
#include "tls/ticket_keys.h"

namespace lb::tls {

class ServerContext {
 public:
  // Loads every certificate (PEM; the cert file may hold the chain, leaf
  // first) and key, checks each key matches its certificate, applies the
  // version/cipher/ALPN/mTLS settings. On failure returns null and sets
  // `error` to one line naming the offending file, e.g.
  //   key file "site.key" does not match certificate file "site.pem"
  // `keys` may be null: the context then gets private ticket keys (tickets
  // work only on this context — fine for tests, wrong for workers).
  static std::shared_ptr<const ServerContext> create(const conf::ListenerTls& config,
                                                     std::shared_ptr<TicketKeys> keys,
                                                     std::string& error);

  // The context for new connections (the first certificate); SNI may switch a
  // connection to another certificate's context during the handshake.
  SSL_CTX* default_ctx() const { return certs_.front().ctx.get(); }
  bool requires_client_cert() const { return requires_client_cert_; }

  // The context whose certificate names match `server_name`: exact names
  // first, then "*.suffix" wildcards (one label); case-insensitive, trailing
  // dot ignored; the first certificate wins a name two of them share.
  // default_ctx() when nothing matches.
  SSL_CTX* select(std::string_view server_name) const;

  // The DNS names (SAN DNS entries, else the CN), lower-cased, of
  // certificate `index` in configuration order. For logs and tests.
  const std::vector<std::string>& certificate_names(size_t index) const { return certs_.at(index).names; }
  size_t certificate_count() const { return certs_.size(); }
  const std::vector<std::string>& alpn() const { return alpn_; }

  struct Private {};  // create() is the only way in; make_shared needs a public constructor
  explicit ServerContext(Private) {}
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

 private:
  struct Cert {
    SslCtxPtr ctx;
    std::vector<std::string> names;
  };

  bool add_certificate(const conf::TlsCertificate& files, const conf::ListenerTls& config,
                       const unsigned char* sid_ctx, unsigned sid_ctx_len, std::string& error);

  static int servername_callback(SSL* ssl, int* alert, void* arg);
  static int alpn_callback(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                           const unsigned char* in, unsigned int inlen, void* arg);

  std::vector<Cert> certs_;
  std::unordered_map<std::string, size_t> exact_;     // name → index in certs_
  std::unordered_map<std::string, size_t> wildcard_;  // "example.com" for "*.example.com" → index
  std::vector<std::string> alpn_;                     // server preference order
  std::shared_ptr<TicketKeys> keys_;
  bool requires_client_cert_ = false;
};

}  // namespace lb::tls
