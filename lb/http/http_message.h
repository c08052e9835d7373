// lb/http/http_message.h — the parsed shape of HTTP/1.x messages (request and
// response heads, header lists, limits, parse results) shared by the parsers
// (lb/http1/http_parser.h) and the head serializers (lb/http1/http_serialize.h).
//
// Ownership: every std::string_view in a head points into a buffer owned by
// the parser that produced it. A head stays valid until that parser reports
// the *next* head (double buffering, see lb/http/http_syntax.h), or until the
// parser is destroyed. Copy what must live longer.
// Threading: plain data; no synchronisation. A parser and its heads belong to
// one connection on one worker loop.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace lb::http {

// ASCII case-insensitive equality; header names and tokens compare this way.
// Inline: it runs for every field of every head (lookups, hop-by-hop tests).
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    if ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z') return false;
  }
  return true;
}
// iequals, with '-' and '_' also equal: the names CGI-style servers (PHP-FPM,
// WSGI, Rack) cannot tell apart, since both become HTTP_X_USER. A field lb
// removes (a header rule's remove, a forwarded claim, a token) is removed in
// every such spelling, so a client cannot slip "X_User" past lb.
inline bool same_for_cgi(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    if ((x == '-' || x == '_') && (y == '-' || y == '_')) continue;
    if ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z') return false;
  }
  return true;
}
// ASCII case-insensitive prefix test.
inline bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}
// True when the comma-separated list `list` (e.g. a Connection value) holds
// `token` as one of its elements, compared case-insensitively, OWS trimmed.
bool list_has_token(std::string_view list, std::string_view token) noexcept;

struct Header {
  std::string_view name;   // original case as received
  std::string_view value;  // leading/trailing OWS removed
};

// Ordered header list with case-insensitive lookup. Lookups are linear: heads
// carry tens of fields and a scan beats building an index per request.
struct Headers {
  std::vector<Header> fields;

  const Header* find(std::string_view name) const noexcept;  // first match or nullptr
  // Value of the first field named `name`, or `fallback` when absent.
  std::string_view get(std::string_view name, std::string_view fallback = {}) const noexcept;
  size_t count(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
  // True when any field named `name` lists `token` (e.g. Connection: upgrade).
  bool has_token(std::string_view name, std::string_view token) const noexcept;

  size_t size() const noexcept { return fields.size(); }
  bool empty() const noexcept { return fields.empty(); }
  auto begin() const noexcept { return fields.begin(); }
  auto end() const noexcept { return fields.end(); }
  const Header& operator[](size_t i) const noexcept { return fields[i]; }
};

struct RequestHead {
  std::string_view method;          // "GET"; static storage (llhttp's name table)
  llhttp_method_t method_id = HTTP_GET;
  std::string_view target;          // request-target exactly as received
  std::string_view path;            // target without query; "/x" for absolute-form http://h/x; "*" for OPTIONS *
  std::string_view query;           // after '?', without it; empty when none
  std::string_view origin_target;   // path[?query]: what to send to an origin server
  uint8_t http_major = 1;
  uint8_t http_minor = 1;           // 0 or 1 (anything else is rejected)
  Headers headers;
  std::string_view host;            // authority of an absolute-form target, else the Host header; may be empty (HTTP/1.0)
  bool keep_alive = false;          // llhttp_should_keep_alive(): 1.1 unless "close", 1.0 only with "keep-alive"
  std::optional<uint64_t> content_length;
  bool chunked = false;             // Transfer-Encoding: chunked (the only coding accepted)
  bool has_body = false;            // chunked, or Content-Length > 0
  bool upgrade = false;             // Upgrade + Connection: upgrade (llhttp's rule); CONNECT is rejected
  std::string_view upgrade_protocol;  // the Upgrade header value, e.g. "websocket"
  bool expect_continue = false;     // Expect: 100-continue
  size_t head_bytes = 0;            // raw bytes of request line + headers + blank line
};

struct ResponseHead {
  int status = 0;
  std::string_view reason;          // reason phrase as received (may be empty)
  uint8_t http_major = 1;
  uint8_t http_minor = 1;
  Headers headers;
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = false;          // the server keeps the connection open after this response
  bool upgrade = false;             // 101 Switching Protocols: the rest of the stream is a tunnel
  std::string_view upgrade_protocol;
  bool interim = false;             // 1xx other than 101: a final response follows
  bool has_body = false;            // false for HEAD, 1xx, 204, 304 and zero length
  bool close_delimited = false;     // body ends when the server closes (no CL, not chunked)
};

// Limits on a request, from the listener's "limits" (SPEC 3). 0 = unlimited.
struct Limits {
  uint64_t max_header_bytes = 32768;  // request line + headers, raw bytes → 431
  uint32_t max_headers = 100;         // → 431
  uint64_t max_body_bytes = 0;        // declared or decoded body → 413
};

// Limits that protect lb from a misbehaving server. 0 = unlimited.
struct ResponseLimits {
  uint64_t max_header_bytes = 65536;  // per head (each 1xx and the final head)
  uint32_t max_headers = 200;
};

// What went wrong, for lb's own error response. `status` is the HTTP status lb
// should answer with: 400/413/431 for requests, 502 for responses. `reason` is
// a short static string (safe to log, never contains input bytes).
struct ParseError {
  int status = 0;
  std::string_view reason;
};

enum class FeedStatus {
  NeedMore,         // every byte consumed; feed more when it arrives
  HeadPaused,       // the head handler asked to pause; bytes after `consumed` are unparsed
  MessageComplete,  // one message ended exactly at `consumed`; the rest belongs to the next one
  Upgrade,          // (response) 101: bytes after `consumed` are tunnel data, the parser is done
  Closed,           // no further message may follow (Connection: close / EOF); `consumed` is 0
  Error,            // see error(); the parser is dead, close the connection
};

struct FeedResult {
  size_t consumed = 0;
  FeedStatus status = FeedStatus::NeedMore;
};

// Returned by the head handlers: keep parsing the body, or stop feed() right
// after the head (e.g. until the backend connection exists) — the unconsumed
// bytes stay with the caller, who feeds them again later.
enum class Flow { Continue, Pause };

}  // namespace lb::http
