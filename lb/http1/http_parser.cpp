// lb/http1/http_parser.cpp — RequestParser: llhttp (HTTP_REQUEST, no lenient flags)
// behind a strict raw-byte head scanner and chunk-framing scanner, plus the
// request-side smuggling checks of SPEC section 7.
//
// How a feed() proceeds:
//  1. While the head is incomplete, HeadScanner examines the bytes first and
//     llhttp only ever sees bytes up to the scanner's end of head. A bare CR/LF,
//     CTL, obs-fold or oversized head is refused before llhttp interprets it.
//  2. on_headers_complete applies our semantic checks (version, method,
//     target, Host, CL/TE) and then reports the head.
//  3. Body bytes go straight through; for chunked bodies every byte llhttp
//     consumes between on_body spans is chunk framing and is scanned too.
//  4. on_message_complete returns HPE_PAUSED; feed() scans the last framing
//     bytes, reports completion and returns at the exact message boundary.
//     The next feed() resumes llhttp (llhttp_resume) on the caller's leftovers.
#include "lb/http1/http_parser.h"

#include <algorithm>

namespace lb::http {

namespace {

RequestParser* self_of(llhttp_t* p) { return static_cast<RequestParser*>(p->data); }

// Non-null pointer for feed(nullptr, 0): llhttp wants a real address.
constexpr char kNoBytes[1] = {0};

}  // namespace

RequestParser::RequestParser(RequestHandler& handler, const Limits& limits)
    : handler_(&handler),
      limits_(limits),
      head_scan_(limits.max_header_bytes),
      framing_scan_(limits.max_header_bytes) {
  // llhttp keeps a pointer to the settings: they must outlive every parser.
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &RequestParser::cb_message_begin;
    s.on_url = &RequestParser::cb_url;
    s.on_header_field = &RequestParser::cb_header_field;
    s.on_header_field_complete = &RequestParser::cb_header_field_complete;
    s.on_header_value = &RequestParser::cb_header_value;
    s.on_header_value_complete = &RequestParser::cb_header_value_complete;
    s.on_headers_complete = &RequestParser::cb_headers_complete;
    s.on_body = &RequestParser::cb_body;
    s.on_message_complete = &RequestParser::cb_message_complete;
    return s;
  }();
  llhttp_init(&parser_, HTTP_REQUEST, &settings);
  parser_.data = this;
  // Typical heads fit; capacity then survives every message (no steady-state
  // allocation). Larger heads grow the buffers once and keep the capacity.
  // No reserve: buffers grow to the first message's size and keep that
  // capacity, so idle connections that never sent anything hold nothing.
  begin_message();
}

void RequestParser::reset(RequestHandler& handler, const Limits& limits) {
  handler_ = &handler;
  limits_ = limits;
  head_scan_ = detail::HeadScanner(limits.max_header_bytes);
  framing_scan_ = detail::FramingScanner(limits.max_header_bytes);
  llhttp_reset(&parser_);  // keeps the type and the settings
  parser_.data = this;
  error_ = {};
  cb_failed_ = false;
  name_len_ = 0;
  begin_message();
}

void RequestParser::begin_message() {
  state_ = State::Head;
  head_scan_.reset();
  framing_scan_.reset();
  slots_.begin();
  body_bytes_ = 0;
  gap_from_ = nullptr;
  in_message_ = false;
  head_done_ = false;
  refused_head_readable_ = false;
  head_paused_ = false;
  message_done_ = false;
}

FeedResult RequestParser::fail(size_t consumed, const ParseError& e) {
  state_ = State::Dead;
  error_ = e;
  return {consumed, FeedStatus::Error};
}

FeedResult RequestParser::fail_llhttp(size_t consumed, llhttp_errno_t err) {
  // Our callback recorded it (llhttp may report it as HPE_USER or as
  // HPE_CB_<callback> depending on the callback).
  if (cb_failed_) return fail(consumed, error_);
  // llhttp's reasons are string literals, safe to keep.
  const char* reason = llhttp_get_error_reason(&parser_);
  return fail(consumed, {400, reason ? reason : llhttp_errno_name(err)});
}

int RequestParser::fail_cb(int status, const char* reason) {
  error_ = {status, reason};
  cb_failed_ = true;
  return HPE_USER;
}

