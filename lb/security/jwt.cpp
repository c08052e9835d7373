// lb/security/jwt.cpp — token structure, header, key choice and claims. See
// jwt.h; the signature arithmetic itself is in jws.cpp.
#include "lb/security/jwt.h"

#include <algorithm>
#include <new>

#include "conf/load.h"
#include "lb/security/base64url.h"

namespace lb::security {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxQuoted = 64;

// An attacker-chosen string for an error message: cut short, then JSON-quoted
// with everything outside printable ASCII escaped, so a log line stays one
// line whatever the token held.
// The bound is on the quoted text: a control byte quotes to six characters
// ("\u007f"), so the input is cut further until the quoted form fits.
std::string quote(std::string_view s) {
  std::string_view cut = s.substr(0, kMaxQuoted);
  auto quoted = [](std::string_view text) {
    return json(std::string(text)).dump(-1, ' ', true, json::error_handler_t::replace);
  };
  std::string out = quoted(cut);
  while (out.size() > kMaxQuoted + 2) {
    cut.remove_suffix(std::max<size_t>(1, (out.size() - kMaxQuoted - 2) / 6));
    out = quoted(cut);
  }
  if (cut.size() < s.size()) out += "...";
  return out;
}

// Strict JSON object, or false. Never throws (parse_strict_json does not;
// bad_alloc is caught by verify()).
bool parse_object(std::string_view text, json& out) {
  std::string ignored;
  return lb::conf::parse_strict_json(text, out, ignored) && out.is_object();
}

// An optional string member of `obj`; false when present but not a string.
bool opt_string(const json& obj, const char* name, std::string_view& out) {
  auto it = obj.find(name);
  if (it == obj.end()) return true;
  if (!it->is_string()) return false;
  out = it->get_ref<const std::string&>();
  return true;
}

// "none" in any letter case: RFC 7515 makes alg case-sensitive, but a
// "None"/"NONE" token is an attack, not a typo, and says so in the log.
bool is_none(std::string_view alg) {
  if (alg.size() != 4) return false;
  std::string lower;
  for (char c : alg) lower.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
  return lower == "none";
}

bool usable_for(const JwtKey& key, JwtAlg alg) {
  return key.for_signatures && jwt_alg_fits_key(alg, key.type) && (!key.alg || *key.alg == jwt_alg_name(alg));
}

// The time claim `name`: absent → true with `present` false; present and
// not a number → false. Numbers are compared as double: exact for every
// plausible timestamp, and no overflow for absurd ones (1e300 or -1e300).
bool time_claim(const json& payload, const char* name, bool& present, double& value) {
  auto it = payload.find(name);
  present = it != payload.end();
  if (!present) return true;
  if (!it->is_number()) return false;
  value = it->get<double>();
  return true;
}

bool audience_matches(const json& aud, const std::vector<std::string>& accepted, bool& well_formed) {
  well_formed = true;
  auto one = [&](const json& v) {
    return std::find(accepted.begin(), accepted.end(), v.get_ref<const std::string&>()) != accepted.end();
  };
  if (aud.is_string()) return one(aud);
  if (!aud.is_array()) {
    well_formed = false;
    return false;
  }
  bool match = false;
  for (const json& v : aud) {
    if (!v.is_string()) {
      well_formed = false;
      return false;
    }
    match = match || one(v);
  }
  return match;
}

}  // namespace

