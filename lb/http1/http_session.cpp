// lb/http1/http_session.cpp — the L7 client connection state machine.
#include "lb/http1/http_session.h"

#include <sys/socket.h>

#include <cerrno>

#include "lb/io/access_log.h"
#include "lb/http1/http_serialize.h"
#include "lb/io/log.h"
#include "lb/io/net_util.h"
#include "lb/exchange/rate_limiter.h"
#include "lb/exchange/routing.h"
#include "tls/connection.h"

namespace lb {

namespace {
// Backpressure: reading from one side stops while bytes wait in the other
// side's write queue and resumes once that queue has drained, so a peer that
// stops reading costs at most one read's worth (one 64 KiB pooled buffer) of
// queued data per direction; the kernel's socket buffers absorb the rest.
bool write_queued(uv_stream_t* s) { return uv_stream_get_write_queue_size(s) > 0; }

}  // namespace

void start_http_session(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, int fd) {
  HttpSession::start(worker, std::move(rt), listener, fd);
}

void HttpSession::start(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, int fd) {
  // Self-owned until its handles are closed (see close_session).
  auto* s = new HttpSession(worker, std::move(rt), listener);
  uv_tcp_init(worker.loop(), &s->client_);
  s->client_.data = s;
  uv_timer_init(worker.loop(), &s->timer_);
  s->timer_.data = s;
  s->open_handles_ = 2;
  if (!adopt_accepted(&s->client_, fd)) {
    s->close_session();
    return;
  }
  s->begin();
}

static http::Limits limits_of(const conf::ListenerConfig& c) {
  return {c.limits.max_header_bytes, c.limits.max_headers, c.limits.max_body_bytes};
}

HttpSession::HttpSession(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener)
    : worker_(worker), rt_(std::move(rt)), listener_(listener) {
  random_state_ = worker_.now_ns() ^ (static_cast<uint64_t>(worker_.index()) << 48);
  this->listener().live->connections_active.fetch_add(1, std::memory_order_relaxed);
  this->listener().live->connections_total.add(1);
  worker_.add_session(this);
}

HttpSession::~HttpSession() {
  worker_.request_parsers().release(std::move(parser_));
  listener().live->connections_active.fetch_sub(1, std::memory_order_relaxed);
  worker_.remove_session(this);
}

void HttpSession::begin() {
  uv_tcp_nodelay(&client_, 1);
  phase_ = Phase::head;
  exchange_start_ns_ = worker_.now_ns();
  if (listener().tls) {
    std::string error;
    tls_ = tls::Connection::server(listener().tls, error);
    if (!tls_) {
      log_error("tls setup failed", {{"listener", listener().config->name}, {"reason", error}});
      close_session();
      return;
    }
    // The handshake has its own deadline; the request_header one starts after it.
    arm_timer(static_cast<uint64_t>(listener().config->timeouts.tls_handshake.count()));
  } else {
    // The first head must arrive within request_header of the accept (slowloris defence).
    arm_timer(static_cast<uint64_t>(listener().config->timeouts.request_header.count()));
    read_first_request();
    return;
  }
  start_client_reading();
}

// Clients send their request right after connecting, so when the accept is
// processed it is usually waiting already: read it at once instead of
// registering with epoll and waiting for the next loop iteration. While the
// complete first request is answered the client is not watched; it is
// registered when more bytes are needed (an incomplete head or body) or when
// the response is done and the connection stays open (finish_exchange). A
// connection-per-request client thus costs no epoll registration at all.
// (Like HAProxy without "abortonclose", a client that goes away during that
// first exchange is noticed when its response is written.)
void HttpSession::read_first_request() {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&client_), &fd) != 0) {
    start_client_reading();
    return;
  }
  char* buf = worker_.buffers().get();
  if (!buf) {
    start_client_reading();
    return;
  }
  ssize_t n;
  do n = ::recv(fd, buf, BufferPool::kBufferSize, 0);
  while (n < 0 && errno == EINTR);
  const int err = n < 0 ? errno : 0;
  if (n > 0) handle_client_data(buf, static_cast<size_t>(n));
  worker_.buffers().put(buf);
  if (phase_ == Phase::closing) return;
  if (n == 0 || (n < 0 && err != EAGAIN && err != EWOULDBLOCK)) {
    client_eof_ = true;
    close_session();  // closed or failed before sending anything useful
    return;
  }
  const bool request_pending = phase_ == Phase::dispatching || phase_ == Phase::backoff ||
                               phase_ == Phase::exchanging;
  if (n < 0 || !request_pending || !request_done_) start_client_reading();
}

