// lb/exchange/exchange_auth.cpp — the auth step of a request (SPEC 11), the
// route's auth else the listener's: Basic credentials (checked on the thread
// pool, bcrypt is slow on purpose) or a JWT (verified here, on the worker: a
// signature check costs tens of microseconds). A refusal is lb's own 401
// with its challenge, counted in auth_failed_total; it never reaches a
// server. What a passed check changes in the forwarded request (credentials
// and token removed, claims copied into headers) is recorded here and
// applied by prepare_request_edits / set_target.
#include <ctime>

#include "lb/exchange/exchange.h"
#include "lb/http/http_syntax.h"
#include "lb/io/log.h"

namespace lb {

namespace {

using http::detail::trim_ows;

// Calls f(name, value, whole_pair) for each "name=value" of a Cookie header
// (pairs separated by ';') or a query string (pairs separated by '&').
template <class F>
void for_each_pair(std::string_view list, char sep, F&& f) {
  while (!list.empty()) {
    const size_t end = list.find(sep);
    std::string_view pair = list.substr(0, end);
    list = end == std::string_view::npos ? std::string_view{} : list.substr(end + 1);
    const std::string_view whole = sep == ';' ? trim_ows(pair) : pair;
    const size_t eq = whole.find('=');
    const std::string_view name = sep == ';' ? trim_ows(whole.substr(0, eq)) : whole.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : whole.substr(eq + 1);
    f(name, sep == ';' ? trim_ows(value) : value, whole);
  }
}

// How a cookie or query parameter name compares with the configured one.
// Servers may percent-decode names ("%74oken", PHP does for cookies too) or
// read "+" as a space; a name that equals the token's only once decoded is
// a second, disguised token source.
enum class NameMatch { none, exact, disguised };

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

NameMatch match_name(std::string_view raw, std::string_view want) {
  if (raw == want) return NameMatch::exact;
  if (raw.find_first_of("%+") == std::string_view::npos) return NameMatch::none;
  std::string decoded;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '+') {
      decoded += ' ';
    } else if (raw[i] == '%' && i + 2 < raw.size() && hex_value(raw[i + 1]) >= 0 && hex_value(raw[i + 2]) >= 0) {
      decoded += static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
      i += 2;
    } else {
      decoded += raw[i];
    }
  }
  return decoded == want ? NameMatch::disguised : NameMatch::none;
}

}  // namespace

const std::optional<conf::AuthConfig>& Exchange::effective_auth() const {
  return s_.route && s_.route->config->auth ? s_.route->config->auth : listener().config->auth;
}

Exchange::AuthStep Exchange::authenticate(const http::RequestHead& head) {
  const std::optional<conf::AuthConfig>& auth = effective_auth();
  if (!auth) return AuthStep::passed;
  if (auth->jwt) return authenticate_jwt(*auth->jwt, head);
  if (!auth->basic) return AuthStep::passed;
  const conf::BasicAuthConfig& basic = *auth->basic;
  const http::Header* h = head.headers.find("authorization");
  std::string user, password;
  if (!h || !parse_basic_credentials(h->value, user, password)) {
    refuse_auth(basic, h != nullptr);
    return AuthStep::refused;
  }
  // An unknown user is checked against a dummy hash of the file's own kind
  // and cost (conf/auth.cpp), so the answer takes as long as for a wrong
  // password.
  static const std::string kFallbackDummy = "$2b$10$CwTycUXWue0Thq9StjUM0uJ8DPLKXt1FYlwYpQW9G5gH5O5KCp1Ay";
  const std::string& dummy = basic.dummy_hash.empty() ? kFallbackDummy : basic.dummy_hash;
  const std::string* hash = basic.hash_of(user);
  if (hash && BasicAuthJob::cached(user, password, *hash)) {
    edit_admission().strip_authorization = true;
    return AuthStep::passed;
  }
  switch (BasicAuthJob::start(worker_.loop(), hash ? user : std::string(), std::move(password), hash ? *hash : dummy,
                              this, edit_admission().auth_job)) {
    case BasicAuthJob::Start::started: break;
    case BasicAuthJob::Start::busy:
      // The process has as many checks queued as it allows (a flood of
      // guesses, or a burst of new users): not a verdict on these
      // credentials, so 503 and come back, not 401.
      answer_locally(503, "authentication busy", s_.head->has_body, 1);
      return AuthStep::refused;
    case BasicAuthJob::Start::failed:
      refuse_auth(basic, true);
      return AuthStep::refused;
  }
  if (!hash) edit_admission().auth_unknown_user = true;
  s_.phase = Phase::authenticating;
  // A check may wait behind others in the pool: notice the client leaving
  // meanwhile, so that its job is cancelled before it runs.
  client_.watch_client();
  return AuthStep::pending;
}

