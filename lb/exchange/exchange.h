// lb/exchange/exchange.h — one request's life, whatever protocol the client
// speaks: rate limit → route → pool → balancer → upstream connection
// (pooled HTTP/1.1) → retries and their budget → response relayed to the
// client → one access-log line. Both codecs (lb/http1/, lb/http2/) drive it
// through the same calls, so every policy is written once.
//
// Ownership: created by the codec when a request begins and destroyed by it
// when the request is over (HTTP/1.1: one at a time per connection; HTTP/2:
// one per stream). The codec (ClientStream) outlives it. It borrows a
// BackendConn from the worker's ConnPool while it talks to a server and gives
// it back (or closes it) before it ends. The request head it is given must
// stay valid until the exchange ends (the codec owns its storage).
// Threading: the owning worker's thread only.
#pragma once

#include <cstdint>
#include <forward_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "algorithms/hash.h"
#include "lb/core/worker.h"
#include "lb/exchange/client_stream.h"
#include "lb/exchange/header_edit.h"
#include "lb/exchange/route_table.h"
#include "lb/exchange/trace_context.h"
#include "lb/security/basic_auth.h"
#include "lb/security/jwt.h"
#include "lb/upstream/attempt.h"
#include "lb/upstream/backend_conn.h"
#include "lb/upstream/pool_queue.h"

namespace lb {

// Per-thread pseudo-random numbers for backoff jitter and fault shares.
uint64_t exchange_random();

class Exchange final : public BackendOwner, public BasicAuthWaiter, public QueueWaiter {
 public:
  enum class Phase {
    receiving,    // the request head is arriving
    authenticating,  // credentials being checked off the loop (basic auth)
    dispatching,  // head accepted: choosing and connecting a server (or answered locally)
    queued,       // waiting in the pool's queue for a server slot (SPEC 11)
    backoff,      // waiting before a retry
    exchanging,   // request forwarded / response streaming
    tunnel,       // after 101: raw bytes both ways
  };

  Exchange(Worker& worker, WorkerRuntime& rt, uint32_t listener, ClientStream& client, uint64_t start_ns);
  ~Exchange() override;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // ---- driven by the codec
  // A complete request head; `head` lives until the exchange ends. Applies
  // the listener's rate limit and the routes; an answer lb gives itself
  // (429, 404) is sent from here.
  void on_request_head(const http::RequestHead& head);
  // Starts the first try (after on_request_head, once the codec is ready to
  // forward body bytes). No-op when the request was answered locally.
  void start();
  void on_request_body(std::string_view data);
  void on_request_complete();
  // Trailer fields the client sent after the body (HTTP/2), given before
  // on_request_complete; forwarded when the body goes to the server chunked.
  void set_request_trailers(const http::Headers* trailers) { request_trailers_ = trailers; }
  // The request cannot be read further (HTTP/1.1 parse error, over a limit):
  // lb answers `status` itself and the exchange ends with that answer.
  void refuse_request(int status, std::string_view reason, bool close_after);
  // The head the parser refused after reading it (for the access log only).
  void set_refused_head(const http::RequestHead* head) { refused_head_ = head; }
  void on_timeout();
  // Bytes towards the client drained: resume reading the server.
  void on_client_drained();
  // Client bytes after a 101, and the client's half-close.
  void on_tunnel_data(std::string_view data);
  void on_tunnel_client_eof();
  // The client side is closing with this exchange unfinished: logs it (499
  // when nothing was answered, aborted when cut short) and lets go of the
  // server. The exchange makes no further ClientStream calls.
  void on_client_gone();
  // Counted for the access line: bytes from and to the client for this request.
  void add_bytes_in(uint64_t n) { bytes_in_ += n; }
  void add_bytes_out(uint64_t n) { bytes_out_ += n; }
  // Writes the access line now (once; later calls do nothing).
  void write_access_log();
  // The request's metrics (SPEC 15; exchange_observe.cpp), once, as it ends.
  void record_observations(uint64_t now_ns);
  // SPEC 15 tracing (exchange_observe.cpp): the trace context, made on first
  // use; nullptr when the listener does not trace.
  const TraceContext* trace();

