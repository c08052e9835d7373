// lb/http1/http_parser.h — incremental HTTP/1.1 request and response parsers for the
// L7 proxy: bytes in, events out. No libuv, no sockets, no clock.
//
// Both wrap llhttp (strict: no lenient flag is ever set) and add the checks
// the packaged llhttp 8.1.0 lacks (SPEC section 7): see lb/http/http_syntax.h.
//
// Driving contract (both parsers):
//  * feed(data, len) parses as much as it may and returns how many bytes it
//    consumed and why it stopped. Bytes past `consumed` are NOT buffered by the
//    parser: keep them and pass them to the next feed() call.
//  * The parser always stops right after a complete message (MessageComplete)
//    so pipelined messages are handled one at a time; call feed() with the
//    remaining bytes once ready for the next message.
//  * After HeadPaused call feed() again (even with len 0) to continue.
//  * Closed (consumed 0): returned by feed() called after the last message
//    (its head had keep_alive false) and by finish() on a clean EOF. Bytes
//    after a last message are never parsed; close after answering.
//  * Handler callbacks run inside feed(); they must not call feed()/finish()
//    or destroy the parser. on_*_complete runs just before feed() returns
//    MessageComplete.
//  * Error is final: error() says what to answer; close afterwards. Nothing
//    after the offending bytes is ever surfaced.
// Threading: one parser per connection, used on one loop thread only.
// Allocation: head buffers keep their capacity between messages; the steady
// state allocates nothing.
#pragma once

#include "lb/http/http_message.h"
#include "lb/http/trailers.h"
#include "lb/http/http_syntax.h"

#include <llhttp.h>

#include <cstddef>
#include <string_view>

namespace lb::http {

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // A complete, validated head. Return Flow::Pause to stop feed() right after
  // it (it then returns HeadPaused).
  virtual Flow on_request_head(const RequestHead& head) = 0;
  // Decoded body bytes (chunk framing removed); views into the fed buffer,
  // valid only during the call.
  virtual void on_request_body(std::string_view data) = 0;
  // The message ended; feed() returns MessageComplete next.
  virtual void on_request_complete() = 0;
};

class RequestParser {
 public:
  RequestParser(RequestHandler& handler, const Limits& limits);
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Makes a used parser new again for another connection (see
  // RequestParserPool): fresh state, this handler and these limits; the head
  // buffers keep their capacity.
  void reset(RequestHandler& handler, const Limits& limits);
  // Heap bytes the head buffers hold (what a pooled parser keeps).
  size_t retained_bytes() const noexcept { return slots_.capacity_bytes(); }

  FeedResult feed(const char* data, size_t len);
  // The client closed its sending side. Closed when between messages;
  // MessageComplete (after on_request_complete) when a body-less request was
  // left HeadPaused; Error (400 "truncated request") when a message was cut.
  FeedStatus finish();

  // The last head reported by on_request_head (valid until the next one).
  const RequestHead& head() const noexcept { return slots_.published(); }
  const ParseError& error() const noexcept { return error_; }
  // After an Error on a head whose request line and fields were read (a
  // refused Host or framing, a declared body over the limit): that head, so
  // the access line can name its method and path. Null otherwise.
  const RequestHead* refused_head() const noexcept { return refused_head_readable_ ? &slots_.building() : nullptr; }
  // True between the first byte of a message and its completion.
  bool in_message() const noexcept { return in_message_; }

 private:
  enum class State { Head, Body, HeadPaused, Boundary, Closed, Dead };

  static int cb_message_begin(llhttp_t* p);
  static int cb_url(llhttp_t* p, const char* at, size_t n);
  static int cb_header_field(llhttp_t* p, const char* at, size_t n);
  static int cb_header_field_complete(llhttp_t* p);
  static int cb_header_value(llhttp_t* p, const char* at, size_t n);
  static int cb_header_value_complete(llhttp_t* p);
  static int cb_headers_complete(llhttp_t* p);
  static int cb_body(llhttp_t* p, const char* at, size_t n);
  static int cb_message_complete(llhttp_t* p);

  [[gnu::cold]] int fail_cb(int status, const char* reason);       // from a callback: record, return HPE_USER
  [[gnu::cold]] FeedResult fail(size_t consumed, const ParseError& e);
  [[gnu::cold]] FeedResult fail_llhttp(size_t consumed, llhttp_errno_t err);
  void begin_message();
  int on_head_done();
  bool validate_target(RequestHead& h, detail::HeadBuffer& buf);

  llhttp_t parser_{};
  RequestHandler* handler_;
  Limits limits_;
  State state_ = State::Head;
  detail::HeadScanner head_scan_;
  detail::FramingScanner framing_scan_;
  detail::HeadSlots<RequestHead> slots_;
  ParseError error_;
  uint64_t body_bytes_ = 0;
  const char* gap_from_ = nullptr;  // start of not-yet-scanned chunk framing in the current slice
  bool in_message_ = false;
  bool head_done_ = false;          // on_headers_complete ran for the current message
  bool refused_head_readable_ = false;  // see refused_head()
  bool head_paused_ = false;        // the handler asked to pause after the head
  bool message_done_ = false;       // on_message_complete ran (pause pending)
  bool cb_failed_ = false;          // a callback of ours refused the input (error_ set)
  size_t name_len_ = 0;             // bytes of the current field name so far
};

class ResponseHandler {
 public:
  virtual ~ResponseHandler() = default;
  // 100 Continue, 102, 103: forward or drop; parsing goes on to the final head.
  virtual void on_interim_response(const ResponseHead&) {}
  // The final head, or a 101 (head.upgrade): feed() then returns Upgrade and
  // on_response_complete is not called (the stream has become a tunnel).
  virtual void on_response_head(const ResponseHead& head) = 0;
  virtual void on_response_body(std::string_view data) = 0;
  virtual void on_response_complete() = 0;
};

class ResponseParser {
 public:
  explicit ResponseParser(ResponseHandler& handler, const ResponseLimits& limits = {});
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // Tell the parser which request the next response answers (call before
  // feeding each response; it sticks until changed). HEAD (and CONNECT)
  // responses never carry a body whatever their headers say.
  void expect(llhttp_method_t request_method) noexcept { request_method_ = request_method; }