const PeerAddress& HttpSession::client_addr() {
  if (!have_client_addr_) {
    have_client_addr_ = true;
    int len = sizeof client_addr_;
    if (uv_tcp_getpeername(&client_, &client_addr_.sa, &len) != 0) client_addr_.sa.sa_family = AF_UNSPEC;
  }
  return client_addr_;
}

std::string_view HttpSession::client_ip() {
  if (client_ip_.empty()) client_ip_ = format_ip(client_addr().get());
  return client_ip_;
}

// ---------------------------------------------------------------- client I/O

void HttpSession::start_client_reading() {
  if (client_reading_ || client_eof_ || phase_ == Phase::closing) return;
  client_reading_ = true;
  uv_read_start(client(), &HttpSession::on_client_alloc, &HttpSession::on_client_read);
}

void HttpSession::stop_client_reading() {
  if (!client_reading_) return;
  client_reading_ = false;
  uv_read_stop(client());
}

void HttpSession::on_client_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* s = static_cast<HttpSession*>(h->data);
  buf->base = s->worker_.buffers().get();
  buf->len = buf->base ? BufferPool::kBufferSize : 0;
}

void HttpSession::on_client_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* s = static_cast<HttpSession*>(stream->data);
  if (nread > 0) {
    if (s->tls_) s->handle_client_ciphertext(buf->base, static_cast<size_t>(nread));
    else s->handle_client_data(buf->base, static_cast<size_t>(nread));
  }
  s->worker_.buffers().put(buf->base);
  if (nread >= 0) return;
  s->client_eof_ = true;
  s->stop_client_reading();
  if (s->phase_ == Phase::tunnel && nread == UV_EOF && s->conn_) {
    // Pass the half-close on; the server's EOF ends the tunnel.
    auto* req = new uv_shutdown_t;  // freed in its callback
    if (uv_shutdown(req, s->conn_->stream(), [](uv_shutdown_t* r, int) { delete r; }) != 0) delete req;
    return;
  }
  if (s->phase_ == Phase::exchanging && s->request_done_ && nread == UV_EOF) return;  // let the response finish
  s->close_session();
}

// TLS: decrypt, send whatever the TLS layer wants sent (handshake, alerts),
// then hand the plaintext to the HTTP layer.
void HttpSession::handle_client_ciphertext(const char* data, size_t len) {
  auto st = tls_->on_encrypted_input(data, len);
  flush_tls();
  if (st == tls::Connection::Status::handshake_done) {
    client_cert_subject_ = tls_->peer_subject();
    if (phase_ == Phase::head && !in_request())
      arm_timer(static_cast<uint64_t>(listener().config->timeouts.request_header.count()));
  }
  std::string_view plain = tls_->plaintext();
  if (!plain.empty() && phase_ != Phase::closing) {
    // Handled in place: writes and shutdown() touch only the TLS output side,
    // never the plaintext-in buffer this view points into.
    handle_client_data(plain.data(), plain.size());
    tls_->consume_plaintext(plain.size());
  }
  if (st == tls::Connection::Status::error) {
    log_debug("tls error", {{"listener", listener().config->name}, {"client", std::string(client_ip())},
                            {"reason", std::string(tls_->error_reason())}});
    close_session();
  } else if (st == tls::Connection::Status::closed && phase_ != Phase::closing) {
    if (phase_ == Phase::exchanging && request_done_) return;  // let the response finish
    close_session();
  }
}