std::optional<std::string> JwtClaims::claim_as_string(std::string_view name) const {
  if (!payload.is_object()) return std::nullopt;
  auto it = payload.find(name);
  if (it == payload.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  // Strings inside arrays/objects were valid UTF-8 when parsed; `replace`
  // only guards against dump() ever throwing.
  return it->dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<std::string> JwtClaims::claim_as_header_value(std::string_view name) const {
  std::optional<std::string> v = claim_as_string(name);
  if (!v) return v;
  for (unsigned char c : *v)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return std::nullopt;
  return v;
}

std::shared_ptr<const JwtVerifier> JwtVerifier::create(JwtKeySet keys, JwtPolicy policy, std::string& error) {
  if (policy.algorithms.empty()) {
    error = "no algorithm is allowed";
    return nullptr;
  }
  bool any_usable = false;
  for (const JwtKey& key : keys.keys) {
    for (JwtAlg alg : policy.algorithms) {
      if (!usable_for(key, alg)) continue;
      const size_t min = jwt_hmac_min_secret(alg);
      if (key.secret.size() < min) {
        error = "the HMAC secret" + (key.kid.empty() ? std::string() : " of kid " + quote(key.kid)) + " is " +
                std::to_string(key.secret.size()) + " bytes; " + std::string(jwt_alg_name(alg)) +
                " needs at least " + std::to_string(min) + " (RFC 7518 3.2)";
        return nullptr;
      }
      any_usable = true;
    }
  }
  if (!any_usable) {
    std::string algs;
    for (JwtAlg alg : policy.algorithms) algs += (algs.empty() ? "" : ", ") + std::string(jwt_alg_name(alg));
    error = "no key can verify any allowed algorithm (" + algs + ")";
    return nullptr;
  }
  auto verifier = std::shared_ptr<JwtVerifier>(new JwtVerifier(std::move(keys), std::move(policy)));
  verifier->kid_selects_ = verifier->keys_.any_kid();
  return verifier;
}

bool JwtVerifier::allowed(JwtAlg alg) const {
  return std::find(policy_.algorithms.begin(), policy_.algorithms.end(), alg) != policy_.algorithms.end();
}

bool JwtVerifier::verify(std::string_view token, int64_t now_unix, JwtClaims& out, std::string& error) const {
  try {
    if (token.size() > policy_.max_token_bytes) {
      error = "token longer than " + std::to_string(policy_.max_token_bytes) + " bytes";
      return false;
    }
    const size_t dot1 = token.find('.');
    const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
      error = "not a JWS compact token (three base64url parts separated by '.')";
      return false;
    }
    std::string header_text, signature;
    if (!base64url_decode(token.substr(0, dot1), header_text)) {
      error = "header is not valid base64url";
      return false;
    }
    json header;
    if (!parse_object(header_text, header)) {
      error = "header is not a JSON object";
      return false;
    }
    std::string_view alg_name, kid, typ;
    auto alg_it = header.find("alg");
    if (alg_it == header.end() || !alg_it->is_string()) {
      error = "header has no \"alg\" string";
      return false;
    }
    alg_name = alg_it->get_ref<const std::string&>();
    if (is_none(alg_name)) {
      error = "alg " + quote(alg_name) + " (unsigned) is never accepted";
      return false;
    }
    std::optional<JwtAlg> alg = jwt_alg_from_name(alg_name);
    if (!alg) {
      error = "unsupported alg " + quote(alg_name);
      return false;
    }
    if (!allowed(*alg)) {
      error = "alg " + std::string(alg_name) + " is not allowed";
      return false;
    }
    if (!opt_string(header, "kid", kid) || !opt_string(header, "typ", typ)) {
      error = "header \"kid\" and \"typ\" must be strings";
      return false;
    }
    if (header.contains("crit")) {
      error = "header \"crit\" names extensions lb does not support";
      return false;
    }
    if (!base64url_decode(token.substr(dot2 + 1), signature)) {
      error = "signature is not valid base64url";
      return false;
    }
    // Validate the payload's encoding before the (costlier) signature check,
    // but parse its JSON only once the signature says the issuer wrote it.
    std::string payload_text;
    if (!base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), payload_text)) {
      error = "payload is not valid base64url";
      return false;
    }
    if (!check_signature(*alg, kid, token.substr(0, dot2), signature, error)) return false;
    json payload;
    if (!parse_object(payload_text, payload)) {
      error = "payload is not a JSON object";
      return false;
    }
    if (!check_claims(payload, now_unix, error)) return false;
    out.alg = *alg;
    out.kid.assign(kid);
    out.payload = std::move(payload);
    return true;
  } catch (const std::exception&) {
    // Only bad_alloc can get here (nothing else in the path throws), but the
    // promise is "never throws" whatever a future nlohmann version does.
    error = "out of memory verifying the token";
    return false;
  }
}

bool JwtVerifier::check_signature(JwtAlg alg, std::string_view kid, std::string_view signing_input,
                                  std::string_view signature, std::string& error) const {
  // A kid selects only when the set has kids to select from: a secret_file
  // (or a JWKS without kids) holds nothing a kid could name.
  const bool by_kid = !kid.empty() && kid_selects_;
  bool kid_seen = false;
  size_t tried = 0;
  for (const JwtKey& key : keys_.keys) {
    if (by_kid && key.kid != kid) continue;
    kid_seen = true;
    if (!usable_for(key, alg) || key.secret.size() < jwt_hmac_min_secret(alg)) continue;
    ++tried;
    if (jws_signature_valid(alg, key, signing_input, signature)) return true;
  }
  if (by_kid && !kid_seen) {
    error = "no key with kid " + quote(kid);
  } else if (tried == 0) {
    error = "no key for alg " + std::string(jwt_alg_name(alg)) + (by_kid ? " with kid " + quote(kid) : "");
  } else {
    error = "signature does not verify";
  }
  return false;
}

bool JwtVerifier::check_claims(const json& payload, int64_t now_unix, std::string& error) const {
  const double now = static_cast<double>(now_unix);
  const double leeway = static_cast<double>(policy_.leeway.count());
  bool present = false;
  double t = 0;
  if (!time_claim(payload, "exp", present, t)) {
    error = "\"exp\" is not a number";
    return false;
  }
  // RFC 7519 4.1.4: valid only *before* exp; the leeway extends that.
  if (present && now >= t + leeway) {
    error = "token expired";
    return false;
  }
  if (!time_claim(payload, "nbf", present, t)) {
    error = "\"nbf\" is not a number";
    return false;
  }
  if (present && now + leeway < t) {
    error = "token not yet valid (nbf)";
    return false;
  }
  if (policy_.issuer) {
    auto iss = payload.find("iss");
    if (iss == payload.end() || !iss->is_string()) {
      error = "token has no \"iss\" string";
      return false;
    }
    if (iss->get_ref<const std::string&>() != *policy_.issuer) {
      error = "issuer " + quote(iss->get_ref<const std::string&>()) + " is not accepted";
      return false;
    }
  }
  if (!policy_.audiences.empty()) {
    auto aud = payload.find("aud");
    if (aud == payload.end()) {
      error = "token has no \"aud\"";
      return false;
    }
    bool well_formed = true;
    if (!audience_matches(*aud, policy_.audiences, well_formed)) {
      error = well_formed ? "no accepted audience in \"aud\"" : "\"aud\" is not a string or an array of strings";
      return false;
    }
  }
  return true;
}

}  // namespace lb::security
