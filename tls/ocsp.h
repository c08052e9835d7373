// tls/ocsp.h — OCSP stapling (SPEC 11): deciding whether a DER OCSP response
// read from a file may be stapled to a certificate, and the staple the TLS
// status callback hands out.
//
// lb does not fetch responses itself: an operator's job (cron + `openssl
// ocsp`, certbot, ...) writes the file and a reload re-reads it. So the checks
// here are the ones that stop lb from stapling something a client would
// reject: a response for another certificate, an unsuccessful or unsigned
// one, a status other than "good", or one outside its validity window.
//
// Threading: check_ocsp_response() is pure (it only reads its arguments and
// uses the calling thread's OpenSSL error queue). An OcspStaple is immutable
// once built and read concurrently by every worker's handshakes.
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lb::tls {

struct OcspStaple {
  std::string der;          // the response exactly as read (what clients get)
  int64_t next_update = 0;  // unix seconds; 0 when the response has no nextUpdate

  // Checked per handshake so a long-running lb stops stapling a response the
  // moment it expires, without a timer or a reload; one comparison.
  bool fresh(int64_t now) const { return next_update == 0 || now < next_update; }
};

// How far a thisUpdate may lie in the future (responder clock ahead of ours)
// before the response counts as not yet valid; the same leeway `openssl ocsp`
// gives by default.
inline constexpr int64_t kOcspClockSkewSeconds = 300;

// Checks `der` (a DER OCSPResponse) against `leaf`, whose issuer is looked
// for in `chain` (the certificate file's other certificates; may be null).
// Returns the staple when it may be served at time `now` (unix seconds);
// otherwise nullopt and `problem` says why in a few words, e.g.
//   "it is for another certificate (serial 1003, ours is 1001)"
//   "it expired at 2024-05-01T10:00:00Z"
// The response must be "successful", hold a status for `leaf` (serial and
// issuer name hash; the issuer key hash and the signature too when the issuer
// is in `chain`), that status must be "good", and `now` must lie in
// [thisUpdate - kOcspClockSkewSeconds, nextUpdate).
std::optional<OcspStaple> check_ocsp_response(std::string_view der, X509* leaf, STACK_OF(X509) * chain,
                                              int64_t now, std::string& problem);

}  // namespace lb::tls
