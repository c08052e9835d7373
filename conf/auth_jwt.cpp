// conf/auth_jwt.cpp — schema walk for "auth": {"jwt": …} (SPEC 11). The key
// file (JWKS or HMAC secret) is read and the verifier built here, at load and
// at every reload: a bad key file, a short secret or keys that fit none of
// the algorithms are configuration errors naming the file, not a stream of
// 401s, and a reload picks up rotated keys.
#include "conf/schema.h"
#include "conf/values.h"
#include "lb/security/jwt.h"

namespace lb::conf::detail {

namespace {

constexpr std::string_view kAlgNames[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                                          "ES384", "EdDSA", "HS256", "HS384", "HS512"};

void load_algorithms(Ctx& ctx, const json& v, const Pointer& at, JwtAuthConfig& j,
                     std::vector<security::JwtAlg>& algs) {
  if (!check_array(ctx, v, at)) return;
  if (v.empty()) {
    ctx.error(at, "needs at least one algorithm");
    return;
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::string name;
    if (!read_string(ctx, v[i], at / i, name)) continue;
    if (name == "none" || name == "None" || name == "NONE") {
      ctx.error(at / i, "\"none\" (unsigned tokens) is never accepted");
      continue;
    }
    const std::optional<security::JwtAlg> alg = security::jwt_alg_from_name(name);
    if (!alg) {
      ctx.error(at / i, enum_error("algorithm", name, kAlgNames));
      continue;
    }
    j.algorithms.push_back(name);
    algs.push_back(*alg);
  }
}

// "header:NAME" | "cookie:NAME" | "query:NAME".
void load_from(Ctx& ctx, const json& v, const Pointer& at, JwtAuthConfig& j) {
  std::string s;
  if (!read_string(ctx, v, at, s)) return;
  const std::size_t colon = s.find(':');
  const std::string kind = s.substr(0, colon);
  const std::string name = colon == std::string::npos ? std::string() : s.substr(colon + 1);
  if (kind == "header" && is_http_token(name)) {
    j.from = JwtAuthConfig::From::header;
    j.bearer = to_lower(name) == "authorization";
  } else if (kind == "cookie" && is_http_token(name)) {
    j.from = JwtAuthConfig::From::cookie;
    j.bearer = false;
  } else if (kind == "query" && !name.empty() && is_visible_ascii(name) && name.find_first_of("&=#") == std::string::npos) {
    j.from = JwtAuthConfig::From::query;
    j.bearer = false;
  } else {
    ctx.error(at, "invalid token source " + quote(s) + " (expected header:NAME, cookie:NAME or query:NAME)");
    return;
  }
  j.from_name = name;
}

void load_forward_claims(Ctx& ctx, const json& v, const Pointer& at, JwtAuthConfig& j) {
  if (!v.is_object()) {
    ctx.error(at, "expected an object of claim → header name, got " + describe(v));
    return;
  }
  for (const auto& [claim, header] : v.items()) {
    const Pointer p = at / claim;
    if (claim.empty() || !is_visible_ascii(claim)) {
      ctx.error(p, "invalid claim name " + quote(claim));
      continue;
    }
    std::string name;
    if (!read_string(ctx, header, p, name)) continue;
    if (!is_http_token(name)) {
      ctx.error(p, "invalid header name " + quote(name));
      continue;
    }
    j.forward_claims.emplace_back(claim, name);
  }
}

void build_verifier(Ctx& ctx, const Obj& o, JwtAuthConfig& j, security::JwtPolicy policy) {
  const bool jwks = !j.keys_file.empty();
  const Pointer at = o.at(jwks ? "keys" : "secret_file");
  std::string err;
  std::optional<security::JwtKeySet> keys =
      jwks ? security::load_jwks_file(j.keys_file, err) : security::load_hmac_secret_file(j.secret_file, err);
  if (!keys) {
    ctx.error(at, err);
    return;
  }
  j.verifier = security::JwtVerifier::create(std::move(*keys), std::move(policy), err);
  if (!j.verifier)
    ctx.error(at, (jwks ? "JWKS file " : "secret file ") + quote(jwks ? j.keys_file : j.secret_file) + ": " + err);
}

}  // namespace

void load_jwt(Ctx& ctx, const json& v, const Pointer& at, JwtAuthConfig& j) {
  Obj o(ctx, v, at,
        {"keys", "secret_file", "algorithms", "issuer", "audiences", "leeway", "from", "forward_claims", "required",
         "forward_token"});
  if (!o.ok()) return;
  const std::size_t errors_before = ctx.error_count();
  const json* keys = o.value("keys");
  const json* secret = o.value("secret_file");
  if (keys && secret) {
    ctx.error(at, "\"keys\" and \"secret_file\" exclude each other");
    return;
  }
  if (!keys && !secret) {
    ctx.error(at, "jwt needs \"keys\" (a JWKS file) or \"secret_file\" (an HMAC secret)");
    return;
  }
  bool files_ok = keys ? read_file_path(ctx, *keys, o.at("keys"), j.keys_file)
                       : read_file_path(ctx, *secret, o.at("secret_file"), j.secret_file);
  security::JwtPolicy policy;
  if (const json* x = o.require("algorithms")) load_algorithms(ctx, *x, o.at("algorithms"), j, policy.algorithms);
  o.with("issuer", [&](const json& x, const Pointer& p) {
    if (x.is_null()) return;
    std::string s;
    if (read_string(ctx, x, p, s)) j.issuer = s;
  });
  o.with("audiences", [&](const json& x, const Pointer& p) {
    if (!check_array(ctx, x, p)) return;
    for (std::size_t i = 0; i < x.size(); ++i) {
      std::string s;
      if (read_string(ctx, x[i], p / i, s)) j.audiences.push_back(s);
    }
  });
  o.with("leeway", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, j.leeway, true); });
  o.with("from", [&](const json& x, const Pointer& p) { load_from(ctx, x, p, j); });
  o.with("forward_claims", [&](const json& x, const Pointer& p) { load_forward_claims(ctx, x, p, j); });
  o.with("required", [&](const json& x, const Pointer& p) { read_bool(ctx, x, p, j.required); });
  o.with("forward_token", [&](const json& x, const Pointer& p) { read_bool(ctx, x, p, j.forward_token); });
  // Keys are checked against the algorithms only once both are known good.
  if (!files_ok || ctx.error_count() != errors_before) return;
  policy.issuer = j.issuer;
  policy.audiences = j.audiences;
  policy.leeway = std::chrono::duration_cast<std::chrono::seconds>(j.leeway);
  build_verifier(ctx, o, j, std::move(policy));
}

}  // namespace lb::conf::detail
