// conf/route.cpp — schema walk for one element of a listener's "routes"
// (SPEC 3, 10 and 11): the match (name, host, path_prefix | path_exact |
// path_regex, methods, headers), access and rate_limit, exactly one action (pool, redirect,
// respond), rewrite, header rules, fault and the per-route timeouts and
// retries (recorded here, applied over the pool's in load.cpp).
#include <re2/re2.h>

#include "conf/schema.h"
#include "conf/values.h"

namespace lb::conf::detail {

namespace {

void load_route_host(Ctx& ctx, const json& v, const Pointer& at, Route& r) {
  std::string raw;
  if (!read_string(ctx, v, at, raw)) return;
  std::string host = to_lower(raw);
  if (host.find(':') != std::string::npos) {
    ctx.error(at, "host " + quote(raw) + " must not include a port (routes match the Host header without its port)");
    return;
  }
  // Requests are matched without their trailing dot; so is the pattern.
  if (host.size() > 1 && host.back() == '.') host.pop_back();
  std::string_view check = host;
  if (check.starts_with("*.")) check.remove_prefix(2);
  if (check.find('*') != std::string_view::npos) {
    ctx.error(at, "invalid host " + quote(raw) + ": a wildcard is only allowed as a leading \"*.\"");
    return;
  }
  std::string err;
  if (!valid_hostname(check, err)) {
    ctx.error(at, "invalid host " + quote(raw) + ": " + err);
    return;
  }
  r.host = host;
}

// A path given in the configuration: starts with '/', visible ASCII.
bool read_config_path(Ctx& ctx, const json& v, const Pointer& at, std::string_view what, std::string& out) {
  std::string s;
  if (!read_string(ctx, v, at, s)) return false;
  if (s[0] != '/') {
    ctx.error(at, std::string(what) + " " + quote(s) + " must start with \"/\"");
    return false;
  }
  if (!is_visible_ascii(s)) {
    ctx.error(at, std::string(what) + " " + quote(s) + " must not contain spaces or control characters");
    return false;
  }
  out = std::move(s);
  return true;
}

bool read_regex(Ctx& ctx, const json& v, const Pointer& at, std::string& out, int* groups = nullptr) {
  std::string s;
  if (!read_string(ctx, v, at, s)) return false;
  RE2::Options opt;
  opt.set_log_errors(false);
  RE2 re(s, opt);
  if (!re.ok()) {
    ctx.error(at, "invalid regular expression " + quote(s) + ": " + re.error() + " (RE2 syntax)");
    return false;
  }
  if (groups) *groups = re.NumberOfCapturingGroups();
  out = std::move(s);
  return true;
}

void load_match_headers(Ctx& ctx, const json& x, const Pointer& p, Route& r) {
  if (!x.is_object()) {
    ctx.error(p, "expected an object of header name → value, got " + describe(x));
    return;
  }
  for (const auto& [name, value] : x.items()) {
    const Pointer hp = p / name;
    if (!is_http_token(name)) {
      ctx.error(hp, "invalid header name " + quote(name));
      continue;
    }
    std::string lower = to_lower(name);
    bool dup = false;
    for (const auto& h : r.headers) dup = dup || h.first == lower;
    if (dup) {
      ctx.error(hp, "header " + quote(name) + " is listed twice (header names are case-insensitive)");
      continue;
    }
    std::string val;
    if (!read_string(ctx, value, hp, val, true)) continue;
    bool bad = false;
    for (char c : val) bad = bad || (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
    if (bad) {
      ctx.error(hp, "header value must not contain control characters");
      continue;
    }
    r.headers.emplace_back(std::move(lower), std::move(val));
  }
}

void load_methods(Ctx& ctx, const json& x, const Pointer& p, Route& r) {
  if (!check_array(ctx, x, p)) return;
  if (x.empty()) ctx.error(p, "methods must list at least one method (leave the key out to match all)");
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::string m;
    if (!read_string(ctx, x[i], p / i, m)) continue;
    if (!is_http_token(m)) ctx.error(p / i, "invalid method " + quote(m));
    else r.methods.push_back(std::move(m));
  }
}

bool is_status_in(int s, std::initializer_list<int> allowed) {
  for (int a : allowed) if (a == s) return true;
  return false;
}

void load_redirect(Ctx& ctx, const json& v, const Pointer& at, const Route& r, Redirect& out) {
  Obj o(ctx, v, at, {"scheme", "host", "port", "path", "prefix", "status", "keep_query"});
  if (!o.ok()) return;
  o.with_nonnull("scheme", [&](const json& x, const Pointer& p) {
    std::string s;
    if (!read_string(ctx, x, p, s)) return;
    if (s != "http" && s != "https") ctx.error(p, "redirect scheme must be \"http\" or \"https\", got " + quote(s));
    else out.scheme = s;
  });
  o.with_nonnull("host", [&](const json& x, const Pointer& p) {
    std::string s, err;
    if (!read_string(ctx, x, p, s)) return;
    if (!valid_hostname(s, err)) ctx.error(p, "invalid host " + quote(s) + ": " + err);
    else out.host = to_lower(s);
  });
  o.with_nonnull("port", [&](const json& x, const Pointer& p) {
    uint16_t port = 0;
    if (read_uint(ctx, x, p, 1, 65535, port)) out.port = port;
  });
  o.with_nonnull("path", [&](const json& x, const Pointer& p) {
    std::string s;
    if (read_config_path(ctx, x, p, "redirect path", s)) out.path = s;
  });
  o.with_nonnull("prefix", [&](const json& x, const Pointer& p) {
    std::string s;
    if (!read_config_path(ctx, x, p, "redirect prefix", s)) return;
    if (!r.path_prefix) ctx.error(p, "redirect prefix replaces the route's path_prefix: the route needs one");
    else if (out.path) ctx.error(p, "set either redirect path or prefix, not both");
    else out.prefix = s;
  });
  o.with("status", [&](const json& x, const Pointer& p) {
    int status = 0;
    if (!read_uint(ctx, x, p, 100, 599, status)) return;
    if (!is_status_in(status, {301, 302, 303, 307, 308}))
      ctx.error(p, "redirect status must be 301, 302, 303, 307 or 308, got " + std::to_string(status));
    else out.status = status;
  });
  o.with("keep_query", [&](const json& x, const Pointer& p) { read_bool(ctx, x, p, out.keep_query); });
}

void load_respond(Ctx& ctx, const json& v, const Pointer& at, Respond& out) {
  Obj o(ctx, v, at, {"status", "body", "content_type"});
  if (!o.ok()) return;
  o.with("status", [&](const json& x, const Pointer& p) { read_uint(ctx, x, p, 200, 599, out.status); });
  o.with("body", [&](const json& x, const Pointer& p) { read_string(ctx, x, p, out.body, true); });
  o.with("content_type", [&](const json& x, const Pointer& p) {
    std::string s;
    if (!read_string(ctx, x, p, s)) return;
    bool bad = false;
    for (char c : s) bad = bad || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    if (bad) ctx.error(p, "content_type must not contain control characters");
    else out.content_type = s;
  });
}

void load_rewrite(Ctx& ctx, const json& v, const Pointer& at, const Route& r, Rewrite& out) {
  Obj o(ctx, v, at, {"prefix", "regex", "replace"});
  if (!o.ok()) return;
  const bool has_prefix = o.value("prefix") != nullptr, has_regex = o.value("regex") != nullptr;
  if (has_prefix == has_regex) {
    ctx.error(at, "rewrite needs either \"prefix\" or \"regex\" (with \"replace\")");
    return;
  }
  if (has_prefix) {
    std::string s;
    if (!read_config_path(ctx, *o.value("prefix"), o.at("prefix"), "rewrite prefix", s)) return;
    if (!r.path_prefix) ctx.error(o.at("prefix"), "rewrite prefix replaces the route's path_prefix: the route needs one");
    else out.prefix = s;
    if (o.has("replace")) ctx.error(o.at("replace"), "replace goes with regex, not with prefix");
    return;
  }
  int groups = 0;
  if (!read_regex(ctx, *o.value("regex"), o.at("regex"), out.regex, &groups)) return;
  const json* rep = o.require("replace");
  if (!rep || !read_string(ctx, *rep, o.at("replace"), out.replace, true)) return;
  RE2 re(out.regex);
  std::string err;
  if (!re.CheckRewriteString(out.replace, &err)) ctx.error(o.at("replace"), "invalid replace " + quote(out.replace) + ": " + err);
  else if (has_forbidden_path_byte(out.replace)) ctx.error(o.at("replace"), "replace must not contain spaces or control characters");
}

void load_fault(Ctx& ctx, const json& v, const Pointer& at, Fault& f) {
  Obj o(ctx, v, at, {"delay", "delay_percent", "abort_status", "abort_percent"});
  if (!o.ok()) return;
  auto percent = [&](std::string_view key, double& out) {
    o.with(key, [&](const json& x, const Pointer& p) {
      double d = 0;
      if (!read_number(ctx, x, p, d)) return;
      if (d < 0 || d > 100) ctx.error(p, "must be between 0 and 100, got " + x.dump());
      else out = d;
    });
  };
  o.with("delay", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, f.delay, true); });
  percent("delay_percent", f.delay_percent);
  o.with("abort_status", [&](const json& x, const Pointer& p) { read_uint(ctx, x, p, 200, 599, f.abort_status); });
  percent("abort_percent", f.abort_percent);
  if (o.has("delay_percent") && !o.has("delay")) ctx.error(o.at("delay_percent"), "delay_percent needs \"delay\"");
  if (o.has("abort_percent") && !o.has("abort_status"))
    ctx.error(o.at("abort_percent"), "abort_percent needs \"abort_status\"");
  // A delay or abort without its share applies to every matching request.
  if (o.has("delay") && !o.has("delay_percent")) f.delay_percent = 100;
  if (o.has("abort_status") && !o.has("abort_percent")) f.abort_percent = 100;
}

}  // namespace

