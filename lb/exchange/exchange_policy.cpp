// lb/exchange/exchange_policy.cpp — what a request's route does to it (SPEC
// 10): path normalization and the route match, the route's action (pool,
// redirect, respond), fault injection, rewrites, header rules in both
// directions, lb's own answers (JSON errors or the listener's error pages)
// and the per-route retries and timeouts.
#include <cstdio>

#include "lb/exchange/exchange.h"
#include "lb/exchange/routing.h"
#include "lb/http/host_port.h"
#include "lb/http/path_normalize.h"
#include "lb/io/access_log.h"
#include "lb/io/log.h"
#include "lb/upstream/sticky.h"

namespace lb {

namespace {

// A share of requests, 0..100 percent, drawn per request.
bool roll(double percent) {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  return static_cast<double>(exchange_random() % 1'000'000) < percent * 10'000.0;
}

}  // namespace

// The normalized path and the matching route. False when answered (400).
bool Exchange::match_route(const http::RequestHead& head) {
  s_.path = head.path;
  if (!s_.path.empty() && s_.path.front() == '/') {
    // normalize_path writes path_buf only when the path changes.
    const http::PathResult normalized = http::normalize_path(head.path, buf_.path_buf);
    if (normalized != http::PathResult::unchanged) buffers_touched_ = true;
    switch (normalized) {
      case http::PathResult::unchanged: break;
      case http::PathResult::normalized: s_.path = b().path_buf; break;
      case http::PathResult::above_root:
        answer_locally(400, "path climbs above the root", head.has_body);
        return false;
    }
  }
  const RouteTable& routes = listener().routes;
  char host_buf[256];
  std::string_view host = routes.matches_hosts() ? normalize_host(head.host, host_buf) : std::string_view{};
  s_.route = routes.empty() ? nullptr : routes.match(host, head.method, s_.path, head.headers);
  return true;
}

// What the route does with an admitted request. False when answered here
// (404, redirect, respond, fault abort); otherwise s_.pool and the forwarding
// details are set.
bool Exchange::act(const http::RequestHead& head) {
  if (!s_.route) {
    if (!listener().default_pool) {
      answer_locally(404, "no route for this request", head.has_body);
      return false;
    }
    s_.pool = *listener().default_pool;
  } else {
    const conf::Route& r = *s_.route->config;
    if (r.fault && roll(r.fault->abort_percent)) {
      s_.route->live->faults_abort.add(1);
      answer_locally(r.fault->abort_status, "fault injected", head.has_body);
      return false;
    }
    switch (r.action) {
      case conf::Route::Action::redirect: answer_redirect(*r.redirect); return false;
      case conf::Route::Action::respond:
        answer_locally(r.respond->status, {}, head.has_body, 0, &*r.respond);
        return false;
      case conf::Route::Action::pool: break;
    }
    s_.pool = s_.route->pool;
    if (r.fault && r.fault->delay.count() > 0 && roll(r.fault->delay_percent)) {
      s_.route->live->faults_delay.add(1);
      s_.fault_delay = true;
    }
    rewrite_path();
    if (r.retries) s_.retries = r.retries.get();
    if (r.timeouts) s_.timeouts = r.timeouts.get();
  }
  s_.pool_chosen = true;
  if (!s_.retries) s_.retries = &pool().config->retries;
  if (!s_.timeouts) s_.timeouts = &pool().config->timeouts;
  if ((s_.path.data() != head.path.data() || b().query_override) && b().target.empty()) set_target(s_.path);
  return true;
}

void Exchange::set_target(std::string_view path) {
  edit_b().target.assign(path);
  // b().query_override: the query without a JWT's parameter (exchange_auth.cpp).
  const std::string_view query = b().query_override ? std::string_view(*b().query_override) : s_.head->query;
  if (!query.empty() || (!b().query_override && s_.head->origin_target.ends_with('?'))) {
    edit_b().target += '?';
    edit_b().target += query;
  }
}

void Exchange::rewrite_path() {
  const conf::Route& r = *s_.route->config;
  if (!r.rewrite) return;
  std::string rewritten;
  if (r.rewrite->prefix) {
    rewritten = *r.rewrite->prefix;
    rewritten.append(s_.path.substr(r.path_prefix->size()));
  } else {
    rewritten.assign(s_.path);
    // No match: the path goes as it is (a rewrite is not a filter).
    RE2::Replace(&rewritten, *s_.route->rewrite_regex, r.rewrite->replace);
  }
  // A result that is not an absolute path would not make a request line.
  if (rewritten.empty() || rewritten.front() != '/') rewritten.insert(rewritten.begin(), '/');
  set_target(rewritten);
}

HeaderVars Exchange::header_vars() {
  HeaderVars v;
  v.client_ip = client_ip();
  int port = port_of(client_sockaddr());
  int n = std::snprintf(scratch_.client_port, sizeof scratch_.client_port, "%d", port < 0 ? 0 : port);
  v.client_port = std::string_view(scratch_.client_port, n > 0 ? static_cast<size_t>(n) : 0);
  v.request_id = request_id();
  v.scheme = client_.is_tls() ? "https" : "http";
  if (s_.head) v.host = http::split_host_port(s_.head->host).host;
  v.path = s_.path;
  v.listener = listener().config->name;
  if (s_.route) v.route = s_.route->config->name;
  v.server = s_.attempts.server_name();
  v.tls_version = client_.tls_version();
  v.tls_sni = client_.tls_sni();
  if (b().jwt_claims) v.jwt = &*b().jwt_claims;
  return v;
}

// Runs once per exchange, on fresh (empty) edits, when there are rules or
// credentials to strip (finish_admission checks).
void Exchange::prepare_request_edits() {
  const bool auth = auth_edits();
  const conf::HeaderRules& lr = listener().config->request_headers;
  const conf::HeaderRules* rr = s_.route ? &s_.route->config->request_headers : nullptr;
  if (auth) add_auth_edits();
  if (!request_rules()) {
    if (!b().request_edits.empty()) edit_b().request_edits.finish();
    return;
  }
  HeaderVars vars = header_vars();
  edit_b().request_edits.apply(lr, vars);
  if (rr) edit_b().request_edits.apply(*rr, vars);
  edit_b().request_edits.finish();
}

// The response rules of the listener and the route, plus lb's sticky cookie.
bool Exchange::prepare_response_edits() {
  const conf::HeaderRules& lr = listener().config->response_headers;
  const conf::HeaderRules* rr = s_.route ? &s_.route->config->response_headers : nullptr;
  const bool rules = response_rules();
  if (!rules && b().sticky_cookie.empty()) return false;
  edit_b().response_edits.reset();  // a local answer after a server's head was refused (retry exhausted)
  if (rules) {
    HeaderVars vars = header_vars();
    edit_b().response_edits.apply(lr, vars);
    if (rr) edit_b().response_edits.apply(*rr, vars);
  }
  if (!b().sticky_cookie.empty()) edit_b().response_edits.append("Set-Cookie", b().sticky_cookie);
  edit_b().response_edits.finish();
  return true;
}

const http::ResponseHead& Exchange::edited_response_head(const http::ResponseHead& head) {
  if (!prepare_response_edits()) return head;
  edit_b().edited_head = head;
  edit_b().edited_head.headers.fields.clear();
  for (const http::Header& h : head.headers)
    if (!b().response_edits.drops(h.name)) edit_b().edited_head.headers.fields.push_back(h);
  for (const http::Header& h : b().response_edits.added()) edit_b().edited_head.headers.fields.push_back(h);
  return b().edited_head;
}

void Exchange::answer_redirect(const conf::Redirect& rd) {
  const http::RequestHead& head = *s_.head;
  const std::string_view scheme = client_.is_tls() ? "https" : "http";
  const std::string_view new_scheme = rd.scheme ? std::string_view(*rd.scheme) : scheme;
  const http::HostPort old = http::split_host_port(head.host);
  const std::string_view old_host = old.host;
  const std::string old_port(old.port);
  std::string_view host = rd.host ? std::string_view(*rd.host) : old_host;
  std::string port = old_port;
  if (new_scheme != scheme) port.clear();  // the old scheme's port means nothing to the new one
  if (rd.port) port = std::to_string(*rd.port);
  if ((new_scheme == "https" && port == "443") || (new_scheme == "http" && port == "80")) port.clear();
  std::string_view default_port = scheme == "https" ? "443" : "80";
  const bool same_port = port == old_port || (port.empty() && old_port == default_port);

  std::string& loc = edit_b().location;
  loc.clear();
  // Absolute only when the scheme, host or port changes; else the path alone.
  const bool changed = new_scheme != scheme || !http::iequals(host, old_host) || !same_port;
  const bool absolute = changed && !host.empty();
  if (absolute) {
    loc.append(new_scheme).append("://").append(host);
    if (!port.empty()) loc.append(":").append(port);
  }
  if (rd.path) {
    loc += *rd.path;
  } else if (rd.prefix) {
    loc += *rd.prefix;
    loc.append(s_.path.substr(s_.route->config->path_prefix->size()));
  } else {
    loc.append(s_.path);
  }
  if (rd.keep_query && !head.query.empty()) loc.append("?").append(head.query);
  answer_locally(rd.status, {}, head.has_body);
}

// lb answers the request itself. A body that will not be read means the
// client connection cannot carry another request (`close_after`); otherwise
// the exchange ends once the (body-less) request has been read.
void Exchange::answer_locally(int status, std::string_view message, bool close_after, uint32_t retry_after_s,
                              const conf::Respond* respond) {
  s_.status = status;
  s_.response_started = true;
  s_.response_done = true;
  s_.phase = Phase::exchanging;
  listener().live->count_status(status);
  if (close_after) s_.request_done = true;  // nothing more is read from this client

  LocalResponse r;
  r.status = status;
  r.close_after = close_after;
  r.retry_after_s = status == 503 && retry_after_s == 0 ? 1 : retry_after_s;
  r.head_only = s_.head && s_.head->method_id == HTTP_HEAD;
  std::string body;
  if (respond) {
    r.body = respond->body;
    r.content_type = respond->content_type;
  } else if (const conf::ErrorPage* page = listener().config->error_page(status); page && b().location.empty()) {
    r.body = page->body;
    r.content_type = page->content_type;
  } else if (b().location.empty()) {
    body = "{\"error\":";
    append_json_string(body, message);
    body += "}\n";
    r.body = body;
    r.content_type = "application/json";
  }
  edit_b().sticky_cookie.clear();  // no server answered: nothing to stick to
  prepare_response_edits();
  std::vector<http::Header> fields;
  const bool edits = !b().response_edits.empty();
  if (!b().location.empty() || !b().www_authenticate.empty() || edits) {
    if (!b().location.empty()) fields.push_back({"Location", b().location});
    if (!b().www_authenticate.empty()) fields.push_back({"WWW-Authenticate", b().www_authenticate});
    for (const http::Header& h : b().response_edits.added()) fields.push_back(h);
    r.headers = fields;
  }
  client_.send_local_response(r);
  maybe_complete();
}

// A request whose sticky cookie names a server of the pool prefers it
// (ServerAttempts decides whether it may serve).
void Exchange::choose_sticky(const http::RequestHead& head) {
  if (auto value = cookie_value(head.headers, pool().config->sticky->cookie))
    s_.sticky_server = sticky_lookup(pool(), *value);
}

// The cookie is (re)set whenever the server that answers is not the one the
// request's cookie named: a first visit, or its server could not serve.
void Exchange::note_sticky_choice(const ServerRuntime& server) {
  const uint32_t index = static_cast<uint32_t>(&server - pool().servers.data());
  if (s_.sticky_server && *s_.sticky_server == index) {
    edit_b().sticky_cookie.clear();
    return;
  }
  edit_b().sticky_cookie = sticky_set_cookie(*pool().config->sticky, server.sticky_id);
}

}  // namespace lb
