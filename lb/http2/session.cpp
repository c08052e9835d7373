// lb/http2/session.cpp — the HTTP/2 connection codec on nghttp2 (see
// session.h): setup, input, output, deadlines, GOAWAY. The nghttp2
// callbacks that feed streams and the abuse guard are in session_callbacks.cpp.
#include "lb/http2/session.h"

#include "lb/http2/stream.h"
#include "lb/io/log.h"

namespace lb::http2 {

Session::Session(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, Transport& transport)
    : worker_(worker),
      rt_(std::move(rt)),
      listener_(listener),
      transport_(transport),
      guard_(rt_->runtime().listeners[listener].config->limits.max_header_bytes) {}

Session::~Session() {
  worker_.cancel(*this);
  if (ng_) nghttp2_session_del(ng_);
  ng_ = nullptr;
}

bool Session::start() {
  nghttp2_session_callbacks* cb = nullptr;
  if (nghttp2_session_callbacks_new(&cb) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_frame_callback(cb, &Session::on_begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &Session::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, &Session::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Session::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Session::on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Session::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, &Session::on_frame_send);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, &Session::on_invalid_frame_recv);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Request bodies are acknowledged when the exchange has passed them on
  // (Stream::consume), not when they arrive: that is the per-stream bound.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  // lb's own CONTINUATION bound (AbuseGuard, 32 frames) decides, and says
  // why; nghttp2's default of 8 would refuse legitimate large header blocks.
  nghttp2_option_set_max_continuations(opt, 2 * guard_.max_continuations());
  const int rv = nghttp2_session_server_new2(&ng_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  if (rv != 0) return false;

  const conf::ListenerConfig& c = *listener().config;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c.http2.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c.http2.initial_window_size},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096},  // the HPACK table lb decodes with
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},  // RFC 8441 WebSocket
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(std::min<uint64_t>(c.limits.max_header_bytes, UINT32_MAX))},
  };
  if (nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings, sizeof settings / sizeof settings[0]) != 0) return false;
  // SPEC 9: the connection-level receive window is at least 1 MiB.
  nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, 1 << 20);
  idle_since_ms_ = now_ms();
  flush();
  arm_next_deadline();
  return true;
}

Stream* Session::find(int32_t id) {
  return static_cast<Stream*>(nghttp2_session_get_stream_user_data(ng_, id));
}

// ------------------------------------------------------------------ input

void Session::on_input(const char* data, size_t len) {
  if (calmed_ || failed_) return;  // the connection is being closed: nothing more is read
  ++in_nghttp2_;
  const ssize_t rv = nghttp2_session_mem_recv(ng_, reinterpret_cast<const uint8_t*>(data), len);
  --in_nghttp2_;
  if (rv < 0) protocol_failure(static_cast<int>(rv));
  flush();
  reap();
  arm_next_deadline();
}

void Session::protocol_failure(int error) {
  if (failed_) return;
  failed_ = true;
  log_debug("http2 connection error", {{"listener", listener().config->name},
                                       {"client", std::string(transport_.peer_ip())},
                                       {"reason", nghttp2_strerror(error)}});
  if (error == NGHTTP2_ERR_FLOODED) {
    calm_down(Http2CloseReason::control_flood);
    return;
  }
  // Bad preface and the like: GOAWAY PROTOCOL_ERROR (counted when it is sent).
  nghttp2_session_terminate_session(ng_, NGHTTP2_PROTOCOL_ERROR);
}

// The client is abusing the protocol: GOAWAY ENHANCE_YOUR_CALM, counted, and
// the connection closes once that frame has left.
void Session::calm_down(Http2CloseReason reason) {
  if (calmed_) return;
  calmed_ = true;
  if (!counted_close_) {
    counted_close_ = true;
    listener().live->count_http2_close(reason);
  }
  log_info("http2 connection closed for abuse", {{"listener", listener().config->name},
                                                 {"client", std::string(transport_.peer_ip())},
                                                 {"reason", to_string(reason)}});
  nghttp2_session_terminate_session(ng_, NGHTTP2_ENHANCE_YOUR_CALM);
  want_send();
}

// ----------------------------------------------------------------- output

void Session::want_send() {
  if (in_nghttp2_ > 0 || flushing_) return;  // the running entry point sends at its end
  worker_.defer(*this);
}

void Session::run_deferred() {
  flush();
  reap();
  arm_next_deadline();
}

