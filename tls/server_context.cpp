// tls/server_context.cpp — building a listener's SSL_CTXs (one per set of
// certificates that serves some name) and the SNI, ALPN and OCSP status
// callbacks. See server_context.h.
#include "tls/server_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>

namespace lb::tls {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// SAN DNS entries; the subject CN only when the certificate has none.
std::vector<std::string> dns_names(X509* cert) {
  std::vector<std::string> names;
  auto* gens = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (gens) {
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens, i);
      if (g->type != GEN_DNS) continue;
      const ASN1_STRING* s = g->d.dNSName;
      names.push_back(lower({reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<size_t>(ASN1_STRING_length(s))}));
    }
    GENERAL_NAMES_free(gens);
  }
  if (names.empty()) {
    const X509_NAME* subject = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx >= 0) {
      const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
      names.push_back(lower({reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<size_t>(ASN1_STRING_length(s))}));
    }
  }
  ERR_clear_error();  // X509_get_ext_d2i leaves an entry when the extension is absent
  return names;
}

// Session-ID context: binds sessions (and tickets) to this listener's TLS
// identity, so a ticket issued where no client certificate was required can
// never resume on a listener that requires one. Stable across workers and
// reloads of an unchanged configuration.
bool make_sid_ctx(const conf::ListenerTls& config, unsigned char out[32]) {
  std::string id = "lb-listener-tls\n";
  id += config.min_version == conf::TlsVersion::v1_3 ? "1.3\n" : "1.2\n";
  id += config.client_ca ? "ca:" + *config.client_ca + "\n" : "no-ca\n";
  for (auto& c : config.certificates) id += c.cert + "\n";
  unsigned int len = 0;
  return EVP_Digest(id.data(), id.size(), out, &len, EVP_sha256(), nullptr) == 1 && len == 32;
}

// The wildcard key covering `name` ("b.example.com" for "x.b.example.com"):
// one label replaced, never the whole name. Empty when there is none.
std::string_view wildcard_key(std::string_view name) {
  size_t dot = name.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= name.size()) return {};
  return name.substr(dot + 1);
}

}  // namespace

