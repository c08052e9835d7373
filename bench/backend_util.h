// bench/backend_util.h — pure helpers for bench/backend.cpp (no libuv here):
// the deterministic byte pattern, number/token parsing, the HTTP/1.1 request
// head parser, reason phrases and the WebSocket accept key.
//
// Included by exactly one translation unit (the Makefile links build/backend
// from bench/backend.cpp alone), so everything lives in an anonymous namespace.
#pragma once

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <strings.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace {

// ---- deterministic pattern: byte i = (i*31+7) & 0xff --------------------------
// The sequence repeats every 256 bytes, so one buffer of 64 KiB + 256 serves any
// offset: the bytes for stream position `pos` start at pattern() + pos % 256.
constexpr size_t kPatternSpan = 64 * 1024;

inline const char* pattern() {
  static const auto buf = [] {
    std::array<char, kPatternSpan + 256> b{};
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>((i * 31 + 7) & 0xff);
    return b;
  }();
  return buf.data();
}

inline const char* pattern_at(uint64_t pos) { return pattern() + pos % 256; }

// ---- small string helpers ----------------------------------------------------
inline void append_num(std::string& o, uint64_t v) {
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
  o.append(tmp, r.ptr);
}

inline void append_hex(std::string& o, uint64_t v) {
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v, 16);
  o.append(tmp, r.ptr);
}

// Whole string must be a decimal number.
inline bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated header value holds `token` (case-insensitive).
inline bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

inline const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

// 1xx, 204 and 304 responses carry no body (and we send no Content-Length).
inline bool status_has_body(int status) {
  return status >= 200 && status != 204 && status != 304;
}

// Sec-WebSocket-Accept = base64(SHA1(key + GUID)), RFC 6455 section 4.2.2.
inline std::string websocket_accept(std::string_view key) {
  std::string in(key);
  in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

// ---- request head --------------------------------------------------------------
// Headers echoed back by /echo as "X-Seen-<name>: value" (canonical spelling).
constexpr std::array<std::string_view, 7> kSeenHeaders = {
    "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id",
    "Connection",      "Host",              "X-Client-Cert-Subject"};

// A parsed request head. Views point into the caller's buffer and are valid
// only while that buffer is untouched (i.e. during head handling).
struct RequestHead {
  std::string_view method, target, path;  // path = target without the query
  bool http11 = true;
  bool bad = false;                       // malformed: answer 400 and close
  int64_t content_length = -1;            // -1 = absent
  bool chunked = false;
  bool x_close = false;                   // "X-Close: 1"
  std::string_view connection, upgrade, ws_key, expect;
  struct Seen { uint8_t index; std::string_view value; };
  std::array<Seen, 32> seen{};
  size_t seen_count = 0;
};

// Parses [p, p+n), which ends with the blank line's "\r\n". Strict enough for
// our own clients (lb, curl, wrk); anything odd sets `bad`.
inline void parse_head(const char* p, size_t n, RequestHead& h) {
  std::string_view all(p, n);
  size_t eol = all.find("\r\n");
  std::string_view line = all.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos) { h.bad = true; return; }
  h.method = line.substr(0, sp1);
  h.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (version == "HTTP/1.1") h.http11 = true;
  else if (version == "HTTP/1.0") h.http11 = false;
  else { h.bad = true; return; }
  if (h.target.empty()) { h.bad = true; return; }
  h.path = h.target.substr(0, h.target.find('?'));

  size_t pos = eol + 2;
  while (pos < n) {
    size_t e = all.find("\r\n", pos);
    if (e == std::string_view::npos) { h.bad = true; return; }
    std::string_view hl = all.substr(pos, e - pos);
    pos = e + 2;
    if (hl.empty()) break;
    size_t colon = hl.find(':');
    if (colon == 0 || colon == std::string_view::npos) { h.bad = true; return; }
    std::string_view name = hl.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos) { h.bad = true; return; }
    std::string_view value = trim(hl.substr(colon + 1));
    if (iequals(name, "content-length")) {
      uint64_t v = 0;
      if (!parse_u64(value, v) || v > (uint64_t{1} << 62)) { h.bad = true; return; }
      if (h.content_length >= 0 && static_cast<uint64_t>(h.content_length) != v) { h.bad = true; return; }
      h.content_length = static_cast<int64_t>(v);
    } else if (iequals(name, "transfer-encoding")) {
      if (!iequals(value, "chunked")) { h.bad = true; return; }
      h.chunked = true;
    } else if (iequals(name, "upgrade")) {
      h.upgrade = value;
    } else if (iequals(name, "sec-websocket-key")) {
      h.ws_key = value;
    } else if (iequals(name, "expect")) {
      h.expect = value;
    } else if (iequals(name, "x-close")) {
      h.x_close = value == "1";
    }
    if (iequals(name, "connection")) h.connection = value;
    for (size_t i = 0; i < kSeenHeaders.size(); ++i) {
      if (iequals(name, kSeenHeaders[i]) && h.seen_count < h.seen.size()) {
        h.seen[h.seen_count++] = {static_cast<uint8_t>(i), value};
        break;
      }
    }
  }
  if (h.chunked && h.content_length >= 0) h.bad = true;
}

// Parses a chunk-size line (without its CRLF): hex digits, optional ";ext".
inline bool parse_chunk_size(std::string_view line, uint64_t& size) {
  line = trim(line.substr(0, line.find(';')));
  if (line.empty() || line.size() > 15) return false;
  auto r = std::from_chars(line.data(), line.data() + line.size(), size, 16);
  return r.ec == std::errc() && r.ptr == line.data() + line.size();
}

}  // namespace
