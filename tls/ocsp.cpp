// tls/ocsp.cpp — checking an OCSP response before it is stapled. See ocsp.h.
#include "tls/ocsp.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>

#include <cstring>
#include <ctime>
#include <memory>

#include "tls/openssl_util.h"

namespace lb::tls {

namespace {

using OcspResponsePtr = std::unique_ptr<OCSP_RESPONSE, OpensslDeleter<OCSP_RESPONSE_free>>;
using OcspBasicPtr = std::unique_ptr<OCSP_BASICRESP, OpensslDeleter<OCSP_BASICRESP_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpensslDeleter<X509_STORE_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpensslDeleter<BN_free>>;

// A view of borrowed certificates: sk_X509_free drops the stack, not them.
void free_view(STACK_OF(X509) * s) { sk_X509_free(s); }
using X509ViewPtr = std::unique_ptr<STACK_OF(X509), OpensslDeleter<free_view>>;

std::string serial_text(const ASN1_INTEGER* serial) {
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  char* dec = bn ? BN_bn2dec(bn.get()) : nullptr;
  std::string out = dec ? dec : "?";
  OPENSSL_free(dec);
  return out;
}

std::optional<int64_t> unix_time(const ASN1_GENERALIZEDTIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

std::string iso8601(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The certificate in `chain` that issued `leaf`, or null.
X509* find_issuer(X509* leaf, STACK_OF(X509) * chain) {
  for (int i = 0; chain && i < sk_X509_num(chain); ++i) {
    X509* candidate = sk_X509_value(chain, i);
    if (X509_check_issued(candidate, leaf) == X509_V_OK) return candidate;
  }
  return nullptr;
}

bool digest_equals(const ASN1_OCTET_STRING* want, const EVP_MD* md, const void* data, size_t len) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!want || EVP_Digest(data, len, buf, &n, md, nullptr) != 1) return false;
  return ASN1_STRING_length(want) == static_cast<int>(n) && std::memcmp(ASN1_STRING_get0_data(want), buf, n) == 0;
}

// Whether certificate ID `cid` names `leaf`: RFC 6960 4.1.1 identifies it by
// serial number, the hash of the issuer's name and the hash of the issuer's
// public key. Without the issuer certificate the key hash cannot be
// computed, so serial and name hash must do. `same_serial` tells a response
// for another issuer's certificate apart from one for another certificate.
bool id_matches(OCSP_CERTID* cid, X509* leaf, X509* issuer, bool& same_serial) {
  ASN1_OCTET_STRING* name_hash = nullptr;
  ASN1_OBJECT* md_oid = nullptr;
  ASN1_OCTET_STRING* key_hash = nullptr;
  ASN1_INTEGER* serial = nullptr;
  if (OCSP_id_get0_info(&name_hash, &md_oid, &key_hash, &serial, cid) != 1) return false;
  if (ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(leaf)) != 0) return false;
  same_serial = true;
  const EVP_MD* md = EVP_get_digestbyobj(md_oid);
  if (!md) return false;
  unsigned char* name_der = nullptr;
  int name_len = i2d_X509_NAME(X509_get_issuer_name(leaf), &name_der);
  bool ok = name_len > 0 && digest_equals(name_hash, md, name_der, static_cast<size_t>(name_len));
  OPENSSL_free(name_der);
  if (ok && issuer) {
    const ASN1_BIT_STRING* key = X509_get0_pubkey_bitstr(issuer);
    ok = key && digest_equals(key_hash, md, ASN1_STRING_get0_data(key), static_cast<size_t>(ASN1_STRING_length(key)));
  }
  return ok;
}

// Signed by the issuer itself, or by a responder certificate the issuer
// signed for OCSP (OCSP_basic_verify checks the delegation's EKU). The issuer
// is the only trust anchor: the response speaks for this issuer's
// certificates and nobody else's.
bool signature_ok(OCSP_BASICRESP* bs, X509* issuer) {
  X509ViewPtr certs(sk_X509_new_null());
  X509StorePtr store(X509_STORE_new());
  if (!certs || !store || !sk_X509_push(certs.get(), issuer) || X509_STORE_add_cert(store.get(), issuer) != 1)
    return false;
  // The issuer is usually an intermediate: let it anchor the chain alone.
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  return OCSP_basic_verify(bs, certs.get(), store.get(), OCSP_TRUSTOTHER) == 1;
}

}  // namespace

std::optional<OcspStaple> check_ocsp_response(std::string_view der, X509* leaf, STACK_OF(X509) * chain,
                                              int64_t now, std::string& problem) {
  ERR_clear_error();
  auto fail = [&](std::string why) -> std::optional<OcspStaple> {
    ERR_clear_error();
    problem = std::move(why);
    return std::nullopt;
  };
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  OcspResponsePtr resp(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  if (!resp) return fail("it is not a DER OCSP response");
  const int status = OCSP_response_status(resp.get());
  if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    return fail(std::string("the responder answered \"") + OCSP_response_status_str(status) + "\"");
  OcspBasicPtr bs(OCSP_response_get1_basic(resp.get()));
  if (!bs) return fail("it holds no basic OCSP response");

  X509* issuer = find_issuer(leaf, chain);
  OCSP_SINGLERESP* single = nullptr;
  bool same_serial = false;
  for (int i = 0; i < OCSP_resp_count(bs.get()) && !single; ++i) {
    OCSP_SINGLERESP* s = OCSP_resp_get0(bs.get(), i);
    if (id_matches(const_cast<OCSP_CERTID*>(OCSP_SINGLERESP_get0_id(s)), leaf, issuer, same_serial)) single = s;
  }
  if (!single) {
    if (same_serial) return fail("it is for a certificate of another issuer (same serial, other issuer)");
    std::string theirs;
    for (int i = 0; i < OCSP_resp_count(bs.get()); ++i) {
      ASN1_INTEGER* serial = nullptr;
      OCSP_id_get0_info(nullptr, nullptr, nullptr, &serial,
                        const_cast<OCSP_CERTID*>(OCSP_SINGLERESP_get0_id(OCSP_resp_get0(bs.get(), i))));
      theirs += (theirs.empty() ? "" : ", ") + (serial ? serial_text(serial) : std::string("?"));
    }
    return fail("it is for another certificate (serial " + (theirs.empty() ? std::string("none") : theirs) +
                ", ours is " + serial_text(X509_get0_serialNumber(leaf)) + ")");
  }
  if (issuer && !signature_ok(bs.get(), issuer))
    return fail("its signature does not verify against the certificate's issuer: " + drain_errors("bad signature"));

  int reason = 0;
  ASN1_GENERALIZEDTIME *revoked_at = nullptr, *this_update = nullptr, *next_update = nullptr;
  const int cert_status = OCSP_single_get0_status(single, &reason, &revoked_at, &this_update, &next_update);
  if (cert_status != V_OCSP_CERTSTATUS_GOOD)
    return fail(std::string("the certificate's status is \"") + OCSP_cert_status_str(cert_status) + "\"");

  std::optional<int64_t> from = unix_time(this_update);
  if (!from) return fail("its thisUpdate is unreadable");
  if (*from > now + kOcspClockSkewSeconds) return fail("it is not valid before " + iso8601(*from));
  OcspStaple staple;
  if (next_update) {
    std::optional<int64_t> until = unix_time(next_update);
    if (!until) return fail("its nextUpdate is unreadable");
    if (*until <= now) return fail("it expired at " + iso8601(*until));
    staple.next_update = *until;
  }
  staple.der.assign(der);
  ERR_clear_error();
  return staple;
}

}  // namespace lb::tls
