// lb/http2/stream.cpp — one HTTP/2 stream as the ClientStream of its
// exchange: request head and body in, response head, body and end out, with
// flow control both ways (see stream.h).
#include "lb/http2/stream.h"

#include <cstring>
#include <utility>

#include "lb/http1/http_serialize.h"
#include "lb/http2/session.h"
#include "lb/io/access_log.h"
#include "lb/io/log.h"

namespace lb::http2 {

namespace {

http::Limits limits_of(const conf::ListenerConfig& c) {
  return {c.limits.max_header_bytes, c.limits.max_headers, c.limits.max_body_bytes};
}

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

ssize_t read_callback(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                      nghttp2_data_source* source, void*) {
  return static_cast<Stream*>(source->ptr)->read_data(buf, length, flags);
}

}  // namespace

Stream::Stream(Session& session, int32_t id, uint64_t opened_ms)
    : session_(session), id_(id), opened_ms_(opened_ms), builder_(limits_of(*session.listener().config)) {}

// Freed by the session (Session::reap, or with the session), never from
// inside an exchange call: an exchange that did not complete after its stream
// ended normally (see on_closed) is told now.
Stream::~Stream() {
  if (exchange_ && !completed_) {
    completed_ = true;
    exchange_->on_client_gone();
  }
}

// ------------------------------------------------------------------ request

void Stream::on_header(std::string_view name, std::string_view value) {
  if (!headers_done_) builder_.add(name, value);
  else if (request_trailers_.size_bytes() + name.size() + value.size() <= session_.listener().config->limits.max_header_bytes)
    request_trailers_.add(name, value);  // nghttp2 has refused pseudo-headers in trailers
}

void Stream::on_headers_complete(bool end_stream, uint64_t header_bytes) {
  headers_done_ = true;
  deadline_ms_ = 0;
  end_stream_received_ = end_stream;
  session_.listener().live->http2_streams_total.add(1);
  exchange_.emplace(session_.worker(), session_.runtime(), session_.listener_index(), *this,
                    session_.worker().now_ns());
  exchange_->add_bytes_in(header_bytes);
  std::string_view reason;
  const int refused = builder_.build(end_stream, head_, reason);
  if (refused != 0) {
    log_debug("http2 request refused", {{"listener", session_.listener().config->name}, {"reason", std::string(reason)}});
    exchange_->set_refused_head(&builder_.partial());
    exchange_->refuse_request(refused, reason, !end_stream);
    return;
  }
  exchange_->on_request_head(head_);
  if (completed_ || closed_) return;
  exchange_->start();
  if (completed_ || closed_) return;
  maybe_deliver_end();
}

// The request's end reaches the exchange after its body: once the exchange
// takes the body (it has a server connection), or at once when it answered
// by itself (the body is dropped).
void Stream::maybe_deliver_end() {
  if (!end_stream_received_ || request_delivered_end_ || !exchange_ || completed_ || closed_) return;
  if (exchange_->response_done() && !exchange_->has_server_conn()) pending_in_.clear();
  else if (!body_wanted_ || !pending_in_.empty()) return;
  request_delivered_end_ = true;
  if (!request_trailers_.empty()) exchange_->set_request_trailers(&request_trailers_.fields());
  if (held_last_byte_) {
    held_last_byte_ = false;
    ++body_forwarded_;
    exchange_->on_request_body(std::string_view(&last_byte_, 1));
    if (completed_ || closed_) return;
  }
  exchange_->on_request_complete();
}

void Stream::on_data(const uint8_t* data, size_t len) {
  if (exchange_) exchange_->add_bytes_in(len);
  if (body_since_ms_ != 0) note_body_progress();
  if (!exchange_ || completed_ || exchange_->request_done() ||
      (exchange_->response_done() && !exchange_->has_server_conn())) {
    consume(len);  // nobody wants these bytes: just keep the window open
    return;
  }
  if (tunnel_) {
    exchange_->on_tunnel_data(std::string_view(reinterpret_cast<const char*>(data), len));
    if (body_paused_) unconsumed_ += len;
    else consume(len);
    return;
  }
  body_received_ += len;
  const uint64_t max_body = session_.listener().config->limits.max_body_bytes;
  if (max_body != 0 && body_received_ > max_body) {
    consume(len);
    exchange_->refuse_request(413, "request body too large", true);
    return;
  }
  if (!body_wanted_ || !pending_in_.empty()) {
    pending_in_.append(reinterpret_cast<const char*>(data), len);  // bounded by the stream window
    return;
  }
  forward_body(std::string_view(reinterpret_cast<const char*>(data), len));
  if (body_paused_) unconsumed_ += len;
  else consume(len);
}

// With a content-length, the body's last byte waits for END_STREAM: a server
// never sees a complete request whose later DATA contradicts the length
// (nghttp2 then resets the stream, and the exchange closes the server
// connection with the request unfinished).
void Stream::forward_body(std::string_view data) {
  if (head_.content_length && !end_stream_received_ && !data.empty() &&
      body_forwarded_ + data.size() == *head_.content_length) {
    held_last_byte_ = true;
    last_byte_ = data.back();
    data.remove_suffix(1);
  }
  body_forwarded_ += data.size();
  if (!data.empty()) exchange_->on_request_body(data);
}

void Stream::on_end_stream() {
  end_stream_received_ = true;
  body_since_ms_ = 0;
  if (!exchange_ || completed_) return;
  if (tunnel_) {
    exchange_->on_tunnel_client_eof();
    return;
  }
  maybe_deliver_end();
}

// The exchange has a server connection: buffered body bytes go now.
void Stream::want_request_body() {
  body_wanted_ = true;
  // The body's idle clock starts (not for an extended CONNECT: its DATA is a
  // tunnel's, which waits for the server's answer first).
  if (!end_stream_received_ && !head_.upgrade) {
    note_body_progress();
    session_.on_stream_deadline(body_due_ms());
  }
  deliver_body();
}

void Stream::deliver_body() {
  if (!pending_in_.empty()) {
    std::string bytes;
    bytes.swap(pending_in_);
    unconsumed_ += bytes.size();
    forward_body(bytes);
    if (completed_ || closed_) return;
  }
  if (!body_paused_ && unconsumed_ > 0) consume(std::exchange(unconsumed_, 0));
  maybe_deliver_end();
}

void Stream::resume_request_body() {
  body_paused_ = false;
  if (unconsumed_ > 0) consume(std::exchange(unconsumed_, 0));
}

void Stream::consume(size_t n) {
  if (n == 0 || closed_) return;
  if (body_since_ms_ != 0) note_body_progress();  // the client may send again
  nghttp2_session_consume(session_.ng(), id_, n);
  session_.want_send();
}

// ----------------------------------------------------------------- response

// Response heads go out with lower-case names and without the fields that
// only describe the HTTP/1.1 hop (RFC 9113 8.2.2).
void Stream::submit_head(int status, const http::Headers* headers, bool end_stream, bool with_body) {
  char status_text[4];
  snprintf(status_text, sizeof status_text, "%03d", status);
  std::vector<nghttp2_nv>& nva = session_.nv_scratch();
  std::string& names = session_.name_scratch();
  const size_t n = headers ? headers->size() : 0;
  size_t name_bytes = 0;
  for (size_t i = 0; i < n; ++i) name_bytes += (*headers)[i].name.size();
  nva.clear();
  names.clear();
  names.reserve(name_bytes);  // no reallocation below: the nv entries point into it
  nva.push_back(make_nv(":status", std::string_view(status_text, 3)));
  for (size_t i = 0; i < n; ++i) {
    const http::Header& h = (*headers)[i];
    if (http::is_hop_by_hop(h.name, *headers)) continue;
    const size_t at = names.size();
    for (char c : h.name) names.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
    nva.push_back(make_nv(std::string_view(names).substr(at, h.name.size()), h.value));
  }
  int rv;
  if (!with_body) {
    rv = nghttp2_submit_headers(session_.ng(), end_stream ? NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_NONE, id_,
                                nullptr, nva.data(), nva.size(), nullptr);
  } else {
    nghttp2_data_provider provider;
    provider.source.ptr = this;
    provider.read_callback = &read_callback;
    rv = nghttp2_submit_response(session_.ng(), id_, nva.data(), nva.size(), &provider);
  }
  if (rv != 0) log_debug("http2 submit failed", {{"reason", nghttp2_strerror(rv)}});
  session_.want_send();
}

void Stream::submit_trailers() {
  const http::Headers& fields = response_trailers_.fields();
  std::vector<nghttp2_nv>& nva = session_.nv_scratch();
  nva.clear();
  for (const http::Header& h : fields) nva.push_back(make_nv(h.name, h.value));
  nghttp2_submit_trailer(session_.ng(), id_, nva.data(), nva.size());
}

void Stream::send_interim(const http::ResponseHead& head) {
  if (closed_ || head.status == 101) return;
  if (body_since_ms_ != 0) note_body_progress();  // a client waiting for 100 Continue was not idle
  submit_head(head.status, &head.headers, false, false);
}

void Stream::send_response_head(const http::ResponseHead& head) {
  if (closed_) return;
  head_submitted_ = true;
  if (head.upgrade) {
    // RFC 8441: the tunnel is accepted with a 200 on the CONNECT stream.
    http::Headers none;
    submit_head(200, &none, false, true);
    return;
  }
  if (!head.has_body) {
    response_ended_ = true;
    submit_head(head.status, &head.headers, true, false);
    return;
  }
  submit_head(head.status, &head.headers, false, true);
}

void Stream::send_response_body(std::string_view data) {
  if (closed_ || response_ended_) return;
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  }
  out_.append(data);
  if (data_deferred_) {
    data_deferred_ = false;
    nghttp2_session_resume_data(session_.ng(), id_);
  }
  session_.want_send();
}

