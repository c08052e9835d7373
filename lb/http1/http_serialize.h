// lb/http1/http_serialize.h — writing heads and chunk framing for the proxy: which
// headers are hop-by-hop, how a parsed request/response head is re-emitted
// towards the other side, and the chunked-encoding helpers.
//
// The proxy never forwards framing as received: the parsers decode bodies and
// the caller re-frames them (Content-Length or chunked), which normalises
// every accepted request shape into one unambiguous form for the backend.
// Ownership: serializers append to a caller-owned std::string (clear() and
// reuse it to avoid allocation); nothing is retained.
#pragma once

#include "lb/http/http_message.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace lb::http {

// True for headers that describe one connection and must not be forwarded:
// Connection and every name it lists, Keep-Alive, TE, Trailer,
// Transfer-Encoding, Upgrade, and Proxy / Proxy-* (Proxy-Connection,
// Proxy-Authenticate, Proxy-Authorization, ...; "Proxy" itself is the httpoxy
// vector). `headers` is the message the name comes from (for Connection).
bool is_hop_by_hop(std::string_view name, const Headers& headers) noexcept;

// How the body that follows a serialized head is framed.
struct Framing {
  enum class Kind {
    None,        // no body and no framing header (GET, 204, 304 without CL, 1xx)
    Length,      // Content-Length: length (also for HEAD/304 metadata)
    Chunked,     // Transfer-Encoding: chunked; write chunks with the helpers below
    UntilClose,  // no framing header; the body ends when lb closes (forces Connection: close)
  };
  Kind kind = Kind::None;
  uint64_t length = 0;

  static Framing none() { return {}; }
  static Framing content_length(uint64_t n) { return {Kind::Length, n}; }
  static Framing chunked() { return {Kind::Chunked, 0}; }
  static Framing until_close() { return {Kind::UntilClose, 0}; }
};

// Mirrors the request's own framing: chunked stays chunked, CL stays CL.
Framing request_framing(const RequestHead& req);
// Framing towards the client: keeps Content-Length; re-chunks chunked and
// close-delimited bodies for HTTP/1.1 clients, and falls back to
// close-delimited for HTTP/1.0 clients (which cannot take chunked).
Framing response_framing(const ResponseHead& resp, bool client_http11);

enum class ConnectionMode {
  Omit,       // write no Connection header (e.g. forwarding a 100 Continue)
  KeepAlive,  // Connection: keep-alive
  Close,      // Connection: close
  Upgrade,    // Connection: upgrade + Upgrade: <head's upgrade_protocol>
};

// SPEC 3 "forwarded_headers".
struct ForwardedHeaders {
  std::string_view client_ip;   // appended to X-Forwarded-For (", " after existing values)
  std::string_view proto;       // X-Forwarded-Proto ("http"/"https"); replaces the client's
  std::string_view host;        // X-Forwarded-Host; replaces the client's
  std::string_view request_id;  // X-Request-Id, added only when the request has none
  // Instead of the client's X-Forwarded-For values, send `chain` (may be
  // empty) before client_ip: a trusted proxy's view (SPEC 11).
  bool replace_chain = false;
  std::string_view chain;
};

struct RequestHeadOptions {
  Framing framing;
  ConnectionMode connection = ConnectionMode::KeepAlive;
  const ForwardedHeaders* forwarded = nullptr;  // nullptr: add none
  std::span<const Header> extra = {};           // appended verbatim after the copied fields
  // Host to send when the request has none (HTTP/1.0): we always speak 1.1
  // upstream, where Host is mandatory. May be empty ("Host:" is valid).
  std::string_view fallback_host = {};
  // Replaces head.origin_target when set (a normalized or rewritten path).
  std::string_view target = {};
  // Received fields not to forward (lower-cased names; header rules).
  // Dropping "host" leaves the Host field to `extra`.
  std::span<const std::string_view> drop = {};
  // SPEC 15 tracing: when set, a whole "traceparent: …\r\n" line sent
  // instead of the client's traceparent; with drop_tracestate the client's
  // tracestate is not forwarded either.
  std::string_view traceparent_line = {};
  bool drop_tracestate = false;
  // False when the caller knows the head holds no field to replace (no
  // traceparent, and no tracestate to drop): skips the per-field test.
  bool client_trace_fields = true;
};

// Appends "METHOD origin-target HTTP/1.1", the non-hop-by-hop fields (Host
// rewritten to head.host, so absolute-form requests carry their authority;
// Content-Length and X-Forwarded-* handled as described above), the extra
// fields, the framing header, the Connection header and the blank line.
void serialize_request_head(const RequestHead& head, const RequestHeadOptions& opt, std::string& out);

struct ResponseHeadOptions {
  Framing framing;
  ConnectionMode connection = ConnectionMode::KeepAlive;
  std::span<const Header> extra = {};
};

// Appends "HTTP/1.1 status reason" (a standard reason when the server sent
// none), the non-hop-by-hop fields minus Content-Length, the extra fields, the
// framing header, the Connection header and the blank line.
void serialize_response_head(const ResponseHead& head, const ResponseHeadOptions& opt, std::string& out);

// Standard reason phrase for a status ("" when unknown); also for lb's own responses.
std::string_view default_reason(int status) noexcept;

// ---- chunked encoding ----
inline constexpr std::string_view kChunkEnd = "\r\n";        // after each chunk's data
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";  // terminates a chunked body (no trailers)

// The last chunk with `trailers` (fields a trailer may not carry are left
// out, see lb/http/trailers.h), into `out` (replaced). kLastChunk when none.
void serialize_last_chunk(const Headers* trailers, std::string& out);

// Room for a chunk-size line: 16 hex digits + CRLF.
struct ChunkHeaderBuf {
  char data[24];
};
// "<hex>\r\n" for a chunk of n bytes, written into buf (for scatter writes:
// [header][data][kChunkEnd]). n must be > 0: a zero size is the terminator.
std::string_view chunk_header(uint64_t n, ChunkHeaderBuf& buf) noexcept;
// Appends one whole chunk (size line, data, CRLF); nothing for empty data.
void append_chunk(std::string& out, std::string_view data);

}  // namespace lb::http
