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
  path_ = head.path;
  if (!path_.empty() && path_.front() == '/') {
    switch (http::normalize_path(head.path, path_buf_)) {
      case http::PathResult::unchanged: break;
      case http::PathResult::normalized: path_ = path_buf_; break;
      case http::PathResult::above_root:
        answer_locally(400, "path climbs above the root", head.has_body);
        return false;
    }
  }
  const RouteTable& routes = listener().routes;
  char host_buf[256];
  std::string_view host = routes.matches_hosts() ? normalize_host(head.host, host_buf) : std::string_view{};
  route_ = routes.empty() ? nullptr : routes.match(host, head.method, path_, head.headers);
  return true;
}

// What the route does with an admitted request. False when answered here
// (404, redirect, respond, fault abort); otherwise pool_ and the forwarding
// details are set.
bool Exchange::act(const http::RequestHead& head) {
  if (!route_) {
    if (!listener().default_pool) {
      answer_locally(404, "no route for this request", head.has_body);
      return false;
    }
    pool_ = *listener().default_pool;
  } else {
    const conf::Route& r = *route_->config;
    if (r.fault && roll(r.fault->abort_percent)) {
      route_->live->faults_abort.add(1);
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
    pool_ = route_->pool;
    if (r.fault && r.fault->delay.count() > 0 && roll(r.fault->delay_percent)) {
      route_->live->faults_delay.add(1);
      fault_delay_ = true;
    }
    rewrite_path();
    if (r.retries) retries_ = r.retries.get();
    if (r.timeouts) timeouts_ = r.timeouts.get();
  }
  pool_chosen_ = true;
  if (!retries_) retries_ = &pool().config->retries;
  if (!timeouts_) timeouts_ = &pool().config->timeouts;
  if ((path_.data() != head.path.data() || query_override_) && target_.empty()) set_target(path_);
  return true;
}

void Exchange::set_target(std::string_view path) {
  target_.assign(path);
  // query_override_: the query without a JWT's parameter (exchange_auth.cpp).
  const std::string_view query = query_override_ ? std::string_view(*query_override_) : head_->query;
  if (!query.empty() || (!query_override_ && head_->origin_target.ends_with('?'))) {
    target_ += '?';
    target_ += query;
  }
}

void Exchange::rewrite_path() {
  const conf::Route& r = *route_->config;
  if (!r.rewrite) return;
  std::string rewritten;
  if (r.rewrite->prefix) {
    rewritten = *r.rewrite->prefix;
    rewritten.append(path_.substr(r.path_prefix->size()));
  } else {
    rewritten.assign(path_);
    // No match: the path goes as it is (a rewrite is not a filter).
    RE2::Replace(&rewritten, *route_->rewrite_regex, r.rewrite->replace);
  }
  // A result that is not an absolute path would not make a request line.
  if (rewritten.empty() || rewritten.front() != '/') rewritten.insert(rewritten.begin(), '/');
  set_target(rewritten);
}

HeaderVars Exchange::header_vars() {
  HeaderVars v;
  v.client_ip = client_ip();
  int port = port_of(client_sockaddr());
  int n = std::snprintf(client_port_, sizeof client_port_, "%d", port < 0 ? 0 : port);
  v.client_port = std::string_view(client_port_, n > 0 ? static_cast<size_t>(n) : 0);
  v.request_id = request_id();
  v.scheme = client_.is_tls() ? "https" : "http";
  if (head_) v.host = http::split_host_port(head_->host).host;
  v.path = path_;
  v.listener = listener().config->name;
  if (route_) v.route = route_->config->name;
  v.server = attempts_.server_name();
  v.tls_version = client_.tls_version();
  v.tls_sni = client_.tls_sni();
  if (jwt_claims_) v.jwt = &*jwt_claims_;
  return v;
}

void Exchange::prepare_request_edits() {
  const conf::HeaderRules& lr = listener().config->request_headers;
  const conf::HeaderRules* rr = route_ ? &route_->config->request_headers : nullptr;
  // Runs once per exchange, on fresh (empty) edits.
  add_auth_edits();
  if (lr.empty() && (!rr || rr->empty())) {
    if (!request_edits_.empty()) request_edits_.finish();
    return;
  }
  HeaderVars vars = header_vars();
  request_edits_.apply(lr, vars);
  if (rr) request_edits_.apply(*rr, vars);
  request_edits_.finish();
}

// The response rules of the listener and the route, plus lb's sticky cookie.
bool Exchange::prepare_response_edits() {
  const conf::HeaderRules& lr = listener().config->response_headers;
  const conf::HeaderRules* rr = route_ ? &route_->config->response_headers : nullptr;
  const bool rules = !lr.empty() || (rr && !rr->empty());
  if (!rules && sticky_cookie_.empty()) return false;
  response_edits_.reset();  // a local answer after a server's head was refused (retry exhausted)
  if (rules) {
    HeaderVars vars = header_vars();
    response_edits_.apply(lr, vars);
    if (rr) response_edits_.apply(*rr, vars);
  }
  if (!sticky_cookie_.empty()) response_edits_.append("Set-Cookie", sticky_cookie_);
  response_edits_.finish();
  return true;
}

const http::ResponseHead& Exchange::edit_response_head(const http::ResponseHead& head) {
  if (!prepare_response_edits()) return head;
  edited_head_ = head;
  edited_head_.headers.fields.clear();
  for (const http::Header& h : head.headers)
    if (!response_edits_.drops(h.name)) edited_head_.headers.fields.push_back(h);
  for (const http::Header& h : response_edits_.added()) edited_head_.headers.fields.push_back(h);
  return edited_head_;
}

void Exchange::answer_redirect(const conf::Redirect& rd) {
  const http::RequestHead& head = *head_;
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

  std::string& loc = location_;
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
    loc.append(path_.substr(route_->config->path_prefix->size()));
  } else {
    loc.append(path_);
  }
  if (rd.keep_query && !head.query.empty()) loc.append("?").append(head.query);
  answer_locally(rd.status, {}, head.has_body);
}

