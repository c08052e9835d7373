// lb/http1/connection.cpp — the client connection of an http listener:
// socket and TLS, the HTTP/1.1 request side (parsing, pipelining,
// keep-alive) and the connection's life. Responses are framed in
// connection_response.cpp, the HTTP/2 hand-over is in connection_http2.cpp,
// and the deadlines and slow-client clocks in connection_timers.cpp.
#include "lb/http1/connection.h"

#include <sys/socket.h>

#include <cerrno>

#include "lb/core/tls_handshake_count.h"
#include "lb/http2/session.h"
#include "lb/io/log.h"
#include "lb/io/net_util.h"
#include "tls/connection.h"

namespace lb {

namespace {
// Backpressure: reading from one side stops while bytes wait in the other
// side's write queue and resumes once that queue has drained, so a peer that
// stops reading costs at most one read's worth (one 64 KiB pooled buffer) of
// queued data per direction; the kernel's socket buffers absorb the rest.
bool stream_write_queued(uv_stream_t* s) { return uv_stream_get_write_queue_size(s) > 0; }

http::Limits limits_of(const conf::ListenerConfig& c) {
  return {c.limits.max_header_bytes, c.limits.max_headers, c.limits.max_body_bytes};
}

}  // namespace

void start_http_session(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, int fd) {
  HttpConnection::start(worker, std::move(rt), listener, fd);
}

void HttpConnection::start(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, int fd) {
  // Self-owned until its handles are closed (see close_session).
  auto* s = new HttpConnection(worker, std::move(rt), listener);
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

HttpConnection::HttpConnection(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener)
    : worker_(worker), rt_(std::move(rt)), listener_(listener) {
  this->listener().live->connections_active.fetch_add(1, std::memory_order_relaxed);
  this->listener().live->connections_total.add(1);
  worker_.add_session(this);
}

HttpConnection::~HttpConnection() {
  end_exchange();
  http2_.reset();
  worker_.request_parsers().release(std::move(parser_));
  listener().live->connections_active.fetch_sub(1, std::memory_order_relaxed);
  worker_.remove_session(this);
}

void HttpConnection::begin() {
  uv_tcp_nodelay(&client_, 1);
  // PROXY first (SPEC 11): before TLS and before any limit sees an address,
  // so per_client counts the client the header names (connection_proxy.cpp).
  awaiting_proxy_header_ = listener().config->proxy_protocol.accept;
  if (listener().per_client && !awaiting_proxy_header_) check_per_client();
  begin_exchange();
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
    if (!awaiting_proxy_header_) {
      read_first_request();
      return;
    }
  }
  start_client_reading();
}

// A request begins: its exchange is created (timed from here, so a 400/408
// before the head completes has a duration) and the head deadline runs.
void HttpConnection::begin_exchange() {
  phase_ = Phase::head;
  exchange_.begin_request(worker_.now_ns());
  in_exchange_ = true;
}

// Clients send their request right after connecting, so when the accept is
// processed it is usually waiting already: read it at once instead of
// registering with epoll and waiting for the next loop iteration. While the
// complete first request is answered the client is not watched; it is
// registered when more bytes are needed (an incomplete head or body) or when
// the response is done and the connection stays open (exchange_complete). A
// connection-per-request client thus costs no epoll registration at all.
// (Like HAProxy without "abortonclose", a client that goes away during that
// first exchange is noticed when its response is written.)
void HttpConnection::read_first_request() {
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
  if (closing()) return;
  if (n == 0 || (n < 0 && err != EAGAIN && err != EWOULDBLOCK)) {
    client_eof_ = true;
    close_session();  // closed or failed before sending anything useful
    return;
  }
  const bool request_pending = phase_ == Phase::exchange && in_exchange_ && exchange_.phase() != Exchange::Phase::receiving;
  if (n < 0 || !request_pending || !exchange_.request_done()) start_client_reading();
}

const PeerAddress& HttpConnection::client_address() {
  if (!have_client_addr_) {
    have_client_addr_ = true;
    int len = sizeof client_addr_;
    if (uv_tcp_getpeername(&client_, &client_addr_.sa, &len) != 0) client_addr_.sa.sa_family = AF_UNSPEC;
  }
  return client_addr_;
}

// per_client (SPEC 11), once per connection. A refused connection is still
// served far enough to answer each request 429 (Exchange::admit), so the
// client learns why and when to come back. A trusted proxy is not a client:
// its connections carry many, named per request by X-Forwarded-For, and are
// not limited here. With PROXY accepted this runs once the header has named
// the client.
void HttpConnection::check_per_client() {
  const sockaddr* client = client_address().get();
  if (const auto& trusted = listener().trusted_proxies; trusted && trusted->contains(client)) return;
  per_client_refusal_ = listener().per_client->admit(client, worker_.now_ns(), per_client_slot_);
  if (per_client_refusal_) listener().live->per_client_refused_total.add(1);
}

std::string_view HttpConnection::client_ip() {
  if (client_ip_.empty()) client_ip_ = format_ip(client_address().get());
  return client_ip_;
}

std::string_view HttpConnection::tls_version() const {
  return tls_ && tls_->handshake_done() ? tls_->version() : std::string_view();
}

std::string_view HttpConnection::tls_sni() const {
  return tls_ && tls_->handshake_done() ? tls_->sni() : std::string_view();
}

// ---------------------------------------------------------------- client I/O

void HttpConnection::start_client_reading() {
  if (client_reading_ || client_eof_ || closing()) return;
  client_reading_ = true;
  note_body_progress();  // time lb held the client back is not the client's idleness
  uv_read_start(client(), &HttpConnection::on_client_alloc, &HttpConnection::on_client_read);
}

void HttpConnection::stop_client_reading() {
  if (!client_reading_) return;
  client_reading_ = false;
  uv_read_stop(client());
}

void HttpConnection::on_client_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* s = static_cast<HttpConnection*>(h->data);
  buf->base = s->worker_.buffers().get();
  buf->len = buf->base ? BufferPool::kBufferSize : 0;
}

