// lb/security/jws.cpp — see jws.h.
#include "lb/security/jws.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <array>
#include <climits>
#include <memory>

namespace lb::security {

namespace {

using lb::tls::OpensslDeleter;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpensslDeleter<EVP_MD_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OpensslDeleter<ECDSA_SIG_free>>;
using BnPtr = std::unique_ptr<BIGNUM, OpensslDeleter<BN_free>>;

struct AlgInfo {
  JwtAlg alg;
  std::string_view name;
  const char* digest;  // OpenSSL digest name; null for EdDSA (Ed25519 hashes internally)
};

constexpr std::array<AlgInfo, 12> kAlgs = {{
    {JwtAlg::RS256, "RS256", "SHA256"}, {JwtAlg::RS384, "RS384", "SHA384"}, {JwtAlg::RS512, "RS512", "SHA512"},
    {JwtAlg::PS256, "PS256", "SHA256"}, {JwtAlg::PS384, "PS384", "SHA384"}, {JwtAlg::PS512, "PS512", "SHA512"},
    {JwtAlg::ES256, "ES256", "SHA256"}, {JwtAlg::ES384, "ES384", "SHA384"}, {JwtAlg::EdDSA, "EdDSA", nullptr},
    {JwtAlg::HS256, "HS256", "SHA256"}, {JwtAlg::HS384, "HS384", "SHA384"}, {JwtAlg::HS512, "HS512", "SHA512"},
}};

// kAlgs is indexed by the enum's value.
constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < kAlgs.size(); ++i)
    if (static_cast<size_t>(kAlgs[i].alg) != i) return false;
  return true;
}
static_assert(table_in_enum_order());

const AlgInfo& info(JwtAlg alg) { return kAlgs[static_cast<size_t>(alg)]; }

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

bool is_pss(JwtAlg alg) { return alg == JwtAlg::PS256 || alg == JwtAlg::PS384 || alg == JwtAlg::PS512; }

// JOSE writes an ECDSA signature as r||s, each left-padded to the curve size
// (RFC 7518 3.4); OpenSSL verifies the DER SEQUENCE { r, s }. Anything but
// exactly 2 * size bytes is refused rather than guessed at (a DER signature
// pasted into a token must not verify).
bool jose_to_der(std::string_view raw, size_t size, std::string& der) {
  if (raw.size() != 2 * size) return false;
  BnPtr r(BN_bin2bn(bytes(raw), static_cast<int>(size), nullptr));
  BnPtr s(BN_bin2bn(bytes(raw.substr(size)), static_cast<int>(size), nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return false;
  r.release();  // owned by sig now
  s.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return false;
  der.resize(static_cast<size_t>(len));
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  return i2d_ECDSA_SIG(sig.get(), &out) == len;
}

bool hmac_valid(const AlgInfo& a, const JwtKey& key, std::string_view input, std::string_view signature) {
  const EVP_MD* md = a.alg == JwtAlg::HS256 ? EVP_sha256() : a.alg == JwtAlg::HS384 ? EVP_sha384() : EVP_sha512();
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (key.secret.size() > INT_MAX ||
      !HMAC(md, key.secret.data(), static_cast<int>(key.secret.size()), bytes(input), input.size(), mac, &mac_len))
    return false;
  // The length is public (it is the algorithm's); the bytes are compared in
  // constant time so the time taken says nothing about how many matched.
  return signature.size() == mac_len && CRYPTO_memcmp(signature.data(), mac, mac_len) == 0;
}

bool pkey_valid(const AlgInfo& a, const JwtKey& key, std::string_view input, std::string_view signature) {
  std::string der;
  if (a.alg == JwtAlg::ES256 || a.alg == JwtAlg::ES384) {
    if (!jose_to_der(signature, a.alg == JwtAlg::ES256 ? 32 : 48, der)) return false;
    signature = der;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), &pctx, a.digest, nullptr, nullptr, key.pkey.get(), nullptr) != 1)
    return false;
  // RFC 7518 3.5: PSS with MGF1 over the same hash (OpenSSL's default for
  // PSS) and a salt as long as the hash.
  if (is_pss(a.alg) && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
    return false;
  // One-shot: the only form Ed25519 supports, and fine for the others.
  return EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(input), input.size()) == 1;
}

}  // namespace

std::optional<JwtAlg> jwt_alg_from_name(std::string_view name) {
  for (const AlgInfo& a : kAlgs)
    if (a.name == name) return a.alg;
  return std::nullopt;
}

std::string_view jwt_alg_name(JwtAlg alg) { return info(alg).name; }

bool jwt_alg_fits_key(JwtAlg alg, JwkType type) {
  switch (alg) {
    case JwtAlg::RS256: case JwtAlg::RS384: case JwtAlg::RS512:
    case JwtAlg::PS256: case JwtAlg::PS384: case JwtAlg::PS512:
      return type == JwkType::rsa;
    case JwtAlg::ES256: return type == JwkType::ec_p256;
    case JwtAlg::ES384: return type == JwkType::ec_p384;
    case JwtAlg::EdDSA: return type == JwkType::ed25519;
    case JwtAlg::HS256: case JwtAlg::HS384: case JwtAlg::HS512:
      return type == JwkType::oct;
  }
  return false;
}

size_t jwt_hmac_min_secret(JwtAlg alg) {
  switch (alg) {
    case JwtAlg::HS256: return 32;
    case JwtAlg::HS384: return 48;
    case JwtAlg::HS512: return 64;
    default: return 0;
  }
}

bool jws_signature_valid(JwtAlg alg, const JwtKey& key, std::string_view signing_input, std::string_view signature) {
  if (!jwt_alg_fits_key(alg, key.type)) return false;
  const AlgInfo& a = info(alg);
  bool ok = false;
  if (key.type == JwkType::oct) {
    ok = !key.secret.empty() && hmac_valid(a, key, signing_input, signature);
  } else {
    ok = key.pkey && pkey_valid(a, key, signing_input, signature);
  }
  // A bad signature leaves reasons on the queue; they must not surface in
  // whatever the thread does with OpenSSL next (a TLS read, say).
  ERR_clear_error();
  return ok;
}

}  // namespace lb::security
