// lb/http1/http_session.h — one client connection on a protocol "http" listener:
// HTTP/1.1 reverse proxying with keep-alive, pipelining (answered in order,
// one exchange at a time), streamed bodies, retries before any response byte
// reached the client, lb's own error responses (SPEC section 7), WebSocket
// tunnelling after a 101, and the per-request access log line.
//
// Ownership: the session owns itself from accept until its client handle and
// timer are closed. It borrows a BackendConn for each exchange and gives it
// back to the worker's ConnPool when the server keeps it alive. Runs on the
// owning worker's thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "lb/upstream/backend_conn.h"
#include "lb/http1/http_parser.h"
#include "lb/io/net_util.h"
#include "lb/io/recycled.h"
#include "lb/upstream/selection.h"
#include "lb/io/stream_writer.h"
#include "lb/core/worker.h"

namespace lb {

namespace tls { class Connection; }

class HttpSession final : public Session, public http::RequestHandler, public BackendOwner, public Recycled<HttpSession> {
 public:
  static void start(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, int fd);
  void on_worker_stopping() override;

 private:
  enum class Phase {
    idle,         // between requests (client_idle)
    head,         // a request head is arriving (request_header deadline)
    dispatching,  // head parsed: choosing and connecting a server
    backoff,      // waiting before a retry
    exchanging,   // request forwarded / response streaming
    tunnel,       // after 101: raw bytes both ways
    closing,
  };

  HttpSession(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener);
  ~HttpSession() override;

  const ListenerRuntime& listener() const { return rt_->runtime().listeners[listener_]; }
  const PoolRuntime& pool() const { return rt_->runtime().pools[pool_]; }
  uv_stream_t* client() { return reinterpret_cast<uv_stream_t*>(&client_); }
  // Once closing, nothing may parse, dispatch or write on this session: its
  // handles are being closed and it is freed in their last close callback.
  bool closing() const { return phase_ == Phase::closing; }

  // Client side.
  static void on_client_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_client_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_timer(uv_timer_t* t);
  void begin();
  void read_first_request();
  void handle_client_data(const char* data, size_t len);
  void handle_client_ciphertext(const char* data, size_t len);
  void flush_tls();
  void parse_input();
  size_t feed_parser(const char* data, size_t len);
  bool may_parse() const;
  bool in_request() const { return parser_ && parser_->in_message(); }
  void release_idle_parser();
  void start_client_reading();
  void stop_client_reading();
  void arm_timer(uint64_t ms);
  void disarm_timer() { deadline_ms_ = 0; }
  void write_client(const uv_buf_t* bufs, size_t n);
  void write_client(std::string_view s);
  void send_error(int status, std::string_view message, bool close_after, uint32_t retry_after_s = 0);
  void finish_exchange();
  void close_session();
  void maybe_close_after_flush();

  // http::RequestHandler
  http::Flow on_request_head(const http::RequestHead& head) override;
  void on_request_body(std::string_view data) override;
  void on_request_complete() override;

  // Exchange.
  void dispatch();
  void connect_server(const ServerRuntime& server);
  void use_connection(BackendConn* conn);
  bool retry_stale_connection();
  bool reject_upgrade(const http::ResponseHead& head);
  void send_request_head();
  void write_backend(const uv_buf_t* bufs, size_t n);
  void backend_failed(const char* reason, conf::RetryOn condition);
  void backend_failed_status(conf::RetryOn condition);
  bool schedule_retry(conf::RetryOn condition);
  bool retry_possible() const;
  int failure_status(conf::RetryOn condition) const;
  static const char* failure_message(int status);
  bool another_try_possible() const;
  uint64_t next_random();
  void release_server(bool success);
  void drop_backend();
  void write_access_log();
  void log_unfinished_exchange();
  const http::RequestHead* logged_head() const;
  std::string_view request_id();

