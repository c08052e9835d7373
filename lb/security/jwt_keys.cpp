// lb/security/jwt_keys.cpp — JWKS and secret_file loading. See jwt_keys.h.
#include "lb/security/jwt_keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <new>

#include <nlohmann/json.hpp>

#include "conf/load.h"
#include "conf/values.h"
#include "lb/security/base64url.h"

namespace lb::security {

namespace {

using json = nlohmann::json;
using lb::tls::OpensslDeleter;
using BnPtr = std::unique_ptr<BIGNUM, OpensslDeleter<BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, OpensslDeleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, OpensslDeleter<OSSL_PARAM_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpensslDeleter<EVP_PKEY_CTX_free>>;

constexpr size_t kMaxJwksBytes = 1 << 20;
constexpr size_t kMaxSecretBytes = 64 << 10;
constexpr int kMinRsaBits = 2048;  // RFC 7518 3.3: "2048 bits or larger MUST be used"

// Every failure below throws KeyError inside this file only; the public
// functions catch it (and bad_alloc) and turn it into `error`.
struct KeyError {
  std::string message;
};

[[noreturn]] void fail(std::string message) { throw KeyError{std::move(message)}; }

// `fail` with the OpenSSL error queue appended.
[[noreturn]] void fail_ssl(const std::string& what) { fail(what + ": " + lb::tls::drain_errors()); }

std::string json_quote(std::string_view s) { return json(std::string(s)).dump(-1, ' ', true, json::error_handler_t::replace); }

// An optional string member; present but not a string → error.
std::optional<std::string> opt_string(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end()) return std::nullopt;
  if (!it->is_string()) fail(std::string("\"") + name + "\" must be a string");
  return it->get<std::string>();
}

// A required base64url member, decoded.
std::string b64_member(const json& jwk, const char* name) {
  std::optional<std::string> text = opt_string(jwk, name);
  if (!text) fail(std::string("missing \"") + name + "\"");
  std::string bytes;
  if (!base64url_decode(*text, bytes)) fail(std::string("\"") + name + "\" is not valid unpadded base64url");
  if (bytes.empty()) fail(std::string("\"") + name + "\" is empty");
  return bytes;
}

// Builds a public key of `type_name` ("RSA", "EC") from provider parameters.
EvpPkeyPtr from_params(const char* type_name, OSSL_PARAM_BLD* bld) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) fail_ssl("building key parameters");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type_name, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) fail_ssl(std::string("no ") + type_name + " support");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) fail_ssl("invalid key");
  EvpPkeyPtr key(raw);
  // fromdata takes the numbers as given; the public check is what refuses an
  // EC point off the curve or an even RSA modulus.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) fail_ssl("public key check failed");
  return key;
}

BnPtr to_bn(const std::string& bytes) {
  BnPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr));
  if (!bn) fail_ssl("number too large");
  return bn;
}

void load_rsa(const json& jwk, JwtKey& key) {
  std::string n = b64_member(jwk, "n");
  std::string e = b64_member(jwk, "e");
  BnPtr bn_n = to_bn(n), bn_e = to_bn(e);
  const int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits)
    fail("RSA key of " + std::to_string(bits) + " bits; at least " + std::to_string(kMinRsaBits) +
         " are required (RFC 7518 3.3)");
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    fail_ssl("RSA parameters");
  key.type = JwkType::rsa;
  key.bits = static_cast<size_t>(bits);
  key.pkey = from_params("RSA", bld.get());
}

void load_ec(const json& jwk, JwtKey& key) {
  std::optional<std::string> crv = opt_string(jwk, "crv");
  if (!crv) fail("EC key: missing \"crv\"");
  size_t size = 0;
  if (*crv == "P-256") {
    key.type = JwkType::ec_p256;
    size = 32;
  } else if (*crv == "P-384") {
    key.type = JwkType::ec_p384;
    size = 48;
  } else {
    fail("EC key: unsupported crv " + json_quote(*crv) + " (P-256 and P-384 are)");
  }
  std::string x = b64_member(jwk, "x");
  std::string y = b64_member(jwk, "y");
  // RFC 7518 6.2.1.2/6.2.1.3: each coordinate is the full field size, so a
  // short one is a broken key, not a number with its leading zeros dropped.
  for (auto [name, v] : {std::pair{"x", &x}, std::pair{"y", &y}})
    if (v->size() != size)
      fail("EC key: \"" + std::string(name) + "\" must be " + std::to_string(size) + " bytes for " + *crv + ", got " +
           std::to_string(v->size()));
  std::string point = "\x04" + x + y;  // SEC 1 uncompressed point
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, crv->c_str(), 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
    fail_ssl("EC parameters");
  key.bits = size * 8;
  key.pkey = from_params("EC", bld.get());
}

void load_okp(const json& jwk, JwtKey& key) {
  std::optional<std::string> crv = opt_string(jwk, "crv");
  if (!crv) fail("OKP key: missing \"crv\"");
  if (*crv != "Ed25519") fail("OKP key: unsupported crv " + json_quote(*crv) + " (Ed25519 is)");
  std::string x = b64_member(jwk, "x");
  if (x.size() != 32) fail("OKP key: \"x\" must be 32 bytes for Ed25519, got " + std::to_string(x.size()));
  key.type = JwkType::ed25519;
  key.bits = 256;
  key.pkey.reset(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr,
                                                reinterpret_cast<const unsigned char*>(x.data()), x.size()));
  if (!key.pkey) fail_ssl("invalid Ed25519 key");
}

void load_oct(const json& jwk, JwtKey& key) {
  key.type = JwkType::oct;
  key.secret = b64_member(jwk, "k");
  key.bits = key.secret.size() * 8;
}

