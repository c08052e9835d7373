// lb/http2/session_callbacks.cpp — nghttp2's callbacks for a Session: frames
// to streams (headers, data, ends, closes), the send-side bookkeeping, and
// the abuse guard fed frame by frame (thresholds in abuse_guard.h).
#include "lb/http2/session.h"
#include "lb/http2/stream.h"
#include "lb/io/log.h"

namespace lb::http2 {

int Session::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* self_ptr) {
  auto* self = static_cast<Session*>(self_ptr);
  if (self->calmed_) return 0;
  const bool end_headers = hd->flags & NGHTTP2_FLAG_END_HEADERS;
  switch (hd->type) {
    case NGHTTP2_HEADERS:
      if (!self->valid_headers_stream(hd->stream_id)) {
        // RFC 9113 5.1.1: a new stream must use a higher id than any before
        // (nghttp2 leaves this to the application).
        self->failed_ = true;
        nghttp2_session_terminate_session(self->ng_, NGHTTP2_PROTOCOL_ERROR);
        return 0;
      }
      self->check(self->guard_.on_frame(false));
      self->check(self->guard_.on_header_block_frame(true, hd->length, end_headers));
      break;
    case NGHTTP2_CONTINUATION:
      self->check(self->guard_.on_frame(hd->length == 0));
      self->check(self->guard_.on_header_block_frame(false, hd->length, end_headers));
      break;
    case NGHTTP2_DATA:
      self->check(self->guard_.on_frame(hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM)));
      break;
    default:
      break;
  }
  return 0;
}

// HEADERS may open a stream with a higher id than any before, or carry
// trailers on an open (or just closed) one; a lower id on a stream never
// seen is a connection error.
bool Session::valid_headers_stream(int32_t id) {
  if (id > max_stream_id_) {
    max_stream_id_ = id;
    return true;
  }
  if (streams_.count(id) != 0) return true;
  for (int32_t closed : recently_closed_)
    if (closed == id) return true;
  return false;
}

int Session::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self_ptr) {
  auto* self = static_cast<Session*>(self_ptr);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST || self->calmed_) return 0;
  const int32_t id = frame->hd.stream_id;
  self->guard_.on_stream_opened();
  ++self->streams_opened_;
  self->idle_since_ms_ = 0;
  auto stream = std::make_unique<Stream>(*self, id, self->now_ms());
  nghttp2_session_set_stream_user_data(self->ng_, id, stream.get());
  // The header block must complete within request_header (slowloris over
  // CONTINUATION); the exchange's own deadlines follow.
  stream->arm_head_deadline(static_cast<uint64_t>(self->listener().config->timeouts.request_header.count()));
  self->streams_.emplace(id, std::move(stream));
  // max_requests_per_connection counts every stream the client opens: the
  // N-th is answered and named as the last one in a GOAWAY.
  const uint32_t limit = self->listener().config->http2.max_requests_per_connection;
  if (limit != 0 && self->streams_opened_ == limit && !self->draining_) {
    self->draining_ = true;
    nghttp2_submit_goaway(self->ng_, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR, nullptr, 0);
  }
  return 0;
}