void Exchange::refuse_auth(const conf::BasicAuthConfig& basic, bool had_credentials) {
  listener().live->auth_failed_total.add(1);
  edit_b().www_authenticate = "Basic realm=\"" + basic.realm + "\", charset=\"UTF-8\"";
  answer_locally(401, had_credentials ? "invalid credentials" : "authentication required", s_.head->has_body);
}

void Exchange::on_basic_auth_result(bool ok) {
  edit_admission().auth_job = nullptr;
  if (s_.completed) return;  // the client left meanwhile
  const std::optional<conf::AuthConfig>& auth = effective_auth();
  s_.phase = Phase::dispatching;
  if (!ok || adm().auth_unknown_user) {
    refuse_auth(*auth->basic, true);  // may end the exchange: nothing after
    return;
  }
  edit_admission().strip_authorization = true;
  resume_admission();
}

// The token where `jwt.from` says it is. nullopt: none there (a header of
// another scheme counts as none). `ambiguous`: the source appears more than
// once, or under a name that equals it only once percent-decoded, or after
// a ';' in a query parameter; lb refuses such a request (even without a
// token in the expected place) rather than guess which one the server reads.
std::optional<std::string_view> Exchange::find_token(const conf::JwtAuthConfig& jwt, const http::RequestHead& head,
                                                     bool& ambiguous) const {
  std::optional<std::string_view> token;
  auto found = [&](std::string_view t) {
    if (token) ambiguous = true;
    token = t;
  };
  switch (jwt.from) {
    case conf::JwtAuthConfig::From::header:
      for (const http::Header& h : head.headers) {
        if (!http::iequals(h.name, jwt.from_name)) continue;
        std::string_view v = trim_ows(h.value);
        if (jwt.bearer) {
          // RFC 6750 2.1: "Bearer" SP token; the scheme is case-insensitive.
          // A tab is whitespace to many servers: "Bearer<TAB>x" is a bearer
          // token too, never an unverified one passed through.
          if (v.size() < 7 || !http::iequals(v.substr(0, 6), "bearer") || (v[6] != ' ' && v[6] != '\t')) continue;
          v = trim_ows(v.substr(7));
        }
        if (!v.empty()) found(v);
      }
      break;
    case conf::JwtAuthConfig::From::cookie:
      for (const http::Header& h : head.headers) {
        if (!http::iequals(h.name, "cookie")) continue;
        for_each_pair(h.value, ';', [&](std::string_view name, std::string_view value, std::string_view) {
          const NameMatch m = match_name(name, jwt.from_name);
          if (m == NameMatch::disguised) ambiguous = true;
          else if (m == NameMatch::exact && !value.empty()) found(value);
        });
      }
      break;
    case conf::JwtAuthConfig::From::query:
      for_each_pair(head.query, '&', [&](std::string_view name, std::string_view value, std::string_view whole) {
        const NameMatch m = match_name(name, jwt.from_name);
        if (m == NameMatch::disguised) ambiguous = true;
        else if (m == NameMatch::exact && !value.empty()) found(value);
        // Some servers also split a query at ';': "x=1;token=…" must not
        // carry a second token past lb.
        if (whole.find(';') == std::string_view::npos) return;
        bool first = true;
        for_each_pair(whole, ';', [&](std::string_view sub, std::string_view, std::string_view) {
          if (!first && match_name(sub, jwt.from_name) != NameMatch::none) ambiguous = true;
          first = false;
        });
      });
      break;
  }
  return token;
}