std::shared_ptr<const ServerContext> ServerContext::create(const conf::ListenerTls& config,
                                                           std::shared_ptr<TicketKeys> keys,
                                                           std::string& error) {
  ERR_clear_error();
  if (config.certificates.empty()) {
    error = "tls: no certificates configured";
    return nullptr;
  }
  auto self = std::make_shared<ServerContext>(Private{});
  self->keys_ = keys ? std::move(keys) : std::make_shared<TicketKeys>();
  self->requires_client_cert_ = config.client_ca.has_value();

  for (auto& p : config.alpn) {
    if (p.empty() || p.size() > 255) {
      error = "tls: alpn protocol \"" + p + "\" must be 1..255 bytes";
      return nullptr;
    }
    self->alpn_.push_back(p);
  }

  unsigned char sid_ctx[32];
  if (!make_sid_ctx(config, sid_ctx)) {
    error = "tls: " + drain_errors("cannot hash the session context");
    return nullptr;
  }

  const int64_t now = static_cast<int64_t>(::time(nullptr));
  for (auto& files : config.certificates) {
    if (!self->load_certificate(files, error)) return nullptr;
    Cert& cert = self->certs_.back();
    if (!files.ocsp) continue;
    std::string problem;
    cert.staple = check_ocsp_response(files.ocsp_der, cert.loaded.leaf.get(), cert.loaded.chain.get(), now, problem);
    if (!cert.staple)
      self->warnings_.push_back("certificate file \"" + files.cert + "\": OCSP response \"" + *files.ocsp +
                                "\" is not stapled: " + problem);
  }

  // Which certificates carry which names, in configuration order.
  std::unordered_map<std::string, std::vector<size_t>> exact_certs, wildcard_certs;
  for (size_t i = 0; i < self->certs_.size(); ++i) {
    for (auto& name : self->certs_[i].names) {
      if (name.size() > 2 && name.compare(0, 2, "*.") == 0) wildcard_certs[name.substr(2)].push_back(i);
      else exact_certs[name].push_back(i);
    }
  }
  // The certificates serving a name: the first of each key type, looking at
  // the tiers in order (exact names, then the wildcard).
  auto pick = [&](std::initializer_list<const std::vector<size_t>*> tiers) {
    CertSet set;
    for (const auto* tier : tiers) {
      for (size_t i = 0; tier && i < tier->size(); ++i) {
        size_t c = (*tier)[i];
        bool type_taken = false;
        for (size_t have : set) type_taken = type_taken || self->certs_[have].key_type == self->certs_[c].key_type;
        if (!type_taken) set.push_back(c);
      }
    }
    std::sort(set.begin(), set.end());
    return set;
  };
  auto wildcard_tier = [&](std::string_view key) -> const std::vector<size_t>* {
    if (key.empty()) return nullptr;
    auto it = wildcard_certs.find(std::string(key));
    return it == wildcard_certs.end() ? nullptr : &it->second;
  };

  std::map<CertSet, size_t> made;
  std::vector<bool> served(self->certs_.size(), false);
  auto ctx_for = [&](const CertSet& set) -> std::optional<size_t> {
    if (auto it = made.find(set); it != made.end()) return it->second;
    SslCtxPtr ctx = self->make_ctx(set, config, sid_ctx, sizeof sid_ctx, error);
    if (!ctx) return std::nullopt;
    self->ctxs_.push_back(std::move(ctx));
    made.emplace(set, self->ctxs_.size() - 1);
    for (size_t c : set) served[c] = true;
    return self->ctxs_.size() - 1;
  };

  // The default first (ctxs_[0]): what the first certificate's first name
  // gets, so a client without SNI is served like one asking for that name.
  CertSet default_set = {0};
  if (const auto& names = self->certs_[0].names; !names.empty()) {
    const std::string& first = names.front();
    if (first.size() > 2 && first.compare(0, 2, "*.") == 0) default_set = pick({wildcard_tier(first.substr(2))});
    else default_set = pick({&exact_certs[first], wildcard_tier(wildcard_key(first))});
  }
  if (!ctx_for(default_set)) return nullptr;
  for (auto& [name, certs] : exact_certs) {
    auto index = ctx_for(pick({&certs, wildcard_tier(wildcard_key(name))}));
    if (!index) return nullptr;
    self->exact_.emplace(name, *index);
  }
  for (auto& [suffix, certs] : wildcard_certs) {
    auto index = ctx_for(pick({&certs}));
    if (!index) return nullptr;
    self->wildcard_.emplace(suffix, *index);
  }

  // A certificate in no set is never served: an earlier one of its key type
  // carries each of its names. Say so rather than keep it silently.
  for (size_t i = 0; i < self->certs_.size(); ++i) {
    if (!served[i])
      self->warnings_.push_back("certificate file \"" + config.certificates[i].cert +
                                "\" is never served: an earlier certificate with the same key type has each of its names");
  }
  return self;
}

bool ServerContext::load_certificate(const conf::TlsCertificate& files, std::string& error) {
  Cert cert;
  if (!load_certificate_and_key(files, cert.loaded, error)) return false;
  cert.key_type = EVP_PKEY_get_base_id(cert.loaded.key.get());
  cert.names = dns_names(cert.loaded.leaf.get());
  certs_.push_back(std::move(cert));
  return true;
}