FeedResult RequestParser::feed(const char* data, size_t len) {
  switch (state_) {
    case State::Dead: return {0, FeedStatus::Error};
    case State::Closed: return {0, FeedStatus::Closed};
    case State::Boundary: {
      begin_message();
      llhttp_resume(&parser_);
      // Run llhttp's pending after-message steps now, with no input, so the
      // head scanner and llhttp start the next message on the same byte. An
      // Upgrade request that got no 101 leaves an upgrade pause to clear.
      llhttp_errno_t e = llhttp_execute(&parser_, kNoBytes, 0);
      if (e == HPE_PAUSED_UPGRADE) {
        llhttp_resume_after_upgrade(&parser_);
        e = llhttp_execute(&parser_, kNoBytes, 0);
      }
      if (e != HPE_OK) return fail_llhttp(0, e);
      break;
    }
    case State::HeadPaused:
      state_ = State::Body;
      llhttp_resume(&parser_);
      break;
    default: break;
  }
  if (data == nullptr) data = kNoBytes, len = 0;

  size_t off = 0;
  // At least one pass even for len == 0: after a head pause llhttp may owe us
  // the completion of a body-less message.
  for (bool first = true; off < len || first; first = false) {
    const char* at = data + off;
    size_t n = len - off;
    const bool head_slice = state_ == State::Head;
    if (head_slice) {
      size_t used = 0;
      if (head_scan_.scan(at, n, &used) == detail::HeadScanner::Result::Error) {
        return fail(off + used, head_scan_.error());
      }
      n = used;  // never past the end of the head
      if (n == 0) break;
    } else {
      gap_from_ = at;
    }

    llhttp_errno_t err = llhttp_execute(&parser_, at, n);
    if (err == HPE_OK) {
      if (head_slice && head_scan_.done() && !head_done_) {
        return fail(off + n, {400, "malformed request head"});  // llhttp disagrees on the head's end
      }
      if (!head_slice && slots_.published().chunked && !framing_scan_.scan(gap_from_, at + n)) {
        return fail(off + n, framing_scan_.error());
      }
      off += n;
      continue;
    }

    const char* pos = llhttp_get_error_pos(&parser_);
    size_t used = pos ? static_cast<size_t>(pos - at) : 0;
    if (err == HPE_PAUSED && message_done_) {
      if (head_slice && used != n) return fail(off + used, {400, "malformed request head"});
      if (!head_slice && slots_.published().chunked && !framing_scan_.scan(gap_from_, pos)) {
        return fail(off + used, framing_scan_.error());
      }
      off += used;
      state_ = slots_.published().keep_alive ? State::Boundary : State::Closed;
      handler_->on_request_complete();
      return {off, FeedStatus::MessageComplete};
    }
    if (err == HPE_PAUSED && head_paused_) {
      if (used != n) return fail(off + used, {400, "malformed request head"});
      off += used;
      head_paused_ = false;
      state_ = State::HeadPaused;
      return {off, FeedStatus::HeadPaused};
    }
    return fail_llhttp(off + used, err);
  }
  return {off, FeedStatus::NeedMore};
}

FeedStatus RequestParser::finish() {
  switch (state_) {
    case State::Dead: return FeedStatus::Error;
    case State::Closed: return FeedStatus::Closed;
    case State::HeadPaused: {
      // A body-less request whose head paused is complete although llhttp has
      // not said so yet: let it.
      FeedResult r = feed(nullptr, 0);
      if (r.status == FeedStatus::MessageComplete) {
        state_ = State::Closed;
        return FeedStatus::MessageComplete;
      }
      if (r.status == FeedStatus::Error) return FeedStatus::Error;
      break;
    }
    default: break;
  }
  if (!in_message_) {
    state_ = State::Closed;
    return FeedStatus::Closed;
  }
  fail(0, {400, "truncated request"});
  return FeedStatus::Error;
}

// ---- llhttp callbacks ----

int RequestParser::cb_message_begin(llhttp_t* p) {
  self_of(p)->in_message_ = true;
  return 0;
}

int RequestParser::cb_url(llhttp_t* p, const char* at, size_t n) {
  self_of(p)->slots_.buffer().append_start(at, n);
  return 0;
}

int RequestParser::cb_header_field(llhttp_t* p, const char* at, size_t n) {
  RequestParser* s = self_of(p);
  // Names must be tokens: this also refuses whitespace before the colon, in
  // the head and in trailers alike.
  for (size_t i = 0; i < n; ++i) {
    if (!detail::is_tchar(static_cast<unsigned char>(at[i]))) return s->fail_cb(400, "invalid header name");
  }
  s->name_len_ += n;
  if (s->head_done_) return 0;  // trailer field: validated, not kept (never forwarded)
  s->slots_.buffer().append_name(at, n);
  return 0;
}

