// tls/server_context.cpp — building a listener's SSL_CTXs and the SNI and
// ALPN callbacks. See server_context.h.
#include "tls/server_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

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

  for (auto& files : config.certificates) {
    if (!self->add_certificate(files, config, sid_ctx, sizeof sid_ctx, error)) return nullptr;
  }

  // Name index: exact names before wildcards; the first certificate keeps a
  // name two certificates share (emplace does not overwrite).
  for (size_t i = 0; i < self->certs_.size(); ++i) {
    for (auto& name : self->certs_[i].names) {
      if (name.size() > 2 && name.compare(0, 2, "*.") == 0)
        self->wildcard_.emplace(name.substr(2), i);
      else
        self->exact_.emplace(name, i);
    }
  }
  return self;
}

bool ServerContext::add_certificate(const conf::TlsCertificate& files, const conf::ListenerTls& config,
                                    const unsigned char* sid_ctx, unsigned sid_ctx_len, std::string& error) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    error = "tls: " + drain_errors("cannot create SSL_CTX");
    return false;
  }
  int min_version = config.min_version == conf::TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (!apply_common_settings(ctx.get(), min_version)) {
    error = "tls: " + drain_errors("cannot apply protocol settings");
    return false;
  }

  if (!use_certificate(ctx.get(), files, error)) return false;

  if (config.client_ca) {
    const std::string& ca = *config.client_ca;
    if (SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr) != 1) {
      error = "client_ca file \"" + ca + "\": " + drain_errors("cannot load CA certificates");
      return false;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
    if (!names) {
      error = "client_ca file \"" + ca + "\": " + drain_errors("no CA certificates found");
      return false;
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
    return false;
  }
  keys_->attach(ctx.get());

  // Every context carries the callbacks: OpenSSL consults the initial one for
  // SNI and the switched one for ALPN.
  SSL_CTX_set_tlsext_servername_callback(ctx.get(), &ServerContext::servername_callback);
  SSL_CTX_set_tlsext_servername_arg(ctx.get(), this);
  if (!alpn_.empty()) SSL_CTX_set_alpn_select_cb(ctx.get(), &ServerContext::alpn_callback, this);

  Cert cert;
  cert.names = dns_names(SSL_CTX_get0_certificate(ctx.get()));
  cert.ctx = std::move(ctx);
  certs_.push_back(std::move(cert));
  return true;
}

SSL_CTX* ServerContext::select(std::string_view server_name) const {
  if (!server_name.empty() && server_name.back() == '.') server_name.remove_suffix(1);
  if (server_name.empty() || server_name.size() > 253) return default_ctx();
  std::string name = lower(server_name);
  if (auto it = exact_.find(name); it != exact_.end()) return certs_[it->second].ctx.get();
  size_t dot = name.find('.');
  if (dot != std::string::npos && dot > 0 && dot + 1 < name.size()) {
    if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end())
      return certs_[it->second].ctx.get();
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

}  // namespace lb::tls
