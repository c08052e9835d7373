// lb/http1/http_response_parser.cpp — ResponseParser: llhttp (HTTP_RESPONSE, no
// lenient flags) with the framing rules a proxy needs: HEAD/1xx/204/304 carry
// no body whatever their headers say, 1xx interim heads are reported and
// skipped, 101 ends parsing (tunnel), close-delimited bodies end at finish().
//
// Deliberately more tolerant than the request side: servers are configured by
// the operator, and the raw CR/LF/obs-fold scanners would reject responses
// browsers accept. What is still refused (→ 502): both Content-Length and
// Transfer-Encoding, invalid or repeated Content-Length, a Transfer-Encoding
// other than "chunked" (lb re-frames bodies and cannot pass other codings on),
// non-token names and control characters in values or the reason phrase
// (they would be copied into the head sent to the client).
#include "lb/http1/http_parser.h"

#include "lb/http/byte_scan.h"

#include <algorithm>

namespace lb::http {

namespace {

ResponseParser* self_of(llhttp_t* p) { return static_cast<ResponseParser*>(p->data); }

constexpr char kNoBytes[1] = {0};

}  // namespace

ResponseParser::ResponseParser(ResponseHandler& handler, const ResponseLimits& limits)
    : handler_(handler), limits_(limits) {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &ResponseParser::cb_message_begin;
    s.on_status = &ResponseParser::cb_status;
    s.on_header_field = &ResponseParser::cb_header_field;
    s.on_header_field_complete = &ResponseParser::cb_header_field_complete;
    s.on_header_value = &ResponseParser::cb_header_value;
    s.on_header_value_complete = &ResponseParser::cb_header_value_complete;
    s.on_headers_complete = &ResponseParser::cb_headers_complete;
    s.on_body = &ResponseParser::cb_body;
    s.on_message_complete = &ResponseParser::cb_message_complete;
    return s;
  }();
  llhttp_init(&parser_, HTTP_RESPONSE, &settings);
  parser_.data = this;
  // No reserve: buffers grow to the first message's size and keep that
  // capacity, so idle connections that never sent anything hold nothing.
  begin_message();
}

void ResponseParser::begin_message() {
  state_ = State::Head;
  slots_.begin();
  head_bytes_ = 0;
  in_message_ = false;
  head_done_ = false;
  interim_ = false;
  message_done_ = false;
}

FeedResult ResponseParser::fail(size_t consumed, const char* reason) {
  state_ = State::Dead;
  error_ = {502, reason};
  return {consumed, FeedStatus::Error};
}

int ResponseParser::fail_cb(const char* reason) {
  error_ = {502, reason};
  cb_failed_ = true;
  return HPE_USER;
}

FeedResult ResponseParser::feed(const char* data, size_t len) {
  switch (state_) {
    case State::Dead: return {0, FeedStatus::Error};
    case State::Closed: return {0, FeedStatus::Closed};
    case State::Upgraded: return {0, FeedStatus::Upgrade};
    case State::Boundary: {
      begin_message();
      llhttp_resume(&parser_);
      // Run llhttp's after-message steps with no input (see RequestParser).
      llhttp_errno_t e = llhttp_execute(&parser_, kNoBytes, 0);
      if (e != HPE_OK) {
        return fail(0, cb_failed_ ? error_.reason.data() : "malformed response");
      }
      break;
    }
    default: break;
  }
  if (data == nullptr) data = kNoBytes, len = 0;

  size_t off = 0;
  while (off < len) {
    const char* at = data + off;
    size_t n = len - off;
    const bool head_slice = state_ == State::Head;
    if (head_slice && limits_.max_header_bytes != 0) {
      // Feed an incomplete head at most up to the limit: if llhttp swallows
      // all of it without finishing the head, the head is too large.
      uint64_t allowance = limits_.max_header_bytes - head_bytes_;
      if (allowance == 0) return fail(off, "response head too large");
      n = static_cast<size_t>(std::min<uint64_t>(n, allowance));
    }

    llhttp_errno_t err = llhttp_execute(&parser_, at, n);
    if (err == HPE_OK) {
      if (head_slice && !head_done_) head_bytes_ += n;
      off += n;
      continue;
    }

    const char* pos = llhttp_get_error_pos(&parser_);
    size_t used = pos ? static_cast<size_t>(pos - at) : 0;
    if ((err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) && upgraded_) {
      off += used;
      state_ = State::Upgraded;  // the rest of the stream is the tunnel's
      return {off, FeedStatus::Upgrade};
    }
    if (err == HPE_PAUSED && message_done_) {
      off += used;
      if (interim_) {
        // 1xx: not the answer yet. Move on to the final head in this call.
        begin_message();
        llhttp_resume(&parser_);
        llhttp_errno_t e = llhttp_execute(&parser_, kNoBytes, 0);
        if (e != HPE_OK) return fail(off, cb_failed_ ? error_.reason.data() : "malformed response");
        continue;
      }
      state_ = slots_.published().keep_alive ? State::Boundary : State::Closed;
      handler_.on_response_complete();
      return {off, FeedStatus::MessageComplete};
    }
    if (cb_failed_) return fail(off + used, error_.reason.data());
    const char* reason = llhttp_get_error_reason(&parser_);
    return fail(off + used, reason ? reason : "malformed response");
  }
  return {off, FeedStatus::NeedMore};
}