int Session::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* self_ptr) {
  auto* self = static_cast<Session*>(self_ptr);
  if (self->calmed_ || frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (Stream* stream = self->find(frame->hd.stream_id))
    stream->on_header(std::string_view(reinterpret_cast<const char*>(name), namelen),
                      std::string_view(reinterpret_cast<const char*>(value), valuelen));
  return 0;
}

int Session::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self_ptr) {
  auto* self = static_cast<Session*>(self_ptr);
  if (self->calmed_) return 0;
  const bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  Stream* stream = frame->hd.stream_id != 0 ? self->find(frame->hd.stream_id) : nullptr;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      if (!stream) break;
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) stream->on_headers_complete(end_stream, self->guard_.block_bytes());
      else if (end_stream) stream->on_end_stream();  // trailers (collected by on_header) end the request
      break;
    case NGHTTP2_DATA:
      if (stream && end_stream) stream->on_end_stream();
      break;
    case NGHTTP2_RST_STREAM:
      // A stream reset before lb answered it: Rapid Reset counts these.
      if (stream && !stream->answered() && self->now_ms() - stream->opened_ms() < AbuseGuard::kPrematureResetWindowMs)
        self->check(self->guard_.on_premature_reset());
      break;
    case NGHTTP2_SETTINGS:
      if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) self->check(self->guard_.on_settings(self->now_ms()));
      break;
    case NGHTTP2_PING:
      if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) self->check(self->guard_.on_ping(self->now_ms()));
      break;
    case NGHTTP2_PRIORITY:
      self->check(self->guard_.on_priority());
      break;
    case NGHTTP2_WINDOW_UPDATE:
      self->check(self->guard_.on_window_update());
      break;
    default:
      break;
  }
  return 0;
}

int Session::on_data_chunk_recv(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                                void* self_ptr) {
  auto* self = static_cast<Session*>(self_ptr);
  Stream* stream = self->calmed_ ? nullptr : self->find(stream_id);
  if (stream) stream->on_data(data, len);
  else nghttp2_session_consume_connection(self->ng_, len);  // keep the connection window open
  return 0;
}

int Session::on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t, void* self_ptr) {
  auto* self = static_cast<Session*>(self_ptr);
  auto it = self->streams_.find(stream_id);
  if (it == self->streams_.end()) return 0;
  it->second->on_closed();
  self->recently_closed_[self->recently_closed_next_++ % self->recently_closed_.size()] = stream_id;
  self->closed_.push_back(std::move(it->second));
  self->streams_.erase(it);
  if (self->streams_.empty()) self->idle_since_ms_ = self->now_ms();
  return 0;
}

int Session::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self_ptr) {
  auto* self = static_cast<Session*>(self_ptr);
  const bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
      if (frame->hd.type == NGHTTP2_DATA) {
        self->guard_.on_data_frame_sent();
        self->stalled_since_ms_ = 0;
      }
      if (Stream* stream = self->find(frame->hd.stream_id)) {
        stream->count_out(frame->hd.length);
        if (end_stream) stream->on_end_stream_sent();
      }
      break;
    case NGHTTP2_GOAWAY:
      // nghttp2 ended the connection itself: for a protocol violation, or
      // (ENHANCE_YOUR_CALM) its own RST_STREAM rate limit, a backstop behind
      // lb's rapid-reset ratio.
      if (frame->goaway.error_code != NGHTTP2_NO_ERROR && !self->counted_close_) {
        self->counted_close_ = true;
        self->calmed_ = true;
        self->listener().live->count_http2_close(frame->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM
                                                     ? Http2CloseReason::rapid_reset
                                                     : Http2CloseReason::protocol_error);
      }
      break;
    default:
      break;
  }
  return 0;
}

int Session::on_invalid_frame_recv(nghttp2_session*, const nghttp2_frame* frame, int lib_error_code, void* self_ptr) {
  auto* self = static_cast<Session*>(self_ptr);
  log_debug("http2 invalid frame", {{"listener", self->listener().config->name},
                                    {"client", std::string(self->transport_.peer_ip())},
                                    {"reason", nghttp2_strerror(lib_error_code)}});
  if (lib_error_code == NGHTTP2_ERR_REFUSED_STREAM) {
    self->check(self->guard_.on_stream_refused());
  } else if (frame->hd.type == NGHTTP2_HEADERS && lib_error_code == NGHTTP2_ERR_PROTO &&
             self->streams_.size() >= self->listener().config->http2.max_concurrent_streams) {
    // nghttp2 ends the connection when an acknowledged stream limit is
    // exceeded; say why in the GOAWAY (the first terminate wins).
    self->calm_down(Http2CloseReason::stream_limit);
  }
  return 0;
}

}  // namespace lb::http2
