// lb/security/jws.h — JWS algorithms (RFC 7518 section 3, plus EdDSA from
// RFC 8037) and the check of one signature with one key, all through OpenSSL.
// Token parsing and claims live in jwt.h; this file is only "does this
// signature over these bytes verify with this key under this algorithm".
//
// Threading: pure functions over immutable keys; callable from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "lb/security/jwt_keys.h"

namespace lb::security {

enum class JwtAlg : uint8_t { RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512 };

// "RS256" → JwtAlg::RS256, ... (case-sensitive, RFC 7515 4.1.1). nullopt for
// anything else, "none" included: there is no JwtAlg that means unsigned.
std::optional<JwtAlg> jwt_alg_from_name(std::string_view name);
std::string_view jwt_alg_name(JwtAlg alg);

// True when a key of `type` may verify `alg`: RS*/PS* RSA, ES256 P-256, ES384
// P-384, EdDSA Ed25519, HS* oct. The rule that stops algorithm confusion.
bool jwt_alg_fits_key(JwtAlg alg, JwkType type);

// For HS*: the hash output size in bytes, which RFC 7518 3.2 makes the
// minimum secret size (32, 48, 64). 0 for the other algorithms.
size_t jwt_hmac_min_secret(JwtAlg alg);

// True when `signature` (already base64url-decoded) is a valid `alg`
// signature of `signing_input` under `key`. False when the key does not fit
// the algorithm (jwt_alg_fits_key), when an ES* signature is not exactly
// twice the curve size, or on any OpenSSL failure (the calling thread's
// error queue is left empty). Never throws.
bool jws_signature_valid(JwtAlg alg, const JwtKey& key, std::string_view signing_input, std::string_view signature);

}  // namespace lb::security
