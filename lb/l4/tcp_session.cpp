// lb/l4/tcp_session.cpp — L4 proxying: connect with retries, PROXY protocol,
// bidirectional splice with backpressure and half-close, idle timeout.
#include "lb/l4/tcp_session.h"
#include "health/stream_connect.h"

#include <cstring>

#include "lb/core/tls_handshake_count.h"
#include "lb/io/access_log.h"
#include "lb/io/log.h"
#include "lb/io/net_util.h"
#include "lb/l4/proxy_protocol.h"
#include "lb/exchange/rate_limiter.h"
#include "lb/upstream/server_health.h"
#include "tls/connection.h"

namespace lb {

namespace {
// Stop reading a side while the other side has anything queued for writing;
// resume once that queue has drained. A peer that stops reading thus costs
// at most one read buffer (64 KiB) per direction; the kernel's socket
// buffers absorb the rest.
constexpr size_t kHighWater = 0;
constexpr size_t kLowWater = 1;
}  // namespace

TcpSession::Side TcpSession::other(Side s) { return s == kClient ? kBackend : kClient; }

// Each pooled buffer starts with the write request that will carry it, so a
// read → write hand-off needs no allocation at all.
struct alignas(16) TcpSession::WriteHeader {
  uv_write_t req;
  TcpSession* session;
  Side to;
};

void start_tcp_session(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, int fd) {
  TcpSession::start(worker, std::move(rt), listener, fd);
}

void TcpSession::start(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, int fd) {
  // Owned by its handles from here on: freed in on_handle_closed().
  auto* s = new TcpSession(worker, std::move(rt), listener);
  uv_tcp_init(worker.loop(), &s->client_);
  s->client_.data = s;
  ++s->open_handles_;
  uv_timer_init(worker.loop(), &s->timer_);
  s->timer_.data = s;
  ++s->open_handles_;
  if (!adopt_accepted(&s->client_, fd)) {
    s->close_all();
    return;
  }
  s->begin();
}

TcpSession::TcpSession(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener)
    : worker_(worker), rt_(std::move(rt)), listener_(listener) {
  pool_ = *this->listener().default_pool;  // conf/ requires a pool on tcp listeners
  start_ns_ = worker_.now_ns();
  ListenerLive& live = *this->listener().live;
  live.connections_active.fetch_add(1, std::memory_order_relaxed);
  live.connections_total.add(1);
  worker_.add_session(this);
}

TcpSession::~TcpSession() {
  attempts_.release();
  listener().live->connections_active.fetch_sub(1, std::memory_order_relaxed);
  worker_.remove_session(this);
}

void TcpSession::begin() {
  int len = sizeof client_addr_;
  uv_tcp_getpeername(&client_, reinterpret_cast<sockaddr*>(&client_addr_), &len);
  len = sizeof local_addr_;
  uv_tcp_getsockname(&client_, reinterpret_cast<sockaddr*>(&local_addr_), &len);
  uv_tcp_nodelay(&client_, 1);
  listener().live->requests_total.add(1);
  last_activity_ms_ = uv_now(worker_.loop());
  // With PROXY accepted, the header's source is the client: checked once read.
  if (!listener().config->proxy_protocol.accept && !admitted()) return;
  if (listener().tls) {
    // Terminate TLS first; the backend is chosen once the client proved it
    // speaks TLS, so garbage instead of a ClientHello costs no backend connection.
    std::string error;
    tls_ = tls::Connection::server(listener().tls, error);
    if (!tls_) {
      log_error("tls setup failed", {{"listener", listener().config->name}, {"reason", error}});
      close_all();
      return;
    }
    handshaking_ = true;
    uv_timer_start(&timer_, &TcpSession::timer_cb,
                   static_cast<uint64_t>(listener().config->timeouts.tls_handshake.count()), 0);
    start_reading(kClient);
    return;
  }
  if (listener().config->proxy_protocol.accept) {
    // The client (another proxy) speaks first: learn the real client address
    // before choosing a server, so ip_hash sees the right address.
    reading_proxy_header_ = true;
    arm_idle_timer();
    start_reading(kClient);
    return;
  }
  connect_next();
}

// The listener's access rule, per_client limits, then its rate limit (SPEC 11), for the client
// address: the socket's, or the PROXY header's source when the listener
// accepts one (so this runs once that header is read, and a PROXY-speaking
// front proxy is not limited as if it were one client). A refused client
// is closed at once.
bool TcpSession::admitted() {
  const auto* client = reinterpret_cast<const sockaddr*>(&client_addr_);
  if (const auto& access = listener().access; access && !access->admits(client)) {
    listener().live->access_denied_total.add(1);
    status_ = 403;
    close_all();
    return false;
  }
  if (const auto& per_client = listener().per_client; per_client && per_client->admit(client, worker_.now_ns(), per_client_slot_)) {
    listener().live->per_client_refused_total.add(1);
    status_ = 429;
    close_all();
    return false;
  }
  if (const auto& limiter = listener().rate_limiter) {
    uint32_t retry_after = 0;
    if (!limiter->allow(format_ip(client), worker_.now_ns(), retry_after)) {
      listener().live->rate_limited_total.add(1);
      status_ = 429;
      close_all();
      return false;
    }
  }
  return true;
}

void TcpSession::connect_next() {
  const conf::PoolConfig& pc = *pool().config;
  uint64_t hash = hash_client_ip(reinterpret_cast<const sockaddr*>(&client_addr_));
  const ServerRuntime* picked = attempts_.begin(*rt_, pool_, hash, worker_.now_ns());
  if (!picked) {
    log_warn("no server available", {{"listener", listener().config->name}, {"pool", pc.name}});
    if (status_ == 0) status_ = 503;
    close_all();
    return;
  }
  const ServerRuntime& server = *picked;

  uv_tcp_init(worker_.loop(), &backend_);
  backend_.data = this;
  backend_open_ = true;
  ++open_handles_;
  connecting_ = true;
  connect_start_ns_ = worker_.now_ns();
  connect_req_.data = this;
  int rc = health::stream_connect(&connect_req_, &backend_, reinterpret_cast<const sockaddr*>(&server.config->address.sockaddr),
                          &TcpSession::connect_cb);
  if (rc != 0) {
    connecting_ = false;
    connect_failed(uv_strerror(rc));
    return;
  }
  uv_timer_start(&timer_, &TcpSession::timer_cb, static_cast<uint64_t>(pc.timeouts.connect.count()), 0);
}

void TcpSession::connect_cb(uv_connect_t* req, int status) {
  auto* s = static_cast<TcpSession*>(req->data);
  if (!s->connecting_) return;  // timed out or closing: the handle is already being closed
  s->connecting_ = false;
  uv_timer_stop(&s->timer_);
  if (status != 0) {
    s->connect_failed(uv_strerror(status));
    return;
  }
  s->on_connected();
}

void TcpSession::connect_failed(const char* reason) {
  const conf::PoolConfig& pc = *pool().config;
  log_debug("backend connect failed", {{"listener", listener().config->name}, {"pool", pc.name},
                                       {"server", std::string(attempts_.server_name())}, {"reason", reason}});
  attempts_.fail(reason, worker_.now_ns());
  uint32_t allowed = 1 + (pc.retries.retries_on(conf::RetryOn::connect_failure) ? pc.retries.attempts : 0);
  status_ = 502;
  if (closing_) return;
  if (attempts_.count() < allowed) {
    retry_on_close_ = true;  // continue in the backend handle's close callback
  } else {
    close_all();
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&backend_), [](uv_handle_t* h) {
    auto* s = static_cast<TcpSession*>(h->data);
    s->backend_open_ = false;
    bool retry = s->retry_on_close_ && !s->closing_;
    s->retry_on_close_ = false;
    if (retry) {
      --s->open_handles_;
      s->connect_next();
    } else {
      s->on_handle_closed();
    }
  });
}