void Stream::send_response_end(const http::Headers* trailers) {
  if (closed_ || response_ended_) return;
  response_ended_ = true;
  if (trailers) {
    for (const http::Header& h : *trailers) {
      if (http::forbidden_trailer(h.name)) continue;
      std::string name(h.name);
      for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
      response_trailers_.add(name, h.value);
    }
  }
  if (data_deferred_) {
    data_deferred_ = false;
    nghttp2_session_resume_data(session_.ng(), id_);
  }
  session_.want_send();
}

ssize_t Stream::read_data(uint8_t* buf, size_t length, uint32_t* flags) {
  const size_t available = out_.size() - out_off_;
  const size_t n = std::min(length, available);
  if (n > 0) {
    memcpy(buf, out_.data() + out_off_, n);
    out_off_ += n;
    if (out_off_ == out_.size()) {
      out_.clear();
      out_off_ = 0;
    }
  }
  if (out_.size() - out_off_ == 0 && response_ended_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!response_trailers_.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;  // the trailing HEADERS ends the stream
      submit_trailers();
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    data_deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

// The exchange stopped reading its server when output_blocked() said so;
// once nothing blocks it any more it reads again.
void Stream::notify_drained() {
  if (!held_back_ || output_blocked()) return;
  held_back_ = false;
  if (exchange_ && !completed_ && !closed_) exchange_->on_client_drained();
}

bool Stream::output_blocked() const {
  const bool blocked = out_.size() - out_off_ >= kOutputHighWater || session_.transport().write_queued();
  if (blocked) held_back_ = true;
  return blocked;
}

void Stream::send_local_response(const LocalResponse& r) {
  if (closed_) return;
  http::Headers headers;
  std::string length = std::to_string(r.body.size());
  if (!r.content_type.empty()) headers.fields.push_back({"content-type", r.content_type});
  headers.fields.push_back({"content-length", length});
  std::string retry = std::to_string(r.retry_after_s);
  if (r.retry_after_s != 0) headers.fields.push_back({"retry-after", retry});
  for (const http::Header& h : r.headers) headers.fields.push_back(h);
  head_submitted_ = true;
  if (!r.head_only) out_.append(r.body);
  response_ended_ = true;
  submit_head(r.status, &headers, false, true);
}

void Stream::reset(uint32_t error_code) {
  if (closed_) return;
  nghttp2_submit_rst_stream(session_.ng(), NGHTTP2_FLAG_NONE, id_, error_code);
  session_.want_send();
}

void Stream::abort_response() {
  completed_ = true;
  if (exchange_) exchange_->on_client_gone();
  reset(NGHTTP2_INTERNAL_ERROR);
}

void Stream::start_tunnel() {
  tunnel_ = true;
  if (!pending_in_.empty()) {
    std::string early;
    early.swap(pending_in_);
    exchange_->on_tunnel_data(early);
    consume(early.size());
  }
  if (end_stream_received_ && exchange_ && !completed_) exchange_->on_tunnel_client_eof();
}

// The exchange is over; its access line is written when the stream closes,
// once every byte of the response has left (bytes_out and duration include
// the client's pace, as they do on HTTP/1.1).
void Stream::exchange_complete() {
  completed_ = true;
  if (closed_) {  // the stream ended while the exchange was finishing (see on_closed)
    if (exchange_) exchange_->write_access_log();
    return;
  }
  // A response that ended before the request: the client may stop sending
  // (RST_STREAM NO_ERROR once our END_STREAM is out, RFC 9113 8.1).
  if (end_stream_sent_ && !end_stream_received_) reset(NGHTTP2_NO_ERROR);
}

void Stream::on_end_stream_sent() {
  end_stream_sent_ = true;
  if (completed_ && !end_stream_received_) reset(NGHTTP2_NO_ERROR);
}

void Stream::on_closed() {
  closed_ = true;
  if (!exchange_) return;
  if (completed_) {
    exchange_->write_access_log();
    return;
  }
  // Our END_STREAM went out with the client's already in: the stream ended
  // normally, inside the exchange's own send_response_end() or local answer
  // (the flush it asked for sent the last frame at once). The client is not
  // gone: the exchange completes when that call returns, keeping its server
  // connection for the pool, and exchange_complete() writes the access line
  // (~Stream tells the exchange should it never complete).
  if (response_ended_ && end_stream_sent_ && end_stream_received_) return;
  completed_ = true;
  exchange_->on_client_gone();
}

void Stream::count_out(size_t n) {
  if (exchange_) exchange_->add_bytes_out(n);
}

void Stream::on_deadline() {
  deadline_ms_ = 0;
  if (!headers_done_ && !closed_) {
    // A header block still arriving blocks every stream of the connection.
    log_debug("http2 request header timeout", {{"listener", session_.listener().config->name}});
    session_.end_connection(NGHTTP2_NO_ERROR);
    return;
  }
  if (!exchange_ || completed_ || closed_) return;
  exchange_->on_timeout();
}

// ------------------------------------------------------- slow request bodies

void Stream::note_body_progress() { body_since_ms_ = uv_now(session_.worker().loop()); }

bool Stream::awaiting_body() const {
  return body_since_ms_ != 0 && exchange_ && !completed_ && !closed_ && !end_stream_received_ && !tunnel_ &&
         !exchange_->request_done();
}

uint64_t Stream::body_due_ms() const {
  if (body_since_ms_ == 0) return 0;
  return body_since_ms_ + static_cast<uint64_t>(session_.listener().config->timeouts.body_idle.count());
}

// Only a client that could send is idle: not while lb holds the body back
// (a slow server) or either flow-control window it may send on is closed.
void Stream::on_body_deadline(uint64_t now) {
  if (!awaiting_body()) {
    body_since_ms_ = 0;
    return;
  }
  nghttp2_session* ng = session_.ng();
  if (body_paused_ || nghttp2_session_get_stream_local_window_size(ng, id_) <= 0 ||
      nghttp2_session_get_local_window_size(ng) <= 0) {
    body_since_ms_ = now;
    return;
  }
  if (now < body_due_ms()) return;
  body_since_ms_ = 0;
  log_debug("http2 request body timeout", {{"listener", session_.listener().config->name},
                                           {"client", std::string(session_.transport().peer_ip())}});
  // 408 on this stream (then RST_STREAM NO_ERROR once it has left, as for
  // any answer before the request's end); the server connection, its request
  // unfinished, is closed. A response already started is reset instead.
  exchange_->refuse_request(408, "request body timeout", true);
}

void Stream::arm_exchange_timer(uint64_t ms) {
  deadline_ms_ = uv_now(session_.worker().loop()) + ms;
  session_.on_stream_deadline(deadline_ms_);
}

bool Stream::stopping() const { return session_.draining(); }
const PeerAddress& Stream::client_address() { return session_.transport().peer_address(); }
std::string_view Stream::client_ip() { return session_.transport().peer_ip(); }
std::string_view Stream::client_cert_subject() const { return session_.transport().peer_cert_subject(); }
uint32_t Stream::per_client_refusal() const { return session_.transport().per_client_refusal(); }
std::string_view Stream::tls_version() const { return session_.transport().negotiated_tls_version(); }
std::string_view Stream::tls_sni() const { return session_.transport().negotiated_tls_sni(); }
bool Stream::is_tls() const { return session_.transport().over_tls(); }

}  // namespace lb::http2