int RequestParser::cb_header_field_complete(llhttp_t* p) {
  RequestParser* s = self_of(p);
  // llhttp 8.1 accepts ": value" (an empty name); a field name is a token.
  if (s->name_len_ == 0) return s->fail_cb(400, "empty header name");
  s->name_len_ = 0;
  if (s->head_done_) return 0;
  detail::HeadBuffer& buf = s->slots_.buffer();
  buf.end_name();
  // Counted once the name is complete, not when its first bytes arrive:
  // llhttp hands over a partial name only at the end of a read, so counting
  // earlier made a malformed line 431 or 400 depending on segmentation.
  // (max_header_bytes still bounds what a long name can take.)
  if (s->limits_.max_headers != 0 && buf.field_count() > s->limits_.max_headers) {
    return s->fail_cb(431, "too many headers");
  }
  return 0;
}

int RequestParser::cb_header_value(llhttp_t* p, const char* at, size_t n) {
  RequestParser* s = self_of(p);
  if (!s->head_done_) s->slots_.buffer().append_value(at, n);
  return 0;
}

int RequestParser::cb_header_value_complete(llhttp_t* p) {
  RequestParser* s = self_of(p);
  if (!s->head_done_) s->slots_.buffer().end_value();
  return 0;
}

int RequestParser::cb_headers_complete(llhttp_t* p) { return self_of(p)->on_head_done(); }

int RequestParser::cb_body(llhttp_t* p, const char* at, size_t n) {
  RequestParser* s = self_of(p);
  if (s->slots_.published().chunked) {
    // Everything between the previous span and this one is chunk framing.
    if (!s->framing_scan_.scan(s->gap_from_, at) || !s->framing_scan_.body_seen()) {
      return s->fail_cb(s->framing_scan_.error().status, s->framing_scan_.error().reason.data());
    }
    s->gap_from_ = at + n;
    s->body_bytes_ += n;
    if (s->limits_.max_body_bytes != 0 && s->body_bytes_ > s->limits_.max_body_bytes) {
      return s->fail_cb(413, "request body too large");
    }
  }
  if (n != 0) s->handler_->on_request_body({at, n});
  return 0;
}

int RequestParser::cb_message_complete(llhttp_t* p) {
  RequestParser* s = self_of(p);
  s->message_done_ = true;
  s->in_message_ = false;
  return HPE_PAUSED;  // stop at the boundary; feed() reports it
}

// ---- head validation ----

bool RequestParser::validate_target(RequestHead& h, detail::HeadBuffer& buf) {
  std::string_view t = buf.start();
  if (t.empty()) return fail_cb(400, "invalid request target"), false;
  for (char ch : t) {
    unsigned char c = static_cast<unsigned char>(ch);
    // Visible ASCII only (RFC 3986); a fragment never belongs in a request.
    if (c <= 0x20 || c >= 0x7f || c == '#') return fail_cb(400, "invalid request target"), false;
  }
  // Offsets first: store() below may move the buffer.
  size_t path_off = 0, path_end = 0, host_off = 0, host_len = 0;
  bool absolute = false, synth = false;
  if (t[0] == '/') {
    path_end = std::min(t.find('?'), t.size());
  } else if (t == "*") {
    if (h.method_id != HTTP_OPTIONS) return fail_cb(400, "'*' target only for OPTIONS"), false;
    path_end = 1;
  } else if (istarts_with(t, "http://") || istarts_with(t, "https://")) {
    absolute = true;
    host_off = t.find("//") + 2;
    size_t e = std::min(t.find_first_of("/?", host_off), t.size());
    host_len = e - host_off;
    std::string_view auth = t.substr(host_off, host_len);
    // userinfo in a target is deprecated and a classic confusion vector.
    if (auth.empty() || auth.find('@') != std::string_view::npos || !detail::is_valid_host(auth)) {
      return fail_cb(400, "invalid request target"), false;
    }
    if (e < t.size() && t[e] == '/') {
      path_off = e;
      path_end = std::min(t.find('?', e), t.size());
    } else {
      synth = true;  // "http://h" or "http://h?q": the origin form is "/" + rest
      path_off = e;
      path_end = e;
    }
  } else {
    // Authority-form is for CONNECT only, which lb refuses earlier.
    return fail_cb(400, "invalid request target"), false;
  }

  std::string_view origin;
  if (synth) {
    std::string tmp = "/";  // rare shape; one small allocation is fine here
    tmp.append(t.substr(path_off));
    origin = buf.store(tmp);
  }
  t = buf.start();  // re-read after a possible move
  h.target = t;
  h.path = synth ? origin.substr(0, 1) : t.substr(path_off, path_end - path_off);
  h.query = path_end < t.size() && t[path_end] == '?' ? t.substr(path_end + 1) : std::string_view{};
  h.origin_target = synth ? origin : t.substr(path_off);
  h.host = absolute ? t.substr(host_off, host_len) : std::string_view{};
  return true;
}