// lb answers the request itself. A body that will not be read means the
// client connection cannot carry another request (`close_after`); otherwise
// the exchange ends once the (body-less) request has been read.
void Exchange::answer_locally(int status, std::string_view message, bool close_after, uint32_t retry_after_s,
                              const conf::Respond* respond) {
  status_ = status;
  response_started_ = true;
  response_done_ = true;
  phase_ = Phase::exchanging;
  listener().live->count_status(status);
  if (close_after) request_done_ = true;  // nothing more is read from this client

  LocalResponse r;
  r.status = status;
  r.close_after = close_after;
  r.retry_after_s = status == 503 && retry_after_s == 0 ? 1 : retry_after_s;
  r.head_only = head_ && head_->method_id == HTTP_HEAD;
  std::string body;
  if (respond) {
    r.body = respond->body;
    r.content_type = respond->content_type;
  } else if (const conf::ErrorPage* page = listener().config->error_page(status); page && location_.empty()) {
    r.body = page->body;
    r.content_type = page->content_type;
  } else if (location_.empty()) {
    body = "{\"error\":";
    append_json_string(body, message);
    body += "}\n";
    r.body = body;
    r.content_type = "application/json";
  }
  sticky_cookie_.clear();  // no server answered: nothing to stick to
  prepare_response_edits();
  std::vector<http::Header> fields;
  const bool edits = !response_edits_.empty();
  if (!location_.empty() || !www_authenticate_.empty() || edits) {
    if (!location_.empty()) fields.push_back({"Location", location_});
    if (!www_authenticate_.empty()) fields.push_back({"WWW-Authenticate", www_authenticate_});
    for (const http::Header& h : response_edits_.added()) fields.push_back(h);
    r.headers = fields;
  }
  client_.send_local_response(r);
  maybe_complete();
}

// A request whose sticky cookie names a server of the pool prefers it
// (ServerAttempts decides whether it may serve).
void Exchange::choose_sticky(const http::RequestHead& head) {
  if (auto value = cookie_value(head.headers, pool().config->sticky->cookie))
    sticky_server_ = sticky_lookup(pool(), *value);
}

// The cookie is (re)set whenever the server that answers is not the one the
// request's cookie named: a first visit, or its server could not serve.
void Exchange::note_sticky_choice(const ServerRuntime& server) {
  const uint32_t index = static_cast<uint32_t>(&server - pool().servers.data());
  if (sticky_server_ && *sticky_server_ == index) {
    sticky_cookie_.clear();
    return;
  }
  sticky_cookie_ = sticky_set_cookie(*pool().config->sticky, server.sticky_id);
}

}  // namespace lb
