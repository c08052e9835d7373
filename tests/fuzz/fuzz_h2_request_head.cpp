// tests/fuzz/fuzz_h2_request_head.cpp — libFuzzer target for
// lb::http2::RequestHeadBuilder: the decoded fields of one HTTP/2 request →
// the http::RequestHead lb forwards over HTTP/1.1.
//
// Input: byte 0 = options, the rest a sequence of fields (see next_name and
// next_value; FUZZ_DEBUG=1 prints each outcome and a refused downgrade):
//   bits 0-1  limits: 0 small (1024 bytes, 4 fields, 16-byte bodies, the
//             smallest a config allows), 1 the defaults, 2 huge, 3 small
//             without a body limit
//   bit 2     END_STREAM on the HEADERS frame
//   bit 3     through nghttp2: the fields are HPACK-encoded into HEADERS
//             (+ CONTINUATION) frames and decoded by an nghttp2 server
//             session set up as lb's (lb/http2/session.cpp), so the builder
//             sees only what nghttp2's HTTP messaging checks let through, as
//             in lb. Otherwise the fields go to the builder as they are.
//   bit 4     forwarded headers on (X-Forwarded-*, X-Request-Id)
// Invariants, beyond "no crash, no UB":
//  * build() answers 0, 400, 413 or 431 with a reason; 431 exactly when the
//    fields are over the limits (RFC 9113 6.5.2 size, or count), 413 only
//    with a content-length over max_body_bytes;
//  * on success every view of the head points into the builder's storage
//    (read byte by byte, so ASan sees a stale one), except the method (llhttp's
//    static name table) and the WebSocket key's static field name;
//    target == origin_target == path [ "?" query ], path starts with '/' (or
//    is "*" for OPTIONS), no pseudo-header among the fields, the framing
//    agrees with END_STREAM and content-length, the limits hold;
//  * through nghttp2, the HTTP/1.1 head lb would send the server
//    (http::serialize_request_head as Exchange::send_request_head calls it)
//    parses with lb's own strict HTTP/1.1 parser into exactly one request
//    with the same method, target, host and framing, one parsed field per
//    serialized line (no smuggling through the downgrade).
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lb/http1/http_parser.h"
#include "lb/http1/http_serialize.h"
#include "lb/http2/request_head.h"
#include "tests/fuzz/fuzz_util.h"

using lb::http2::RequestHeadBuilder;
namespace http = lb::http;

namespace {

using namespace std::literals;

constexpr std::string_view kNames[] = {
    ":method", ":scheme", ":authority", ":path", ":protocol", ":status", "host", "cookie",
    "content-length", "expect", "te", "connection", "transfer-encoding", "upgrade", "keep-alive",
    "proxy-connection", "x-forwarded-for", "x-forwarded-host", "x-request-id", "x-client-cert-subject",
    "sec-websocket-key", "user-agent", "accept", "content-type", "trailer", "Host", "Content-Length",
    ":unknown", "", "x"};
constexpr std::string_view kValues[] = {
    "GET", "POST", "HEAD", "PUT", "OPTIONS", "CONNECT", "DELETE", "PATCH", "TRACE", "PRI", "get",
    "/", "/a?b=1", "*", "/a b", "//x", "/?", "/#f", "http://h/x", "websocket", "h2c", "100-continue",
    "example.com", "example.com:80", "a@b", "", " ", "http", "https", "0", "1", "5", "17",
    "18446744073709551616", "-1", "+5", "5, 5", "trailers", "chunked", "close", "keep-alive, te",
    "a=1", "b=2", "x\r\nX: y", "x\ny", "x\0y"sv, "\t a \t", "\x7f", "\xff"};

struct Cursor {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  std::string_view take(size_t k) {
    k = std::min(k, n);
    std::string_view s(reinterpret_cast<const char*>(p), k);
    p += k, n -= k;
    return s;
  }
};

// name: byte b < 0x80 → b literal bytes; else kNames[(b - 0x80) % N].
// value: byte b < 0x80 → b literal bytes; 0x80..0xbf → kValues[(b - 0x80) % N];
// 0xc0.. → the next byte repeated ((b & 0x3f) + 1) * 512 times (up to 32 KiB).
std::string next_name(Cursor& c) {
  uint8_t b = c.byte();
  if (b < 0x80) return std::string(c.take(b));
  return std::string(kNames[(b - 0x80) % std::size(kNames)]);
}
std::string next_value(Cursor& c) {
  uint8_t b = c.byte();
  if (b < 0x80) return std::string(c.take(b));
  if (b < 0xc0) {
    std::string_view v = kValues[(b - 0x80) % std::size(kValues)];
    return std::string(v);
  }
  return std::string(static_cast<size_t>((b & 0x3f) + 1) * 512, static_cast<char>(c.byte()));
}

using Fields = std::vector<std::pair<std::string, std::string>>;

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;  // an empty view is never read
  const auto b = reinterpret_cast<uintptr_t>(whole.data());
  const auto p = reinterpret_cast<uintptr_t>(part.data());
  return p >= b && p + part.size() <= b + whole.size();
}

