// lb/http1/connection.h — one client connection on a protocol "http"
// listener, and its HTTP/1.1 codec: TLS termination, request parsing
// (llhttp), keep-alive, pipelining (answered in order, one exchange at a
// time), response framing (re-chunking, Connection header), lb's own error
// responses (SPEC section 7), WebSocket tunnelling after a 101, and the
// connection's deadlines. Each request is an Exchange (lb/exchange/), which
// this codec drives and serves as its ClientStream.
//
// A connection that negotiates ALPN "h2", or starts with the HTTP/2 preface
// on a listener with http2.cleartext, hands its bytes to an HTTP/2 codec
// (lb/http2/) instead; the socket, TLS and deadlines stay here.
//
// Ownership: the connection owns itself from accept until its client handle
// and timer are closed, and owns its current Exchange (or its HTTP/2 codec).
// Runs on the owning worker's thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "lb/core/worker.h"
#include "lb/exchange/client_stream.h"
#include "lb/exchange/exchange.h"
#include "lb/http1/http_parser.h"
#include "lb/http2/transport.h"
#include "lb/io/net_util.h"
#include "lb/io/recycled.h"
#include "lb/io/stream_writer.h"
#include "lb/security/per_client.h"

namespace lb {

namespace tls { class Connection; }
namespace http2 { class Session; }

// Named for what it is to the worker (the connection of an http listener);
// its own codec is HTTP/1.1.
class HttpConnection final : public Session,
                              public http::RequestHandler,
                              public ClientStream,
                              public WriteSink,
                              public http2::Transport,
                              public Recycled<HttpConnection> {
 public:
  static void start(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, int fd);
  void on_worker_stopping() override;
  void on_runtime_replaced() override;

 private:
  enum class Phase {
    idle,      // between requests (client_idle)
    head,      // a request head is arriving (request_header deadline)
    exchange,  // a request is being answered (the Exchange has the details)
    http2,     // the connection speaks HTTP/2 (http2_ has the details)
    closing,
  };

  HttpConnection(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener);
  ~HttpConnection() override;

  const ListenerRuntime& listener() const { return rt_->runtime().listeners[listener_]; }
  uv_stream_t* client() { return reinterpret_cast<uv_stream_t*>(&client_); }
  // Once closing, nothing may parse, dispatch or write on this connection:
  // its handles are being closed and it is freed in their last close callback.
  bool closing() const { return phase_ == Phase::closing; }
  bool tunnel() const { return in_exchange_ && exchange_.phase() == Exchange::Phase::tunnel; }

  // Socket and TLS.
  static void on_client_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_client_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_timer(uv_timer_t* t);
  void on_deadline();
  void begin();
  void read_first_request();
  void on_client_eof(ssize_t nread);
  void handle_client_data(const char* data, size_t len);
  void handle_client_ciphertext(const char* data, size_t len);
  void flush_tls();
  void start_client_reading();
  void stop_client_reading();
  void arm_timer(uint64_t ms);
  void disarm_timer() { deadline_ms_ = 0; }
  void ensure_timer(uint64_t due_ms);
  void fire_within(uint64_t ms);
  void rearm_timer();
  // Slow clients (SPEC 11): the request body's idle clock and the send clock.
  bool body_pending() const;
  void note_body_progress() {
    if (body_since_ms_ != 0) body_since_ms_ = uv_now(worker_.loop());
  }
  [[nodiscard]] bool check_body(uint64_t now);
  // After every write and write completion; out of line only when bytes
  // wait (write_queue_size is libuv's documented read-only field).
  void note_send_queue(bool progressed) {
    if (send_since_ms_ != 0 || client_.write_queue_size != 0) track_send_queue(progressed);
  }
  void track_send_queue(bool progressed);
  [[nodiscard]] bool check_send(uint64_t now);
  uint64_t client_bytes_acked();
  void write_client(const uv_buf_t* bufs, size_t n);
  void write_client(std::string_view s);
  void close_session();
  void maybe_close_after_flush();
  void linger();
  // WriteSink (client writes)
  void on_write_done(uv_stream_t* stream, int status) override;

  // HTTP/2 hand-over and the codec's Transport (lb/http1/connection_http2.cpp).
  bool wants_http2(const char* data, size_t len) const;
  void start_http2(const char* data, size_t len);
  void write_bytes(const uv_buf_t* bufs, size_t n) override { write_client(bufs, n); }
  bool write_queued() const override { return output_blocked(); }
  void arm_deadline(uint64_t ms) override {
    if (!lingering_) arm_timer(ms);  // the codec's deadlines end with the lingering close
  }
  void close_after_flush() override;
  void close_now() override { close_session(); }
  const PeerAddress& peer_address() override { return client_address(); }
  std::string_view peer_ip() override { return client_ip(); }
  std::string_view peer_cert_subject() const override { return client_cert_subject_; }
  std::string_view negotiated_tls_version() const override { return tls_version(); }
  std::string_view negotiated_tls_sni() const override { return tls_sni(); }
  bool over_tls() const override { return tls_ != nullptr; }
  uint32_t per_client_refusal() const override { return per_client_refusal_; }

  // HTTP/1.1 request side.
  void parse_input();
  size_t feed_parser(const char* data, size_t len);
  bool may_parse() const;
  bool in_request() const { return parser_ && parser_->in_message(); }
  void begin_exchange();
  void release_idle_parser();
  http::Flow on_request_head(const http::RequestHead& head) override;
  void on_request_body(std::string_view data) override;
  void on_request_complete() override;

  // ClientStream (the current exchange), lb/http1/connection_response.cpp.
  void send_interim(const http::ResponseHead& head) override;
  void send_response_head(const http::ResponseHead& head) override;
  void send_response_body(std::string_view data) override;
  void send_response_end(const http::Headers* trailers) override;
  void flush_response() override;
  void send_local_response(const LocalResponse& response) override;
  void abort_response() override;
  bool output_blocked() const override;
  void want_request_body() override;
  void pause_request_body() override { stop_client_reading(); }
  void resume_request_body() override { start_client_reading(); }
  void watch_client() override { start_client_reading(); }
  void start_tunnel() override;
  void send_tunnel_data(std::string_view data) override;
  void end_tunnel() override;
  void exchange_complete() override;
  void arm_exchange_timer(uint64_t ms) override { arm_timer(ms); }
  void disarm_exchange_timer() override { disarm_timer(); }
  bool stopping() const override { return stopping_; }
  const PeerAddress& client_address() override;
  std::string_view client_ip() override;
  std::string_view client_cert_subject() const override { return client_cert_subject_; }
  std::string_view tls_version() const override;
  std::string_view tls_sni() const override;
  std::string_view protocol_name() const override;
  bool is_tls() const override { return tls_ != nullptr; }
  uv_buf_t pending_head_buf();

  Worker& worker_;
  std::shared_ptr<WorkerRuntime> rt_;
  uint32_t listener_;
  uv_tcp_t client_{};
  uv_timer_t timer_{};
  // The one uv timer serves three clocks (see arm_timer): the phase's
  // deadline, the request body's idle clock and the send clock. The last two
  // only store a loop time when there is progress; the timer checks them.
  uint64_t deadline_ms_ = 0;    // loop time (uv_now) of the current deadline; 0: none
  uint64_t body_since_ms_ = 0;  // a body is being read: its last byte (or lb's resuming to read); 0: none
  uint64_t send_since_ms_ = 0;  // bytes wait towards the client: its last progress; 0: nothing waits
  size_t send_queued_ = 0;      // the largest write queue seen since send_since_ms_
  uint64_t send_acked_ = 0;     // bytes the client had acknowledged (TCP) when last seen to progress
  int open_handles_ = 0;
  Phase phase_ = Phase::idle;
  // Borrowed from the worker's pool while a request is being read or
  // answered; an idle connection holds none (see lb/http1/request_parser_pool.h).
  std::unique_ptr<http::RequestParser> parser_;
  static constexpr size_t kMaxBufferedInput = 64 * 1024;
  static constexpr size_t kTlsGatherMax = 16 * 1024;  // one TLS record's worth
  std::string in_;         // client bytes not yet consumed by the parser (usually empty)
  bool parsing_ = false;   // inside feed_parser(): callbacks must not feed again
  bool parser_paused_ = false;
  unsigned client_pending_ = 0;
  bool client_reading_ = false;
  bool client_eof_ = false;
  bool awaiting_proxy_header_ = false;  // proxy_protocol.accept: the PROXY header comes first
  bool close_after_flush_ = false;
  bool stopping_ = false;
  bool first_request_ = true;  // nothing has been answered on this connection yet
  bool lingering_ = false;     // write side shut down; input is read and dropped until EOF
  static constexpr uint64_t kLingerMs = 2000;
  // Read on every request: kept next to the fields above, ahead of the
  // exchange, so a keep-alive request touches one cache line less.
  bool in_exchange_ = false;  // exchange_ holds a request not yet over
  bool client_keep_alive_ = false;
  bool chunk_response_ = false;  // re-chunking the response body towards the client
  bool head_pending_ = false;    // response head in worker_.response_head(), not yet written
  std::unique_ptr<http2::Session> http2_;  // set once the connection speaks HTTP/2
  std::unique_ptr<tls::Connection> tls_;   // set on TLS listeners

  // The current request (one at a time; pipelined requests wait in in_):
  // one Exchange per connection, reset in place for each request, so a
  // keep-alive request constructs nothing (see lb/exchange/exchange.h).
  Exchange exchange_{worker_, *rt_, listener_, *this, 0};
  void end_exchange() {
    if (!in_exchange_) return;
    exchange_.finish();
    in_exchange_ = false;
  }

  std::string proxy_header_;  // proxy_protocol.accept: the PROXY header's bytes so far (split across reads)
  std::string client_cert_subject_;        // verified mTLS subject, forwarded as X-Client-Cert-Subject
  // The client's address is looked up (getpeername) and formatted only when
  // something needs it: forwarded headers, ip hashing, rate limiting by IP,
  // logs. A plain proxied request needs neither.
  // Bytes from the socket: the PROXY header, then TLS records or plain HTTP.
  void handle_client_bytes(const char* data, size_t len);
  PeerAddress client_addr_{};
  bool have_client_addr_ = false;
  std::string client_ip_;
  // per_client (SPEC 11): the slot this connection holds, or the Retry-After
  // its requests get when its client was over a limit.
  void check_per_client();
  ConnectionSlot per_client_slot_;
  uint32_t per_client_refusal_ = 0;
};

}  // namespace lb