void HttpSession::flush_tls() {
  if (!tls_ || tls_->pending_encrypted() == 0 || phase_ == Phase::closing) return;
  std::string_view out = tls_->encrypted_output();
  uv_buf_t b = uv_buf_init(const_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
  int rc = write_bufs(worker_.buffers(), client(), &b, 1, this, &client_pending_);
  tls_->consume_encrypted(out.size());
  if (rc < 0) close_session();
}

void HttpSession::handle_client_data(const char* data, size_t len) {
  bytes_in_ += len;
  listener().live->bytes_in.add(len);
  if (phase_ == Phase::tunnel) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(len));
    write_backend(&b, 1);
    return;
  }
  if (!in_.empty() || parsing_) {
    in_.append(data, len);
    parse_input();
  } else {
    // The common case: parse straight from the read buffer; keep only leftovers.
    size_t used = feed_parser(data, len);
    if (used < len && phase_ != Phase::closing) in_.append(data + used, len - used);
  }
  // Bytes that must wait (pipelined requests, or a body while connecting)
  // are buffered up to a bound; past it, reading pauses until they are used.
  if (in_.size() > kMaxBufferedInput) stop_client_reading();
}

void HttpSession::parse_input() {
  if (parsing_) return;  // the running feed loop picks the bytes up
  size_t used = feed_parser(in_.data(), in_.size());
  if (phase_ != Phase::closing) in_.erase(0, used);
}

bool HttpSession::may_parse() const {
  return phase_ == Phase::idle || phase_ == Phase::head || (phase_ == Phase::exchanging && !request_done_);
}

// Feeds the parser while the current phase may consume bytes: a head, or the
// body of the request being forwarded. Returns how many bytes were used.
// Re-entrancy: callbacks (dispatch → use_connection, finish_exchange) never
// feed the parser themselves while this loop runs; they change the phase and
// the loop continues with the remaining bytes.
size_t HttpSession::feed_parser(const char* data, size_t len) {
  size_t used = 0;
  parsing_ = true;
  bool resume = parser_paused_;  // a paused parser must be fed again, even with no bytes
  while (phase_ != Phase::closing && may_parse() && (used < len || resume)) {
    resume = false;
    if (phase_ == Phase::idle) {
      phase_ = Phase::head;
      exchange_start_ns_ = worker_.now_ns();  // a 400/408 before the head completes is timed from here
      arm_timer(static_cast<uint64_t>(listener().config->timeouts.request_header.count()));
    }
    if (!parser_) parser_ = worker_.request_parsers().acquire(*this, limits_of(*listener().config));
    auto r = parser_->feed(data + used, len - used);
    used += r.consumed;
    parser_paused_ = r.status == http::FeedStatus::HeadPaused;
    if (r.status == http::FeedStatus::NeedMore) break;
    if (r.status == http::FeedStatus::HeadPaused) {
      if (phase_ == Phase::dispatching) dispatch();
      resume = true;
      continue;
    }
    if (r.status == http::FeedStatus::MessageComplete) continue;
    if (r.status == http::FeedStatus::Error) {
      const auto& e = parser_->error();
      // A head that was parsed (e.g. a body over max_body_bytes, a bad chunk)
      // was counted and keeps its method and path in the access line.
      if (!have_head_) listener().live->requests_total.add(1);
      if (response_started_) {
        aborted_ = true;  // the server is already answering: only closing tells the client
        close_session();
        break;
      }
      release_server(false);
      drop_backend();
      send_error(e.status, e.reason, true);
      write_access_log();
      break;
    }
    close_session();  // Closed (no keep-alive) or Upgrade without a 101
    break;
  }
  parsing_ = false;
  release_idle_parser();
  return used;
}

