// lb/upstream/backend_conn.h — one HTTP connection to a backend server.
//
// Ownership: a BackendConn owns itself (freed in its close callback). At any
// time it is either attached to one owner (an HTTP session using it for an
// exchange) or idle in the worker's ConnPool. While idle it keeps reading so
// that a server closing the connection (or sending stray bytes) is noticed
// at once and the connection is dropped instead of being handed to a request.
// Runs on its worker's thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "lb/http1/http_parser.h"
#include "lb/core/live_state.h"
#include "lb/io/stream_writer.h"

namespace lb {

namespace tls { class ClientContext; class Connection; }
class Worker;
class ConnPool;
class BackendConn;

// What an HTTP session hears from its backend connection.
class BackendOwner : public WriteSink {
 public:
  virtual void on_backend_connected(int status) = 0;
  virtual void on_backend_interim(const http::ResponseHead& head) = 0;
  virtual void on_backend_head(const http::ResponseHead& head) = 0;
  virtual void on_backend_body(std::string_view data) = 0;
  virtual void on_backend_complete() = 0;
  // The connection failed before the response completed (reset, EOF, bad
  // response). `reason` is static text. The connection is already closing.
  virtual void on_backend_error(const char* reason, bool reset) = 0;
  virtual void on_backend_tunnel_data(const char* data, size_t len) = 0;  // after a 101
  virtual void on_backend_tunnel_eof() = 0;
  // Everything from one socket read has been delivered (flush coalesced writes).
  virtual void on_backend_read_done() = 0;
};

// Pending writes report to the BackendConn itself (not to the session that
// issued them): when a connection is closed, libuv cancels its queued writes
// in the handle's own close path, after the session may already be gone, so
// only the connection — alive until its close callback — may receive them.
// It forwards completions to its current owner, if any.
class BackendConn final : public http::ResponseHandler, public WriteSink {
 public:
  // Starts connecting to `address`; reports through owner->on_backend_connected.
  // Returns null (and sets rc) when the connect cannot even start.
  // With `tls`, the connection speaks TLS to the server (SNI/verification
  // name `host`, sessions cached under `session_key`); writes made before
  // the handshake completes are queued by the TLS layer.
  static BackendConn* connect(Worker& worker, std::shared_ptr<ServerLive> server, const sockaddr* address,
                              BackendOwner* owner, int& rc, std::shared_ptr<const tls::ClientContext> tls = nullptr,
                              std::string_view host = {}, std::string session_key = {});

  // Writes request bytes (encrypting when TLS). Completions reach the owner's
  // on_write_done. Returns a libuv error (< 0) on failure.
  int write(const uv_buf_t* bufs, size_t count);

  void attach(BackendOwner* owner);  // taken from the pool for a new exchange
  void expect_response(llhttp_method_t method) { parser_.expect(method); }
  void become_tunnel(const char* leftover, size_t len);  // after a 101 was forwarded
  void pause_reading();
  void resume_reading();
  void close();  // idempotent; detaches the owner (no more callbacks)

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  ServerLive* server() const { return server_.get(); }
  bool reused() const { return exchanges_ > 0; }
  // A byte of the current exchange's response arrived (a reused connection
  // that fails before this was stale: the request may be replayed).
  bool response_bytes_seen() const { return response_bytes_seen_; }
  bool closing() const { return closing_; }
  // Trailer fields of the response that just completed, or null (valid in
  // BackendOwner::on_backend_complete).
  const http::Headers* trailers() { return parser_.trailers(); }
  unsigned& pending_writes() { return pending_writes_; }
  // Reusable after the response completed: server keeps it alive, nothing queued.
  bool reusable() const;

  // Pool bookkeeping.
  uint64_t idle_since_ms = 0;
  uint64_t idle_timeout_ms = 0;
  ConnPool* pool = nullptr;  // set while parked in a pool; close() unlinks it
  void go_idle();  // called by ConnPool: keep reading to notice a server close
  // Called by ConnPool before handing an idle connection out: false (and the
  // connection is closed) when the server sent bytes or closed meanwhile.
  // Looks at the socket (one system call) only when the connection has been
  // idle for kPeekAfterIdleMs before `now_ms` or its last response had no
  // body (see backend_conn.cpp).
  bool still_idle(uint64_t now_ms);
  static constexpr uint64_t kPeekAfterIdleMs = 1000;

 private:
  BackendConn(Worker& worker, std::shared_ptr<ServerLive> server);
  ~BackendConn() override;
  void handle_ciphertext(const char* data, size_t len);
  int flush_tls();
  bool finish_close_delimited();

  // http::ResponseHandler
  void on_interim_response(const http::ResponseHead& head) override;
  void on_response_head(const http::ResponseHead& head) override;
  void on_response_body(std::string_view data) override;
  void on_response_complete() override;

  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  void handle_data(const char* data, size_t len);
  [[gnu::cold]] void fail(const char* reason, bool reset);
  void complete_response();
  // WriteSink
  void on_write_done(uv_stream_t* stream, int status) override;

  Worker& worker_;
  std::shared_ptr<ServerLive> server_;
  uv_tcp_t tcp_{};
  uv_connect_t connect_req_{};
  http::ResponseParser parser_;
  BackendOwner* owner_ = nullptr;
  std::shared_ptr<const tls::ClientContext> tls_ctx_;
  std::string tls_host_, tls_session_key_;
  std::unique_ptr<tls::Connection> tls_;
  unsigned pending_writes_ = 0;
  uint32_t exchanges_ = 0;
  bool connected_ = false;
  bool reading_ = false;
  bool tunnel_ = false;
  bool response_done_ = false;
  bool response_bytes_seen_ = false;
  bool keep_alive_ = false;
  bool closing_ = false;
  bool peek_before_reuse_ = false;  // the last response had no body (ResponseHead::has_body)
};

}  // namespace lb