void HttpConnection::on_client_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* s = static_cast<HttpConnection*>(stream->data);
  if (nread > 0) s->handle_client_bytes(buf->base, static_cast<size_t>(nread));
  s->worker_.buffers().put(buf->base);
  if (nread < 0) s->on_client_eof(nread);
}

void HttpConnection::on_client_eof(ssize_t nread) {
  client_eof_ = true;
  stop_client_reading();
  if (closing()) return;
  if (tunnel() && nread == UV_EOF) {
    exchange_.on_tunnel_client_eof();  // the server's EOF ends the tunnel
    return;
  }
  // A request that has a server lets its response finish after the client's
  // FIN (a half-close); one still waiting in its pool's queue has nothing
  // started and ends here, like nginx's default and HAProxy's abortonclose.
  if (phase_ == Phase::exchange && exchange_.request_done() && nread == UV_EOF && !exchange_.queued()) return;
  close_session();
}

// TLS: decrypt, send whatever the TLS layer wants sent (handshake, alerts),
// then hand the plaintext to the HTTP layer.
void HttpConnection::handle_client_ciphertext(const char* data, size_t len) {
  const bool was_handshaking = !tls_->handshake_done();
  auto st = tls_->on_encrypted_input(data, len);
  if (was_handshaking) count_tls_handshake(listener().live->tls_handshakes, *tls_, st);
  flush_tls();
  if (st == tls::Connection::Status::handshake_done) {
    client_cert_subject_ = tls_->peer_subject();
    if (tls_->alpn() == "h2") {
      start_http2(nullptr, 0);
    } else if (phase_ == Phase::head && !in_request()) {
      arm_timer(static_cast<uint64_t>(listener().config->timeouts.request_header.count()));
    }
  }
  std::string_view plain = tls_->plaintext();
  if (!plain.empty() && !closing()) {
    // Handled in place: writes and shutdown() touch only the TLS output side,
    // never the plaintext-in buffer this view points into.
    handle_client_data(plain.data(), plain.size());
    tls_->consume_plaintext(plain.size());
  }
  if (st == tls::Connection::Status::error) {
    log_debug("tls error", {{"listener", listener().config->name}, {"client", std::string(client_ip())},
                            {"reason", std::string(tls_->error_reason())}});
    close_session();
  } else if (st == tls::Connection::Status::closed && !closing()) {
    if (phase_ == Phase::exchange && exchange_.request_done() && !exchange_.queued()) return;  // let the response finish
    close_session();
  }
}

