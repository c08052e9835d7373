// conf/listener.cpp — schema walk for one element of "listeners" (SPEC
// sections 3 and 9): name, listen, protocol, pool, routes, tls, http2,
// max_connections, timeouts, limits, rate_limit (conf/rate_limit.cpp), forwarded_headers,
// proxy_protocol, plus the rules that depend on the protocol (http-only keys
// on tcp listeners, tcp's required pool, which ALPN names, rate-limit keys and
// PROXY sending make sense where) or on TLS (h2c only without it). A
// certificate's OCSP staple is read and parsed here too.
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "conf/schema.h"
#include "conf/values.h"

namespace lb::conf::detail {

namespace {

constexpr int64_t kMaxConnections = 10'000'000;

// Real responses are a few KiB (one certificate's status, maybe the
// responder's certificate); anything near this bound is not one.
constexpr std::size_t kMaxOcspBytes = 256 * 1024;

// SPEC 11: the staple is read here, at load and on every reload. Only its
// syntax is checked: whether it is for this certificate and still fresh needs
// the certificate, and a response that is not is logged and left unstapled by
// tls::ServerContext rather than failing the configuration (a response expiring
// overnight must not stop the next reload).
void load_ocsp(Ctx& ctx, const json& v, const Pointer& at, TlsCertificate& c) {
  std::string path;
  if (!read_file_path(ctx, v, at, path)) return;
  std::string der, err;
  if (!read_file(path, der, err, kMaxOcspBytes)) {
    ctx.error(at, "cannot read OCSP response " + quote(path) + ": " + err);
    return;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  OCSP_RESPONSE* resp = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size()));
  const bool whole = resp && p == reinterpret_cast<const unsigned char*>(der.data()) + der.size();
  OCSP_RESPONSE_free(resp);
  ERR_clear_error();  // d2i leaves its reasons on this thread's queue
  if (!whole) {
    ctx.error(at, quote(path) + " is not a DER OCSP response (as written by `openssl ocsp -respout`)");
    return;
  }
  c.ocsp = path;
  c.ocsp_der = std::move(der);
}

void load_certificate(Ctx& ctx, const json& v, const Pointer& at, TlsCertificate& c) {
  Obj o(ctx, v, at, {"cert", "key", "ocsp"});
  if (!o.ok()) return;
  if (const json* x = o.require("cert")) read_file_path(ctx, *x, o.at("cert"), c.cert);
  if (const json* x = o.require("key")) read_file_path(ctx, *x, o.at("key"), c.key);
  o.with_nonnull("ocsp", [&](const json& x, const Pointer& p) { load_ocsp(ctx, x, p, c); });
}

void load_listener_tls(Ctx& ctx, const json& v, const Pointer& at, bool http, ListenerTls& t) {
  Obj o(ctx, v, at, {"certificates", "min_version", "alpn", "client_ca"});
  if (!o.ok()) return;
  if (const json* certs = o.require("certificates")) {
    const Pointer p = o.at("certificates");
    if (check_array(ctx, *certs, p)) {
      if (certs->empty()) ctx.error(p, "at least one certificate is required");
      for (std::size_t i = 0; i < certs->size(); ++i) load_certificate(ctx, (*certs)[i], p / i, t.certificates.emplace_back());
    }
  }
  o.with("min_version", [&](const json& x, const Pointer& p) {
    read_enum(ctx, x, p, kTlsVersionNames, "TLS version", t.min_version);
  });
  // A tcp listener carries arbitrary bytes: advertising "h2" or "http/1.1"
  // there would be a lie, so it offers no ALPN unless told to. An http
  // listener keeps the default ["h2", "http/1.1"] (SPEC 9): the order is the
  // server's preference, and a client offering no ALPN gets HTTP/1.1.
  if (!http) t.alpn.clear();
  o.with("alpn", [&](const json& x, const Pointer& p) {
    if (!check_array(ctx, x, p)) return;
    std::vector<std::string> alpn;
    for (std::size_t i = 0; i < x.size(); ++i) {
      std::string s;
      if (!read_string(ctx, x[i], p / i, s)) continue;
      if (s.size() > 255) ctx.error(p / i, "ALPN protocol names are at most 255 bytes");
      else if (!is_visible_ascii(s)) ctx.error(p / i, "ALPN protocol " + quote(s) + " must be visible ASCII");
      else if (http && s != "h2" && s != "http/1.1" && s != "http/1.0")
        ctx.error(p / i, "http listeners speak HTTP/2 and HTTP/1.x only; cannot offer ALPN " + quote(s) +
                             " (use \"h2\", \"http/1.1\" or \"http/1.0\")");
      else alpn.push_back(s);
    }
    t.alpn = std::move(alpn);
  });
  o.with_nonnull("client_ca", [&](const json& x, const Pointer& p) {
    std::string path;
    if (read_file_path(ctx, x, p, path)) t.client_ca = path;
  });
}

// body_idle and send bound HTTP request bodies and responses; a tcp
// session's inactivity is client_idle's, so they are errors there rather
// than silently ignored (like "limits").
void load_timeouts(Ctx& ctx, const json& v, const Pointer& at, bool tcp, ListenerTimeouts& t) {
  Obj o(ctx, v, at, {"request_header", "client_idle", "tls_handshake", "body_idle", "send"});
  o.with("request_header", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, t.request_header); });
  o.with("client_idle", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, t.client_idle); });
  o.with("tls_handshake", [&](const json& x, const Pointer& p) { read_duration(ctx, x, p, t.tls_handshake); });
  o.with("body_idle", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "body_idle applies only to http listeners (tcp sessions use client_idle)");
    else read_duration(ctx, x, p, t.body_idle);
  });
  o.with("send", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "send applies only to http listeners (tcp sessions use client_idle)");
    else read_duration(ctx, x, p, t.send);
  });
}