// Between requests the parser goes back to the worker's pool (see
// lb/http1/request_parser_pool.h); the next request's first byte takes one again.
void HttpSession::release_idle_parser() {
  if (!parser_ || parsing_ || phase_ != Phase::idle || parser_paused_ || parser_->in_message()) return;
  worker_.request_parsers().release(std::move(parser_));
}

// One deadline at a time, kept lazily: a keep-alive request moves it up to
// five times (head, dispatch, response, idle), and restarting the uv timer
// each time is a timer-heap removal and insertion. The uv timer is restarted
// only when it would fire too late; when it fires early it re-arms itself
// for the rest, and a disarmed deadline makes it a no-op.
void HttpSession::arm_timer(uint64_t ms) {
  deadline_ms_ = uv_now(worker_.loop()) + ms;
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_)) || uv_timer_get_due_in(&timer_) > ms)
    uv_timer_start(&timer_, &HttpSession::on_timer, ms, 0);
}

void HttpSession::on_timer(uv_timer_t* t) {
  auto* s = static_cast<HttpSession*>(t->data);
  if (s->deadline_ms_ == 0) return;  // disarmed since it was started
  uint64_t now = uv_now(s->worker_.loop());
  if (now < s->deadline_ms_) {
    uv_timer_start(t, &HttpSession::on_timer, s->deadline_ms_ - now, 0);
    return;
  }
  s->deadline_ms_ = 0;
  switch (s->phase_) {
    case Phase::idle:
    case Phase::tunnel:
      s->close_session();
      break;
    case Phase::head:
      if (s->tls_ && !s->tls_->handshake_done()) {
        s->close_session();  // tls_handshake deadline
        break;
      }
      if (s->in_.empty() && !s->in_request()) {
        s->close_session();  // nothing sent at all: just close, like an idle connection
        break;
      }
      s->listener().live->requests_total.add(1);
      s->send_error(408, "request header timeout", true);
      s->write_access_log();
      break;
    case Phase::dispatching:
      s->backend_failed("connect timeout", conf::RetryOn::connect_failure);
      break;
    case Phase::backoff:
      s->phase_ = Phase::dispatching;
      s->dispatch();
      break;
    case Phase::exchanging:
      if (!s->response_started_) s->backend_failed("response timeout", conf::RetryOn::timeout);
      break;
    case Phase::closing:
      break;
  }
}

void HttpSession::write_client(const uv_buf_t* bufs, size_t n) {
  if (phase_ == Phase::closing) return;
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) total += bufs[i].len;
  bytes_out_ += total;  // raw bytes to the client (heads included), like bytes_in
  listener().live->bytes_out.add(total);
  if (tls_) {
    for (size_t i = 0; i < n; ++i)
      if (!tls_->write_plain(bufs[i].base, bufs[i].len)) {
        close_session();
        return;
      }
    flush_tls();
    if (conn_ && !closing() && write_queued(client())) conn_->pause_reading();
    return;
  }
  int rc = write_bufs(worker_.buffers(), client(), bufs, n, this, &client_pending_);
  if (rc < 0) {
    close_session();
    return;
  }
  if (conn_ && write_queued(client())) conn_->pause_reading();
}

void HttpSession::write_client(std::string_view s) {
  uv_buf_t b = uv_buf_init(const_cast<char*>(s.data()), static_cast<unsigned>(s.size()));
  write_client(&b, 1);
}

void HttpSession::write_backend(const uv_buf_t* bufs, size_t n) {
  if (!conn_ || closing()) return;
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) total += bufs[i].len;
  conn_->server()->bytes_out.add(total);
  if (capture_body_) {
    // Body bytes on a reused connection, kept for a stale-connection replay.
    if (replay_body_.size() + total > kMaxReplayBytes) {
      capture_body_ = false;
      replay_overflow_ = true;
      std::string().swap(replay_body_);
    } else {
      for (size_t i = 0; i < n; ++i) replay_body_.append(bufs[i].base, bufs[i].len);
    }
  }
  int rc = conn_->write(bufs, n);
  if (rc < 0) {
    conn_->close();
    on_backend_error("write to server failed", true);
    return;
  }
  if (conn_ && write_queued(conn_->stream())) stop_client_reading();
}