volatile unsigned sink;  // keeps the reads below

// Reads every byte (ASan reports a view into freed memory) and checks where
// the view points.
unsigned touch(std::string_view v, std::string_view storage) {
  FUZZ_CHECK(inside(v, storage));
  unsigned sum = 0;
  for (char ch : v) sum += static_cast<unsigned char>(ch);
  return sum;
}

struct Outcome {
  bool built = false;  // build() ran (through nghttp2: the HEADERS frame was accepted)
  int status = 0;
  Fields seen;         // what the builder was given
};

void check_built(const RequestHeadBuilder& b, const http::RequestHead& h, const http::Limits& limits,
                 bool end_stream, const Fields& seen) {
  const std::string_view st = b.storage();
  unsigned sum = 0;
  // The method comes from llhttp's table, never from the input.
  FUZZ_CHECK(h.method_id != HTTP_CONNECT);
  FUZZ_CHECK(h.method.data() == std::string_view(llhttp_method_name(h.method_id)).data());
  sum += touch(h.target, st) + touch(h.origin_target, st) + touch(h.path, st) + touch(h.query, st);
  sum += touch(h.host, st) + touch(h.upgrade_protocol, st);
  // target == origin_target == path ["?" query]
  FUZZ_CHECK(h.target.data() == h.origin_target.data() && h.target.size() == h.origin_target.size());
  FUZZ_CHECK(!h.path.empty());
  FUZZ_CHECK(h.path.data() == h.origin_target.data());
  FUZZ_CHECK(h.path.find('?') == std::string_view::npos);
  if (h.path.size() == h.origin_target.size()) {
    FUZZ_CHECK(h.query.empty());
  } else {
    FUZZ_CHECK(h.origin_target[h.path.size()] == '?');
    FUZZ_CHECK(h.origin_target.substr(h.path.size() + 1) == h.query);
    FUZZ_CHECK(h.query.empty() || h.query.data() == h.origin_target.data() + h.path.size() + 1);
  }
  FUZZ_CHECK(h.path[0] == '/' || (h.path == "*" && h.method_id == HTTP_OPTIONS));
  FUZZ_CHECK(h.http_major == 2 && h.http_minor == 0 && h.keep_alive);

  size_t cookies = 0;
  for (size_t i = 0; i < h.headers.size(); ++i) {
    const http::Header& f = h.headers[i];
    const bool ws_key = h.upgrade && i + 1 == h.headers.size();
    if (ws_key) {
      FUZZ_CHECK(f.name == "sec-websocket-key" && f.value.size() == 24);
    } else {
      sum += touch(f.name, st);
      FUZZ_CHECK(f.name.empty() || f.name[0] != ':');
    }
    sum += touch(f.value, st);
    if (f.name == "cookie") ++cookies;
  }
  // Cookie crumbs are joined into one field (RFC 9113 8.2.3); every other
  // regular field is passed on.
  size_t cookies_in = 0, regular_in = 0;
  for (auto& [n, v] : seen) {
    cookies_in += n == "cookie";
    regular_in += n.empty() || n[0] != ':';
  }
  FUZZ_CHECK(cookies == (cookies_in > 1 ? 1 : cookies_in));
  const size_t regular_out = h.headers.size() - (h.upgrade ? 1 : 0);
  FUZZ_CHECK(regular_out == regular_in - (cookies_in > 1 ? cookies_in - 1 : 0));
  sink = sum;

  // Limits: fields beyond them were refused, not dropped.
  if (limits.max_headers) FUZZ_CHECK(regular_in <= limits.max_headers);
  if (limits.max_body_bytes && h.content_length) FUZZ_CHECK(*h.content_length <= limits.max_body_bytes);

  // Framing.
  if (h.upgrade) {
    FUZZ_CHECK(h.method_id == HTTP_GET && h.upgrade_protocol == "websocket" && !h.content_length);
  } else {
    FUZZ_CHECK(h.upgrade_protocol.empty());
    if (end_stream) FUZZ_CHECK(!h.has_body && !h.chunked && h.content_length.value_or(0) == 0);
    else FUZZ_CHECK(h.chunked == !h.content_length && h.has_body == (h.chunked || *h.content_length > 0));
    FUZZ_CHECK(!(h.chunked && h.content_length));
  }
}

