// lb/exchange/exchange.h — one request's life, whatever protocol the client
// speaks: rate limit → route → pool → balancer → upstream connection
// (pooled HTTP/1.1) → retries and their budget → response relayed to the
// client → one access-log line. Both codecs (lb/http1/, lb/http2/) drive it
// through the same calls, so every policy is written once.
//
// Ownership: owned by the codec. HTTP/2 creates one per stream; HTTP/1.1
// keeps one per connection and begins each request on it (its state
// replaced as a whole, its buffers' capacity kept), finish()ing it when a
// request is over. The codec (ClientStream) outlives it. It borrows a
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
#include <type_traits>

#include "algorithms/hash.h"
#include "lb/core/worker.h"
#include "lb/exchange/client_stream.h"
#include "lb/exchange/header_edit.h"
#include "lb/exchange/route_table.h"
#include "lb/exchange/trace_context.h"
#include "lb/security/basic_auth.h"
#include "lb/security/jwt.h"
#include "lb/security/redis_client.h"
#include "lb/upstream/attempt.h"
#include "lb/upstream/backend_conn.h"
#include "lb/upstream/pool_queue.h"

namespace lb {

class SharedRateLimiter;

// Per-thread pseudo-random numbers for backoff jitter and fault shares.
uint64_t exchange_random();

class Exchange final : public BackendOwner, public BasicAuthWaiter, public QueueWaiter, public RedisWaiter {
 public:
  enum class Phase : uint8_t {
    receiving,    // the request head is arriving
    authenticating,  // credentials being checked off the loop (basic auth)
    limiting,     // a rate limit counted in Redis: waiting for its answer (SPEC 17)
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

  // ---- reuse (HTTP/1.1: one exchange per connection, one request at a time)
  // The request is over: lets go of what the destructor would (server slot
  // and connection, queue place, credentials check). The exchange makes no
  // further calls; its state stays readable until begin_request().
  void finish();
  // The connection's next request, timed from `start_ns`: a used exchange
  // is finish()ed, its state replaced as a whole and its buffers emptied —
  // the same as a new Exchange without constructing one.
  void begin_request(uint64_t start_ns);

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
  void set_request_trailers(const http::Headers* trailers) { s_.request_trailers = trailers; }
  // The request cannot be read further (HTTP/1.1 parse error, over a limit):
  // lb answers `status` itself and the exchange ends with that answer.
  // [[gnu::cold]] marks error paths here and in the parsers, BackendConn and
  // Logger: GCC then moves the blocks that call them out of the hot code.
  [[gnu::cold]] void refuse_request(int status, std::string_view reason, bool close_after);
  // The head the parser refused after reading it (for the access log only).
  void set_refused_head(const http::RequestHead* head) { s_.refused_head = head; }
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
  void add_bytes_in(uint64_t n) { s_.bytes_in += n; }
  void add_bytes_out(uint64_t n) { s_.bytes_out += n; }
  // Writes the access line now (once; later calls do nothing).
  void write_access_log();
  // The request's metrics (SPEC 15; exchange_observe.cpp), once, as it ends.
  void record_observations(uint64_t now_ns);
  // SPEC 15 tracing (exchange_observe.cpp): the trace context, made on first
  // use; nullptr when the listener does not trace.
  const TraceContext* trace() {
    if (s_.trace_made) return &scratch_.trace;
    return listener().config->tracing ? make_trace() : nullptr;
  }

  Phase phase() const { return s_.phase; }
  const http::RequestHead* head() const { return s_.head; }
  bool request_done() const { return s_.request_done; }
  bool response_started() const { return s_.response_started; }
  bool response_done() const { return s_.response_done; }
  bool has_server_conn() const { return s_.conn != nullptr; }
  // The server answered before the request body was read to its end: the
  // codec must end the request side (HTTP/1.1 closes after the response).
  bool request_cut_short() const { return s_.request_cut_short; }
  int status() const { return s_.status; }
  std::string_view request_id();

 private:
  const ListenerRuntime& listener() const { return rt_.runtime().listeners[listener_]; }
  const PoolRuntime& pool() const { return rt_.runtime().pools[s_.pool]; }

  const TraceContext* make_trace();