void HttpSession::on_write_done(uv_stream_t* stream, int status) {
  if (phase_ == Phase::closing) return;
  if (stream == client()) {
    if (status < 0) {
      close_session();
      return;
    }
    if (conn_ && !write_queued(client())) conn_->resume_reading();
    maybe_close_after_flush();
    return;
  }
  // A backend write finished: resume reading the client if it was held back.
  if (status == 0 && conn_ && stream == conn_->stream() && !write_queued(stream) &&
      (phase_ == Phase::tunnel || (phase_ == Phase::exchanging && !request_done_)))
    start_client_reading();
}

void HttpSession::send_error(int status, std::string_view message, bool close_after, uint32_t retry_after_s) {
  status_ = status;
  response_started_ = true;
  listener().live->count_status(status);
  std::string body = "{\"error\":";
  append_json_string(body, message);
  body += "}\n";
  std::string& head_buf = worker_.scratch();
  head_buf.clear();
  head_buf += "HTTP/1.1 " + std::to_string(status) + " ";
  head_buf += http::default_reason(status);
  head_buf += "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (status == 503 && retry_after_s == 0) retry_after_s = 1;
  if (retry_after_s != 0) head_buf += "Retry-After: " + std::to_string(retry_after_s) + "\r\n";
  if (close_after) head_buf += "Connection: close\r\n";
  head_buf += "\r\n";
  uv_buf_t bufs[2] = {uv_buf_init(head_buf.data(), static_cast<unsigned>(head_buf.size())),
                      uv_buf_init(body.data(), static_cast<unsigned>(body.size()))};
  write_client(bufs, 2);
  if (close_after) {
    response_done_ = true;  // lb's answer is the whole response; the connection ends after it
    close_after_flush_ = true;
    stop_client_reading();
    disarm_timer();
    phase_ = phase_ == Phase::closing ? phase_ : Phase::exchanging;
    request_done_ = true;  // nothing more is read from this client
    maybe_close_after_flush();
  }
}

void HttpSession::maybe_close_after_flush() {
  if (close_after_flush_ && client_pending_ == 0 && phase_ != Phase::closing) close_session();
}

// --------------------------------------------------------------- request side

http::Flow HttpSession::on_request_head(const http::RequestHead& head) {
  disarm_timer();
  listener().live->requests_total.add(1);
  exchange_start_ns_ = worker_.now_ns();
  have_head_ = true;
  is_head_ = head.method_id == HTTP_HEAD;
  client_keep_alive_ = head.keep_alive && !stopping_;
  chunk_request_ = head.chunked;
  if (const auto& limiter = listener().rate_limiter) {
    const conf::KeySpec& key = limiter->config().key;
    // A header key falls back to the client IP when the header is missing.
    const http::Header* h = key.kind == conf::KeySpec::Kind::header ? head.headers.find(key.name) : nullptr;
    std::string_view value = h ? std::string_view(h->value) : client_ip();
    uint32_t retry_after = 0;
    if (!limiter->allow(value, exchange_start_ns_, retry_after)) {
      listener().live->rate_limited_total.add(1);
      phase_ = Phase::dispatching;
      send_error(429, "rate limit exceeded", head.has_body, retry_after);
      response_done_ = true;
      if (!head.has_body) phase_ = Phase::exchanging;
      return http::Flow::Pause;
    }
  }
  auto pool = route_request(listener(), head);
  phase_ = Phase::dispatching;
  if (!pool) {
    // No route: answer locally. A body we will not read means closing.
    send_error(404, "no route for this request", head.has_body);
    response_done_ = true;
    if (!head.has_body) phase_ = Phase::exchanging;  // the body-less request completes on resume
    return http::Flow::Pause;
  }
  pool_ = *pool;
  pool_chosen_ = true;
  hash_ = uses_request_hash(this->pool().config->algorithm)
              ? request_hash(this->pool().config->hash_key, head, client_addr().get())
              : 0;
  return http::Flow::Pause;
}