void load_limits(Ctx& ctx, const json& v, const Pointer& at, ListenerLimits& l) {
  Obj o(ctx, v, at, {"max_header_bytes", "max_headers", "max_body_bytes"});
  o.with("max_header_bytes", [&](const json& x, const Pointer& p) {
    read_uint(ctx, x, p, 1024, 16 * 1024 * 1024, l.max_header_bytes);
  });
  o.with("max_headers", [&](const json& x, const Pointer& p) { read_uint(ctx, x, p, 1, 10'000, l.max_headers); });
  o.with("max_body_bytes", [&](const json& x, const Pointer& p) {
    read_uint(ctx, x, p, 0, std::numeric_limits<int64_t>::max(), l.max_body_bytes);
  });
}

// SPEC 9. The window's bound is RFC 9113's (6.5.2: 2^31-1). The cap on
// concurrent streams is lb's own: each open stream may hold a backend
// exchange and its buffers, so one client must not pin an unbounded number.
// max_requests_per_connection shares the 31-bit bound (a client can open at
// most 2^30 streams on one connection, so larger values act as unlimited).
// "cleartext": false is accepted on a TLS listener: it is the default, and
// GET /config prints it there.
void load_http2(Ctx& ctx, const json& v, const Pointer& at, bool has_tls, Http2Config& h) {
  Obj o(ctx, v, at, {"cleartext", "max_concurrent_streams", "initial_window_size", "max_requests_per_connection"});
  o.with("cleartext", [&](const json& x, const Pointer& p) {
    bool cleartext = false;
    if (!read_bool(ctx, x, p, cleartext)) return;
    if (cleartext && has_tls) {
      ctx.error(p, "cleartext HTTP/2 (h2c) is only for listeners without \"tls\"; on this TLS listener HTTP/2 "
                   "is negotiated by ALPN (\"h2\" in tls.alpn, on by default)");
      return;
    }
    h.cleartext = cleartext;
  });
  o.with("max_concurrent_streams", [&](const json& x, const Pointer& p) {
    read_uint(ctx, x, p, 1, Http2Config::kMaxConcurrentStreamsLimit, h.max_concurrent_streams);
  });
  o.with("initial_window_size", [&](const json& x, const Pointer& p) {
    read_uint(ctx, x, p, 0, Http2Config::kMaxWindowSize, h.initial_window_size);
  });
  o.with("max_requests_per_connection", [&](const json& x, const Pointer& p) {
    read_uint(ctx, x, p, 0, 0x7fff'ffff, h.max_requests_per_connection);
  });
}

void load_proxy_protocol(Ctx& ctx, const json& v, const Pointer& at, bool tcp, bool protocol_known, ProxyProtocol& pp) {
  Obj o(ctx, v, at, {"accept", "send"});
  o.with("accept", [&](const json& x, const Pointer& p) { read_bool(ctx, x, p, pp.accept); });
  o.with_nonnull("send", [&](const json& x, const Pointer& p) {
    ProxyProtocolVersion ver{};
    if (!read_enum(ctx, x, p, kProxyProtocolVersionNames, "PROXY protocol version", ver)) return;
    if (!tcp && protocol_known) {
      ctx.error(p, "sending the PROXY header is only supported on tcp listeners "
                   "(http backend connections are pooled and shared between clients)");
      return;
    }
    pp.send = ver;
  });
}

// Content type by extension: error pages are HTML, JSON or text in practice.
std::string content_type_for(std::string_view path) {
  auto ends = [&](std::string_view ext) { return path.size() > ext.size() && to_lower(path.substr(path.size() - ext.size())) == ext; };
  if (ends(".html") || ends(".htm")) return "text/html; charset=utf-8";
  if (ends(".json")) return "application/json";
  if (ends(".txt")) return "text/plain; charset=utf-8";
  if (ends(".xml")) return "application/xml";
  if (ends(".css")) return "text/css";
  if (ends(".js")) return "text/javascript";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

constexpr std::size_t kMaxErrorPageBytes = 1 << 20;

void load_error_pages(Ctx& ctx, const json& v, const Pointer& at, std::vector<ErrorPage>& out) {
  if (!v.is_object()) {
    ctx.error(at, "expected an object of status (\"503\") or class (\"5xx\") → file, got " + describe(v));
    return;
  }
  for (const auto& [key, value] : v.items()) {
    const Pointer p = at / key;
    ErrorPage page;
    if (key.size() == 3 && key[0] >= '1' && key[0] <= '5' && key[1] == 'x' && key[2] == 'x') {
      page.is_class = true;
      page.status = key[0] - '0';
    } else if (key.size() == 3 && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
               key[0] >= '1' && key[0] <= '5') {
      page.status = std::stoi(key);
    } else {
      ctx.error(p, "expected a status (\"503\") or a class (\"5xx\"), got " + quote(key));
      continue;
    }
    if (!read_file_path(ctx, value, p, page.path)) continue;
    std::string err;
    if (!read_file(page.path, page.body, err, kMaxErrorPageBytes)) {
      ctx.error(p, "cannot read error page " + quote(page.path) + ": " + err);
      continue;
    }
    page.content_type = content_type_for(page.path);
    out.push_back(std::move(page));
  }
}

}  // namespace

void load_listener(Ctx& ctx, const json& v, const Pointer& at, ListenerConfig& l, ListenerRefs& refs) {
  Obj o(ctx, v, at,
        {"name", "listen", "protocol", "pool", "routes", "tls", "http2", "max_connections", "timeouts", "limits",
         "rate_limit", "forwarded_headers", "proxy_protocol", "request_headers", "response_headers", "error_pages", "access",
         "trusted_proxies", "auth", "per_client", "tracing", "slo"});
  if (!o.ok()) return;
  if (const json* x = o.require("name")) read_name(ctx, *x, o.at("name"), l.name);
  if (const json* x = o.require("listen")) read_address(ctx, *x, o.at("listen"), l.listen);

  // Protocol-dependent rules are only checked when the protocol itself is valid,
  // so one typo in "protocol" does not drag a cascade of errors behind it.
  bool protocol_known = true;
  o.with("protocol", [&](const json& x, const Pointer& p) {
    protocol_known = read_enum(ctx, x, p, kProtocolNames, "protocol", l.protocol);
  });
  const bool tcp = protocol_known && l.protocol == Protocol::tcp;
  const bool http = protocol_known && l.protocol == Protocol::http;

  o.with("pool", [&](const json& x, const Pointer& p) {
    std::string name;
    if (read_name(ctx, x, p, name)) {
      l.pool = name;
      refs.pools.push_back({p, name});
    }
  });

  bool has_routes = false;
  o.with("routes", [&](const json& x, const Pointer& p) {
    if (tcp) {
      ctx.error(p, "routes apply only to http listeners (a tcp listener sends everything to its \"pool\")");
      return;
    }
    if (!check_array(ctx, x, p)) return;
    has_routes = !x.empty();
    l.routes.reserve(x.size());  // RouteOverrides keep pointers into it
    for (std::size_t i = 0; i < x.size(); ++i) load_route(ctx, x[i], p / i, i, l.pool, l.routes.emplace_back(), refs);
    for (std::size_t i = 0; i < l.routes.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (l.routes[i].name == l.routes[j].name && !l.routes[i].name.empty()) {
          ctx.error(p / i / "name", "duplicate route name " + quote(l.routes[i].name) + " (also " + (p / j).str() + ")");
          break;
        }
  });

  if (tcp && !o.has("pool")) o.require("pool", "a tcp listener forwards every connection to its pool");
  if (http && !o.has("pool") && !has_routes)
    o.require("pool", "an http listener needs a default \"pool\" or at least one route");

  o.with_nonnull("tls", [&](const json& x, const Pointer& p) { load_listener_tls(ctx, x, p, !tcp, l.tls.emplace()); });
  // Like "limits": an error on a tcp listener rather than silently ignored.
  o.with("http2", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "http2 applies only to http listeners");
    else load_http2(ctx, x, p, o.value("tls") != nullptr, l.http2);
  });
  o.with("max_connections", [&](const json& x, const Pointer& p) {
    read_uint(ctx, x, p, 0, kMaxConnections, l.max_connections);
  });
  o.with("timeouts", [&](const json& x, const Pointer& p) { load_timeouts(ctx, x, p, tcp, l.timeouts); });
  o.with("limits", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "limits apply only to http listeners");
    else load_limits(ctx, x, p, l.limits);
  });
  o.with_nonnull("rate_limit", [&](const json& x, const Pointer& p) {
    load_rate_limit(ctx, x, p, tcp, l.rate_limit.emplace());
  });
  o.with("forwarded_headers", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "forwarded_headers applies only to http listeners");
    else read_bool(ctx, x, p, l.forwarded_headers);
  });
  o.with("proxy_protocol", [&](const json& x, const Pointer& p) {
    load_proxy_protocol(ctx, x, p, tcp, protocol_known, l.proxy_protocol);
  });
  o.with_nonnull("request_headers", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "request_headers applies only to http listeners");
    else load_header_rules(ctx, x, p, HeaderDirection::request, l.request_headers);
  });
  o.with_nonnull("response_headers", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "response_headers applies only to http listeners");
    else load_header_rules(ctx, x, p, HeaderDirection::response, l.response_headers);
  });
  o.with_nonnull("access", [&](const json& x, const Pointer& p) { load_access(ctx, x, p, l.access); });
  o.with_nonnull("auth", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "auth applies only to http listeners");
    else load_auth(ctx, x, p, l.auth.emplace());
  });
  o.with_nonnull("per_client", [&](const json& x, const Pointer& p) { load_per_client(ctx, x, p, l.per_client); });
  o.with_nonnull("trusted_proxies", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "trusted_proxies applies only to http listeners (X-Forwarded-For); tcp listeners use proxy_protocol");
    else load_cidr_list(ctx, x, p, l.trusted_proxies);
  });
  o.with_nonnull("error_pages", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "error_pages applies only to http listeners");
    else load_error_pages(ctx, x, p, l.error_pages);
  });
  o.with_nonnull("tracing", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "tracing applies only to http listeners (W3C traceparent is an HTTP header)");
    else load_tracing(ctx, x, p, l.tracing.emplace());
  });
  o.with_nonnull("slo", [&](const json& x, const Pointer& p) {
    if (tcp) ctx.error(p, "slo applies only to http listeners (it judges HTTP statuses and request durations)");
    else load_slo(ctx, x, p, l.slo.emplace());
  });
}

}  // namespace lb::conf::detail