  // BackendOwner
  void on_backend_connected(int status) override;
  void on_backend_interim(const http::ResponseHead& head) override;
  void on_backend_head(const http::ResponseHead& head) override;
  void on_backend_body(std::string_view data) override;
  void on_backend_complete() override;
  void on_backend_error(const char* reason, bool reset) override;
  void on_backend_tunnel_data(const char* data, size_t len) override;
  void on_backend_tunnel_eof() override;
  void on_backend_read_done() override;
  uv_buf_t pending_head_buf();
  void flush_response_head();
  // WriteSink
  void on_write_done(uv_stream_t* stream, int status) override;

  Worker& worker_;
  std::shared_ptr<WorkerRuntime> rt_;
  uint32_t listener_;
  uint32_t pool_ = 0;
  uv_tcp_t client_{};
  uv_timer_t timer_{};
  uint64_t deadline_ms_ = 0;  // loop time (uv_now) of the current deadline; 0: none
  int open_handles_ = 0;
  Phase phase_ = Phase::idle;
  // Borrowed from the worker's pool while a request is being read or
  // answered; an idle connection holds none (see lb/http1/request_parser_pool.h).
  std::unique_ptr<http::RequestParser> parser_;
  static constexpr size_t kMaxBufferedInput = 64 * 1024;
  std::string in_;         // client bytes not yet consumed by the parser (usually empty)
  bool parsing_ = false;   // inside feed_parser(): callbacks must not feed again
  bool parser_paused_ = false;
  bool have_head_ = false; // parser_.head() belongs to the current exchange
  unsigned client_pending_ = 0;
  bool client_reading_ = false;
  bool client_eof_ = false;
  bool close_after_flush_ = false;
  bool stopping_ = false;

  std::unique_ptr<tls::Connection> tls_;  // set on TLS listeners
  std::string client_cert_subject_;       // verified mTLS subject, forwarded as X-Client-Cert-Subject
  // The client's address is looked up (getpeername) and formatted only when
  // something needs it: forwarded headers, ip hashing, rate limiting by IP,
  // logs. A plain proxied request needs neither.
  const PeerAddress& client_addr();
  std::string_view client_ip();
  PeerAddress client_addr_{};
  bool have_client_addr_ = false;
  std::string client_ip_;

  // Current exchange.
  BackendConn* conn_ = nullptr;
  int64_t server_ = -1;           // index into pool().servers while counted active
  std::string_view server_name_;  // last server tried (a view into the runtime's config, which the session holds)
  TriedSet tried_;
  uint32_t attempts_ = 0;
  bool trial_ = false;            // half-open circuit trial for the current try
  int last_failure_status_ = 502;
  uint64_t random_state_ = 0;     // backoff jitter (seeded per session)
  bool request_done_ = false;     // request fully read from the client
  bool request_sent_ = false;     // head written to the backend
  uint64_t request_body_sent_ = 0;
  bool response_started_ = false; // a byte of the response reached the client
  bool response_done_ = false;
  bool client_keep_alive_ = false;
  bool chunk_response_ = false;   // re-chunking the response body towards the client
  bool head_pending_ = false;     // response head in worker_.response_head(), not yet written
  bool chunk_request_ = false;
  bool is_head_ = false;
  int status_ = 0;
  uint64_t hash_ = 0;
  uint64_t exchange_start_ns_ = 0;
  uint64_t sent_ns_ = 0;
  double upstream_ms_ = -1;
  uint64_t bytes_in_ = 0;   // this request, from the client
  uint64_t bytes_out_ = 0;  // this response, to the client
  bool logged_ = false;     // this exchange's access line is written
  bool aborted_ = false;    // the response was cut short (logged as "aborted": true)
  bool pool_chosen_ = false;  // a route chose pool_ for this request
  // A request that fails on a reused server connection before any response
  // byte is replayed once on a fresh connection to the same server (the
  // server closed an idle connection as we reused it). Its body bytes sent
  // so far are kept for that, up to kMaxReplayBytes.
  static constexpr size_t kMaxReplayBytes = 64 * 1024;
  bool stale_retried_ = false;
  bool capture_body_ = false;
  bool replay_overflow_ = false;
  std::string replay_body_;
  std::string_view request_id_;  // the client's X-Request-Id, or generated_id_
  char generated_id_[33] = {};
};

}  // namespace lb