  // exchange_admission.cpp: who the client is, and whether it may pass
  enum class AuthStep { passed, refused, pending };
  // Whether the listener or the matched route has access lists, auth, rate
  // limits or per_client limits to check (most edges have none).
  bool admission_checks() const { return listener().admission_checks || (s_.route && s_.route->admission_checks); }
  void derive_client(const http::RequestHead& head);
  [[nodiscard]] bool admit_access(const http::RequestHead& head);
  // exchange_auth.cpp: Basic and JWT auth (SPEC 11)
  const std::optional<conf::AuthConfig>& effective_auth() const;
  AuthStep authenticate(const http::RequestHead& head);
  [[gnu::cold]] void refuse_auth(const conf::BasicAuthConfig& basic, bool had_credentials);
  void on_basic_auth_result(bool ok) override;
  AuthStep authenticate_jwt(const conf::JwtAuthConfig& jwt, const http::RequestHead& head);
  std::optional<std::string_view> find_token(const conf::JwtAuthConfig& jwt, const http::RequestHead& head,
                                             bool& ambiguous) const;
  [[gnu::cold]] void refuse_jwt(bool had_token, std::string_view message);
  void strip_token(const conf::JwtAuthConfig& jwt, const http::RequestHead& head);
  void add_auth_edits();
  // The listener's rate limit, then the route's; pending: a limit counted in
  // Redis is asking (on_redis_reply continues from the limit it asked for).
  AuthStep admit_rate(const http::RequestHead& head);
  AuthStep ask_store(SharedRateLimiter& limiter, RouteLive* route_live, const http::RequestHead& head);
  void on_redis_reply(const redisReply* reply, std::string_view error) override;
  // Redis could not answer: the limit's on_store_error decides (SPEC 17).
  [[nodiscard]] bool on_store_error(SharedRateLimiter& limiter, RouteLive* route_live, const http::RequestHead& head);
  [[gnu::cold]] void refuse_rate(RouteLive* route_live, uint32_t retry_after_s);
  void finish_admission();
  // After an asynchronous admission step passed: the rest of admission,
  // then the dispatch start() asked for meanwhile.
  void resume_admission();
  const sockaddr* client_sockaddr() const {
    return s_.derived ? reinterpret_cast<const sockaddr*>(&scratch_.derived_addr) : client_.client_address().get();
  }
  std::string_view client_ip() { return s_.derived ? std::string_view(b().derived_ip) : client_.client_ip(); }
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
  // Header rules of the listener or the matched route (flags built with the
  // runtime, so a request without rules costs two tests).
  bool request_rules() const { return listener().request_rules || (s_.route && s_.route->request_rules); }
  bool response_rules() const { return listener().response_rules || (s_.route && s_.route->response_rules); }
  // Credentials to strip or JWT claims to forward (exchange_auth.cpp).
  bool auth_edits() const { return s_.admission_used && (adm_.strip_authorization || adm_.jwt_auth); }
  void prepare_request_edits();
  bool prepare_response_edits();
  // The server's head with the response rules and lb's sticky cookie applied.
  const http::ResponseHead& edit_response_head(const http::ResponseHead& head) {
    return response_rules() || !b().sticky_cookie.empty() ? edited_response_head(head) : head;
  }
  const http::ResponseHead& edited_response_head(const http::ResponseHead& head);
  void answer_redirect(const conf::Redirect& redirect);
  // `respond`: the route's fixed answer instead of lb's JSON error body.
  [[gnu::cold]] void answer_locally(int status, std::string_view message, bool close_after,
                                    uint32_t retry_after_s = 0, const conf::Respond* respond = nullptr);

  void maybe_complete();
  void complete();
  void dispatch();
  void go_to_server(const ServerRuntime& server, bool retrying);

  // exchange_queue.cpp: the first try at a pool with a queue (SPEC 11)
  void dispatch_with_queue();
  const ServerRuntime* try_server(uint64_t now_ns);
  [[gnu::cold]] void refuse_no_server(std::string_view message, bool later);
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
  const http::RequestHead* logged_head() const { return s_.head ? s_.head : s_.refused_head; }

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

  void choose_sticky(const http::RequestHead& head);
  void note_sticky_choice(const ServerRuntime& server);
  // What the destructor lets go of: a credentials check or Redis call in flight, the
  // server slot, the server connection and a place in a queue.
  void release_resources();

  Worker& worker_;
  WorkerRuntime& rt_;  // the codec holds the shared_ptr for the exchange's life
  uint32_t listener_;
  // Checked on every request, so they share a cache line with the fields
  // above rather than sit at the end of the object.
  bool used_ = false;             // begin_request() was called: the next one resets
  bool buffers_touched_ = false;  // buf_ written since its last clear()
  ClientStream& client_;