  Phase phase() const { return phase_; }
  const http::RequestHead* head() const { return head_; }
  bool request_done() const { return request_done_; }
  bool response_started() const { return response_started_; }
  bool response_done() const { return response_done_; }
  bool has_server_conn() const { return conn_ != nullptr; }
  // The server answered before the request body was read to its end: the
  // codec must end the request side (HTTP/1.1 closes after the response).
  bool request_cut_short() const { return request_cut_short_; }
  int status() const { return status_; }
  std::string_view request_id();

 private:
  const ListenerRuntime& listener() const { return rt_.runtime().listeners[listener_]; }
  const PoolRuntime& pool() const { return rt_.runtime().pools[pool_]; }

  // exchange_admission.cpp: who the client is, and whether it may pass
  enum class AuthStep { passed, refused, pending };
  void derive_client(const http::RequestHead& head);
  [[nodiscard]] bool admit_access(const http::RequestHead& head);
  // exchange_auth.cpp: Basic and JWT auth (SPEC 11)
  const std::optional<conf::AuthConfig>& effective_auth() const;
  AuthStep authenticate(const http::RequestHead& head);
  void refuse_auth(const conf::BasicAuthConfig& basic, bool had_credentials);
  void on_basic_auth_result(bool ok) override;
  AuthStep authenticate_jwt(const conf::JwtAuthConfig& jwt, const http::RequestHead& head);
  std::optional<std::string_view> find_token(const conf::JwtAuthConfig& jwt, const http::RequestHead& head,
                                             bool& ambiguous) const;
  void refuse_jwt(bool had_token, std::string_view message);
  void strip_token(const conf::JwtAuthConfig& jwt, const http::RequestHead& head);
  void add_auth_edits();
  [[nodiscard]] bool admit_rate(const http::RequestHead& head);
  void finish_admission();
  const sockaddr* client_sockaddr() const {
    return derived_ ? reinterpret_cast<const sockaddr*>(&derived_addr_) : client_.client_address().get();
  }
  std::string_view client_ip() { return derived_ ? std::string_view(derived_ip_) : client_.client_ip(); }
  std::string_view rate_limit_key(const conf::KeySpec& key, const http::RequestHead& head);
  [[nodiscard]] bool within_limit(RateLimiter& limiter, RouteLive* route_live, const http::RequestHead& head);
  // Claim `name` of the request's verified JWT as text (claim_as_string),
  // or nullopt when it has no token or no such claim (jwt.CLAIM rate-limit
  // keys then use the client address, SPEC 11). The view stays valid for
  // the exchange's life.
  std::optional<std::string_view> jwt_claim(std::string_view name);

  // exchange_policy.cpp
  [[nodiscard]] bool match_route(const http::RequestHead& head);
  [[nodiscard]] bool act(const http::RequestHead& head);
  void rewrite_path();
  void set_target(std::string_view path);
  HeaderVars header_vars();
  void prepare_request_edits();
  bool prepare_response_edits();
  const http::ResponseHead& edit_response_head(const http::ResponseHead& head);
  void answer_redirect(const conf::Redirect& redirect);
  // `respond`: the route's fixed answer instead of lb's JSON error body.
  void answer_locally(int status, std::string_view message, bool close_after, uint32_t retry_after_s = 0,
                      const conf::Respond* respond = nullptr);

  void maybe_complete();
  void complete();
  void dispatch();
  void go_to_server(const ServerRuntime& server, bool retrying);

  // exchange_queue.cpp: the first try at a pool with a queue (SPEC 11)
  void dispatch_with_queue();
  const ServerRuntime* try_server(uint64_t now_ns);
  void refuse_no_server(std::string_view message, bool later);
  bool on_queue_turn() override;
  void on_queue_timeout() override;
  void connect_server(const ServerRuntime& server);
  void use_connection(BackendConn* conn);
  bool retry_stale_connection();
  bool reject_upgrade(const http::ResponseHead& head);
  // Both return false when the write failed and was handled: the exchange
  // may be gone then, and the caller must return without touching it.
  [[nodiscard]] bool send_request_head();
  [[nodiscard]] bool write_backend(const uv_buf_t* bufs, size_t n);
  // Stops reading the server while bytes wait towards the client.
  void hold_server_if_blocked();
  void backend_failed(const char* reason, conf::RetryOn condition);
  bool replayable(conf::RetryOn condition) const;
  bool schedule_retry(conf::RetryOn condition);
  bool another_try_possible();
  static int failure_status(conf::RetryOn condition);
  static const char* failure_message(int status);
  void drop_backend();
  const http::RequestHead* logged_head() const { return head_ ? head_ : refused_head_; }

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
  // WriteSink (server writes)
  void on_write_done(uv_stream_t* stream, int status) override;

