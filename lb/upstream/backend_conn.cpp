// lb/upstream/backend_conn.cpp — connect, read/parse responses, tunnel after 101, idle watch.
#include "lb/upstream/backend_conn.h"
#include "health/stream_connect.h"

#include <sys/socket.h>

#include <cerrno>

#include "lb/upstream/conn_pool.h"
#include "lb/io/log.h"
#include "lb/core/worker.h"
#include "tls/connection.h"

namespace lb {

BackendConn::BackendConn(Worker& worker, std::shared_ptr<ServerLive> server)
    : worker_(worker), server_(std::move(server)), parser_(*this) {}

BackendConn::~BackendConn() = default;

BackendConn* BackendConn::connect(Worker& worker, std::shared_ptr<ServerLive> server, const sockaddr* address,
                                  BackendOwner* owner, int& rc, std::shared_ptr<const tls::ClientContext> tls,
                                  std::string_view host, std::string session_key) {
  // Self-owned from here: freed in the close callback.
  auto* c = new BackendConn(worker, std::move(server));
  c->tls_ctx_ = std::move(tls);
  c->tls_host_ = host;
  c->tls_session_key_ = std::move(session_key);
  uv_tcp_init(worker.loop(), &c->tcp_);
  c->tcp_.data = c;
  c->owner_ = owner;
  c->connect_req_.data = c;
  rc = health::stream_connect(&c->connect_req_, &c->tcp_, address, &BackendConn::on_connect);
  if (rc != 0) {
    c->owner_ = nullptr;
    c->close();
    return nullptr;
  }
  return c;
}

void BackendConn::on_connect(uv_connect_t* req, int status) {
  auto* c = static_cast<BackendConn*>(req->data);
  if (c->closing_) return;
  if (status == 0) {
    c->connected_ = true;
    uv_tcp_nodelay(&c->tcp_, 1);
    if (c->tls_ctx_) {
      std::string error;
      c->tls_ = tls::Connection::client(c->tls_ctx_, c->tls_host_, c->tls_session_key_, error);
      if (!c->tls_) {
        log_error("backend tls setup failed", {{"server", c->tls_host_}, {"reason", error}});
        status = UV_EPROTO;
      } else if (c->flush_tls() < 0) {
        status = UV_EPIPE;
      } else {
        c->resume_reading();  // the handshake needs the server's answers before any request
      }
    }
  }
  BackendOwner* owner = c->owner_;
  if (status != 0) {
    c->owner_ = nullptr;
    c->close();
  }
  if (owner) owner->on_backend_connected(status);
}

void BackendConn::attach(BackendOwner* owner) {
  owner_ = owner;
  response_done_ = false;
  response_bytes_seen_ = false;
  keep_alive_ = false;
  resume_reading();
}

void BackendConn::on_write_done(uv_stream_t* stream, int status) {
  if (owner_) owner_->on_write_done(stream, status);
}

// The idle read watcher notices what arrived in earlier loop iterations; a
// non-blocking peek catches what arrived since (a FIN or stray bytes racing
// the new request). With TLS the peeked bytes are ciphertext that may be
// harmless (a late session ticket), but unread input is not worth the risk.
//
// The peek is a system call: about 5% of a keep-alive request's CPU (paired
// wrk rounds, README "Data-path measurements"). So it is made only where it
// is likely to find something:
// - a connection idle for kPeekAfterIdleMs or more, which is where a
//   server's keep-alive timeout (seconds: nginx 75 s, Node and Apache 5 s)
//   closes connections and its FIN races the reuse;
// - a connection whose last response had no body (the parser's verdict:
//   HEAD, 204, 304, or an empty one), which is where servers most often send
//   bytes lb did not expect (a body anyway), and those bytes, read as the
//   next request's response, would answer another client.
// Any other reuse goes out unchecked, as nginx's and HAProxy's do (they
// watch idle connections for events, as lb's read watcher does, and do not
// look at reuse). A close that races it is caught when the server's reset or
// EOF arrives before any response byte, and the request is replayed on a new
// connection (Exchange::retry_stale_connection; not when more than 64 KiB of
// body has already gone, or the same happens twice). Stray bytes that race
// it are taken as the start of its response: a 502 when they are not one.
bool BackendConn::still_idle(uint64_t now_ms) {
  if (!reusable()) {
    close();
    return false;
  }
  if (!peek_before_reuse_ && now_ms - idle_since_ms < kPeekAfterIdleMs) return true;
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) {
    close();
    return false;
  }
  char byte;
  ssize_t n;
  do n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
  close();  // data (n > 0), EOF (n == 0) or an error: not safe to reuse
  return false;
}

bool BackendConn::reusable() const {
  return !closing_ && connected_ && response_done_ && keep_alive_ && !tunnel_ && pending_writes_ == 0;
}

void BackendConn::go_idle() {
  owner_ = nullptr;
  ++exchanges_;
  resume_reading();
}

void BackendConn::pause_reading() {
  if (!reading_) return;
  reading_ = false;
  uv_read_stop(stream());
}

void BackendConn::resume_reading() {
  if (reading_ || closing_) return;
  reading_ = true;
  uv_read_start(stream(), &BackendConn::on_alloc, &BackendConn::on_read);
}

void BackendConn::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<BackendConn*>(h->data);
  buf->base = c->worker_.buffers().get();
  buf->len = buf->base ? BufferPool::kBufferSize : 0;
}