void HttpConnection::flush_tls() {
  if (!tls_ || tls_->pending_encrypted() == 0 || closing()) return;
  std::string_view out = tls_->encrypted_output();
  uv_buf_t b = uv_buf_init(const_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
  int rc = write_bufs(worker_.buffers(), client(), &b, 1, this, &client_pending_);
  tls_->consume_encrypted(out.size());
  if (rc < 0) close_session();
  else note_send_queue(false);
}

void HttpConnection::handle_client_data(const char* data, size_t len) {
  listener().live->bytes_in.add(len);
  if (phase_ == Phase::http2) {
    if (!lingering_) http2_->on_input(data, len);
    return;
  }
  note_body_progress();
  if (phase_ == Phase::idle) {
    begin_exchange();  // the next request's first bytes: its exchange counts them
    arm_timer(static_cast<uint64_t>(listener().config->timeouts.request_header.count()));
  }
  if (in_exchange_) exchange_.add_bytes_in(len);
  if (tunnel()) {
    exchange_.on_tunnel_data(std::string_view(data, len));
    return;
  }
  if (wants_http2(data, len)) {
    start_http2(data, len);
    return;
  }
  if (!in_.empty() || parsing_) {
    in_.append(data, len);
    parse_input();
  } else {
    // The common case: parse straight from the read buffer; keep only leftovers.
    size_t used = feed_parser(data, len);
    if (used < len && !closing()) in_.append(data + used, len - used);
  }
  // Bytes that must wait (pipelined requests, or a body while connecting)
  // are buffered up to a bound; past it, reading pauses until they are used.
  if (in_.size() > kMaxBufferedInput) stop_client_reading();
}

void HttpConnection::write_client(const uv_buf_t* bufs, size_t n) {
  if (closing()) return;
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) total += bufs[i].len;
  if (in_exchange_) exchange_.add_bytes_out(total);  // raw bytes to the client (heads included), like bytes_in
  listener().live->bytes_out.add(total);
  if (tls_) {
    if (n > 1 && total <= kTlsGatherMax) {
      // One TLS record for a head and its body (or chunk framing): each
      // write_plain is a record of its own, with its own MAC and header.
      thread_local std::string gathered;
      gathered.clear();
      for (size_t i = 0; i < n; ++i) gathered.append(bufs[i].base, bufs[i].len);
      if (!tls_->write_plain(gathered.data(), gathered.size())) {
        close_session();
        return;
      }
    } else {
      for (size_t i = 0; i < n; ++i)
        if (!tls_->write_plain(bufs[i].base, bufs[i].len)) {
          close_session();
          return;
        }
    }
    flush_tls();
    return;
  }
  int rc = write_bufs(worker_.buffers(), client(), bufs, n, this, &client_pending_);
  if (rc < 0) close_session();
  else note_send_queue(false);
}

void HttpConnection::write_client(std::string_view s) {
  uv_buf_t b = uv_buf_init(const_cast<char*>(s.data()), static_cast<unsigned>(s.size()));
  write_client(&b, 1);
}

bool HttpConnection::output_blocked() const {
  return stream_write_queued(const_cast<HttpConnection*>(this)->client());
}

void HttpConnection::on_write_done(uv_stream_t*, int status) {
  if (closing()) return;
  if (status < 0) {
    close_session();
    return;
  }
  note_send_queue(true);  // a write left: the client accepted bytes
  if (phase_ == Phase::http2) {
    if (!lingering_) http2_->on_output_drained();
    maybe_close_after_flush();
    return;
  }
  if (in_exchange_ && !output_blocked()) exchange_.on_client_drained();
  maybe_close_after_flush();
}

// --------------------------------------------------------------- request side

void HttpConnection::parse_input() {
  if (parsing_) return;  // the running feed loop picks the bytes up
  size_t used = feed_parser(in_.data(), in_.size());
  if (!closing()) in_.erase(0, used);
}

bool HttpConnection::may_parse() const {
  return phase_ == Phase::idle || phase_ == Phase::head ||
         (phase_ == Phase::exchange && exchange_.phase() == Exchange::Phase::exchanging && !exchange_.request_done());
}