  Worker& worker_;
  WorkerRuntime& rt_;  // the codec holds the shared_ptr for the exchange's life
  uint32_t listener_;
  ClientStream& client_;
  Phase phase_ = Phase::receiving;
  const http::RequestHead* head_ = nullptr;
  const http::RequestHead* refused_head_ = nullptr;
  const http::Headers* request_trailers_ = nullptr;

  uint32_t pool_ = 0;
  bool pool_chosen_ = false;  // a route chose pool_ for this request
  const CompiledRoute* route_ = nullptr;              // the matched route, if any
  TraceContext trace_;                                // valid once trace_made_
  bool trace_made_ = false;
  const conf::RetriesConfig* retries_ = nullptr;      // the route's, else the pool's
  const conf::PoolTimeouts* timeouts_ = nullptr;
  std::string_view path_;     // the normalized path (routing, %{path}, redirects)
  std::string path_buf_;      // its storage when normalizing changed it
  std::string target_;        // what the server is sent when not the received target
  bool fault_delay_ = false;  // a fault delay waits before the first try
  HeaderEdits request_edits_;
  HeaderEdits response_edits_;
  http::ResponseHead edited_head_;  // the server's head with the response rules applied
  std::string location_;            // a redirect's Location
  std::string sticky_cookie_;       // Set-Cookie value to send with the response
  std::optional<uint32_t> sticky_server_;  // the server the request's sticky cookie names
  void choose_sticky(const http::RequestHead& head);
  void note_sticky_choice(const ServerRuntime& server);
  char client_port_[8] = {};
  // The client a trusted proxy named in X-Forwarded-For (SPEC 11).
  bool derived_ = false;
  sockaddr_storage derived_addr_{};
  std::string derived_ip_;
  std::string forwarded_chain_;  // the X-Forwarded-For entries before it
  BasicAuthJob* auth_job_ = nullptr;  // a credentials check in flight
  bool start_requested_ = false;      // start() came while authenticating
  bool strip_authorization_ = false;  // basic credentials checked: not forwarded
  std::string www_authenticate_;      // the challenge on a 401
  bool auth_unknown_user_ = false;    // checked against a dummy hash: refused whatever it says
  const conf::JwtAuthConfig* jwt_auth_ = nullptr;  // JWT auth applied (its forward_claims are edited)
  std::optional<security::JwtClaims> jwt_claims_;  // the verified token's, when one passed
  // Storage behind jwt_claim()'s views: stable addresses, and (unlike
  // std::deque, which allocates when constructed) nothing allocated for the
  // requests that never ask; the exchange is created per request.
  std::forward_list<std::string> claim_texts_;
  bool strip_token_header_ = false;   // the token's header (or the Cookie fields) not forwarded
  std::string kept_cookies_;          // the Cookie fields without the token's cookie
  std::optional<std::string> query_override_;  // the query without the token's parameter
  uint64_t hash_ = 0;
  ServerAttempts attempts_;
  BackendConn* conn_ = nullptr;
  int last_failure_status_ = 502;
  bool request_done_ = false;      // request fully read from the client
  bool request_sent_ = false;      // head written to the server
  uint64_t request_body_sent_ = 0;
  bool response_started_ = false;  // a byte of the response reached the client
  bool response_done_ = false;
  bool completed_ = false;         // exchange_complete() or abort_response() was called
  bool request_cut_short_ = false; // see request_cut_short()
  bool chunk_request_ = false;     // the body goes to the server chunked
  int status_ = 0;
  uint64_t start_ns_ = 0;
  uint64_t sent_ns_ = 0;
  double upstream_ms_ = -1;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  bool logged_ = false;   // the access line is written
  bool aborted_ = false;  // the response was cut short

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
