// conf/to_json.cpp — Config → JSON for GET /config (same schema as the file,
// every default filled in, the admin token replaced by "***"), and the
// to_string() functions declared in config.h. The output loads back into an
// equal Config (keys that only apply to another protocol, algorithm or check
// type are left out, exactly as the loader would demand; a literal "${" in a
// value is written "$${" so it is not taken for an environment variable).
#include <cmath>

#include <nlohmann/json.hpp>

#include "conf/enums.h"
#include "conf/env_vars.h"
#include "conf/load.h"
#include "conf/values.h"

namespace lb::conf {

using detail::enum_name;
using detail::format_duration;
using nlohmann::json;

const char* to_string(Algorithm a) { return enum_name(detail::kAlgorithmNames, a); }
const char* to_string(ServerState s) { return enum_name(detail::kServerStateNames, s); }
const char* to_string(Protocol p) { return enum_name(detail::kProtocolNames, p); }
const char* to_string(DiscoveryType t) { return enum_name(detail::kDiscoveryTypeNames, t); }

namespace {

json number(double d) {
  // 100 rather than 100.0 when the value is whole.
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  return d;
}

json optional_string(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

json optional_duration(const std::optional<Duration>& d) { return d ? json(format_duration(*d)) : json(nullptr); }

// burst only for the token bucket: the loader refuses it on a sliding window.
json rate_limit_json(const RateLimit& r) {
  json j = {{"key", r.key.text},
            {"algorithm", enum_name(detail::kRateLimitAlgorithmNames, r.algorithm)},
            {"rate", number(r.rate)},
            {"per", format_duration(r.per)},
            {"store", enum_name(detail::kRateLimitStoreNames, r.store)},
            {"on_store_error", enum_name(detail::kOnStoreErrorNames, r.on_store_error)}};
  if (r.algorithm == RateLimit::Algorithm::token_bucket) j["burst"] = number(r.burst);
  return j;
}

json retries_json(const RetriesConfig& r) {
  json on = json::array();
  for (RetryOn x : r.on) on.push_back(enum_name(detail::kRetryOnNames, x));
  return {{"attempts", r.attempts},
          {"on", on},
          {"backoff_base", format_duration(r.backoff_base)},
          {"backoff_max", format_duration(r.backoff_max)},
          {"budget_percent", r.budget_percent}};
}

json timeouts_json(const PoolTimeouts& t) {
  return {{"connect", format_duration(t.connect)},
          {"response", format_duration(t.response)},
          {"idle", format_duration(t.idle)}};
}

std::string template_text(const HeaderTemplate& t) {
  using Var = HeaderTemplate::Var;
  static constexpr std::pair<Var, const char*> kNames[] = {
      {Var::client_ip, "client_ip"}, {Var::client_port, "client_port"}, {Var::request_id, "request_id"},
      {Var::scheme, "scheme"},       {Var::host, "host"},               {Var::path, "path"},
      {Var::listener, "listener"},   {Var::route, "route"},             {Var::server, "server"},
      {Var::tls_version, "tls_version"}, {Var::tls_sni, "tls_sni"},
  };
  std::string out;
  for (const auto& piece : t.pieces) {
    if (piece.var == Var::literal) {
      out += piece.text;
    } else if (piece.var == Var::jwt_claim) {
      out += "%{jwt." + piece.text + "}";
    } else {
      for (const auto& [var, name] : kNames)
        if (var == piece.var) out += std::string("%{") + name + "}";
    }
  }
  return out;
}

json access_json(const AccessRules& a) { return {{"allow", a.allow}, {"deny", a.deny}}; }

json jwt_json(const JwtAuthConfig& j) {
  static constexpr const char* kFrom[] = {"header:", "cookie:", "query:"};
  json out = json::object();
  if (!j.keys_file.empty()) out["keys"] = j.keys_file;
  else out["secret_file"] = j.secret_file;
  out["algorithms"] = j.algorithms;
  out["issuer"] = j.issuer ? json(*j.issuer) : json(nullptr);
  out["audiences"] = j.audiences;
  out["leeway"] = format_duration(j.leeway);
  out["from"] = kFrom[static_cast<int>(j.from)] + j.from_name;
  json claims = json::object();
  for (const auto& [claim, header] : j.forward_claims) claims[claim] = header;
  out["forward_claims"] = std::move(claims);
  out["required"] = j.required;
  out["forward_token"] = j.forward_token;
  return out;
}

json auth_json(const std::optional<AuthConfig>& a) {
  if (a && a->jwt) return {{"jwt", jwt_json(*a->jwt)}};
  if (!a || !a->basic) return nullptr;
  return {{"basic", {{"users_file", a->basic->users_file}, {"realm", a->basic->realm}}}};
}

json header_rules_json(const HeaderRules& rules) {
  json set = json::object(), add = json::object(), remove = json::array();
  for (const auto& f : rules.set) set[f.name] = template_text(f.value);
  for (const auto& f : rules.add) add[f.name] = template_text(f.value);
  for (const auto& name : rules.remove) remove.push_back(name);
  return {{"set", set}, {"add", add}, {"remove", remove}};
}

json route_json(const Route& r) {
  json headers = json::object();
  for (const auto& [name, value] : r.headers) headers[name] = value;
  json j = {{"name", r.name},
            {"host", optional_string(r.host)},
            {"path_prefix", optional_string(r.path_prefix)},
            {"path_exact", optional_string(r.path_exact)},
            {"path_regex", optional_string(r.path_regex)},
            {"headers", headers},
            {"access", access_json(r.access)},
            {"auth", auth_json(r.auth)},
            {"rate_limit", r.rate_limit ? rate_limit_json(*r.rate_limit) : json(nullptr)},
            {"response_headers", header_rules_json(r.response_headers)}};
  if (!r.methods.empty()) j["methods"] = r.methods;
  switch (r.action) {
    case Route::Action::pool:
      j["pool"] = r.pool;
      j["request_headers"] = header_rules_json(r.request_headers);
      if (r.retries) j["retries"] = retries_json(*r.retries);
      if (r.timeouts) j["timeouts"] = timeouts_json(*r.timeouts);
      if (r.rewrite) {
        j["rewrite"] = r.rewrite->prefix ? json{{"prefix", *r.rewrite->prefix}}
                                         : json{{"regex", r.rewrite->regex}, {"replace", r.rewrite->replace}};
      }
      if (r.fault) {
        json f = json::object();
        if (r.fault->delay.count() > 0)
          f.update({{"delay", format_duration(r.fault->delay)}, {"delay_percent", number(r.fault->delay_percent)}});
        if (r.fault->abort_status != 0)
          f.update({{"abort_status", r.fault->abort_status}, {"abort_percent", number(r.fault->abort_percent)}});
        j["fault"] = f;
      }
      break;
    case Route::Action::redirect: {
      const Redirect& rd = *r.redirect;
      j["redirect"] = {{"scheme", optional_string(rd.scheme)},
                       {"host", optional_string(rd.host)},
                       {"port", rd.port ? json(*rd.port) : json(nullptr)},
                       {"path", optional_string(rd.path)},
                       {"prefix", optional_string(rd.prefix)},
                       {"status", rd.status},
                       {"keep_query", rd.keep_query}};
      break;
    }
    case Route::Action::respond:
      j["respond"] = {{"status", r.respond->status},
                      {"body", r.respond->body},
                      {"content_type", r.respond->content_type}};
      break;
  }
  return j;
}

json listener_json(const ListenerConfig& l) {
  const bool http = l.protocol == Protocol::http;
  json j = {
      {"name", l.name},
      {"listen", l.listen.text},
      {"protocol", to_string(l.protocol)},
      {"pool", optional_string(l.pool)},
      {"max_connections", l.max_connections},
      {"timeouts",
       {{"request_header", format_duration(l.timeouts.request_header)},
        {"client_idle", format_duration(l.timeouts.client_idle)},
        {"tls_handshake", format_duration(l.timeouts.tls_handshake)}}},
      {"rate_limit", nullptr},
      {"proxy_protocol",
       {{"accept", l.proxy_protocol.accept},
        {"send", l.proxy_protocol.send ? json(enum_name(detail::kProxyProtocolVersionNames, *l.proxy_protocol.send))
                                       : json(nullptr)}}},
      {"tls", nullptr},
  };
  j["access"] = access_json(l.access);
  if (l.slo) {
    json slo = json::object();
    if (l.slo->availability) slo["availability"] = *l.slo->availability;
    if (l.slo->latency) {
      slo["latency"] = format_duration(*l.slo->latency);
      slo["latency_percent"] = l.slo->latency_percent;
    }
    j["slo"] = slo;
  } else {
    j["slo"] = nullptr;
  }
  if (l.protocol == Protocol::http) j["auth"] = auth_json(l.auth);
  const RateLimit* rate = l.per_client.connection_rate ? &*l.per_client.connection_rate : nullptr;
  j["per_client"] = {{"max_connections", l.per_client.max_connections},
                     {"connection_rate", rate ? json{{"rate", number(rate->rate)}, {"per", format_duration(rate->per)}}
                                              : json(nullptr)}};
  if (http) {
    j["timeouts"]["body_idle"] = format_duration(l.timeouts.body_idle);
    j["timeouts"]["send"] = format_duration(l.timeouts.send);
    json routes = json::array();
    for (const Route& r : l.routes) routes.push_back(route_json(r));
    j["routes"] = routes;
    j["limits"] = {{"max_header_bytes", l.limits.max_header_bytes},
                   {"max_headers", l.limits.max_headers},
                   {"max_body_bytes", l.limits.max_body_bytes}};
    j["forwarded_headers"] = l.forwarded_headers;
    j["tracing"] = l.tracing ? json{{"sample_percent", l.tracing->sample_percent}} : json(nullptr);
    j["request_headers"] = header_rules_json(l.request_headers);
    j["trusted_proxies"] = l.trusted_proxies;
    j["response_headers"] = header_rules_json(l.response_headers);
    json pages = json::object();
    for (const ErrorPage& p : l.error_pages)
      pages[p.is_class ? std::to_string(p.status) + "xx" : std::to_string(p.status)] = p.path;
    j["error_pages"] = pages;
    j["http2"] = {{"cleartext", l.http2.cleartext},
                  {"max_concurrent_streams", l.http2.max_concurrent_streams},
                  {"initial_window_size", l.http2.initial_window_size},
                  {"max_requests_per_connection", l.http2.max_requests_per_connection}};
  }
  if (l.tls) {
    json certs = json::array();
    for (const TlsCertificate& c : l.tls->certificates)
      certs.push_back({{"cert", c.cert}, {"key", c.key}, {"ocsp", optional_string(c.ocsp)}});
    j["tls"] = {{"certificates", certs},
                {"min_version", enum_name(detail::kTlsVersionNames, l.tls->min_version)},
                {"alpn", l.tls->alpn},
                {"client_ca", optional_string(l.tls->client_ca)}};
  }
  if (l.rate_limit) j["rate_limit"] = rate_limit_json(*l.rate_limit);
  return j;
}

json health_check_json(const HealthCheckConfig& h) {
  json j = {
      {"type", enum_name(detail::kHealthCheckTypeNames, h.type)},
      {"interval", format_duration(h.interval)},
      {"timeout", format_duration(h.timeout)},
      {"rise", h.rise},
      {"fall", h.fall},
      {"fast_interval", optional_duration(h.fast_interval)},
      {"down_interval", optional_duration(h.down_interval)},
  };
  if (h.type == HealthCheckType::http) {
    j["path"] = h.path;
    j["host"] = optional_string(h.host);
    j["expect_status"] = h.expect_status;
  }
  return j;
}

json pool_json(const PoolConfig& p) {
  json servers = json::array();
  for (const ServerConfig& s : p.servers) {
    if (s.discovered) continue;
    servers.push_back({{"address", s.address.text},
                       {"weight", s.weight},
                       {"max_connections", s.max_connections},
                       {"backup", s.backup},
                       {"state", to_string(s.state)}});
  }
  json discovery = nullptr;
  if (p.discovery) {
    discovery = {{"dns", p.discovery->text},
                 {"type", to_string(p.discovery->type)},
                 {"interval", format_duration(p.discovery->interval)}};
    if (p.discovery->type != DiscoveryType::srv) discovery["weight"] = p.discovery->weight;
  }
  json j = {
      {"name", p.name},
      {"algorithm", to_string(p.algorithm)},
      {"discovery", discovery},
      {"servers", servers},
      {"health_check", p.health_check ? health_check_json(*p.health_check) : json(nullptr)},
      {"circuit_breaker",
       {{"failure_threshold", p.circuit_breaker.failure_threshold},
        {"recovery_timeout", format_duration(p.circuit_breaker.recovery_timeout)},
        {"success_threshold", p.circuit_breaker.success_threshold},
        {"max_ejection_percent", p.circuit_breaker.max_ejection_percent}}},
      {"retries", retries_json(p.retries)},
      {"timeouts", timeouts_json(p.timeouts)},
      {"keepalive",
       {{"max_idle", p.keepalive.max_idle}, {"idle_timeout", format_duration(p.keepalive.idle_timeout)}}},
      {"when_all_down", enum_name(detail::kWhenAllDownNames, p.when_all_down)},
      {"slow_start", format_duration(p.slow_start)},
      {"queue", {{"max", p.queue.max}, {"timeout", format_duration(p.queue.timeout)}}},
      {"tls", nullptr},
  };
  if (p.algorithm == Algorithm::consistent_hash || p.algorithm == Algorithm::maglev)
    j["hash_key"] = p.hash_key.text.empty() ? std::string("client_ip") : p.hash_key.text;
  if (p.algorithm == Algorithm::consistent_hash) j["hash_balance_factor"] = number(p.hash_balance_factor);
  if (p.sticky) {
    const StickyConfig& st = *p.sticky;
    j["sticky"] = {{"cookie", st.cookie},
                   {"max_age", optional_duration(st.max_age)},
                   {"secure", st.secure},
                   {"http_only", st.http_only},
                   {"same_site", st.same_site == StickyConfig::SameSite::unset
                                     ? json(nullptr)
                                     : json(enum_name(detail::kSameSiteNames, st.same_site))}};
  }
  if (p.tls) j["tls"] = {{"verify", p.tls->verify}, {"ca", optional_string(p.tls->ca)}, {"sni", optional_string(p.tls->sni)}};
  return j;
}

}  // namespace

json to_json(const Config& c) {
  json j = {
      {"workers", c.workers},
      {"shutdown_timeout", format_duration(c.shutdown_timeout)},
      {"user", optional_string(c.user)},
      {"group", optional_string(c.group)},
      {"admin", nullptr},
      {"logging",
       {{"level", enum_name(detail::kLogLevelNames, c.logging.level)},
        {"error_log", c.logging.error_log},
        {"access_log", optional_string(c.logging.access_log)}}},
  };
  if (c.admin) {
    json a = {{"listen", c.admin->listen.text}};
    // The file's token_file path is not a secret; the token itself always is.
    if (c.admin->token_file) a["token_file"] = *c.admin->token_file;
    else if (c.admin->token) a["token"] = "***";
    j["admin"] = a;
  }
  j["state_file"] = c.state_file ? json(*c.state_file) : json(nullptr);
  j["dns"] = {{"resolvers", c.dns.resolvers}, {"timeout", format_duration(c.dns.timeout)}};
  // The password is never shown; its file's path is not a secret.
  if (c.redis)
    j["redis"] = {{"address", c.redis->address.text},
                  {"password_file", optional_string(c.redis->password_file)},
                  {"database", c.redis->database},
                  {"timeout", format_duration(c.redis->timeout)},
                  {"key_prefix", c.redis->key_prefix}};
  else j["redis"] = nullptr;
  json listeners = json::array();
  for (const ListenerConfig& l : c.listeners) listeners.push_back(listener_json(l));
  j["listeners"] = listeners;
  json pools = json::array();
  for (const PoolConfig& p : c.pools) pools.push_back(pool_json(p));
  j["pools"] = pools;
  detail::escape_env_refs(j);
  return j;
}

}  // namespace lb::conf