void TcpSession::on_connected() {
  connected_ = true;
  status_ = 200;
  report_outcome(pool(), *attempts_.server(), true, attempts_.trial(), worker_.now_ns());
  upstream_ms_ = static_cast<double>(worker_.now_ns() - connect_start_ns_) / 1e6;
  uv_tcp_nodelay(&backend_, 1);
  const auto& send = listener().config->proxy_protocol.send;
  if (send) {
    auto* src = reinterpret_cast<const sockaddr*>(&client_addr_);
    auto* dst = reinterpret_cast<const sockaddr*>(&local_addr_);
    std::string header = *send == conf::ProxyProtocolVersion::v1 ? proxy_protocol::encode_v1(src, dst)
                                                                  : proxy_protocol::encode_v2(src, dst);
    pending_.insert(0, header);
  }
  if (!pending_.empty()) {
    write_copy(kBackend, pending_.data(), pending_.size());
    pending_.clear();
    pending_.shrink_to_fit();
  }
  if (dir_[kClient].read_eof) maybe_shutdown(kBackend);
  else start_reading(kClient);
  start_reading(kBackend);
  arm_idle_timer();
}

void TcpSession::start_reading(Side s) {
  if (dir_[s].reading || dir_[s].read_eof || closing_) return;
  dir_[s].reading = true;
  uv_read_start(stream(s), &TcpSession::alloc_cb, &TcpSession::read_cb);
}

