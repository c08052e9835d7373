// tls/client_context.h — backend TLS (re-encryption) for one pool, built from
// conf::PoolTls: peer verification against a CA file (or the system store),
// the SNI / host name to send and check, and a small client-side session cache
// so reconnects to the same backend resume instead of doing a full handshake.
//
// Threading: a ClientContext is immutable after create() except for its
// session cache, which is guarded by a mutex (touched once per backend
// handshake, never per request; uncontended in practice). Share one per pool
// generation across all workers as std::shared_ptr<const ClientContext>.
//
// Lifetime: SSL objects made from ctx() call back into this object (session
// cache), so each client Connection holds a shared_ptr to its ClientContext.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "tls/openssl_util.h"

namespace lb::tls {

// Settings beyond conf::PoolTls (not in the configuration file today; tests
// use them to play odd clients).
struct ClientOptions {
  std::vector<std::string> alpn;                    // offered in order; empty = no ALPN
  std::optional<conf::TlsCertificate> certificate;  // presented when the peer asks (mTLS)
  conf::TlsVersion min_version = conf::TlsVersion::v1_2;
  conf::TlsVersion max_version = conf::TlsVersion::v1_3;
  size_t max_cached_sessions = 1024;                // 0 = no session cache
};

class ClientContext {
 public:
  // verify on → SSL_VERIFY_PEER against `ca` (or the system default paths
  // when absent) plus a host-name check (see server_name()). On failure
  // returns null and sets `error` to one line naming the offending file.
  static std::shared_ptr<const ClientContext> create(const conf::PoolTls& config, std::string& error);
  static std::shared_ptr<const ClientContext> create(const conf::PoolTls& config, const ClientOptions& options,
                                                     std::string& error);

  SSL_CTX* ctx() const { return ctx_.get(); }
  bool verify() const { return verify_; }

  // The name sent as SNI and checked against the backend certificate: the
  // configured `sni`, else `host` (the server address's host). An IP literal
  // is checked against the certificate's IP SANs and not sent as SNI. With
  // verify on, an empty name makes prepare() fail (no unchecked peers).
  std::string_view server_name(std::string_view host) const { return sni_ ? std::string_view(*sni_) : host; }

  // Called by Connection for a new client SSL: sets SNI, the host check and,
  // when `session_key` is non-empty, resumes a cached session for that key
  // and caches the sessions the peer issues. `session_key` must stay valid
  // (and unchanged) for the SSL's whole life. False on OpenSSL failure.
  bool prepare(SSL* ssl, std::string_view host, const std::string* session_key, std::string& error) const;

  // The session cache, keyed by what the caller chose (e.g. "10.0.0.1:443").
  SessionPtr find_session(const std::string& key) const;
  void store_session(const std::string& key, SessionPtr session) const;
  void forget_session(const std::string& key) const;
  size_t cached_sessions() const;

  struct Private {};  // create() is the only way in
  explicit ClientContext(Private) {}
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

 private:
  static int new_session_callback(SSL* ssl, SSL_SESSION* session);

  SslCtxPtr ctx_;
  bool verify_ = true;
  std::optional<std::string> sni_;
  size_t max_sessions_ = 0;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, SessionPtr> sessions_;
};

}  // namespace lb::tls