void HttpSession::on_request_body(std::string_view data) {
  if (!conn_) return;  // a local answer is being given; the body is dropped
  request_body_sent_ += data.size();
  if (chunk_request_) {
    http::ChunkHeaderBuf hb;
    std::string_view h = http::chunk_header(data.size(), hb);
    uv_buf_t bufs[3] = {uv_buf_init(const_cast<char*>(h.data()), static_cast<unsigned>(h.size())),
                        uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size())),
                        uv_buf_init(const_cast<char*>(http::kChunkEnd.data()), 2)};
    write_backend(bufs, 3);
  } else {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
    write_backend(&b, 1);
  }
}

void HttpSession::on_request_complete() {
  request_done_ = true;
  if (conn_ && chunk_request_) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(http::kLastChunk.data()), static_cast<unsigned>(http::kLastChunk.size()));
    write_backend(&b, 1);
  }
  if (response_done_) finish_exchange();
}

// ------------------------------------------------------------------ lifecycle

void HttpSession::finish_exchange() {
  write_access_log();
  if (closing()) return;  // nothing may parse or dispatch on a closing session
  if (!close_after_flush_ && (!client_keep_alive_ || stopping_)) close_after_flush_ = true;
  // Reset the per-exchange state for the next request on this connection.
  tried_.clear();
  attempts_ = 0;
  request_done_ = request_sent_ = response_started_ = response_done_ = false;
  request_body_sent_ = 0;
  chunk_request_ = chunk_response_ = is_head_ = false;
  status_ = 0;
  upstream_ms_ = -1;
  bytes_in_ = bytes_out_ = 0;
  have_head_ = false;
  server_name_ = {};
  logged_ = aborted_ = pool_chosen_ = false;
  stale_retried_ = capture_body_ = replay_overflow_ = false;
  if (replay_body_.capacity() > kMaxReplayBytes) std::string().swap(replay_body_);
  else replay_body_.clear();
  request_id_ = {};
  if (close_after_flush_) {
    stop_client_reading();
    maybe_close_after_flush();
    return;
  }
  phase_ = Phase::idle;
  arm_timer(static_cast<uint64_t>(listener().config->timeouts.client_idle.count()));
  start_client_reading();
  if (!in_.empty()) parse_input();  // a pipelined request (inside the feed loop: it continues)
  // Give back a buffer grown by a large pipelined burst, but only once it is
  // drained and no feed loop is reading from it.
  if (in_.empty() && !parsing_ && in_.capacity() > kMaxBufferedInput) std::string().swap(in_);
  release_idle_parser();
}

void HttpSession::on_worker_stopping() {
  stopping_ = true;
  client_keep_alive_ = false;
  if (phase_ == Phase::idle || (phase_ == Phase::head && in_.empty() && !in_request())) close_session();
}

void HttpSession::close_session() {
  if (phase_ == Phase::closing) return;
  if (tls_ && tls_->handshake_done() && !tls_->failed() && !tls_->shutdown_sent()) {
    // close_notify before the FIN, so clients can tell a clean end from a cut
    // (sent at once in the common case; best effort when the socket is full).
    tls_->shutdown();
    flush_tls();
    if (phase_ == Phase::closing) return;  // a failed flush already closed the session
  }
  // The access line of an answer that ends the connection (400, 408) is
  // written after this: look the address up while the socket is still open.
  if (Logger::instance().access_enabled()) client_addr();
  phase_ = Phase::closing;
  log_unfinished_exchange();
  release_server(false);
  drop_backend();
  auto on_closed = [](uv_handle_t* h) {
    auto* s = static_cast<HttpSession*>(h->data);
    if (--s->open_handles_ == 0) delete s;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&client_), on_closed);
}

}  // namespace lb