void TcpSession::alloc_cb(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* s = static_cast<TcpSession*>(handle->data);
  char* block = s->worker_.buffers().get();
  buf->base = block ? block + sizeof(WriteHeader) : nullptr;
  buf->len = block ? BufferPool::kBufferSize - sizeof(WriteHeader) : 0;
}

void TcpSession::read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* s = static_cast<TcpSession*>(stream->data);
  Side from = stream == s->stream(kClient) ? kClient : kBackend;
  if (s->reading_proxy_header_) s->on_read_proxy_header(nread, buf);
  else s->on_read(from, nread, buf);
}

void TcpSession::on_read(Side from, ssize_t nread, const uv_buf_t* buf) {
  char* block = buf->base ? buf->base - sizeof(WriteHeader) : nullptr;
  if (nread > 0 && tls_) {
    on_read_tls(from, buf->base, static_cast<size_t>(nread));
    worker_.buffers().put(block);
    return;
  }
  if (nread > 0) {
    last_activity_ms_ = uv_now(worker_.loop());
    size_t n = static_cast<size_t>(nread);
    if (from == kClient) {
      bytes_from_client_ += n;
      listener().live->bytes_in.add(n);
      if (const ServerRuntime* s = attempts_.server()) s->live->bytes_out.add(n);
    } else {
      bytes_to_client_ += n;
      listener().live->bytes_out.add(n);
      if (const ServerRuntime* s = attempts_.server()) s->live->bytes_in.add(n);
    }
    Side to = other(from);
    if (!write_to(to, block, n)) return;
    if (uv_stream_get_write_queue_size(stream(to)) > kHighWater && dir_[from].reading) {
      uv_read_stop(stream(from));  // backpressure: resume in on_write_done
      dir_[from].reading = false;
    }
    return;
  }
  worker_.buffers().put(block);
  if (nread == 0) return;  // EAGAIN: not EOF
  if (nread == UV_EOF) {
    dir_[from].read_eof = true;
    dir_[from].reading = false;
    uv_read_stop(stream(from));
    maybe_shutdown(other(from));
    return;
  }
  close_all();  // reset or other error: nothing sensible to pass on
}

// TLS listener: client bytes are ciphertext to decrypt; backend bytes are
// plaintext to encrypt. Both leave through write_copy, so the backpressure
// rules are the same as for plain sessions.
void TcpSession::on_read_tls(Side from, const char* data, size_t len) {
  last_activity_ms_ = uv_now(worker_.loop());
  if (from == kBackend) {
    bytes_to_client_ += len;
    listener().live->bytes_out.add(len);
    if (const ServerRuntime* s = attempts_.server()) s->live->bytes_in.add(len);
    if (!tls_->write_plain(data, len)) {
      close_all();
      return;
    }
    flush_tls();
    if (uv_stream_get_write_queue_size(stream(kClient)) > kHighWater && dir_[kBackend].reading) {
      uv_read_stop(stream(kBackend));
      dir_[kBackend].reading = false;
    }
    return;
  }
  listener().live->bytes_in.add(len);
  const bool was_handshaking = !tls_->handshake_done();
  auto st = tls_->on_encrypted_input(data, len);
  if (was_handshaking) count_tls_handshake(listener().live->tls_handshakes, *tls_, st);
  flush_tls();
  std::string_view plain = tls_->plaintext();
  if (!plain.empty()) {
    bytes_from_client_ += plain.size();
    if (const ServerRuntime* s = attempts_.server()) s->live->bytes_out.add(plain.size());
    if (connected_) write_copy(kBackend, plain.data(), plain.size());
    else pending_.append(plain);
    tls_->consume_plaintext(plain.size());
  }
  if (closing_) return;
  if (st == tls::Connection::Status::error) {
    log_debug("tls error", {{"listener", listener().config->name}, {"reason", std::string(tls_->error_reason())}});
    close_all();
    return;
  }
  if (st == tls::Connection::Status::handshake_done && handshaking_) {
    handshaking_ = false;
    uv_timer_stop(&timer_);
    connect_next();
    if (closing_) return;
  }
  if (st == tls::Connection::Status::closed) {  // close_notify: the client's EOF
    dir_[kClient].read_eof = true;
    dir_[kClient].reading = false;
    uv_read_stop(stream(kClient));
    if (connected_) maybe_shutdown(kBackend);
    return;
  }
  if (!connected_ && pending_.size() > kHighWater && dir_[kClient].reading) {
    uv_read_stop(stream(kClient));  // resumes in on_connected
    dir_[kClient].reading = false;
  } else if (connected_ && uv_stream_get_write_queue_size(stream(kBackend)) > kHighWater && dir_[kClient].reading) {
    uv_read_stop(stream(kClient));
    dir_[kClient].reading = false;
  }
}

