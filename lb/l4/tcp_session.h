// lb/l4/tcp_session.h — an L4 (protocol "tcp") client session: one client
// connection spliced to one backend connection.
//
// Ownership: the session owns itself from accept until its last handle's close
// callback (it is freed there). All methods run on the owning worker's thread.
// Bytes are forwarded in pooled buffers handed from the read on one side to the
// write on the other (no copy); reading a side stops while the other side's
// write queue is above kHighWater, so a slow reader bounds lb's memory.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "lb/io/recycled.h"
#include "lb/security/per_client.h"
#include "lb/upstream/attempt.h"
#include "lb/upstream/selection.h"
#include "lb/core/worker.h"

namespace lb {

namespace tls { class Connection; }

class TcpSession final : public Session, public Recycled<TcpSession> {
 public:
  static void start(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, int fd);
  void on_worker_stopping() override {}  // sessions finish on their own (or at shutdown_timeout)

 private:
  enum Side : uint8_t { kClient = 0, kBackend = 1 };
  struct Direction {    // bytes read from `side` and written to the other side
    bool reading = false;
    bool read_eof = false;       // got EOF from this side
    bool shutdown_sent = false;  // EOF passed on to the other side
    bool done = false;           // EOF passed on and acknowledged
  };
  static Side other(Side s);
  struct WriteHeader;  // prefix of each pooled buffer: the uv_write_t and its bookkeeping

  TcpSession(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener);
  ~TcpSession() override;

  const ListenerRuntime& listener() const { return rt_->runtime().listeners[listener_]; }
  const PoolRuntime& pool() const { return rt_->runtime().pools[pool_]; }
  uv_stream_t* stream(Side s) { return reinterpret_cast<uv_stream_t*>(s == kClient ? &client_ : &backend_); }

  void begin();
  void connect_next();
  // False (and the session closing) when the listener's access rule or rate limit refuses the client.
  bool admitted();
  void on_connected();
  void connect_failed(const char* reason);
  void start_reading(Side s);
  void on_read(Side from, ssize_t nread, const uv_buf_t* buf);
  void on_read_proxy_header(ssize_t nread, const uv_buf_t* buf);
  void on_read_tls(Side from, const char* data, size_t len);
  void flush_tls();
  bool write_to(Side to, char* block, size_t len);  // takes ownership of the pooled block
  void write_copy(Side to, const char* data, size_t len);
  void on_write_done(Side to, int status);
  void maybe_shutdown(Side to);
  void arm_idle_timer();
  void close_all();
  void on_handle_closed();
  void write_access_log();

  static void alloc_cb(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void write_cb(uv_write_t* req, int status);
  static void connect_cb(uv_connect_t* req, int status);
  static void shutdown_cb(uv_shutdown_t* req, int status);
  static void timer_cb(uv_timer_t* timer);

  Worker& worker_;
  std::shared_ptr<WorkerRuntime> rt_;
  uint32_t listener_;
  uint32_t pool_;

  uv_tcp_t client_{};
  uv_tcp_t backend_{};
  uv_timer_t timer_{};  // connect timeout, then client_idle
  uv_connect_t connect_req_{};
  uv_shutdown_t shutdown_req_[2]{};
  Direction dir_[2];   // indexed by the side bytes come from
  int open_handles_ = 0;
  bool backend_open_ = false;
  bool connecting_ = false;
  bool connected_ = false;
  bool retry_on_close_ = false;  // the backend handle is closing after a failed try
  bool closing_ = false;
  bool reading_proxy_header_ = false;
  bool handshaking_ = false;
  std::unique_ptr<tls::Connection> tls_;  // set on TLS listeners

  sockaddr_storage client_addr_{};
  sockaddr_storage local_addr_{};
  ConnectionSlot per_client_slot_;  // held while open when per_client.max_connections counts
  std::string pending_;  // PROXY header bytes and client bytes read before the backend connected

  ServerAttempts attempts_;  // the servers tried; the current one counted active
  int status_ = 0;             // access-log status: 200 proxied, 502 connect failed, 503 no server
  uint64_t start_ns_ = 0;
  uint64_t connect_start_ns_ = 0;
  double upstream_ms_ = -1;
  uint64_t last_activity_ms_ = 0;
  uint64_t bytes_from_client_ = 0;
  uint64_t bytes_to_client_ = 0;
};

}  // namespace lb
