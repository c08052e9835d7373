// lb/http1/http_serialize.cpp — hop-by-hop rules, request/response head writers and
// chunk framing helpers (see lb/http1/http_serialize.h for the contracts).
#include "lb/http1/http_serialize.h"

#include "lb/http/trailers.h"

#include <charconv>

namespace lb::http {

namespace {

// `n` bytes added to the end of `out` for the caller to write: one length
// check and one library call where a field line as four appends made four
// (each with its own checks and memcpy call), on every field of every head.
char* grow(std::string& out, size_t n) {
  const size_t old = out.size();
  out.resize(old + n);
  return out.data() + old;
}

char* put(char* p, std::string_view s) noexcept {
  std::char_traits<char>::copy(p, s.data(), s.size());  // nothing copied (and no null source used) when empty
  return p + s.size();
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  char* p = put(grow(out, name.size() + value.size() + 4), name);
  *p++ = ':';
  *p++ = ' ';
  p = put(p, value);
  p[0] = '\r';
  p[1] = '\n';
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

// Framing and Connection headers go last, after everything copied, so that
// nothing copied can contradict them.
void append_tail(std::string& out, std::span<const Header> extra, const Framing& framing,
                 ConnectionMode connection, std::string_view upgrade_protocol) {
  for (const Header& h : extra) append_header(out, h.name, h.value);
  switch (framing.kind) {
    case Framing::Kind::Length:
      out.append("Content-Length: ");
      append_uint(out, framing.length);
      out.append("\r\n");
      break;
    case Framing::Kind::Chunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case Framing::Kind::None:
    case Framing::Kind::UntilClose:
      break;
  }
  // A close-delimited body only works if the connection really closes.
  if (framing.kind == Framing::Kind::UntilClose) connection = ConnectionMode::Close;
  switch (connection) {
    case ConnectionMode::Omit: break;
    case ConnectionMode::KeepAlive: out.append("Connection: keep-alive\r\n"); break;
    case ConnectionMode::Close: out.append("Connection: close\r\n"); break;
    case ConnectionMode::Upgrade:
      out.append("Connection: upgrade\r\n");
      append_header(out, "Upgrade", upgrade_protocol);
      break;
  }
  out.append("\r\n");
}

// The header names serialization treats specially, recognised with one switch
// on the length and at most two comparisons: the writers below look at every
// field of every head, so a chain of case-insensitive compares per field
// would dominate their cost.
enum class Known { other, hop_by_hop, content_length, host, x_forwarded, x_client_cert_subject };

Known classify(std::string_view name) noexcept {
  switch (name.size()) {
    case 2: return iequals(name, "te") ? Known::hop_by_hop : Known::other;
    case 4: return iequals(name, "host") ? Known::host : Known::other;
    case 5: return iequals(name, "proxy") ? Known::hop_by_hop : Known::other;
    case 7: if (iequals(name, "trailer") || iequals(name, "upgrade")) return Known::hop_by_hop; break;
    case 10: if (iequals(name, "connection") || iequals(name, "keep-alive")) return Known::hop_by_hop; break;
    case 14: if (iequals(name, "content-length")) return Known::content_length; break;
    case 15: if (iequals(name, "x-forwarded-for")) return Known::x_forwarded; break;
    case 16: if (iequals(name, "x-forwarded-host")) return Known::x_forwarded; break;
    case 17:
      if (iequals(name, "transfer-encoding")) return Known::hop_by_hop;
      if (iequals(name, "x-forwarded-proto")) return Known::x_forwarded;
      break;
    case 21: if (iequals(name, "x-client-cert-subject")) return Known::x_client_cert_subject; break;
    default: break;
  }
  // Proxy-Authorization, Proxy-Connection, ...: meant for a proxy, never forwarded.
  return istarts_with(name, "proxy-") ? Known::hop_by_hop : Known::other;
}

// With tracing on, the client's traceparent (and, for a trace lb starts, its
// tracestate) give way to lb's. The length test first: with tracing on this
// runs for every forwarded field, and most names differ in length.
bool replaced_trace_field(std::string_view name, bool tracestate) noexcept {
  return (name.size() == 11 && iequals(name, "traceparent")) ||
         (tracestate && name.size() == 10 && iequals(name, "tracestate"));
}

bool fixed_hop_by_hop(std::string_view name) noexcept { return classify(name) == Known::hop_by_hop; }

// The Connection field values of one head, found once per serialization
// rather than once per copied field.
class ConnectionTokens {
 public:
  explicit ConnectionTokens(const Headers& h) : headers_(h) {
    for (const Header& f : h) {
      if (!iequals(f.name, "connection")) continue;
      if (n_ < kMax) values_[n_++] = f.value;
      else overflow_ = true;
    }
  }
  // `known`: classify(name), computed once by the caller.
  bool hop_by_hop(std::string_view name, Known known) const noexcept {
    if (known == Known::hop_by_hop) return true;
    if (n_ == 0 && !overflow_) return false;
    for (size_t i = 0; i < n_; ++i) {
      if (list_has_token(values_[i], name)) return true;
    }
    return overflow_ && headers_.has_token("connection", name);
  }

 private:
  static constexpr size_t kMax = 4;
  const Headers& headers_;
  std::string_view values_[kMax];
  size_t n_ = 0;
  bool overflow_ = false;
};

}  // namespace

bool is_hop_by_hop(std::string_view name, const Headers& headers) noexcept {
  // Connection: a, b — a and b are hop-by-hop too (RFC 9110 7.6.1).
  return fixed_hop_by_hop(name) || headers.has_token("connection", name);
}

Framing request_framing(const RequestHead& req) {
  if (req.chunked) return Framing::chunked();
  if (req.content_length) return Framing::content_length(*req.content_length);
  return Framing::none();
}

Framing response_framing(const ResponseHead& resp, bool client_http11) {
  if (resp.upgrade || resp.interim) return Framing::none();
  if (resp.content_length) return Framing::content_length(*resp.content_length);
  if (resp.chunked || resp.close_delimited) {
    // A HEAD response announcing chunked carries no body: mirror the header
    // only where the client understands it.
    if (!resp.has_body && !client_http11) return Framing::none();
    return client_http11 ? Framing::chunked() : Framing::until_close();
  }
  return Framing::none();
}

void serialize_request_head(const RequestHead& head, const RequestHeadOptions& opt, std::string& out) {
  constexpr std::string_view kVersion = " HTTP/1.1\r\n";
  const std::string_view target = opt.target.empty() ? head.origin_target : opt.target;
  char* p = put(grow(out, head.method.size() + 1 + target.size() + kVersion.size()), head.method);
  *p++ = ' ';
  put(put(p, target), kVersion);

  const ForwardedHeaders* fwd = opt.forwarded;
  const ConnectionTokens conn(head.headers);
  bool wrote_host = false;
  auto dropped = [&](std::string_view name) {
    for (std::string_view d : opt.drop)
      if (same_for_cgi(d, name)) return true;
    return false;
  };
  if (!opt.drop.empty() && dropped("host")) wrote_host = true;  // a header rule supplies it
  for (const Header& h : head.headers) {
    const Known known = classify(h.name);
    if (known == Known::content_length || conn.hop_by_hop(h.name, known)) continue;
    if (!opt.drop.empty() && dropped(h.name)) continue;
    // lb alone asserts a verified client certificate: never pass a client's own claim.
    if (known == Known::x_client_cert_subject) continue;
    if (!opt.traceparent_line.empty() && opt.client_trace_fields && replaced_trace_field(h.name, opt.drop_tracestate))
      continue;
    if (known == Known::host) {
      append_header(out, h.name, head.host);  // absolute-form authority wins
      wrote_host = true;
      continue;
    }
    if (fwd && known == Known::x_forwarded) continue;  // rewritten below
    append_header(out, h.name, h.value);
  }
  if (!wrote_host) append_header(out, "Host", head.host.empty() ? opt.fallback_host : head.host);

  if (fwd) {
    // X-Forwarded-For: keep the chain the client brought, add the peer we saw.
    // A header rule that sets or removes one of these replaces lb's own.
    if (!fwd->client_ip.empty() && !dropped("x-forwarded-for")) {
      out.append("X-Forwarded-For: ");
      if (fwd->replace_chain) {
        if (!fwd->chain.empty()) {
          out.append(fwd->chain);
          out.append(", ");
        }
      } else {
        for (const Header& h : head.headers) {
          if (iequals(h.name, "x-forwarded-for") && !h.value.empty()) {
            out.append(h.value);
            out.append(", ");
          }
        }
      }
      out.append(fwd->client_ip);
      out.append("\r\n");
    }
    if (!fwd->proto.empty() && !dropped("x-forwarded-proto")) append_header(out, "X-Forwarded-Proto", fwd->proto);
    if (!fwd->host.empty() && !dropped("x-forwarded-host")) append_header(out, "X-Forwarded-Host", fwd->host);
    if (!fwd->request_id.empty() && !head.headers.contains("x-request-id") && !dropped("x-request-id")) {
      append_header(out, "X-Request-Id", fwd->request_id);
    }
  }
  out.append(opt.traceparent_line);
  append_tail(out, opt.extra, opt.framing, opt.connection, head.upgrade_protocol);
}

void serialize_response_head(const ResponseHead& head, const ResponseHeadOptions& opt, std::string& out) {
  // The status line sized first, then written in place.
  const std::string_view reason = head.reason.empty() ? default_reason(head.status) : head.reason;
  char status[24];
  const size_t status_len = static_cast<size_t>(std::to_chars(status, status + sizeof status, head.status).ptr - status);
  char* p = put(grow(out, 9 + status_len + 1 + reason.size() + 2), "HTTP/1.1 ");
  p = put(p, std::string_view(status, status_len));
  *p++ = ' ';
  put(put(p, reason), "\r\n");
  const ConnectionTokens conn(head.headers);
  for (const Header& h : head.headers) {
    const Known known = classify(h.name);
    if (known == Known::content_length || conn.hop_by_hop(h.name, known)) continue;
    append_header(out, h.name, h.value);
  }
  append_tail(out, opt.extra, opt.framing, opt.connection, head.upgrade_protocol);
}

std::string_view default_reason(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

std::string_view chunk_header(uint64_t n, ChunkHeaderBuf& buf) noexcept {
  auto r = std::to_chars(buf.data, buf.data + 16, n, 16);
  char* p = r.ptr;
  *p++ = '\r';
  *p++ = '\n';
  return {buf.data, static_cast<size_t>(p - buf.data)};
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;  // an empty chunk would end the body
  ChunkHeaderBuf buf;
  out.append(chunk_header(data.size(), buf));
  out.append(data);
  out.append(kChunkEnd);
}

void serialize_last_chunk(const Headers* trailers, std::string& out) {
  out.assign("0\r\n");
  if (trailers) {
    for (const Header& h : *trailers) {
      if (forbidden_trailer(h.name)) continue;
      append_header(out, h.name, h.value);
    }
  }
  out.append("\r\n");
}

}  // namespace lb::http
