// lb/security/jwt.h — JWT (RFC 7519) verification for SPEC 11 auth.jwt: a
// JWS compact token (RFC 7515) checked against a JwtKeySet and a JwtPolicy.
//
// What verify() accepts, in the order it checks (cheap checks first, so a
// junk or oversized token costs no signature operation):
//   1. at most policy.max_token_bytes, exactly three strict base64url parts;
//   2. a header that is a JSON object with an "alg" string, optional "kid"
//      and "typ" strings, and no "crit" (lb understands no JWS extension, and
//      RFC 7515 4.1.11 says a token naming one it does not understand is
//      invalid). "none" is refused whatever the policy says; the algorithm
//      must be in policy.algorithms;
//   3. a signature by a key that fits the algorithm: RS*/PS* only RSA keys,
//      ES256 only P-256, ES384 only P-384, EdDSA only Ed25519, HS* only oct
//      keys. This is what stops algorithm confusion: an HS256 token "signed"
//      with an RSA public key as the HMAC secret finds no oct key and fails.
//      A JWK's own "alg" (when given) must equal the token's, and keys not
//      published for signatures ("use" other than "sig", "key_ops" without
//      "verify") are skipped. Key choice: when the token has a kid and the
//      set has kids, only keys with that kid are tried (none → refused);
//      otherwise every fitting key is tried. Embedded keys ("jwk", "jku",
//      "x5u", "x5c" headers) are ignored: trust comes only from the set;
//   4. a payload that is a JSON object; "exp" and "nbf", when present, are
//      numbers and now < exp + leeway, now >= nbf - leeway; "iss" equals
//      policy.issuer when that is set; "aud" (a string or an array of
//      strings) names one of policy.audiences when that is non-empty.
// JSON is parsed strictly (conf::parse_strict_json: duplicate member names,
// "\u0000" in strings and nesting past 64 levels are refused), so this parser
// and the token's issuer cannot disagree about which "sub" or "exp" counts.
//
// Signatures go through OpenSSL only: EVP_DigestVerify* for RSA (PKCS#1 v1.5
// and PSS with salt = hash length), ECDSA (the JOSE r||s form, whose exact
// length is checked, re-encoded as DER) and Ed25519; HMAC() plus
// CRYPTO_memcmp for HS*. Nothing here throws: every failure is `false` with a
// one-line reason in `error` (attacker-chosen strings in it are quoted,
// escaped and cut short, so it is safe to log).
//
// Threading: a JwtVerifier is immutable after create(); verify() is const and
// may run on any number of workers at once. Share it as
// std::shared_ptr<const JwtVerifier>; a reload builds a new one (new keys).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lb/security/jws.h"
#include "lb/security/jwt_keys.h"

namespace lb::security {

struct JwtPolicy {
  std::vector<JwtAlg> algorithms;      // accepted; must not be empty
  std::optional<std::string> issuer;   // when set, "iss" must equal it
  std::vector<std::string> audiences;  // when non-empty, "aud" must name one of them
  std::chrono::seconds leeway{30};     // clock skew allowed on exp and nbf
  size_t max_token_bytes = 16 * 1024;  // longer tokens are refused before decoding
};

// What a verified token says.
struct JwtClaims {
  JwtAlg alg = JwtAlg::RS256;
  std::string kid;          // the header's kid, "" when none
  nlohmann::json payload;   // always an object after a successful verify()

  // A top-level claim as text, for forward_claims, jwt.CLAIM rate-limit keys
  // and %{jwt.CLAIM} variables: a string as is; any other value (number,
  // boolean, null, array, object) as compact JSON ("42", "true", "[\"a\"]").
  // nullopt when the claim is absent.
  std::optional<std::string> claim_as_string(std::string_view name) const;
  // claim_as_string, but nullopt also when the text holds a control character
  // (anything below 0x20 but HTAB, or DEL): such a value must never be copied
  // into a header (CR/LF would split it).
  std::optional<std::string> claim_as_header_value(std::string_view name) const;
};

class JwtVerifier {
 public:
  // Checks that the policy can ever accept a token: at least one algorithm,
  // at least one key that fits one of them, and no HMAC secret shorter than
  // an allowed HS* algorithm's hash (RFC 7518 3.2: HS256 needs 32 bytes,
  // HS384 48, HS512 64). On failure returns null and sets `error`.
  static std::shared_ptr<const JwtVerifier> create(JwtKeySet keys, JwtPolicy policy, std::string& error);

  // True when `token` passes every rule above at time `now_unix` (seconds
  // since the epoch; callers pass the clock, tests a fixed value). On
  // success `out` holds the claims; on failure `error` says why and `out` is
  // unspecified. Never throws.
  bool verify(std::string_view token, int64_t now_unix, JwtClaims& out, std::string& error) const;

  const JwtPolicy& policy() const { return policy_; }
  const JwtKeySet& keys() const { return keys_; }

 private:
  JwtVerifier(JwtKeySet keys, JwtPolicy policy) : keys_(std::move(keys)), policy_(std::move(policy)) {}

  bool allowed(JwtAlg alg) const;
  bool check_signature(JwtAlg alg, std::string_view kid, std::string_view signing_input, std::string_view signature,
                       std::string& error) const;
  bool check_claims(const nlohmann::json& payload, int64_t now_unix, std::string& error) const;

  JwtKeySet keys_;
  JwtPolicy policy_;
  bool kid_selects_ = false;  // keys_.any_kid()
};

}  // namespace lb::security