  // A request's state: plain values that own nothing, replaced as a whole
  // (construct_at) when the connection's next request reuses the exchange.
  // Ordered by use: a keep-alive request through a plain route touches the
  // first four cache lines and nothing else (the fields of rarer features
  // live in Admission).
  struct State {
    Phase phase = Phase::receiving;
    bool request_done = false;      // request fully read from the client
    bool request_sent = false;      // head written to the server
    bool response_started = false;  // a byte of the response reached the client
    bool response_done = false;
    bool completed = false;         // exchange_complete() or abort_response() was called
    bool request_cut_short = false; // see request_cut_short()
    bool chunk_request = false;     // the body goes to the server chunked
    bool logged = false;            // the access line is written
    bool aborted = false;           // the response was cut short
    bool pool_chosen = false;       // a route chose pool for this request
    bool trace_made = false;        // Scratch::trace holds this request's context
    bool fault_delay = false;       // a fault delay waits before the first try
    bool derived = false;  // a trusted proxy named the client (SPEC 11): derived_addr, derived_ip
    bool start_requested = false;   // start() came while authenticating or limiting
    bool admission_used = false;    // Admission was written (edit_admission()): reset it too
    // A request that fails on a reused server connection before any response
    // byte is replayed once on a fresh connection to the same server (the
    // server closed an idle connection as we reused it); see Buffers::replay_body.
    bool stale_retried = false;
    bool capture_body = false;
    bool replay_overflow = false;
    uint32_t pool = 0;
    int status = 0;
    int last_failure_status = 502;
    const http::RequestHead* head = nullptr;
    const CompiledRoute* route = nullptr;             // the matched route, if any
    BackendConn* conn = nullptr;
    const conf::RetriesConfig* retries = nullptr;     // the route's, else the pool's
    const conf::PoolTimeouts* timeouts = nullptr;
    uint64_t hash = 0;
    uint64_t start_ns = 0;
    uint64_t sent_ns = 0;
    uint64_t request_body_sent = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    double upstream_ms = -1;
    std::string_view path;        // the normalized path (routing, %{path}, redirects)
    std::string_view request_id;  // the client's X-Request-Id, or Scratch::generated_id
    std::optional<uint32_t> sticky_server;  // the server the request's sticky cookie names
    const http::RequestHead* refused_head = nullptr;
    const http::Headers* request_trailers = nullptr;
    ServerAttempts attempts;
  };
  static_assert(std::is_trivially_destructible_v<State>, "State owns nothing: resources live in Buffers");

  // The state of access checks, authentication and rate limits in Redis:
  // most requests never write it, so it is reset (as a whole) only when
  // State::admission_used says it was written, through edit_admission().
  struct Admission {
    BasicAuthJob* auth_job = nullptr;  // a credentials check in flight
    RedisCall store_call;              // a shared rate limit's question to Redis in flight
    SharedRateLimiter* store_limiter = nullptr;  // the limit asked (the runtime rt_ holds keeps it)
    RouteLive* store_route_live = nullptr;       // its route's counters, when a route's limit
    const conf::JwtAuthConfig* jwt_auth = nullptr;  // JWT auth applied (its forward_claims are edited)
    uint8_t limit_step = 0;            // rate limits checked so far (0 listener, 1 route, 2 done)
    bool strip_authorization = false;  // basic credentials checked: not forwarded
    bool auth_unknown_user = false;    // checked against a dummy hash: refused whatever it says
    bool strip_token_header = false;   // the token's header (or the Cookie fields) not forwarded
  };
  static_assert(std::is_trivially_destructible_v<Admission>, "Admission owns nothing");
  const Admission& adm() const { return adm_; }
  Admission& edit_admission() {
    s_.admission_used = true;
    return adm_;
  }

  // A request's storage: emptied for the next request, capacity kept (so a
  // keep-alive connection's requests reuse it) unless it grew large. Most
  // requests write none of it, so it is cleared only when buffers_touched_
  // says it was written: only through edit_b(), which sets that flag (reads
  // go through b()).
  struct Buffers {
    std::string path_buf;  // the normalized path's storage when normalizing changed it
    std::string target;    // what the server is sent when not the received target
    HeaderEdits request_edits;
    HeaderEdits response_edits;
    http::ResponseHead edited_head;  // the server's head with the response rules applied
    std::string location;            // a redirect's Location
    std::string sticky_cookie;       // Set-Cookie value to send with the response
    std::string derived_ip;          // the client a trusted proxy named
    std::string forwarded_chain;     // the X-Forwarded-For entries before it
    std::string www_authenticate;    // the challenge on a 401
    std::optional<security::JwtClaims> jwt_claims;  // the verified token's, when one passed
    // Storage behind jwt_claim()'s views: stable addresses, and (unlike
    // std::deque, which allocates when constructed) nothing allocated for
    // the requests that never ask.
    std::forward_list<std::string> claim_texts;
    std::string kept_cookies;                    // the Cookie fields without the token's cookie
    std::optional<std::string> query_override;   // the query without the token's parameter
    std::string replay_body;  // body bytes sent so far, up to kMaxReplayBytes
    void clear();
  };
  // Scratch text, always written before it is read: never cleared.
  struct Scratch {
    sockaddr_storage derived_addr;  // the client a trusted proxy named, when State::derived
    char generated_id[33];          // lb's request id, when State::request_id points here
    char client_port[8];            // %{client_port}
    TraceContext trace;             // SPEC 15, once State::trace_made
  };
  // What b() reads while this request has written none of its buffers: one
  // shared empty instance, so a plain request never loads the 712 bytes of
  // its own (README "Data-path measurements").
  static const Buffers kNoBuffers;
  const Buffers& b() const { return buffers_touched_ ? buf_ : kNoBuffers; }
  Buffers& edit_b() {
    buffers_touched_ = true;
    return buf_;
  }
  static constexpr size_t kMaxReplayBytes = 64 * 1024;

  State s_;
  Admission adm_;   // through adm() and edit_admission()
  Buffers buf_;     // through b() and edit_b()
  Scratch scratch_;
};

}  // namespace lb
