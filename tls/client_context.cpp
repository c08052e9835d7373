// tls/client_context.cpp — backend TLS contexts and the client session cache.
// See client_context.h.
#include "tls/client_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace lb::tls {

namespace {

// ex_data slots: the ClientContext* on the SSL_CTX, the session key on the SSL.
int ctx_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
int key_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int proto_version(conf::TlsVersion v) { return v == conf::TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION; }

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::shared_ptr<const ClientContext> ClientContext::create(const conf::PoolTls& config, std::string& error) {
  return create(config, ClientOptions{}, error);
}

std::shared_ptr<const ClientContext> ClientContext::create(const conf::PoolTls& config,
                                                           const ClientOptions& options, std::string& error) {
  ERR_clear_error();
  auto self = std::make_shared<ClientContext>(Private{});
  self->verify_ = config.verify;
  self->sni_ = config.sni;
  self->max_sessions_ = options.max_cached_sessions;

  self->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = self->ctx_.get();
  if (!ctx) {
    error = "tls: " + drain_errors("cannot create SSL_CTX");
    return nullptr;
  }
  if (!apply_common_settings(ctx, proto_version(options.min_version)) ||
      SSL_CTX_set_max_proto_version(ctx, proto_version(options.max_version)) != 1) {
    error = "tls: " + drain_errors("cannot apply protocol settings");
    return nullptr;
  }

  if (config.verify) {
    if (config.ca) {
      if (SSL_CTX_load_verify_locations(ctx, config.ca->c_str(), nullptr) != 1) {
        error = "ca file \"" + *config.ca + "\": " + drain_errors("cannot load CA certificates");
        return nullptr;
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      error = "tls: system CA store: " + drain_errors("cannot load");
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }

  if (options.certificate && !use_certificate(ctx, *options.certificate, error)) return nullptr;

  if (!options.alpn.empty()) {
    std::string wire;
    for (auto& p : options.alpn) {
      if (p.empty() || p.size() > 255) {
        error = "tls: alpn protocol \"" + p + "\" must be 1..255 bytes";
        return nullptr;
      }
      wire += static_cast<char>(p.size());
      wire += p;
    }
    // Unlike most OpenSSL calls, 0 means success here.
    if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0) {
      error = "tls: " + drain_errors("cannot set ALPN");
      return nullptr;
    }
  }

  SSL_CTX_set_ex_data(ctx, ctx_index(), self.get());
  if (self->max_sessions_ > 0) {
    // Sessions live in our keyed cache only (OpenSSL's internal client cache
    // is keyed by nothing useful); the callback fires for TLS 1.2 tickets and
    // for each TLS 1.3 NewSessionTicket.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &ClientContext::new_session_callback);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  return self;
}

bool ClientContext::prepare(SSL* ssl, std::string_view host, const std::string* session_key,
                            std::string& error) const {
  ERR_clear_error();
  std::string name(server_name(host));
  if (name.empty() && verify_) {
    error = "tls: verify is on but there is no host name to check (set the pool's tls.sni)";
    return false;
  }
  if (!name.empty()) {
    if (is_ip_literal(name)) {
      // RFC 6066: no IP literals in SNI; verify the IP SAN instead.
      if (verify_ && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1) {
        error = "tls: cannot verify against \"" + name + "\": " + drain_errors("bad address");
        return false;
      }
    } else {
      if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
        error = "tls: cannot send SNI \"" + name + "\": " + drain_errors("rejected");
        return false;
      }
      if (verify_) {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(ssl, name.c_str()) != 1) {
          error = "tls: cannot verify against \"" + name + "\": " + drain_errors("bad host name");
          return false;
        }
      }
    }
  }
  if (session_key && !session_key->empty() && max_sessions_ > 0) {
    SSL_set_ex_data(ssl, key_index(), const_cast<std::string*>(session_key));
    if (SessionPtr cached = find_session(*session_key)) {
      if (SSL_set_session(ssl, cached.get()) != 1) ERR_clear_error();  // full handshake then
    }
  }
  return true;
}

int ClientContext::new_session_callback(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<const ClientContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index()));
  auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, key_index()));
  if (!self || !key || !SSL_SESSION_is_resumable(session)) return 0;  // OpenSSL keeps ownership
  self->store_session(*key, SessionPtr(session));
  return 1;  // we took the reference
}

SessionPtr ClientContext::find_session(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return nullptr;
  if (!SSL_SESSION_is_resumable(it->second.get())) {  // invalidated by OpenSSL meanwhile
    sessions_.erase(it);
    return nullptr;
  }
  // A private copy: OpenSSL mutates the session an SSL uses (TLS 1.3 marks a
  // resumed one single-use; a fatal alert marks it bad), and that must not
  // poison the cache entry other connections are about to use.
  return SessionPtr(SSL_SESSION_dup(it->second.get()));
}

void ClientContext::store_session(const std::string& key, SessionPtr session) const {
  SessionPtr old;  // freed outside the lock
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(key);
  if (it != sessions_.end()) {
    old = std::move(it->second);
    it->second = std::move(session);
    return;
  }
  if (sessions_.size() >= max_sessions_ && !sessions_.empty()) {
    old = std::move(sessions_.begin()->second);  // bounded: evict an arbitrary entry
    sessions_.erase(sessions_.begin());
  }
  sessions_.emplace(key, std::move(session));
}

void ClientContext::forget_session(const std::string& key) const {
  SessionPtr old;
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return;
  old = std::move(it->second);
  sessions_.erase(it);
}

size_t ClientContext::cached_sessions() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace lb::tls
