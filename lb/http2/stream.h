// lb/http2/stream.h — one HTTP/2 stream: its request head (built from the
// decoded fields), its Exchange, and the flow control of both bodies.
//
// Request body: DATA bytes are passed to the exchange once it has a server
// connection, and only acknowledged to the client (nghttp2_session_consume →
// WINDOW_UPDATE) when the exchange is not holding the client back, so a slow
// server costs at most one stream window of buffering. A client that has
// window to send and sends no DATA for timeouts.body_idle gets a 408 on the
// stream (the connection's other streams go on). Response body: bytes
// from the server wait in out_ until nghttp2's data provider takes them as
// the client's windows allow; past kOutputHighWater the exchange stops
// reading its server until the buffer drains.
//
// Ownership: owned by its Session; owns its Exchange. Freed by the session
// after nghttp2 closed the stream, at a point where no exchange or stream
// code is on the call stack (see Session::reap). Worker thread only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <optional>
#include <string>

#include "lb/exchange/client_stream.h"
#include "lb/exchange/exchange.h"
#include "lb/http/trailers.h"
#include "lb/http2/request_head.h"

namespace lb::http2 {

class Session;

class Stream final : public ClientStream {
 public:
  static constexpr size_t kOutputHighWater = 64 * 1024;

  Stream(Session& session, int32_t id, uint64_t opened_ms);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  int32_t id() const { return id_; }
  uint64_t opened_ms() const { return opened_ms_; }
  // ---- from the session (nghttp2 callbacks)
  void on_header(std::string_view name, std::string_view value);
  void on_headers_complete(bool end_stream, uint64_t header_bytes);

  void on_data(const uint8_t* data, size_t len);
  void on_end_stream();
  void on_closed();  // nghttp2 closed the stream (any reason)
  void on_end_stream_sent();
  void count_out(size_t n);  // HEADERS and DATA payload bytes sent, for the access line
  // nghttp2's data provider: copies response bytes into `buf`.
  ssize_t read_data(uint8_t* buf, size_t length, uint32_t* flags);
  void notify_drained();
  bool answered() const { return head_submitted_; }
  bool closed() const { return closed_; }
  bool has_pending_output() const { return out_.size() > out_off_; }
  uint64_t deadline_ms() const { return deadline_ms_; }
  void on_deadline();
  // The request body's idle clock (SPEC 11 body_idle): loop time it is due,
  // 0 when no body is awaited. on_body_deadline re-checks and answers 408.
  uint64_t body_due_ms() const;
  void on_body_deadline(uint64_t now);
  void arm_head_deadline(uint64_t ms) { arm_exchange_timer(ms); }

 private:
  // ClientStream
  void send_interim(const http::ResponseHead& head) override;
  void send_response_head(const http::ResponseHead& head) override;
  void send_response_body(std::string_view data) override;
  void send_response_end(const http::Headers* trailers) override;
  void flush_response() override {}
  void send_local_response(const LocalResponse& response) override;
  void abort_response() override;
  bool output_blocked() const override;
  void want_request_body() override;
  void pause_request_body() override { body_paused_ = true; }
  void resume_request_body() override;
  void start_tunnel() override;
  void send_tunnel_data(std::string_view data) override { send_response_body(data); }
  void end_tunnel() override { send_response_end(nullptr); }
  void exchange_complete() override;
  void arm_exchange_timer(uint64_t ms) override;
  void disarm_exchange_timer() override { deadline_ms_ = 0; }
  bool stopping() const override;
  const PeerAddress& client_address() override;
  std::string_view client_ip() override;
  std::string_view client_cert_subject() const override;
  std::string_view tls_version() const override;
  std::string_view tls_sni() const override;
  std::string_view protocol_name() const override { return "HTTP/2"; }
  bool is_tls() const override;
  uint32_t per_client_refusal() const override;

  void submit_trailers();
  void submit_head(int status, const http::Headers* headers, bool end_stream, bool with_body);
  void deliver_body();
  void forward_body(std::string_view data);
  void maybe_deliver_end();
  void consume(size_t n);
  void reset(uint32_t error_code);

  Session& session_;
  const int32_t id_;
  const uint64_t opened_ms_;  // loop time the stream's HEADERS began
  RequestHeadBuilder builder_;
  http::RequestHead head_;
  std::optional<Exchange> exchange_;
  bool headers_done_ = false;
  bool end_stream_received_ = false;
  bool request_delivered_end_ = false;  // the exchange heard on_request_complete
  bool body_wanted_ = false;            // the exchange has a server connection for the body
  bool body_paused_ = false;
  std::string pending_in_;              // body bytes waiting for the exchange (≤ one window)
  size_t unconsumed_ = 0;               // delivered, not yet acknowledged to the client
  uint64_t body_received_ = 0;          // DATA bytes of the request (max_body_bytes)
  uint64_t body_forwarded_ = 0;
  bool held_last_byte_ = false;         // see forward_body()
  char last_byte_ = 0;
  bool head_submitted_ = false;
  bool tunnel_ = false;
  bool response_ended_ = false;         // no more response bytes will be added to out_
  bool end_stream_sent_ = false;
  bool data_deferred_ = false;          // the data provider returned DEFERRED
  mutable bool held_back_ = false;      // output_blocked() said yes: the exchange must hear the drain
  bool completed_ = false;              // exchange_complete() was called
  bool closed_ = false;
  std::string out_;
  size_t out_off_ = 0;
  http::TrailerFields request_trailers_;   // after the body, forwarded chunked
  http::TrailerFields response_trailers_;  // sent as a trailing HEADERS
  uint64_t deadline_ms_ = 0;  // loop time of the exchange's deadline; 0: none
  // A body is awaited: loop time of its last DATA, or of lb reopening the
  // window or resuming; 0: none (see body_due_ms).
  uint64_t body_since_ms_ = 0;
  bool awaiting_body() const;
  void note_body_progress();
};

}  // namespace lb::http2