// Pulls frames from nghttp2 while the socket takes them at once; what is
// left waits inside nghttp2 until on_output_drained.
void Session::flush() {
  if (in_nghttp2_ > 0 || flushing_ || !ng_) return;
  flushing_ = true;
  bool stalled = false;
  // One write per batch of up to kMaxBatch bytes: a TLS record and a
  // syscall for many frames, not one each.
  constexpr size_t kMaxBatch = 64 * 1024;
  while (!transport_.write_queued()) {
    out_.clear();
    while (out_.size() < kMaxBatch) {
      const uint8_t* data = nullptr;
      ++in_nghttp2_;
      const ssize_t n = nghttp2_session_mem_send(ng_, &data);
      --in_nghttp2_;
      if (n < 0) {
        log_debug("http2 send failed", {{"reason", nghttp2_strerror(static_cast<int>(n))}});
        flushing_ = false;
        failed_ = true;
        transport_.close_now();
        return;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (out_.empty()) break;
    uv_buf_t b = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
    transport_.write_bytes(&b, 1);
    if (out_.size() < kMaxBatch) break;  // nghttp2 had no more
  }
  flushing_ = false;
  // Exchanges held back by a full stream buffer may read their servers again;
  // a response waiting only on the client's flow-control window is a stall.
  for (auto& [id, stream] : streams_) {
    stream->notify_drained();
    if (stream->has_pending_output() && !transport_.write_queued() &&
        (nghttp2_session_get_remote_window_size(ng_) <= 0 || nghttp2_session_get_stream_remote_window_size(ng_, id) <= 0))
      stalled = true;
  }
  if (!stalled) stalled_since_ms_ = 0;
  else if (stalled_since_ms_ == 0) {
    stalled_since_ms_ = now_ms();
    on_stream_deadline(stalled_since_ms_ + static_cast<uint64_t>(listener().config->timeouts.send.count()));
  }
  if (nghttp2_session_want_read(ng_) == 0 && nghttp2_session_want_write(ng_) == 0) transport_.close_after_flush();
}

void Session::on_output_drained() {
  flush();
  reap();
  arm_next_deadline();
}

// --------------------------------------------------------------- deadlines

void Session::on_stream_deadline(uint64_t deadline_ms) {
  if (next_deadline_ms_ != 0 && next_deadline_ms_ <= deadline_ms) return;
  next_deadline_ms_ = deadline_ms;
  const uint64_t now = now_ms();
  transport_.arm_deadline(deadline_ms > now ? deadline_ms - now : 0);
}

void Session::arm_next_deadline() {
  const conf::ListenerConfig& c = *listener().config;
  uint64_t next = 0;
  auto consider = [&next](uint64_t at) {
    if (at != 0 && (next == 0 || at < next)) next = at;
  };
  for (auto& [id, stream] : streams_) {
    consider(stream->deadline_ms());
    consider(stream->body_due_ms());
  }
  if (streams_.empty() && idle_since_ms_ != 0) consider(idle_since_ms_ + static_cast<uint64_t>(c.timeouts.client_idle.count()));
  if (stalled_since_ms_ != 0) consider(stalled_since_ms_ + static_cast<uint64_t>(c.timeouts.send.count()));
  next_deadline_ms_ = 0;
  if (next != 0) on_stream_deadline(next);
}

void Session::on_timer() {
  const uint64_t now = now_ms();
  const conf::ListenerConfig& c = *listener().config;
  next_deadline_ms_ = 0;
  std::vector<int32_t> due;
  auto is_due = [now](uint64_t at) { return at != 0 && at <= now; };
  for (auto& [id, stream] : streams_)
    if (is_due(stream->deadline_ms()) || is_due(stream->body_due_ms())) due.push_back(id);
  ++in_nghttp2_;  // what the deadlines submit is sent below, in one go
  for (int32_t id : due) {
    auto it = streams_.find(id);
    if (it != streams_.end() && is_due(it->second->deadline_ms())) it->second->on_deadline();
    it = streams_.find(id);  // a deadline may have ended the stream
    if (it != streams_.end() && is_due(it->second->body_due_ms())) it->second->on_body_deadline(now);
  }
  --in_nghttp2_;
  const uint64_t idle_ms = static_cast<uint64_t>(c.timeouts.client_idle.count());
  if (stalled_since_ms_ != 0 && now - stalled_since_ms_ >= static_cast<uint64_t>(c.timeouts.send.count())) {
    // A window held at zero while lb has data: the client accepts no
    // response byte (SPEC 11 send), at the HTTP/2 flow-control level.
    calm_down(Http2CloseReason::control_flood);
  } else if (streams_.empty() && idle_since_ms_ != 0 && now - idle_since_ms_ >= idle_ms && !draining_) {
    goaway_gracefully();  // client_idle with no open stream (PINGs do not count)
  }
  flush();
  reap();
  arm_next_deadline();
}

// ------------------------------------------------------------------ GOAWAY

void Session::goaway_gracefully() {
  if (draining_ || !ng_) return;
  draining_ = true;
  nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  want_send();
}

void Session::end_connection(uint32_t error_code) {
  if (failed_ || calmed_ || !ng_) return;
  failed_ = true;
  nghttp2_session_terminate_session(ng_, error_code);
  want_send();
}

void Session::on_stopping() { goaway_gracefully(); }

void Session::on_runtime_replaced() { goaway_gracefully(); }

void Session::on_connection_closing() {
  for (auto& [id, stream] : streams_) stream->on_closed();
}

// Streams nghttp2 closed are freed here, from an entry point of the
// connection, never from inside an exchange or stream call.
void Session::reap() { closed_.clear(); }

}  // namespace lb::http2
