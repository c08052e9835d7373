// lb/security/jwt_keys.h — the keys a JWT verifier trusts (SPEC 11 auth.jwt):
// a JWKS file (RFC 7517 / 7518 section 6) of RSA, EC P-256/P-384, Ed25519
// (OKP) and oct keys, or a raw HMAC secret from a `secret_file`. Public keys
// become OpenSSL 3 EVP_PKEYs built from their parameters (EVP_PKEY_fromdata),
// so verification goes through EVP_DigestVerify* and never touches the
// deprecated RSA_* / EC_KEY_* interfaces.
//
// What is refused at load time (clear one-line errors, so a bad key file is a
// configuration error and not a stream of 401s): malformed JSON or base64url,
// an unknown kty or curve, EC coordinates that are not the curve's full size
// or not on the curve, RSA moduli under 2048 bits (RFC 7518 3.3), an empty
// secret. Private members ("d", ...) are ignored: only public halves are used.
//
// Ownership: a JwtKeySet owns its keys (EVP_PKEYs, secrets); it is built once
// per (re)load and then moved into a JwtVerifier. Secrets are wiped when their
// key is destroyed (best effort: std::string may have copied them while the
// set was being built).
//
// Threading: loading is blocking file I/O (config load / reload thread only).
// A built set is never modified; its EVP_PKEYs may be used for verification
// from any number of threads at once (OpenSSL 3 allows that for keys that are
// fully set up).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/openssl_util.h"

namespace lb::security {

using EvpPkeyPtr = lb::tls::EvpPkeyPtr;

// A key's type as far as algorithm compatibility is concerned: the curve is
// part of it because ES256 may only ever be checked with a P-256 key.
enum class JwkType : uint8_t { rsa, ec_p256, ec_p384, ed25519, oct };

// "RSA", "EC P-256", "EC P-384", "OKP Ed25519", "oct" (for messages).
std::string_view jwk_type_name(JwkType type);

struct JwtKey {
  JwtKey() = default;
  JwtKey(JwtKey&&) noexcept = default;
  JwtKey& operator=(JwtKey&&) noexcept = default;
  ~JwtKey();  // wipes `secret`

  std::string kid;                 // "" when the JWK has none (always for secret_file)
  JwkType type = JwkType::oct;
  std::string kty;                 // as written: "RSA", "EC", "OKP", "oct"
  std::optional<std::string> alg;  // the JWK's "alg": when set, the only algorithm it may verify
  std::optional<std::string> use;  // the JWK's "use" ("sig", "enc", ...)
  // False when "use" is present and not "sig", or "key_ops" is present
  // without "verify" (RFC 7517 4.2/4.3): such a key never verifies a token.
  bool for_signatures = true;
  EvpPkeyPtr pkey;                 // RSA / EC / OKP public key; null for oct
  std::string secret;              // oct only: the raw HMAC key bytes
  size_t bits = 0;                 // RSA modulus, EC field or secret size in bits
};

struct JwtKeySet {
  std::vector<JwtKey> keys;
  // True when at least one key has a kid. A token's kid selects keys only
  // then: a kid-less set (a secret_file, a JWKS without kids) cannot be
  // selected from, so the token's kid is not used (see jwt.h).
  bool any_kid() const;
};

// Parses JWKS text ({"keys": [...]}). On failure returns nullopt and sets
// `error`, e.g. `keys[2] (kid "k2"): EC key: "x" must be 32 bytes for P-256,
// got 31`. Never throws.
std::optional<JwtKeySet> parse_jwks(std::string_view text, std::string& error);

// Reads and parses a JWKS file (at most 1 MiB). Errors start with
// `JWKS file "PATH": `. Never throws.
std::optional<JwtKeySet> load_jwks_file(const std::string& path, std::string& error);

// One oct key from raw secret bytes (no kid). Empty → nullopt + error.
std::optional<JwtKeySet> hmac_secret_key_set(std::string_view secret, std::string& error);

// Reads a secret_file (SPEC 11): the raw HMAC secret, one trailing "\n"
// ignored; at most 64 KiB. Errors start with `secret file "PATH": `. Never
// throws.
std::optional<JwtKeySet> load_hmac_secret_file(const std::string& path, std::string& error);

}  // namespace lb::security