bool has_forbidden_path_byte(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return true;
  return false;
}

void load_route(Ctx& ctx, const json& v, const Pointer& at, std::size_t index,
                const std::optional<std::string>& listener_pool, Route& r, ListenerRefs& refs) {
  Obj o(ctx, v, at,
        {"name", "host", "path_prefix", "path_exact", "path_regex", "methods", "headers", "access", "auth", "rate_limit", "pool", "redirect",
         "respond", "rewrite", "request_headers", "response_headers", "timeouts", "retries", "fault"});
  if (!o.ok()) return;
  r.name = "route-" + std::to_string(index);
  o.with("name", [&](const json& x, const Pointer& p) { read_name(ctx, x, p, r.name); });
  o.with_nonnull("host", [&](const json& x, const Pointer& p) { load_route_host(ctx, x, p, r); });

  int path_keys = 0;
  o.with_nonnull("path_prefix", [&](const json& x, const Pointer& p) {
    ++path_keys;
    std::string s;
    if (read_config_path(ctx, x, p, "path_prefix", s)) r.path_prefix = s;
  });
  o.with_nonnull("path_exact", [&](const json& x, const Pointer& p) {
    if (++path_keys > 1) ctx.error(p, "set at most one of path_prefix, path_exact and path_regex");
    std::string s;
    if (read_config_path(ctx, x, p, "path_exact", s)) r.path_exact = s;
  });
  o.with_nonnull("path_regex", [&](const json& x, const Pointer& p) {
    if (++path_keys > 1) ctx.error(p, "set at most one of path_prefix, path_exact and path_regex");
    std::string s;
    if (read_regex(ctx, x, p, s)) r.path_regex = s;
  });
  o.with_nonnull("methods", [&](const json& x, const Pointer& p) { load_methods(ctx, x, p, r); });
  o.with_nonnull("headers", [&](const json& x, const Pointer& p) { load_match_headers(ctx, x, p, r); });
  o.with_nonnull("access", [&](const json& x, const Pointer& p) { load_access(ctx, x, p, r.access); });
  o.with_nonnull("auth", [&](const json& x, const Pointer& p) { load_auth(ctx, x, p, r.auth.emplace()); });
  o.with_nonnull("rate_limit", [&](const json& x, const Pointer& p) {
    load_rate_limit(ctx, x, p, false, r.rate_limit.emplace());
  });

  // Exactly one action; none means the listener's pool.
  int actions = 0;
  for (const char* key : {"pool", "redirect", "respond"}) {
    if (!o.value(key)) continue;
    if (++actions > 1) ctx.error(o.at(key), "a route has exactly one action: pool, redirect or respond");
  }
  if (o.value("redirect")) {
    r.action = Route::Action::redirect;
    load_redirect(ctx, *o.value("redirect"), o.at("redirect"), r, r.redirect.emplace());
  } else if (o.value("respond")) {
    r.action = Route::Action::respond;
    load_respond(ctx, *o.value("respond"), o.at("respond"), r.respond.emplace());
  } else if (const json* x = o.value("pool")) {
    if (read_name(ctx, *x, o.at("pool"), r.pool)) refs.pools.push_back({o.at("pool"), r.pool});
  } else if (listener_pool) {
    r.pool = *listener_pool;
  } else {
    ctx.error(at, "route has no action: set \"pool\", \"redirect\" or \"respond\" (the listener has no default pool)");
  }
  const bool forwards = r.action == Route::Action::pool;
  auto forwarding_only = [&](std::string_view key) {
    if (!forwards && o.value(key))
      ctx.error(o.at(key), std::string(key) + " applies only to routes that forward to a pool");
    return forwards;
  };

  o.with_nonnull("rewrite", [&](const json& x, const Pointer& p) {
    if (forwarding_only("rewrite")) load_rewrite(ctx, x, p, r, r.rewrite.emplace());
  });
  o.with_nonnull("request_headers", [&](const json& x, const Pointer& p) {
    if (forwarding_only("request_headers")) load_header_rules(ctx, x, p, HeaderDirection::request, r.request_headers);
  });
  o.with_nonnull("response_headers", [&](const json& x, const Pointer& p) {
    load_header_rules(ctx, x, p, HeaderDirection::response, r.response_headers);
  });
  o.with_nonnull("fault", [&](const json& x, const Pointer& p) {
    if (forwarding_only("fault")) load_fault(ctx, x, p, r.fault.emplace());
  });
  RouteOverrides ov;
  ov.route = &r;
  if (const json* x = o.value("retries"); x && forwarding_only("retries")) {
    ov.retries = x;
    ov.retries_at = o.at("retries");
  }
  if (const json* x = o.value("timeouts"); x && forwarding_only("timeouts")) {
    ov.timeouts = x;
    ov.timeouts_at = o.at("timeouts");
  }
  if (ov.retries || ov.timeouts) refs.overrides.push_back(ov);
}

}  // namespace lb::conf::detail