SslCtxPtr ServerContext::make_ctx(const CertSet& set, const conf::ListenerTls& config, const unsigned char* sid_ctx,
                                  unsigned sid_ctx_len, std::string& error) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    error = "tls: " + drain_errors("cannot create SSL_CTX");
    return nullptr;
  }
  int min_version = config.min_version == conf::TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (!apply_common_settings(ctx.get(), min_version)) {
    error = "tls: " + drain_errors("cannot apply protocol settings");
    return nullptr;
  }

  // Last loaded is the context's "current" certificate (what
  // SSL_CTX_get0_certificate shows): make that the first listed.
  bool stapling = false;
  for (auto it = set.rbegin(); it != set.rend(); ++it) {
    if (!use_certificate(ctx.get(), certs_[*it].loaded, error)) {
      error = "certificate file \"" + config.certificates[*it].cert + "\": " + error;
      return nullptr;
    }
    stapling = stapling || certs_[*it].staple.has_value();
  }

  if (config.client_ca) {
    const std::string& ca = *config.client_ca;
    if (SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr) != 1) {
      error = "client_ca file \"" + ca + "\": " + drain_errors("cannot load CA certificates");
      return nullptr;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
    if (!names) {
      error = "client_ca file \"" + ca + "\": " + drain_errors("no CA certificates found");
      return nullptr;
    }
    SSL_CTX_set_client_CA_list(ctx.get(), names);  // takes ownership
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }

  // Resumption is ticket-only: no per-worker server-side cache to grow or to
  // miss when the client comes back on another worker.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx.get(), 1);
  if (SSL_CTX_set_session_id_context(ctx.get(), sid_ctx, sid_ctx_len) != 1) {
    error = "tls: " + drain_errors("cannot set session id context");
    return nullptr;
  }
  keys_->attach(ctx.get());

  // Every context carries the callbacks: OpenSSL consults the initial one for
  // SNI and the switched one for ALPN and the OCSP status. The status
  // callback only where there is something to staple: elsewhere OpenSSL
  // then answers a status_request with nothing, at no cost.
  SSL_CTX_set_tlsext_servername_callback(ctx.get(), &ServerContext::servername_callback);
  SSL_CTX_set_tlsext_servername_arg(ctx.get(), this);
  if (!alpn_.empty()) SSL_CTX_set_alpn_select_cb(ctx.get(), &ServerContext::alpn_callback, this);
  if (stapling) {
    SSL_CTX_set_tlsext_status_cb(ctx.get(), &ServerContext::status_callback);
    SSL_CTX_set_tlsext_status_arg(ctx.get(), this);
  }
  return ctx;
}

SSL_CTX* ServerContext::select(std::string_view server_name) const {
  if (!server_name.empty() && server_name.back() == '.') server_name.remove_suffix(1);
  if (server_name.empty() || server_name.size() > 253) return default_ctx();
  std::string name = lower(server_name);
  if (auto it = exact_.find(name); it != exact_.end()) return ctxs_[it->second].get();
  if (std::string_view key = wildcard_key(name); !key.empty()) {
    if (auto it = wildcard_.find(std::string(key)); it != wildcard_.end()) return ctxs_[it->second].get();
  }
  return default_ctx();
}

int ServerContext::servername_callback(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;  // no SNI: stay on the default certificate
  SSL_CTX* want = self->select(name);
  if (want != SSL_get_SSL_CTX(ssl) && !SSL_set_SSL_CTX(ssl, want)) return SSL_TLSEXT_ERR_ALERT_FATAL;
  return SSL_TLSEXT_ERR_OK;
}

// Server preference: the first configured protocol the client also offers.
// No overlap → continue without ALPN rather than failing the handshake.
int ServerContext::alpn_callback(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                                 const unsigned char* in, unsigned int inlen, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  for (const auto& proto : self->alpn_) {
    for (unsigned int i = 0; i < inlen;) {
      unsigned int len = in[i];
      if (i + 1 + len > inlen) break;  // malformed list: ignore the tail
      if (len == proto.size() && std::memcmp(in + i + 1, proto.data(), len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// Runs after OpenSSL has chosen the certificate (RSA or ECDSA) for this
// handshake; only the client's status_request brings us here. The staple is
// the chosen certificate's, copied because OpenSSL frees what it is given.
int ServerContext::status_callback(SSL* ssl, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  const X509* served = SSL_get_certificate(ssl);
  for (const auto& cert : self->certs_) {
    if (cert.loaded.leaf.get() != served) continue;
    if (!cert.staple || !cert.staple->fresh(static_cast<int64_t>(::time(nullptr)))) return SSL_TLSEXT_ERR_NOACK;
    const std::string& der = cert.staple->der;
    auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(der.data(), der.size()));
    if (!copy) return SSL_TLSEXT_ERR_NOACK;  // no memory: a handshake without a staple beats none
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der.size())) != 1) {
      OPENSSL_free(copy);
      return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace lb::tls