Exchange::AuthStep Exchange::authenticate_jwt(const conf::JwtAuthConfig& jwt, const http::RequestHead& head) {
  edit_admission().jwt_auth = &jwt;  // forward_claims drop client-sent fields even without a token
  bool ambiguous = false;
  const std::optional<std::string_view> token = find_token(jwt, head, ambiguous);
  if (!token && !ambiguous) {
    if (!jwt.required) return AuthStep::passed;
    refuse_jwt(false, "authentication required");
    return AuthStep::refused;
  }
  std::string error;
  security::JwtClaims claims;
  bool ok = !ambiguous;
  if (ambiguous) error = "the token source appears more than once, or disguised";
  else ok = jwt.verifier->verify(*token, static_cast<int64_t>(std::time(nullptr)), claims, error);
  if (!ok) {
    log_debug("jwt refused", {{"listener", listener().config->name}, {"reason", error}});
    // A refused token stays out of the access log's query too.
    if (jwt.from == conf::JwtAuthConfig::From::query) strip_token(jwt, head);
    refuse_jwt(true, "invalid token");
    return AuthStep::refused;
  }
  edit_b().jwt_claims = std::move(claims);
  if (!jwt.forward_token) strip_token(jwt, head);
  return AuthStep::passed;
}

// Bearer challenges (RFC 6750 3): no error code when the request carried no
// token, invalid_token for any token that failed.
void Exchange::refuse_jwt(bool had_token, std::string_view message) {
  listener().live->auth_failed_total.add(1);
  edit_b().www_authenticate = had_token ? "Bearer error=\"invalid_token\"" : "Bearer";
  answer_locally(401, message, s_.head->has_body);
}

// Records how the token leaves the forwarded request: its header dropped,
// the Cookie header rebuilt without it, or the target without the parameter.
void Exchange::strip_token(const conf::JwtAuthConfig& jwt, const http::RequestHead& head) {
  switch (jwt.from) {
    case conf::JwtAuthConfig::From::header: edit_admission().strip_token_header = true; break;
    case conf::JwtAuthConfig::From::cookie: {
      edit_admission().strip_token_header = true;  // every Cookie field, replaced by b().kept_cookies
      std::string kept;
      for (const http::Header& h : head.headers) {
        if (!http::iequals(h.name, "cookie")) continue;
        for_each_pair(h.value, ';', [&](std::string_view name, std::string_view, std::string_view whole) {
          if (name == jwt.from_name || whole.empty()) return;
          if (!kept.empty()) kept += "; ";
          kept += whole;
        });
      }
      edit_b().kept_cookies = std::move(kept);
      break;
    }
    case conf::JwtAuthConfig::From::query: {
      std::string kept;
      bool first = true;
      for_each_pair(head.query, '&', [&](std::string_view name, std::string_view, std::string_view whole) {
        if (name == jwt.from_name) return;
        if (!first) kept += '&';
        first = false;
        kept += whole;
      });
      edit_b().query_override = std::move(kept);
      break;
    }
  }
}

// Called from prepare_request_edits, before the header rules: the token's
// field, the forward_claims fields a client sent, and the verified claims.
void Exchange::add_auth_edits() {
  if (adm().strip_authorization) edit_b().request_edits.drop("authorization");
  if (!adm().jwt_auth) return;
  const conf::JwtAuthConfig& jwt = *adm().jwt_auth;
  if (adm().strip_token_header) {
    if (jwt.from == conf::JwtAuthConfig::From::header) edit_b().request_edits.drop(jwt.from_name);
    else {
      edit_b().request_edits.drop("cookie");
      if (!b().kept_cookies.empty()) edit_b().request_edits.append("Cookie", b().kept_cookies);
    }
  }
  for (const auto& [claim, header] : jwt.forward_claims) {
    edit_b().request_edits.drop(header);
    if (!b().jwt_claims) continue;
    // Absent claims, and values with control characters, are not forwarded.
    if (std::optional<std::string> v = b().jwt_claims->claim_as_header_value(claim)) edit_b().request_edits.append(header, *v);
  }
}

std::optional<std::string_view> Exchange::jwt_claim(std::string_view name) {
  if (!b().jwt_claims) return std::nullopt;
  std::optional<std::string> v = b().jwt_claims->claim_as_string(name);
  if (!v) return std::nullopt;
  // A list node never moves: earlier views stay valid for the exchange's
  // life.
  return edit_b().claim_texts.emplace_front(std::move(*v));
}

}  // namespace lb