// Feeds the parser while the current phase may consume bytes: a head, or the
// body of the request being forwarded. Returns how many bytes were used.
// Re-entrancy: callbacks (the exchange starting, completing) never feed the
// parser themselves while this loop runs; they change the phase and the loop
// continues with the remaining bytes.
size_t HttpConnection::feed_parser(const char* data, size_t len) {
  size_t used = 0;
  parsing_ = true;
  bool resume = parser_paused_;  // a paused parser must be fed again, even with no bytes
  while (!closing() && may_parse() && (used < len || resume)) {
    resume = false;
    if (phase_ == Phase::idle) {
      begin_exchange();
      arm_timer(static_cast<uint64_t>(listener().config->timeouts.request_header.count()));
    }
    if (!parser_) parser_ = worker_.request_parsers().acquire(*this, limits_of(*listener().config));
    auto r = parser_->feed(data + used, len - used);
    used += r.consumed;
    parser_paused_ = r.status == http::FeedStatus::HeadPaused;
    if (r.status == http::FeedStatus::NeedMore) break;
    if (r.status == http::FeedStatus::HeadPaused) {
      exchange_.start();  // may answer and complete at once
      resume = true;
      continue;
    }
    if (r.status == http::FeedStatus::MessageComplete) continue;
    if (r.status == http::FeedStatus::Error) {
      const auto& e = parser_->error();
      // A head that was parsed (e.g. a body over max_body_bytes, a bad chunk)
      // was counted and keeps its method and path in the access line.
      exchange_.set_refused_head(parser_->refused_head());
      exchange_.refuse_request(e.status, e.reason, true);
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
void HttpConnection::release_idle_parser() {
  if (!parser_ || parsing_ || phase_ != Phase::idle || parser_paused_ || parser_->in_message()) return;
  worker_.request_parsers().release(std::move(parser_));
}

http::Flow HttpConnection::on_request_head(const http::RequestHead& head) {
  disarm_timer();
  phase_ = Phase::exchange;
  client_keep_alive_ = head.keep_alive && !stopping_;
  exchange_.on_request_head(head);
  return http::Flow::Pause;
}

void HttpConnection::on_request_body(std::string_view data) { exchange_.on_request_body(data); }

void HttpConnection::on_request_complete() { exchange_.on_request_complete(); }

// The exchange has its server connection: body bytes already buffered (and
// the parser's pending completion) go now.
void HttpConnection::want_request_body() {
  // The body's idle clock starts: the exchange takes body bytes from now on.
  // (A bodiless request's end is simply not parsed yet: no clock for it.)
  if (in_exchange_ && exchange_.head() && exchange_.head()->has_body && !closing()) {
    body_since_ms_ = uv_now(worker_.loop());
    fire_within(static_cast<uint64_t>(listener().config->timeouts.body_idle.count()));
  }
  parse_input();
  // Inside the feed loop the loop's caller decides after it returns: the
  // client is already being read, or read_first_request looks at what is left.
  if (!closing() && in_exchange_ && !exchange_.request_done() && !parsing_) start_client_reading();
}

// ------------------------------------------------------------------ lifecycle

// The exchange is over (it may be on the call stack: it touches nothing
// after calling this). Its line is logged; the connection waits for the next
// request or closes.
void HttpConnection::exchange_complete() {
  first_request_ = false;
  body_since_ms_ = 0;
  exchange_.write_access_log();
  if (closing()) return;
  if (!client_keep_alive_ || stopping_ || exchange_.request_cut_short()) close_after_flush_ = true;
  if (close_after_flush_) {
    // The exchange stays until the connection is freed: the close path
    // looks at it (nothing more is logged for it).
    stop_client_reading();
    maybe_close_after_flush();
    return;
  }
  end_exchange();
  chunk_response_ = head_pending_ = false;
  phase_ = Phase::idle;
  arm_timer(static_cast<uint64_t>(listener().config->timeouts.client_idle.count()));
  start_client_reading();
  if (!in_.empty()) parse_input();  // a pipelined request (inside the feed loop: it continues)
  // Give back a buffer grown by a large pipelined burst, but only once it is
  // drained and no feed loop is reading from it.
  if (in_.empty() && !parsing_ && in_.capacity() > kMaxBufferedInput) std::string().swap(in_);
  release_idle_parser();
}

void HttpConnection::maybe_close_after_flush() {
  if (!close_after_flush_ || client_pending_ != 0 || closing()) return;
  if (phase_ == Phase::http2) linger();
  else close_session();
}

// An HTTP/2 connection ends with a GOAWAY the client must read. Closing a
// socket with unread input makes the kernel send RST, which may destroy the
// GOAWAY in flight (a flooding client always has unread input): so the
// write side is shut down first and what arrives is read and dropped until
// the client closes or kLingerMs passes (nginx's lingering close).
void HttpConnection::linger() {
  if (lingering_) return;
  lingering_ = true;
  if (tls_ && tls_->handshake_done() && !tls_->failed() && !tls_->shutdown_sent()) {
    tls_->shutdown();
    flush_tls();
    if (closing()) return;
  }
  auto* req = new uv_shutdown_t;  // freed in its callback
  if (uv_shutdown(req, client(), [](uv_shutdown_t* r, int) { delete r; }) != 0) {
    delete req;
    close_session();
    return;
  }
  arm_timer(kLingerMs);
  start_client_reading();
}

void HttpConnection::on_worker_stopping() {
  stopping_ = true;
  client_keep_alive_ = false;
  if (phase_ == Phase::http2) {
    http2_->on_stopping();
    return;
  }
  if (phase_ == Phase::idle || (phase_ == Phase::head && in_.empty() && !in_request())) close_session();
}

void HttpConnection::close_session() {
  if (closing()) return;
  if (tls_ && tls_->handshake_done() && !tls_->failed() && !tls_->shutdown_sent()) {
    // close_notify before the FIN, so clients can tell a clean end from a cut
    // (sent at once in the common case; best effort when the socket is full).
    tls_->shutdown();
    flush_tls();
    if (closing()) return;  // a failed flush already closed the session
  }
  // The access line of an answer that ends the connection (400, 408) is
  // written after this: look the address up while the socket is still open.
  if (Logger::instance().access_enabled()) client_address();
  phase_ = Phase::closing;
  if (in_exchange_) exchange_.on_client_gone();
  if (http2_) http2_->on_connection_closing();
  auto on_closed = [](uv_handle_t* h) {
    auto* s = static_cast<HttpConnection*>(h->data);
    if (--s->open_handles_ == 0) delete s;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&client_), on_closed);
}

}  // namespace lb