void TcpSession::flush_tls() {
  if (tls_->pending_encrypted() == 0) return;
  std::string_view out = tls_->encrypted_output();
  write_copy(kClient, out.data(), out.size());
  tls_->consume_encrypted(out.size());
}

void TcpSession::on_read_proxy_header(ssize_t nread, const uv_buf_t* buf) {
  char* block = buf->base ? buf->base - sizeof(WriteHeader) : nullptr;
  if (nread > 0) pending_.append(buf->base, static_cast<size_t>(nread));
  worker_.buffers().put(block);
  if (nread == 0) return;
  if (nread < 0) {
    close_all();
    return;
  }
  auto r = proxy_protocol::parse(pending_.data(), pending_.size());
  if (r.status == proxy_protocol::ParseResult::Status::incomplete) return;
  if (r.status == proxy_protocol::ParseResult::Status::invalid) {
    log_warn("invalid PROXY protocol header", {{"listener", listener().config->name},
                                               {"client", format_address(reinterpret_cast<sockaddr*>(&client_addr_))}});
    status_ = 400;
    close_all();
    return;
  }
  if (r.has_addresses) {
    client_addr_ = r.src;
    local_addr_ = r.dst;
  }
  pending_.erase(0, r.consumed);
  reading_proxy_header_ = false;
  if (!admitted()) return;
  dir_[kClient].reading = false;
  uv_read_stop(stream(kClient));  // resume once the backend is connected
  connect_next();
}

bool TcpSession::write_to(Side to, char* block, size_t len) {
  uv_buf_t wb = uv_buf_init(block + sizeof(WriteHeader), static_cast<unsigned>(len));
  // Most writes complete at once: no request, no callback, no poll change.
  // (uv_try_write refuses while earlier writes are queued, keeping order.)
  int n = uv_try_write(stream(to), &wb, 1);
  if (n == static_cast<int>(len)) {
    worker_.buffers().put(block);
    return true;
  }
  if (n > 0) {
    wb.base += n;
    wb.len -= static_cast<size_t>(n);
  } else if (n != UV_EAGAIN) {
    worker_.buffers().put(block);
    close_all();
    return false;
  }
  auto* h = reinterpret_cast<WriteHeader*>(block);
  h->session = this;
  h->to = to;
  h->req.data = h;
  int rc = uv_write(&h->req, stream(to), &wb, 1, &TcpSession::write_cb);
  if (rc != 0) {
    worker_.buffers().put(block);
    close_all();
    return false;
  }
  return true;
}

void TcpSession::write_copy(Side to, const char* data, size_t len) {
  const size_t room = BufferPool::kBufferSize - sizeof(WriteHeader);
  while (len > 0 && !closing_) {
    size_t n = len < room ? len : room;
    char* block = worker_.buffers().get();
    memcpy(block + sizeof(WriteHeader), data, n);
    if (!write_to(to, block, n)) return;
    data += n;
    len -= n;
  }
}

void TcpSession::write_cb(uv_write_t* req, int status) {
  auto* h = static_cast<WriteHeader*>(req->data);
  TcpSession* s = h->session;
  Side to = h->to;
  s->worker_.buffers().put(reinterpret_cast<char*>(h));
  s->on_write_done(to, status);
}

void TcpSession::on_write_done(Side to, int status) {
  if (closing_) return;
  if (status != 0) {
    close_all();
    return;
  }
  Side from = other(to);
  if (!dir_[from].reading && !dir_[from].read_eof && connected_ &&
      uv_stream_get_write_queue_size(stream(to)) < kLowWater)
    start_reading(from);
}

