// tls/openssl_util.cpp — error-queue formatting and settings shared by the
// server and client contexts. See openssl_util.h.
#include "tls/openssl_util.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <vector>

namespace lb::tls {

std::string drain_errors(std::string_view fallback) {
  std::vector<std::string> reasons;
  const char* file = nullptr;
  int line = 0;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long e = ERR_get_error_all(&file, &line, nullptr, &data, &flags)) {
    const char* reason = ERR_reason_error_string(e);
    std::string text = reason ? reason : "error " + std::to_string(ERR_GET_REASON(e));
    if ((flags & ERR_TXT_STRING) && data && *data) text += std::string(" (") + data + ")";
    bool seen = false;
    for (auto& r : reasons) seen = seen || r == text;
    if (!seen) reasons.push_back(std::move(text));
  }
  if (reasons.empty()) return std::string(fallback);
  // The queue holds the outermost failure last; the innermost cause (e.g.
  // "No such file or directory") first. Report innermost first.
  std::string out;
  for (auto& r : reasons) {
    if (!out.empty()) out += "; ";
    out += r;
  }
  return out;
}

bool apply_common_settings(SSL_CTX* ctx, int min_version) {
  // TLS 1.0/1.1 (and SSLv3) are excluded by the minimum version (>= 1.2).
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // RELEASE_BUFFERS: no 16 KiB record buffers held by idle connections.
  // ENABLE_PARTIAL_WRITE / ACCEPT_MOVING_WRITE_BUFFER: Connection retries
  // writes from its own buffer, which may move between calls.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1) return false;
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) return false;
  return true;
}

namespace {
int no_passphrase(char*, int, int, void*) { return 0; }
}  // namespace

EvpPkeyPtr load_private_key(const std::string& path, std::string& error) {
  ERR_clear_error();
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    error = "key file \"" + path + "\": " + drain_errors("cannot open");
    return nullptr;
  }
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    error = "key file \"" + path + "\": no usable PEM private key (encrypted keys are not supported): " +
            drain_errors("unreadable");
  }
  return key;
}

bool load_certificate_and_key(const conf::TlsCertificate& files, CertificateAndKey& out, std::string& error) {
  ERR_clear_error();
  auto cert_error = [&](std::string_view fallback) {
    error = "certificate file \"" + files.cert + "\": " + drain_errors(fallback);
    return false;
  };
  BioPtr bio(BIO_new_file(files.cert.c_str(), "r"));
  if (!bio) return cert_error("cannot open");
  // What SSL_CTX_use_certificate_chain_file reads: the leaf (with any trust
  // settings), then every further certificate until the end of the file.
  out.leaf.reset(PEM_read_bio_X509_AUX(bio.get(), nullptr, no_passphrase, nullptr));
  if (!out.leaf) return cert_error("cannot load certificate");
  out.chain.reset(sk_X509_new_null());
  if (!out.chain) return cert_error("out of memory");
  while (X509Ptr extra{PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)}) {
    if (!sk_X509_push(out.chain.get(), extra.get())) return cert_error("out of memory");
    extra.release();  // the stack owns it now
  }
  unsigned long last = ERR_peek_last_error();
  if (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) ERR_clear_error();  // end of file
  else if (last != 0) return cert_error("cannot load chain certificate");

  out.key = load_private_key(files.key, error);
  if (!out.key) return false;
  if (X509_check_private_key(out.leaf.get(), out.key.get()) != 1) {
    ERR_clear_error();
    error = "key file \"" + files.key + "\" does not match certificate file \"" + files.cert + "\"";
    return false;
  }
  return true;
}

bool use_certificate(SSL_CTX* ctx, const CertificateAndKey& cert, std::string& error) {
  ERR_clear_error();
  // override = 1 only matters if two certificates of one key type came here;
  // the callers pick one per type.
  if (SSL_CTX_use_cert_and_key(ctx, cert.leaf.get(), cert.key.get(), cert.chain.get(), 1) != 1) {
    error = "certificate \"" + subject_rfc2253(cert.leaf.get()) + "\": " + drain_errors("rejected");
    return false;
  }
  return true;
}

bool use_certificate(SSL_CTX* ctx, const conf::TlsCertificate& files, std::string& error) {
  CertificateAndKey cert;
  if (!load_certificate_and_key(files, cert, error)) return false;
  if (!use_certificate(ctx, cert, error)) {
    error = "certificate file \"" + files.cert + "\": " + error;
    return false;
  }
  return true;
}

std::string subject_rfc2253(const X509* cert) {
  if (!cert) return {};
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  if (X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    ERR_clear_error();
    return {};
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

}  // namespace lb::tls
