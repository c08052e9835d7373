// tests/fuzz/fuzz_jwt.cpp — libFuzzer target for lb::security::JwtVerifier
// (SPEC 11 auth.jwt) and the strict base64url decoder under it. Two modes:
//  * token mode (any input not starting with 'J'): the bytes are the token,
//    verified against the fixed JWKS below (RSA, P-256, Ed25519, oct) with
//    every algorithm allowed, an issuer and an audience;
//  * JSON mode ('J' HEADER '\n' PAYLOAD): the fuzzer's header and payload
//    JSON are encoded and HMAC-signed with the JWKS's oct key, so the
//    header checks, key choice and every claim rule run on bodies whose
//    signature is good (token mode almost never gets past the signature).
// Invariants: never a crash, leak or exception; a refusal always has a
// one-line, bounded reason; an acceptance has exactly three parts within the
// size limit and an object payload whose claims render (header-safe ones
// without control characters); OpenSSL's error queue is left empty;
// base64url decoding of the raw input is canonical (decode then encode gives
// the input back).
//
// The JWKS and the seeds in tests/fuzz/seeds/jwt/ come from
//   /usr/bin/python3 tests/unit/jwt_fixtures.py --fuzz-seeds tests/fuzz/seeds/jwt
// (it prints the JWKS to paste here; the private keys are not kept). Seed
// tokens expire at kNow + 3600, so they verify at kNow.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "lb/security/base64url.h"
#include "lb/security/jwt.h"
#include "tests/fuzz/fuzz_util.h"

using namespace lb::security;

namespace {

constexpr const char* kJwks =
    R"({"keys":[{"kty":"RSA","n":"oz2RXI6tXSZ25XqsxZBRBNeCcRqnFH47D1Lt_qe44Vo85bwSyCLFh1Q28XWy5n5Bfu1QCOpQ8z9XOrdNo2Ib1x0AaNQfvYoQeM6HdCESXit0SMnAJtwO_V1FZipcVy_o0cw9vRg3ahHk8Nfd35ikA80leVXUV7aevjurirmluxj05hJElzI-EM75EiJ9lSg-YjdiNfF1QDjsYifN50oq5V1AkRS27FosyVSOWTh924fJaeBL-r6LMM_VtwpXbNSscJvGfghu3Ak_era2J0HdjpuB-u0vX7i6yZHi_wcTiuW6-uaYZmY0AfhfesKl_qQ0nGZRDdtGXxOVz7zQajSvFw","e":"AQAB","kid":"r"},{"kty":"EC","crv":"P-256","x":"elbsTu4W_HJyj2_lCwLYOnMhlTDr41hGZg2j_ImAeu0","y":"cstbZyzwRfW8ieeERtjrXUJLNq2YyMHsBqHICnstlgM","kid":"e"},{"x":"qBU9DUGVAXhBnIcYNAUPvKA8GRzwEe4rVt2tvSwhRa4","kty":"OKP","crv":"Ed25519","kid":"d"},{"k":"KejwzeW7ICPxhPVydUXFkNFs07hOil2gldjAF7_E9iEiwbsOniwvrPDGSMPPPPwQK0BmbZAzxDnslV6GQEZaBg","kty":"oct","kid":"h"}]})";
constexpr int64_t kNow = 1700000000;

struct Setup {
  std::shared_ptr<const JwtVerifier> verifier;
  std::string hmac_key;  // the oct key "h", for JSON mode

  Setup() {
    std::string error;
    std::optional<JwtKeySet> keys = parse_jwks(kJwks, error);
    FUZZ_CHECK(keys);
    for (const JwtKey& k : keys->keys)
      if (k.type == JwkType::oct) hmac_key = k.secret;
    JwtPolicy policy;
    policy.algorithms = {JwtAlg::RS256, JwtAlg::RS384, JwtAlg::RS512, JwtAlg::PS256, JwtAlg::PS384, JwtAlg::PS512,
                         JwtAlg::ES256, JwtAlg::ES384, JwtAlg::EdDSA, JwtAlg::HS256, JwtAlg::HS384, JwtAlg::HS512};
    policy.issuer = "i";
    policy.audiences = {"a"};
    verifier = JwtVerifier::create(std::move(*keys), std::move(policy), error);
    FUZZ_CHECK(verifier);
  }
};

// JSON mode: "b64(header).b64(payload).b64(HMAC)", the hash picked from the
// alg the header names (HS256 when it names none of HS384/HS512).
std::string mint(const Setup& s, std::string_view header, std::string_view payload) {
  const EVP_MD* md = header.find("HS384") != std::string_view::npos   ? EVP_sha384()
                     : header.find("HS512") != std::string_view::npos ? EVP_sha512()
                                                                      : EVP_sha256();
  std::string token = base64url_encode(header) + "." + base64url_encode(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  FUZZ_CHECK(HMAC(md, s.hmac_key.data(), static_cast<int>(s.hmac_key.size()),
                  reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, &len));
  return token + "." + base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

void check_verify(const Setup& s, std::string_view token) {
  JwtClaims claims;
  std::string error;
  const bool ok = s.verifier->verify(token, kNow, claims, error);
  FUZZ_CHECK(ERR_peek_error() == 0);
  if (!ok) {
    FUZZ_CHECK(!error.empty() && error.size() < 200);
    FUZZ_CHECK(error.find_first_of("\r\n") == std::string::npos);
    return;
  }
  FUZZ_CHECK(token.size() <= s.verifier->policy().max_token_bytes);
  size_t dots = 0;
  for (char c : token) dots += c == '.';
  FUZZ_CHECK(dots == 2);
  FUZZ_CHECK(claims.payload.is_object());
  for (const auto& [name, value] : claims.payload.items()) {
    std::optional<std::string> text = claims.claim_as_string(name);
    FUZZ_CHECK(text);
    if (value.is_string()) FUZZ_CHECK(*text == value.template get<std::string>());
    if (std::optional<std::string> h = claims.claim_as_header_value(name)) {
      for (unsigned char c : *h) FUZZ_CHECK(c >= 0x20 || c == '\t');
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Setup setup;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  std::string decoded;
  if (base64url_decode(in, decoded)) FUZZ_CHECK(base64url_encode(decoded) == in);

  if (!in.empty() && in.front() == 'J') {
    std::string_view rest = in.substr(1);
    size_t nl = rest.find('\n');
    std::string_view header = rest.substr(0, nl);
    std::string_view payload = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    check_verify(setup, mint(setup, header, payload));
  } else {
    check_verify(setup, in);
  }
  return 0;
}