FeedStatus ResponseParser::finish() {
  switch (state_) {
    case State::Dead: return FeedStatus::Error;
    case State::Upgraded:
    case State::Closed: return FeedStatus::Closed;
    case State::Boundary:
      state_ = State::Closed;
      return FeedStatus::Closed;
    default: break;
  }
  if (!in_message_) {
    state_ = State::Closed;
    return FeedStatus::Closed;
  }
  if (state_ == State::Body && slots_.published().close_delimited) {
    // The body was "everything until the server closes": EOF completes it.
    finishing_ = true;
    llhttp_errno_t err = llhttp_finish(&parser_);
    finishing_ = false;
    if (err == HPE_OK && message_done_) {
      state_ = State::Closed;
      handler_.on_response_complete();
      return FeedStatus::MessageComplete;
    }
  }
  fail(0, "truncated response");
  return FeedStatus::Error;
}

// ---- llhttp callbacks ----

int ResponseParser::cb_message_begin(llhttp_t* p) {
  self_of(p)->in_message_ = true;
  self_of(p)->trailers_.clear();
  return 0;
}

int ResponseParser::cb_status(llhttp_t* p, const char* at, size_t n) {
  ResponseParser* s = self_of(p);
  if (detail::has_bad_ctl(at, n)) return s->fail_cb("control character in reason phrase");
  s->slots_.buffer().append_start(at, n);
  return 0;
}

int ResponseParser::cb_header_field(llhttp_t* p, const char* at, size_t n) {
  ResponseParser* s = self_of(p);
  // Names are tokens already: llhttp refuses any other byte in a field name
  // ("Invalid header token"), in heads and in trailers; the unit test
  // "response: framing errors" holds it to that for every non-tchar byte.
  s->name_len_ += n;
  if (s->head_done_) {
    // Trailers: kept (for HTTP/2 clients and gRPC) up to the head limit.
    if (s->trailers_.size_bytes() + n > s->limits_.max_header_bytes) return s->fail_cb("response trailers too large");
    s->trailers_.append_name(std::string_view(at, n));
    return 0;
  }
  detail::HeadBuffer& buf = s->slots_.buffer();
  buf.append_name(at, n);
  if (s->limits_.max_headers != 0 && buf.field_count() > s->limits_.max_headers) {
    return s->fail_cb("too many response headers");
  }
  return 0;
}

int ResponseParser::cb_header_field_complete(llhttp_t* p) {
  ResponseParser* s = self_of(p);
  if (s->name_len_ == 0) return s->fail_cb("empty header name in response");
  s->name_len_ = 0;
  if (!s->head_done_) s->slots_.buffer().end_name();
  return 0;
}

int ResponseParser::cb_header_value(llhttp_t* p, const char* at, size_t n) {
  ResponseParser* s = self_of(p);
  if (detail::has_bad_ctl(at, n)) return s->fail_cb("control character in response header");
  if (!s->head_done_) {
    s->slots_.buffer().append_value(at, n);
  } else {
    if (s->trailers_.size_bytes() + n > s->limits_.max_header_bytes) return s->fail_cb("response trailers too large");
    s->trailers_.append_value(std::string_view(at, n));
  }
  return 0;
}

int ResponseParser::cb_header_value_complete(llhttp_t* p) {
  ResponseParser* s = self_of(p);
  if (!s->head_done_) s->slots_.buffer().end_value();
  return 0;
}

int ResponseParser::cb_headers_complete(llhttp_t* p) { return self_of(p)->on_head_done(); }

int ResponseParser::cb_body(llhttp_t* p, const char* at, size_t n) {
  if (n != 0) self_of(p)->handler_.on_response_body({at, n});
  return 0;
}

int ResponseParser::cb_message_complete(llhttp_t* p) {
  ResponseParser* s = self_of(p);
  s->message_done_ = true;
  s->in_message_ = false;
  // Inside llhttp_finish() a pause would be reported as an error code.
  return s->finishing_ ? 0 : HPE_PAUSED;
}

// Return values follow llhttp's on_headers_complete contract: 0 body as
// framed, 1 no body, 2 no body and the stream switches protocols.
int ResponseParser::on_head_done() {
  head_done_ = true;
  ResponseHead& h = slots_.building();
  detail::HeadBuffer& buf = slots_.buffer();
  h.status = parser_.status_code;
  h.http_major = parser_.http_major;
  h.http_minor = parser_.http_minor;
  if (h.http_major != 1 || h.http_minor > 1) return fail_cb("unsupported HTTP version in response");
  if (h.status < 100 || h.status > 599) return fail_cb("invalid response status");
  h.reason = buf.start();
  buf.fill(h.headers);

  detail::FramingInfo f = detail::check_framing(h.headers, h.http_minor);
  if (f.error) return fail_cb(f.error);
  const bool informational = h.status < 200;
  // RFC 9110 6.4.1 / 9112 6.3: these never have a body, whatever the headers.
  const bool no_body = request_method_ == HTTP_HEAD || request_method_ == HTTP_CONNECT ||
                       informational || h.status == 204 || h.status == 304;
  h.content_length = f.content_length;
  h.chunked = f.chunked;
  h.upgrade = h.status == 101;
  h.upgrade_protocol = h.headers.get("upgrade");
  h.interim = informational && !h.upgrade;
  h.close_delimited = !no_body && !f.chunked && !f.content_length;
  h.has_body = !no_body && (f.chunked || h.close_delimited || *f.content_length > 0);
  const bool persistent = h.http_minor == 1 ? !h.headers.has_token("connection", "close")
                                            : h.headers.has_token("connection", "keep-alive");
  h.keep_alive = persistent && !h.close_delimited && !h.upgrade;
  slots_.publish();

  if (h.interim) {
    interim_ = true;
    handler_.on_interim_response(h);
    return 1;
  }
  if (h.upgrade) {
    upgraded_ = true;
    handler_.on_response_head(h);
    return 2;
  }
  state_ = State::Body;
  handler_.on_response_head(h);
  return no_body ? 1 : 0;
}

}  // namespace lb::http