  FeedResult feed(const char* data, size_t len);
  // The server closed the connection. MessageComplete (after
  // on_response_complete) when that ends a close-delimited body; Closed when
  // between messages (also after only a 1xx: if a response was still due,
  // that is the caller's "server closed early"); Error (502 "truncated
  // response") when a head or framed body was cut short.
  FeedStatus finish();

  const ResponseHead& head() const noexcept { return slots_.published(); }
  const ParseError& error() const noexcept { return error_; }
  bool in_message() const noexcept { return in_message_; }
  // The trailer fields of the response just completed (chunked bodies only),
  // or null; valid inside on_response_complete.
  const Headers* trailers() noexcept { return trailers_.empty() ? nullptr : &trailers_.fields(); }

 private:
  enum class State { Head, Body, Boundary, Upgraded, Closed, Dead };

  static int cb_message_begin(llhttp_t* p);
  static int cb_status(llhttp_t* p, const char* at, size_t n);
  static int cb_header_field(llhttp_t* p, const char* at, size_t n);
  static int cb_header_field_complete(llhttp_t* p);
  static int cb_header_value(llhttp_t* p, const char* at, size_t n);
  static int cb_header_value_complete(llhttp_t* p);
  static int cb_headers_complete(llhttp_t* p);
  static int cb_body(llhttp_t* p, const char* at, size_t n);
  static int cb_message_complete(llhttp_t* p);

  [[gnu::cold]] int fail_cb(const char* reason);
  [[gnu::cold]] FeedResult fail(size_t consumed, const char* reason);
  void begin_message();
  int on_head_done();

  llhttp_t parser_{};
  ResponseHandler& handler_;
  ResponseLimits limits_;
  llhttp_method_t request_method_ = HTTP_GET;
  State state_ = State::Head;
  detail::HeadSlots<ResponseHead> slots_;
  ParseError error_;
  uint64_t head_bytes_ = 0;         // bytes fed while the current head is incomplete
  bool in_message_ = false;
  bool head_done_ = false;
  bool interim_ = false;            // the current message is a 1xx interim response
  bool upgraded_ = false;           // 101 seen
  bool message_done_ = false;
  bool finishing_ = false;          // inside llhttp_finish(): completion is not a pause
  bool cb_failed_ = false;
  size_t name_len_ = 0;
  TrailerFields trailers_;  // kept up to limits_.max_header_bytes
};

}  // namespace lb::http