// The HTTP/1.1 head lb sends the server, parsed back by lb's own parser.
struct Reparse : http::RequestHandler {
  int heads = 0;
  std::string method, target, host;
  std::optional<uint64_t> cl;
  bool chunked = false, upgrade = false;
  size_t fields = 0;
  http::Flow on_request_head(const http::RequestHead& h) override {
    ++heads;
    method = h.method, target = h.target, host = h.host;
    cl = h.content_length, chunked = h.chunked, upgrade = h.upgrade;
    fields = h.headers.size();
    return http::Flow::Continue;
  }
  void on_request_body(std::string_view) override { FUZZ_CHECK(false && "no body was sent"); }
  void on_request_complete() override {}
};

void check_downgrade(const http::RequestHead& h, bool forwarded) {
  http::RequestHeadOptions opt;
  opt.framing = http::request_framing(h);
  opt.connection = h.upgrade ? http::ConnectionMode::Upgrade : http::ConnectionMode::Omit;
  opt.fallback_host = "backend.test";
  http::ForwardedHeaders fwd{"127.0.0.1", "http", h.host, "req-1"};
  if (forwarded) opt.forwarded = &fwd;
  std::string out;
  http::serialize_request_head(h, opt, out);

  Reparse r;
  http::Limits big{1u << 26, 1'000'000, 0};
  http::RequestParser parser(r, big);
  http::FeedResult fr = parser.feed(out.data(), out.size());
  if (fr.status == http::FeedStatus::Error && std::getenv("FUZZ_DEBUG"))
    std::fprintf(stderr, "reparse error %d %.*s on:\n%s\n", parser.error().status,
                 static_cast<int>(parser.error().reason.size()), parser.error().reason.data(), out.c_str());
  FUZZ_CHECK(fr.status != http::FeedStatus::Error);
  FUZZ_CHECK(fr.consumed == out.size());
  FUZZ_CHECK(r.heads == 1);
  const bool body = h.chunked || h.content_length.value_or(0) > 0;
  if (body) FUZZ_CHECK(fr.status == http::FeedStatus::NeedMore);
  else FUZZ_CHECK(fr.status == http::FeedStatus::MessageComplete);
  FUZZ_CHECK(r.method == h.method);
  FUZZ_CHECK(r.target == h.origin_target);
  FUZZ_CHECK(r.host == (h.host.empty() ? std::string_view("backend.test") : h.host));
  FUZZ_CHECK(r.chunked == h.chunked);
  FUZZ_CHECK(r.cl == (h.chunked ? std::nullopt : h.content_length));
  FUZZ_CHECK(r.upgrade == h.upgrade);
  // One parsed field per serialized line: nothing split or folded.
  size_t lines = 0;
  for (size_t i = out.find("\r\n"); i != std::string::npos; i = out.find("\r\n", i + 2)) ++lines;
  FUZZ_CHECK(lines >= 2 && r.fields == lines - 2);
}

// ---- through nghttp2, set up as lb's Session::start does

struct NgRun {
  RequestHeadBuilder* builder;
  Fields* seen;
  bool headers_done = false;
  bool end_stream = false;
};

int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
              const uint8_t* value, size_t valuelen, uint8_t, void* ud) {
  auto* run = static_cast<NgRun*>(ud);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != 1 || run->headers_done) return 0;
  std::string_view n(reinterpret_cast<const char*>(name), namelen), v(reinterpret_cast<const char*>(value), valuelen);
  run->builder->add(n, v);
  run->seen->emplace_back(n, v);
  return 0;
}

int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
  auto* run = static_cast<NgRun*>(ud);
  if (frame->hd.type == NGHTTP2_HEADERS && frame->hd.stream_id == 1 && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    run->headers_done = true;
    run->end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  }
  return 0;
}

void append_frame(std::string& out, uint8_t type, uint8_t flags, int32_t id, std::string_view payload) {
  const size_t n = payload.size();
  const char hd[9] = {static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n),
                      static_cast<char>(type), static_cast<char>(flags),
                      static_cast<char>(id >> 24), static_cast<char>(id >> 16), static_cast<char>(id >> 8),
                      static_cast<char>(id)};
  out.append(hd, 9);
  out.append(payload);
}