void BackendConn::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<BackendConn*>(s->data);
  if (nread > 0) {
    c->server_->bytes_in.add(static_cast<uint64_t>(nread));
    if (c->tls_) c->handle_ciphertext(buf->base, static_cast<size_t>(nread));
    else c->handle_data(buf->base, static_cast<size_t>(nread));
    if (c->owner_) c->owner_->on_backend_read_done();
  } else if (nread == UV_EOF) {
    if (c->tunnel_) {
      BackendOwner* owner = c->owner_;
      c->pause_reading();
      if (owner) owner->on_backend_tunnel_eof();
    } else if (!c->owner_) {
      c->close();  // idle connection closed by the server: drop it from the pool
    } else if (c->finish_close_delimited()) {
      c->close();
    } else {
      c->fail("connection closed by server", false);
    }
  } else if (nread < 0) {
    if (!c->owner_) c->close();
    else c->fail(nread == UV_ECONNRESET ? "connection reset by server" : uv_strerror(static_cast<int>(nread)), true);
  }
  c->worker_.buffers().put(buf->base);
}

void BackendConn::handle_data(const char* data, size_t len) {
  if (tunnel_) {
    if (owner_) owner_->on_backend_tunnel_data(data, len);
    return;
  }
  if (!owner_ || response_done_) {
    close();  // bytes nobody asked for: never hand this connection out again
    return;
  }
  response_bytes_seen_ = true;
  while (len > 0 && !closing_) {
    auto r = parser_.feed(data, len);
    data += r.consumed;
    len -= r.consumed;
    switch (r.status) {
      case http::FeedStatus::NeedMore:
      case http::FeedStatus::HeadPaused:
        break;
      case http::FeedStatus::MessageComplete:
        // Any byte after a complete response (outside a 1xx/101 flow) means
        // the server is out of step with us: its next bytes could be taken
        // for the answer to another client's request. Decide before the
        // owner sees the completion (and may park the connection).
        if (len > 0) keep_alive_ = false;
        complete_response();
        return;
      case http::FeedStatus::Upgrade:
        tunnel_ = true;
        if (len > 0 && owner_) owner_->on_backend_tunnel_data(data, len);
        return;
      case http::FeedStatus::Closed:
      case http::FeedStatus::Error:
        fail(parser_.error().reason.empty() ? "invalid response" : parser_.error().reason.data(), false);
        return;
    }
  }
}

int BackendConn::write(const uv_buf_t* bufs, size_t count) {
  if (!tls_) return write_bufs(worker_.buffers(), stream(), bufs, count, this, &pending_writes_);
  for (size_t i = 0; i < count; ++i)
    if (!tls_->write_plain(bufs[i].base, bufs[i].len)) return UV_EPIPE;
  return flush_tls();
}

int BackendConn::flush_tls() {
  if (!tls_ || tls_->pending_encrypted() == 0) return 0;
  std::string_view out = tls_->encrypted_output();
  uv_buf_t b = uv_buf_init(const_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
  int rc = write_bufs(worker_.buffers(), stream(), &b, 1, this, &pending_writes_);
  tls_->consume_encrypted(out.size());
  return rc;
}

void BackendConn::handle_ciphertext(const char* data, size_t len) {
  auto st = tls_->on_encrypted_input(data, len);
  flush_tls();
  std::string_view plain = tls_->plaintext();
  if (!plain.empty()) {
    // Handled in place: the owner's writes go to the TLS output side only,
    // never to the plaintext-in buffer this view points into.
    handle_data(plain.data(), plain.size());
    if (tls_) tls_->consume_plaintext(plain.size());
  }
  if (closing_) return;
  if (st == tls::Connection::Status::error) fail("tls error with server", false);
  else if (st == tls::Connection::Status::closed) {
    if (!owner_) close();
    else if (finish_close_delimited()) close();
    else fail("connection closed by server", false);
  }
}

void BackendConn::become_tunnel(const char*, size_t) { tunnel_ = true; }

void BackendConn::on_interim_response(const http::ResponseHead& head) {
  if (owner_) owner_->on_backend_interim(head);
}
void BackendConn::on_response_head(const http::ResponseHead& head) {
  keep_alive_ = head.keep_alive;
  peek_before_reuse_ = !head.has_body;
  if (owner_) owner_->on_backend_head(head);
}
void BackendConn::on_response_body(std::string_view data) {
  if (owner_) owner_->on_backend_body(data);
}
// The parser reports completion from inside feed(); the owner hears of it
// from handle_data / finish_close_delimited once the bytes after the
// response have been looked at.
void BackendConn::on_response_complete() { response_done_ = true; }

void BackendConn::complete_response() {
  if (owner_) owner_->on_backend_complete();
}

// EOF: true when it ended a close-delimited body (the owner has been told).
bool BackendConn::finish_close_delimited() {
  keep_alive_ = false;
  if (parser_.finish() != http::FeedStatus::MessageComplete) return false;
  complete_response();
  return true;
}

void BackendConn::fail(const char* reason, bool reset) {
  BackendOwner* owner = owner_;
  close();
  if (owner) owner->on_backend_error(reason, reset);
}

void BackendConn::close() {
  owner_ = nullptr;
  if (closing_) return;
  closing_ = true;
  if (pool) {
    pool->remove(this);
    pool = nullptr;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) { delete static_cast<BackendConn*>(h->data); });
}

}  // namespace lb
