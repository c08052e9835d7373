// tests/ocsp_mint.h — minting OCSP responses through the OpenSSL API at any
// time we like, for the unit tests (tests/unit/tls_ocsp_test.cpp) and the
// integration tests (tests/integration/tls_edge_test.cpp) alike: `openssl
// ocsp` only writes responses valid from now on, and an expired or not yet
// valid one is exactly what the tests need. Header-only, OpenSSL only: the
// integration tests do not link lb's code.
#pragma once

#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <climits>
#include <memory>
#include <stdexcept>
#include <string>

#include "tls/openssl_util.h"

namespace test_ocsp {

template <auto Free>
using Deleter = lb::tls::OpensslDeleter<Free>;
using X509Ptr = lb::tls::X509Ptr;
using KeyPtr = lb::tls::EvpPkeyPtr;

inline constexpr long kNoNextUpdate = LONG_MIN;

struct Minted {
  long this_offset = -60;    // thisUpdate, seconds from now
  long next_offset = 86400;  // nextUpdate, seconds from now (kNoNextUpdate: none)
  int status = V_OCSP_CERTSTATUS_GOOD;
  int response_status = OCSP_RESPONSE_STATUS_SUCCESSFUL;  // others carry no body
};

// The first PEM object `read` (PEM_read_X509, PEM_read_PrivateKey) finds in
// the file at `path`, or throws.
template <typename Ptr, typename Reader>
Ptr read_pem(const std::string& path, Reader read) {
  FILE* f = fopen(path.c_str(), "r");
  if (!f) throw std::runtime_error("cannot open " + path);
  Ptr p(read(f, nullptr, nullptr, nullptr));
  fclose(f);
  if (!p) throw std::runtime_error("nothing readable in " + path);
  return p;
}
inline X509Ptr read_cert(const std::string& path) { return read_pem<X509Ptr>(path, PEM_read_X509); }
inline KeyPtr read_key(const std::string& path) { return read_pem<KeyPtr>(path, PEM_read_PrivateKey); }

// A DER OCSPResponse about `leaf` (issued by `issuer`: that makes the
// certificate ID), signed by `signer` with `key` (the signer's certificate
// goes into the response, as `openssl ocsp -rsigner` does). Throws on failure.
inline std::string mint(X509* leaf, X509* issuer, X509* signer, EVP_PKEY* key, const Minted& m = {}) {
  using Response = std::unique_ptr<OCSP_RESPONSE, Deleter<OCSP_RESPONSE_free>>;
  using Basic = std::unique_ptr<OCSP_BASICRESP, Deleter<OCSP_BASICRESP_free>>;
  using Id = std::unique_ptr<OCSP_CERTID, Deleter<OCSP_CERTID_free>>;
  using Time = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME_free>>;
  auto der_of = [](OCSP_RESPONSE* r) {
    unsigned char* der = nullptr;
    int len = i2d_OCSP_RESPONSE(r, &der);
    if (len <= 0) throw std::runtime_error("i2d_OCSP_RESPONSE failed");
    std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    return out;
  };
  if (m.response_status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    return der_of(Response(OCSP_response_create(m.response_status, nullptr)).get());

  const bool revoked = m.status == V_OCSP_CERTSTATUS_REVOKED;
  Id id(OCSP_cert_to_id(EVP_sha1(), leaf, issuer));
  Basic bs(OCSP_BASICRESP_new());
  Time this_update(X509_gmtime_adj(nullptr, m.this_offset));
  Time next_update(m.next_offset == kNoNextUpdate ? nullptr : X509_gmtime_adj(nullptr, m.next_offset));
  Time revoked_at(revoked ? X509_gmtime_adj(nullptr, -3600) : nullptr);
  if (!id || !bs || !this_update ||
      !OCSP_basic_add1_status(bs.get(), id.get(), m.status, revoked ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : -1,
                              revoked_at.get(), this_update.get(), next_update.get()) ||
      OCSP_basic_sign(bs.get(), signer, key, EVP_sha256(), nullptr, 0) != 1)
    throw std::runtime_error("minting an OCSP response failed");
  return der_of(Response(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs.get())).get());
}

}  // namespace test_ocsp