int RequestParser::on_head_done() {
  head_done_ = true;
  // The scanner has seen every byte llhttp has; if llhttp ends the head where
  // the scanner does not, the two disagree about framing: refuse.
  if (!head_scan_.done()) return fail_cb(400, "malformed request head");

  RequestHead& h = slots_.building();
  detail::HeadBuffer& buf = slots_.buffer();
  h.http_major = parser_.http_major;
  h.http_minor = parser_.http_minor;
  if (h.http_major != 1 || h.http_minor > 1) return fail_cb(400, "unsupported HTTP version");
  h.method_id = static_cast<llhttp_method_t>(parser_.method);
  // lb does not tunnel (CONNECT → 400, not 405: SPEC 7 lists lb's own codes).
  if (h.method_id == HTTP_CONNECT) return fail_cb(400, "CONNECT not supported");
  // PRI is the HTTP/2 preface; the methods after it are RTSP's.
  if (h.method_id >= HTTP_PRI) return fail_cb(400, "unsupported method");
  h.method = llhttp_method_name(h.method_id);
  if (!validate_target(h, buf)) return HPE_USER;
  buf.fill(h.headers);  // after any store(): views must not move
  refused_head_readable_ = true;  // method, target and fields are valid from here on

  // One pass for the fields looked up below (the first of each; Host
  // counted), instead of one scan per name: this runs for every request.
  size_t hosts = 0;
  std::string_view host_hdr, upgrade_hdr, expect_hdr;
  bool upgrade_seen = false, expect_seen = false;
  for (const Header& f : h.headers) {
    switch (f.name.size()) {
      case 4:
        if (iequals(f.name, "host") && hosts++ == 0) host_hdr = f.value;
        break;
      case 6:
        if (!expect_seen && iequals(f.name, "expect")) expect_hdr = f.value, expect_seen = true;
        break;
      case 7:
        if (!upgrade_seen && iequals(f.name, "upgrade")) upgrade_hdr = f.value, upgrade_seen = true;
        break;
      default: break;
    }
  }
  if (hosts > 1) return fail_cb(400, "repeated Host");
  if (hosts == 0 && h.http_minor == 1) return fail_cb(400, "missing Host");
  if (!detail::is_valid_host(host_hdr)) return fail_cb(400, "invalid Host");
  if (h.host.empty()) h.host = host_hdr;  // absolute-form authority wins (RFC 9112 3.2.2)

  detail::FramingInfo f = detail::check_framing(h.headers, h.http_minor);
  if (f.error) return fail_cb(400, f.error);
  h.content_length = f.content_length;
  h.chunked = f.chunked;
  h.has_body = f.chunked || (f.content_length && *f.content_length > 0);
  if (limits_.max_body_bytes != 0 && f.content_length && *f.content_length > limits_.max_body_bytes) {
    return fail_cb(413, "request body too large");
  }
  h.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
  h.upgrade = parser_.upgrade != 0;  // llhttp: Upgrade + Connection: upgrade
  h.upgrade_protocol = upgrade_hdr;
  if (h.upgrade && iequals(h.upgrade_protocol, "h2c")) {
    // SPEC 9: Upgrade: h2c is not offered. The request is an ordinary one;
    // Upgrade and HTTP2-Settings (hop-by-hop) are not forwarded.
    h.upgrade = false;
    h.upgrade_protocol = {};
    parser_.upgrade = 0;
  }
  h.expect_continue = iequals(expect_hdr, "100-continue");
  h.head_bytes = head_scan_.bytes();

  refused_head_readable_ = false;
  slots_.publish();
  state_ = State::Body;
  if (handler_->on_request_head(h) == Flow::Pause) {
    head_paused_ = true;
    return HPE_PAUSED;
  }
  return 0;
}

}  // namespace lb::http