// RFC 7517 4.2 / 4.3: "use" other than "sig", or "key_ops" without
// "verify", means the key's owner did not publish it for verification.
bool published_for_signatures(const json& jwk, const std::optional<std::string>& use) {
  if (use && *use != "sig") return false;
  auto ops = jwk.find("key_ops");
  if (ops == jwk.end()) return true;
  if (!ops->is_array()) fail("\"key_ops\" must be an array of strings");
  bool verify = false;
  for (const json& op : *ops) {
    if (!op.is_string()) fail("\"key_ops\" must be an array of strings");
    verify = verify || op.get_ref<const std::string&>() == "verify";
  }
  return verify;
}

JwtKey load_jwk(const json& jwk) {
  if (!jwk.is_object()) fail("must be an object");
  JwtKey key;
  std::optional<std::string> kty = opt_string(jwk, "kty");
  if (!kty) fail("missing \"kty\"");
  key.kid = opt_string(jwk, "kid").value_or("");
  key.alg = opt_string(jwk, "alg");
  key.use = opt_string(jwk, "use");
  key.for_signatures = published_for_signatures(jwk, key.use);
  key.kty = *kty;
  if (*kty == "RSA") {
    load_rsa(jwk, key);
  } else if (*kty == "EC") {
    load_ec(jwk, key);
  } else if (*kty == "OKP") {
    load_okp(jwk, key);
  } else if (*kty == "oct") {
    load_oct(jwk, key);
  } else {
    fail("unsupported kty " + json_quote(*kty) + " (RSA, EC, OKP and oct are)");
  }
  return key;
}

// Runs `body`, turning KeyError / bad_alloc into nullopt + error.
template <class Body>
std::optional<JwtKeySet> guarded(std::string& error, std::string_view prefix, Body body) {
  try {
    ERR_clear_error();
    return body();
  } catch (const KeyError& e) {
    error = std::string(prefix) + e.message;
  } catch (const std::bad_alloc&) {
    error = std::string(prefix) + "out of memory";
  }
  ERR_clear_error();
  return std::nullopt;
}

}  // namespace

JwtKey::~JwtKey() {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
}

std::string_view jwk_type_name(JwkType type) {
  switch (type) {
    case JwkType::rsa: return "RSA";
    case JwkType::ec_p256: return "EC P-256";
    case JwkType::ec_p384: return "EC P-384";
    case JwkType::ed25519: return "OKP Ed25519";
    case JwkType::oct: return "oct";
  }
  return "?";
}

bool JwtKeySet::any_kid() const {
  for (const JwtKey& k : keys)
    if (!k.kid.empty()) return true;
  return false;
}

std::optional<JwtKeySet> parse_jwks(std::string_view text, std::string& error) {
  return guarded(error, "", [&]() -> std::optional<JwtKeySet> {
    json doc;
    std::string parse_error;
    if (!lb::conf::parse_strict_json(text, doc, parse_error)) fail("invalid JSON: " + parse_error);
    if (!doc.is_object()) fail("a JWKS must be a JSON object with a \"keys\" array");
    auto keys = doc.find("keys");
    if (keys == doc.end() || !keys->is_array()) fail("a JWKS must be a JSON object with a \"keys\" array");
    if (keys->empty()) fail("\"keys\" is empty");
    JwtKeySet set;
    for (size_t i = 0; i < keys->size(); ++i) {
      const json& jwk = (*keys)[i];
      try {
        set.keys.push_back(load_jwk(jwk));
      } catch (const KeyError& e) {
        std::string where = "keys[" + std::to_string(i) + "]";
        if (jwk.is_object())
          if (auto kid = jwk.find("kid"); kid != jwk.end() && kid->is_string()) where += " (kid " + json_quote(kid->get_ref<const std::string&>()) + ")";
        fail(where + ": " + e.message);
      }
    }
    return set;
  });
}

std::optional<JwtKeySet> load_jwks_file(const std::string& path, std::string& error) {
  std::string text, io_error;
  if (!lb::conf::detail::read_file(path, text, io_error, kMaxJwksBytes)) {
    error = "JWKS file " + json_quote(path) + ": " + io_error;
    return std::nullopt;
  }
  std::optional<JwtKeySet> set = parse_jwks(text, error);
  if (!set) error = "JWKS file " + json_quote(path) + ": " + error;
  return set;
}

std::optional<JwtKeySet> hmac_secret_key_set(std::string_view secret, std::string& error) {
  return guarded(error, "", [&]() -> std::optional<JwtKeySet> {
    if (secret.empty()) fail("the secret is empty");
    JwtKey key;
    key.type = JwkType::oct;
    key.kty = "oct";
    key.secret.assign(secret);
    key.bits = secret.size() * 8;
    JwtKeySet set;
    set.keys.push_back(std::move(key));
    return set;
  });
}

std::optional<JwtKeySet> load_hmac_secret_file(const std::string& path, std::string& error) {
  std::string text, io_error;
  const std::string prefix = "secret file " + json_quote(path) + ": ";
  if (!lb::conf::detail::read_file(path, text, io_error, kMaxSecretBytes)) {
    error = prefix + io_error;
    return std::nullopt;
  }
  // Editors add a final newline; SPEC 11 ignores exactly one.
  std::string_view secret = text;
  if (secret.ends_with('\n')) secret.remove_suffix(1);
  std::optional<JwtKeySet> set = hmac_secret_key_set(secret, error);
  OPENSSL_cleanse(text.data(), text.size());
  if (!set) error = prefix + error;
  return set;
}

}  // namespace lb::security
