// lb/exchange/exchange_admission.cpp — who the client of a request is and
// whether it may pass (SPEC 11): the address a trusted proxy forwarded,
// then, in the SPEC's order, the connection's per_client verdict, the
// listener's access rule, the route's, auth (exchange_auth.cpp), the
// listener's rate limit and the route's (those counted in Redis ask it
// without blocking, SPEC 17). Each refusal is lb's own answer (429, 403, 401) with
// its counter and access line; nothing reaches a server.
#include "lb/exchange/exchange.h"
#include "lb/exchange/rate_limiter.h"
#include "lb/exchange/shared_rate_limiter.h"
#include "lb/io/net_util.h"

namespace lb {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

// A request from a trusted proxy takes its client from X-Forwarded-For: the
// right-most entry that is not itself a trusted proxy, or the left-most
// when all are. An entry that is not an IP address ends the walk (nothing
// left of it can be believed): the last address read before it, all trusted
// so far, is the client then; the peer when the junk is right-most.
void Exchange::derive_client(const http::RequestHead& head) {
  const CidrSet& trusted = *listener().trusted_proxies;
  if (!trusted.contains(client_.client_address().get())) return;
  // Right to left over the comma-separated entries of every X-Forwarded-For
  // field, in place: the chosen entry is remembered by its field and offset.
  constexpr size_t npos = std::string_view::npos;
  bool found = false, stop = false;
  size_t chosen_field = 0, chosen_begin = 0;
  for (size_t f = head.headers.size(); f-- > 0 && !stop;) {
    if (!http::iequals(head.headers[f].name, "x-forwarded-for")) continue;
    const std::string_view v = head.headers[f].value;
    for (size_t end = v.size();;) {
      const size_t comma = end == 0 ? npos : v.rfind(',', end - 1);
      const size_t begin = comma == npos ? 0 : comma + 1;
      if (std::string_view e = trim(v.substr(begin, end - begin)); !e.empty()) {
        sockaddr_storage ss;
        if (!parse_ip(e, ss)) {
          stop = true;
          break;
        }
        found = true;
        chosen_field = f;
        chosen_begin = begin;
        scratch_.derived_addr = ss;
        if (!trusted.contains(reinterpret_cast<const sockaddr*>(&ss))) {
          stop = true;
          break;
        }
      }
      if (comma == npos) break;
      end = comma;
    }
  }
  if (!found) return;
  s_.derived = true;
  edit_b().derived_ip = format_ip(reinterpret_cast<const sockaddr*>(&scratch_.derived_addr));
  // The entries left of the chosen one go on to the server before it.
  for (size_t f = 0; f <= chosen_field; ++f) {
    if (!http::iequals(head.headers[f].name, "x-forwarded-for")) continue;
    std::string_view rest = head.headers[f].value;
    if (f == chosen_field) rest = rest.substr(0, chosen_begin);
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      if (std::string_view e = trim(rest.substr(0, comma)); !e.empty()) {
        if (!edit_b().forwarded_chain.empty()) edit_b().forwarded_chain += ", ";
        edit_b().forwarded_chain += e;
      }
      rest = comma == npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
}

// The value `limiter` counts this request under (SPEC 11 keys). A header or
// claim key without its header or claim (no token yet, or `required: false`)
// falls back to the client address; that fallback is prefixed with a NUL
// byte, which no header value or client address contains, so a client
// cannot spend another client's allowance by sending its address as the
// header's value.
std::string_view Exchange::rate_limit_key(const conf::KeySpec& key, const http::RequestHead& head) {
  std::optional<std::string_view> value;
  switch (key.kind) {
    case conf::KeySpec::Kind::client_ip: return client_ip();
    case conf::KeySpec::Kind::header:
      if (const http::Header* h = head.headers.find(key.name)) value = h->value;
      break;
    case conf::KeySpec::Kind::jwt_claim: value = jwt_claim(key.name); break;
    default: break;  // conf/ accepts no other rate-limit key
  }
  if (value) return *value;
  // Per thread, reused: no allocation per request once warm.
  thread_local std::string fallback;
  fallback.assign(1, '\0');
  fallback += client_ip();
  return fallback;
}

// One rate limit counted here (SPEC 11). False: answered 429 here.
bool Exchange::within_limit(RateLimiter& limiter, RouteLive* route_live, const http::RequestHead& head) {
  uint32_t retry_after = 0;
  if (limiter.allow(rate_limit_key(limiter.config().key, head), s_.start_ns, retry_after)) return true;
  refuse_rate(route_live, retry_after);
  return false;
}

void Exchange::refuse_rate(RouteLive* route_live, uint32_t retry_after_s) {
  listener().live->rate_limited_total.add(1);
  if (route_live) route_live->rate_limited.add(1);
  answer_locally(429, "rate limit exceeded", s_.head->has_body, retry_after_s);
}

// Listener access, then the route's (SPEC 11), after the connection's
// per_client verdict. False: answered here.
bool Exchange::admit_access(const http::RequestHead& head) {
  // The connection's client was over a per_client limit when it connected.
  if (const uint32_t retry_after = client_.per_client_refusal()) {
    answer_locally(429, "too many connections from this client", true, retry_after);
    return false;
  }
  const sockaddr* client = client_sockaddr();
  if (const auto& access = listener().access; access && !access->admits(client)) {
    listener().live->access_denied_total.add(1);
    answer_locally(403, "access denied", head.has_body);
    return false;
  }
  if (s_.route && s_.route->access && !s_.route->access->admits(client)) {
    listener().live->access_denied_total.add(1);
    answer_locally(403, "access denied", head.has_body);
    return false;
  }
  return true;
}

// The listener's rate limit, then the route's (SPEC 11), resumed at
// Admission::limit_step after a Redis answer. A limit counted in Redis (SPEC 17)
// pauses the request until Redis answers or the call times out.
Exchange::AuthStep Exchange::admit_rate(const http::RequestHead& head) {
  while (adm().limit_step < 2) {
    const bool route_step = edit_admission().limit_step++ == 1;
    RateLimiter* limiter = route_step ? (s_.route ? s_.route->rate_limiter.get() : nullptr)
                                      : listener().rate_limiter.get();
    if (!limiter) continue;
    RouteLive* route_live = route_step ? s_.route->live.get() : nullptr;
    if (SharedRateLimiter* shared = limiter->shared()) {
      if (const AuthStep step = ask_store(*shared, route_live, head); step != AuthStep::passed) return step;
    } else if (!within_limit(*limiter, route_live, head)) {
      return AuthStep::refused;
    }
  }
  return AuthStep::passed;
}

Exchange::AuthStep Exchange::ask_store(SharedRateLimiter& limiter, RouteLive* route_live, const http::RequestHead& head) {
  RedisClient* redis = worker_.redis();
  std::string error;
  if (redis && limiter.ask(*redis, rate_limit_key(limiter.config().key, head), *this, edit_admission().store_call, error)) {
    edit_admission().store_limiter = &limiter;
    edit_admission().store_route_live = route_live;
    s_.phase = Phase::limiting;
    return AuthStep::pending;
  }
  return on_store_error(limiter, route_live, head) ? AuthStep::passed : AuthStep::refused;
}

void Exchange::on_redis_reply(const redisReply* reply, std::string_view) {
  if (s_.completed) return;  // the client left meanwhile
  s_.phase = Phase::dispatching;
  bool admitted = false;
  uint32_t retry_after = 0;
  if (!SharedRateLimiter::decode(reply, admitted, retry_after)) {
    if (!on_store_error(*adm().store_limiter, adm().store_route_live, *s_.head)) return;
  } else if (!admitted) {
    refuse_rate(adm().store_route_live, retry_after);  // may end the exchange: nothing after
    return;
  }
  resume_admission();
}

// SPEC 17: allow admits; deny answers 429 (Retry-After: 1, about when lb
// tries Redis again); local counts in this process alone.
bool Exchange::on_store_error(SharedRateLimiter& limiter, RouteLive* route_live, const http::RequestHead& head) {
  uint32_t retry_after = 1;
  switch (limiter.config().on_store_error) {
    case conf::RateLimit::OnStoreError::allow: return true;
    case conf::RateLimit::OnStoreError::deny: break;
    case conf::RateLimit::OnStoreError::local:
      if (limiter.allow(rate_limit_key(limiter.config().key, head), worker_.now_ns(), retry_after)) return true;
      break;
  }
  refuse_rate(route_live, retry_after);
  return false;
}

}  // namespace lb