// Returns whether the HEADERS frame was accepted (build() is then due).
bool through_nghttp2(const Fields& fields, bool end_stream, const http::Limits& limits, RequestHeadBuilder& b,
                     Fields& seen) {
  // The client side: an HPACK block of the fields.
  nghttp2_hd_deflater* deflater = nullptr;
  FUZZ_CHECK(nghttp2_hd_deflate_new(&deflater, 4096) == 0);
  std::vector<nghttp2_nv> nva;
  for (auto& [n, v] : fields)
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
  std::string block(nghttp2_hd_deflate_bound(deflater, nva.data(), nva.size()), '\0');
  ssize_t len = nghttp2_hd_deflate_hd(deflater, reinterpret_cast<uint8_t*>(block.data()), block.size(), nva.data(),
                                      nva.size());
  nghttp2_hd_deflate_del(deflater);
  if (len < 0) return false;
  block.resize(static_cast<size_t>(len));

  std::string wire = NGHTTP2_CLIENT_MAGIC;
  append_frame(wire, NGHTTP2_SETTINGS, 0, 0, {});
  constexpr size_t kMaxFrame = 16384;
  size_t off = 0;
  do {
    const size_t n = std::min(kMaxFrame, block.size() - off);
    const bool last = off + n == block.size();
    uint8_t flags = last ? NGHTTP2_FLAG_END_HEADERS : 0;
    if (off == 0 && end_stream) flags |= NGHTTP2_FLAG_END_STREAM;
    append_frame(wire, off == 0 ? NGHTTP2_HEADERS : NGHTTP2_CONTINUATION, flags, 1, std::string_view(block).substr(off, n));
    off += n;
  } while (off < block.size());

  NgRun run{&b, &seen};
  nghttp2_session_callbacks* cb = nullptr;
  FUZZ_CHECK(nghttp2_session_callbacks_new(&cb) == 0);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_continuations(opt, 64);
  nghttp2_session* ng = nullptr;
  FUZZ_CHECK(nghttp2_session_server_new2(&ng, cb, &run, opt) == 0);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(std::min<uint64_t>(limits.max_header_bytes, UINT32_MAX))},
  };
  nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  // lb has sent its SETTINGS before the client's HEADERS arrive.
  const uint8_t* sent = nullptr;
  while (nghttp2_session_mem_send(ng, &sent) > 0) {
  }
  nghttp2_session_mem_recv(ng, reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  nghttp2_session_del(ng);
  FUZZ_CHECK(!run.headers_done || run.end_stream == end_stream);
  return run.headers_done;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t opt = data[0];
  http::Limits limits;  // the defaults
  switch (opt & 3) {
    case 0: limits = {1024, 4, 16}; break;
    case 1: break;
    case 2: limits = {16u << 20, 10'000, 1ull << 40}; break;
    case 3: limits = {1024, 4, 0}; break;
  }
  const bool end_stream = opt & 4, via_nghttp2 = opt & 8, forwarded = opt & 16;

  Fields fields;
  Cursor c{data + 1, size - 1};
  size_t total = 0;  // bounded: a 2-byte field may expand to 32 KiB
  while (!c.empty() && total < (256u << 10)) {
    std::string name = next_name(c);
    std::string value = next_value(c);
    total += name.size() + value.size();
    fields.emplace_back(std::move(name), std::move(value));
  }

  RequestHeadBuilder b(limits);
  Fields seen;
  if (via_nghttp2) {
    if (!through_nghttp2(fields, end_stream, limits, b, seen)) return 0;
  } else {
    for (auto& [n, v] : fields) b.add(n, v);
    seen = fields;
  }

  http::RequestHead head;
  std::string_view reason;
  const int status = b.build(end_stream, head, reason);
  FUZZ_CHECK(status == 0 || status == 400 || status == 413 || status == 431);
  if (std::getenv("FUZZ_DEBUG"))
    std::fprintf(stderr, "outcome: %s %d %.*s\n", via_nghttp2 ? "nghttp2" : "raw", status,
                 static_cast<int>(reason.size()), reason.data());

  // 431 exactly when over the limits as counted over what the builder saw.
  uint64_t list_size = 0, regular = 0;
  bool has_cl = false;
  for (auto& [n, v] : seen) {
    list_size += n.size() + v.size() + 32;
    if (n.empty() || n[0] != ':') ++regular;
    if (n == "content-length") has_cl = true;
  }
  const bool over = list_size > limits.max_header_bytes || (limits.max_headers && regular > limits.max_headers);
  FUZZ_CHECK((status == 431) == over);
  if (status == 413) FUZZ_CHECK(limits.max_body_bytes != 0 && has_cl);

  if (status != 0) {
    FUZZ_CHECK(!reason.empty());
    const http::RequestHead& p = b.partial();
    if (!p.method.empty()) {  // a static name, never input bytes
      auto id = lb::http2::method_id(p.method);
      FUZZ_CHECK(id && std::string_view(llhttp_method_name(*id)).data() == p.method.data());
    }
    sink = touch(p.path, b.storage()) + touch(p.target, b.storage());
    return 0;
  }
  check_built(b, head, limits, end_stream, seen);
  if (via_nghttp2) check_downgrade(head, forwarded);
  return 0;
}