// Passes EOF read from the other side on to `to` once (uv_shutdown waits for queued writes).
void TcpSession::maybe_shutdown(Side to) {
  Side from = other(to);
  if (!dir_[from].read_eof || dir_[from].shutdown_sent || closing_) return;
  if (to == kBackend && !connected_) {
    close_all();  // client gave up before we reached a server
    return;
  }
  dir_[from].shutdown_sent = true;
  if (to == kClient && tls_) {
    tls_->shutdown();  // close_notify, queued before the TCP FIN
    flush_tls();
  }
  shutdown_req_[to].data = this;
  int rc = uv_shutdown(&shutdown_req_[to], stream(to), &TcpSession::shutdown_cb);
  if (rc != 0) close_all();
}

void TcpSession::shutdown_cb(uv_shutdown_t* req, int status) {
  auto* s = static_cast<TcpSession*>(req->data);
  if (s->closing_) return;
  Side to = req == &s->shutdown_req_[kClient] ? kClient : kBackend;
  s->dir_[other(to)].done = true;
  if (status != 0 || (s->dir_[kClient].done && s->dir_[kBackend].done)) s->close_all();
}

void TcpSession::arm_idle_timer() {
  uint64_t idle = static_cast<uint64_t>(listener().config->timeouts.client_idle.count());
  uv_timer_start(&timer_, &TcpSession::timer_cb, idle, 0);
}

void TcpSession::timer_cb(uv_timer_t* timer) {
  auto* s = static_cast<TcpSession*>(timer->data);
  if (s->handshaking_) {
    log_debug("tls handshake timeout", {{"listener", s->listener().config->name}});
    count_tls_handshake_timeout(s->listener().live->tls_handshakes);
    s->close_all();
    return;
  }
  if (s->connecting_) {
    s->connecting_ = false;  // connect_cb will see ECANCELED and ignore it
    s->connect_failed("connect timeout");
    return;
  }
  // Idle timer: re-armed lazily so a busy session does not touch the timer per read.
  uint64_t idle = static_cast<uint64_t>(s->listener().config->timeouts.client_idle.count());
  uint64_t quiet = uv_now(s->worker_.loop()) - s->last_activity_ms_;
  if (quiet >= idle) {
    log_debug("tcp session idle timeout", {{"listener", s->listener().config->name}});
    s->close_all();
    return;
  }
  uv_timer_start(&s->timer_, &TcpSession::timer_cb, idle - quiet, 0);
}

void TcpSession::close_all() {
  if (closing_) return;
  closing_ = true;
  connecting_ = false;
  auto close = [this](uv_handle_t* h) {
    if (!uv_is_closing(h)) uv_close(h, [](uv_handle_t* handle) { static_cast<TcpSession*>(handle->data)->on_handle_closed(); });
  };
  close(reinterpret_cast<uv_handle_t*>(&timer_));
  close(reinterpret_cast<uv_handle_t*>(&client_));
  if (backend_open_) close(reinterpret_cast<uv_handle_t*>(&backend_));
}

void TcpSession::on_handle_closed() {
  if (--open_handles_ > 0 || !closing_) return;
  write_access_log();
  listener().live->count_status(status_ == 0 ? 502 : status_);
  delete this;
}

void TcpSession::write_access_log() {
  if (!Logger::instance().access_enabled()) return;
  const auto* client_sa = reinterpret_cast<const sockaddr*>(&client_addr_);
  std::string client = format_ip(client_sa);
  AccessRecord r;
  r.listener = listener().config->name;
  r.client = client;
  r.client_port = port_of(client_sa);
  r.protocol = "TCP";
  if (tls_ && tls_->handshake_done()) r.tls = tls_->version();
  r.method = "TCP";  // path stays null: a TCP session has none
  r.status = status_ == 0 ? 502 : status_;
  r.bytes_in = bytes_from_client_;
  r.bytes_out = bytes_to_client_;
  r.duration_ms = static_cast<double>(worker_.now_ns() - start_ns_) / 1e6;
  r.pool = pool().config->name;
  if (!attempts_.server_name().empty()) r.server = attempts_.server_name();
  r.attempts = attempts_.count();
  r.upstream_ms = upstream_ms_;
  append_access_record(worker_.access_log().line(), r);
  worker_.access_log().line_done();
}

}  // namespace lb
