// lb/http1/http_session_upstream.cpp — the server side of HttpSession: choosing a
// server, connecting or taking a pooled connection, forwarding the request
// head, retries (rules, budget, backoff), and relaying the response head and
// body back to the client. The client side lives in lb/http1/http_session.cpp.
#include <strings.h>

#include <cstring>

#include "algorithms/latency.h"
#include "health/retry_policy.h"
#include "lb/http1/http_serialize.h"
#include "lb/http1/http_session.h"
#include "lb/io/log.h"
#include "lb/upstream/server_health.h"
#include "lb/http/websocket.h"

namespace lb {


void HttpSession::dispatch() {
  if (closing()) return;
  const conf::PoolConfig& pc = *pool().config;
  // A retry spends from the pool's budget only when it is actually sent.
  const bool retrying = attempts_ > 0;
  const bool have_token = !retrying || pool().live->retry_tokens.try_spend();
  // An upgrade never serves as a half-open circuit's trial: its outcome is
  // only known when the tunnel ends, and the probe must not wait that long.
  std::optional<Pick> picked;
  if (have_token) picked = rt_->selector(pool_).pick(hash_, worker_.now_ns(), tried_, !parser_->head().upgrade);
  if (!picked) {
    // On a retry with every server tried, report the last failure instead.
    if (retrying && have_token) pool().live->retry_tokens.refund();
    if (!retrying) pool().live->no_server_total.add(1);
    int status = retrying ? last_failure_status_ : 503;
    send_error(status, retrying ? failure_message(status) : "no server available",
               !request_done_ && parser_->head().has_body);
    if (!close_after_flush_) phase_ = Phase::exchanging;
    response_done_ = true;
    // A retry (from the backoff timer) may find the request already read:
    // the exchange is over now. On a first try the parser's completion ends it.
    if (request_done_ && !close_after_flush_) finish_exchange();
    return;
  }
  server_ = picked->server;
  trial_ = picked->trial;
  tried_.add(picked->server);
  ++attempts_;
  if (attempts_ == 1) {
    pool().live->requests_total.add(1);
    pool().live->retry_tokens.on_request(pc.retries.budget_percent);
  } else {
    pool().live->retries_total.add(1);
  }
  const ServerRuntime& server = pool().servers[picked->server];
  server_name_ = server.config->address.text;
  server.live->active.fetch_add(1, std::memory_order_relaxed);
  server.live->requests_total.add(1);

  if (BackendConn* idle = worker_.conn_pool().take(server.live.get())) {
    use_connection(idle);
    return;
  }
  connect_server(server);
}

// A new connection to `server` (the session's current try); the outcome
// arrives in on_backend_connected.
void HttpSession::connect_server(const ServerRuntime& server) {
  int rc = 0;
  conn_ = BackendConn::connect(worker_, server.live, reinterpret_cast<const sockaddr*>(&server.config->address.sockaddr),
                               this, rc, pool().tls, server.config->address.host, server.config->address.text);
  if (!conn_) {
    backend_failed(uv_strerror(rc), conf::RetryOn::connect_failure);
    return;
  }
  arm_timer(static_cast<uint64_t>(pool().config->timeouts.connect.count()));
}

void HttpSession::on_backend_connected(int status) {
  disarm_timer();
  if (status != 0) {
    conn_ = nullptr;  // it closed itself
    backend_failed(uv_strerror(status), conf::RetryOn::connect_failure);
    return;
  }
  use_connection(conn_);
}

void HttpSession::use_connection(BackendConn* conn) {
  conn_ = conn;
  conn_->attach(this);
  conn_->expect_response(parser_->head().method_id);
  phase_ = Phase::exchanging;
  send_request_head();
  if (conn_ != conn || phase_ != Phase::exchanging) return;  // the write failed and was handled
  if (!replay_body_.empty()) {
    // Replaying on a fresh connection after a stale one: the body sent so far.
    uv_buf_t b = uv_buf_init(replay_body_.data(), static_cast<unsigned>(replay_body_.size()));
    write_backend(&b, 1);
    replay_body_.clear();
    if (conn_ != conn || phase_ != Phase::exchanging) return;
  }
  // Only a reused connection can turn out stale; keep what it is sent.
  capture_body_ = conn->reused() && !stale_retried_;
  arm_timer(static_cast<uint64_t>(pool().config->timeouts.response.count()));
  if (request_done_) return;
  // Body bytes already buffered (and the parser's pending completion) go now.
  parse_input();
  // Inside the feed loop the loop's caller decides after it returns: the
  // client is already being read, or read_first_request looks at what is left.
  if (!request_done_ && phase_ == Phase::exchanging && !parsing_) start_client_reading();
}

void HttpSession::send_request_head() {
  const http::RequestHead& head = parser_->head();
  http::RequestHeadOptions opt;
  opt.framing = http::request_framing(head);
  // lb always speaks HTTP/1.1 to servers, where keep-alive is the default:
  // no Connection header unless upgrading.
  opt.connection = head.upgrade ? http::ConnectionMode::Upgrade : http::ConnectionMode::Omit;
  opt.fallback_host = server_name_;
  http::ForwardedHeaders fwd;
  if (listener().config->forwarded_headers) {
    fwd.client_ip = client_ip();
    fwd.proto = listener().tls ? "https" : "http";
    fwd.host = head.host;
    if (!head.headers.contains("x-request-id")) fwd.request_id = request_id();
    opt.forwarded = &fwd;
  }
  std::string& head_buf = worker_.scratch();
  http::Header cert_subject{"X-Client-Cert-Subject", client_cert_subject_};
  if (!client_cert_subject_.empty()) opt.extra = std::span<const http::Header>(&cert_subject, 1);
  head_buf.clear();
  http::serialize_request_head(head, opt, head_buf);
  request_sent_ = true;
  sent_ns_ = worker_.now_ns();
  uv_buf_t b = uv_buf_init(head_buf.data(), static_cast<unsigned>(head_buf.size()));
  write_backend(&b, 1);
}

// A try failed before any response byte reached the client: retry on another
// server when the rules allow (SPEC section 3 "retries"), else answer 502/504.
void HttpSession::backend_failed(const char* reason, conf::RetryOn condition) {
  if (phase_ == Phase::closing) return;
  disarm_timer();
  if (server_ >= 0) {
    const ServerRuntime& server = pool().servers[server_];
    server.live->failures_total.add(1);
    report_outcome(pool(), server, false, trial_, worker_.now_ns(), reason);
  }
  log_debug("backend failed", {{"listener", listener().config->name}, {"pool", pool().config->name},
                               {"server", std::string(server_name_)}, {"reason", reason}});
  release_server(false);
  drop_backend();
  if (response_started_) {
    aborted_ = true;
    write_access_log();  // the request is over for the client too
    close_session();     // the client has part of a response: only closing tells it
    return;
  }
  last_failure_status_ = failure_status(condition);
  if (schedule_retry(condition)) return;
  send_error(last_failure_status_, failure_message(last_failure_status_), !request_done_);
  if (!close_after_flush_) {
    response_done_ = true;
    if (request_done_) finish_exchange();
  }
}

// Retries only what can be replayed: nothing of the body has been sent, and a
// request that may have reached the server is idempotent or bodiless. Each
// retry spends from the pool's retry budget and waits a jittered backoff.
bool HttpSession::schedule_retry(conf::RetryOn condition) {
  const conf::PoolConfig& pc = *pool().config;
  const http::RequestHead& head = parser_->head();
  bool replayable = request_body_sent_ == 0 && (condition == conf::RetryOn::connect_failure ||
                                               health::is_idempotent(head.method) || !head.has_body);
  if (!replayable || stopping_ || !pc.retries.retries_on(condition) || attempts_ >= 1 + pc.retries.attempts)
    return false;
  if (!another_try_possible()) return false;  // the budget is spent when the retry is sent (dispatch)
  request_sent_ = false;
  auto delay = health::backoff(attempts_ - 1, pc.retries.backoff_base, pc.retries.backoff_max, next_random());
  phase_ = Phase::backoff;
  arm_timer(static_cast<uint64_t>(delay.count()));
  return true;
}

// Whether a retry would find budget and a server not yet tried.
bool HttpSession::another_try_possible() const {
  return pool().live->retry_tokens.available() && rt_->selector(pool_).has_candidate(worker_.now_ns(), tried_);
}

const char* HttpSession::failure_message(int status) {
  switch (status) {
    case 503: return "server unavailable";
    case 504: return "server too slow";
    default: return "server failed";
  }
}

// The status lb answers with when `condition` ends the request.
int HttpSession::failure_status(conf::RetryOn condition) const {
  switch (condition) {
    case conf::RetryOn::timeout: return 504;
    case conf::RetryOn::status_503: return 503;
    case conf::RetryOn::status_504: return 504;
    default: return 502;
  }
}

bool HttpSession::retry_possible() const {
  const conf::PoolConfig& pc = *pool().config;
  const http::RequestHead& head = parser_->head();
  return request_body_sent_ == 0 && (health::is_idempotent(head.method) || !head.has_body) && !stopping_ &&
         attempts_ < 1 + pc.retries.attempts && another_try_possible();
}

// The server answered with a retryable status (the response was not forwarded).
void HttpSession::backend_failed_status(conf::RetryOn condition) {
  char reason[16];
  snprintf(reason, sizeof reason, "status %d", status_);
  backend_failed(reason, condition);
}

uint64_t HttpSession::next_random() {
  uint64_t z = (random_state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void HttpSession::on_backend_error(const char* reason, bool reset) {
  // A reused connection that fails before any response byte was most likely
  // closed by the server while idle: not the server's failure, not a retry.
  const bool stale = conn_ && conn_->reused() && !conn_->response_bytes_seen();
  conn_ = nullptr;  // already closing itself
  if (phase_ == Phase::tunnel) {
    close_session();
    return;
  }
  if (stale && retry_stale_connection()) return;
  (void)reset;  // EOF and RST before a complete response are both "reset" for retry purposes
  backend_failed(reason, conf::RetryOn::reset);
}

// Replays the request once on a fresh connection to the same server, like
// HAProxy and nginx do: no retry budget, no retry counted, no breaker report.
// Possible while the body sent so far was kept (see kMaxReplayBytes).
bool HttpSession::retry_stale_connection() {
  if (stale_retried_ || stopping_ || server_ < 0 || response_started_ || closing()) return false;
  if (request_body_sent_ > 0 && replay_overflow_) return false;
  stale_retried_ = true;
  capture_body_ = false;
  disarm_timer();
  log_debug("stale server connection: request replayed on a new one",
            {{"listener", listener().config->name}, {"pool", pool().config->name}, {"server", std::string(server_name_)}});
  request_sent_ = false;
  phase_ = Phase::dispatching;
  connect_server(pool().servers[server_]);
  return true;
}

// A 101 must answer an upgrade the client asked for, and for WebSocket carry
// the right Sec-WebSocket-Accept; otherwise the bytes that follow are not
// what the client agreed to, and lb answers 502 (as HAProxy does).
bool HttpSession::reject_upgrade(const http::ResponseHead& head) {
  const http::RequestHead& req = parser_->head();
  const char* problem = nullptr;
  if (!req.upgrade) {
    problem = "101 from server without an upgrade request";
  } else if (req.upgrade_protocol.size() == 9 && strncasecmp(req.upgrade_protocol.data(), "websocket", 9) == 0) {
    const http::Header* key = req.headers.find("sec-websocket-key");
    if (!key || !websocket_accept_matches(key->value, head.headers.get("sec-websocket-accept")))
      problem = "invalid Sec-WebSocket-Accept from server";
  }
  if (!problem) return false;
  log_debug("upgrade refused", {{"listener", listener().config->name}, {"pool", pool().config->name},
                                {"server", std::string(server_name_)}, {"reason", problem}});
  if (server_ >= 0) {
    const ServerRuntime& server = pool().servers[server_];
    server.live->failures_total.add(1);
    report_outcome(pool(), server, false, trial_, worker_.now_ns(), problem);
  }
  release_server(false);
  drop_backend();
  send_error(502, "server failed", true);
  return true;
}

void HttpSession::release_server(bool) {
  if (server_ < 0) return;
  pool().servers[server_].live->active.fetch_sub(1, std::memory_order_relaxed);
  server_ = -1;
}

void HttpSession::drop_backend() {
  if (!conn_) return;
  conn_->close();
  conn_ = nullptr;
}

// -------------------------------------------------------------- response side

void HttpSession::on_backend_interim(const http::ResponseHead& head) {
  http::ResponseHeadOptions opt;
  opt.framing = http::Framing::none();
  opt.connection = http::ConnectionMode::Omit;
  std::string& head_buf = worker_.scratch();
  head_buf.clear();
  http::serialize_response_head(head, opt, head_buf);
  write_client(head_buf);
}

void HttpSession::on_backend_head(const http::ResponseHead& head) {
  disarm_timer();
  capture_body_ = false;  // a response byte arrived: no stale replay from here on
  replay_body_.clear();
  if (head.upgrade && reject_upgrade(head)) return;
  uint64_t now = worker_.now_ns();
  upstream_ms_ = static_cast<double>(now - sent_ns_) / 1e6;
  if (server_ >= 0) {
    ServerLive& live = *pool().servers[server_].live;
    live.set_latency(algo::update_latency(live.latency(), upstream_ms_, now));
  }
  if (server_ >= 0 && !head.upgrade) {
    bool server_error = head.status >= 500;
    if (auto retry_on = health::retry_on_for_status(head.status); retry_on && pool().config->retries.retries_on(*retry_on)) {
      // A retryable status: try another server instead of passing it on,
      // while the rules and the budget allow (checked in schedule_retry).
      if (retry_possible()) {
        status_ = head.status;  // backend_failed drops the connection
        backend_failed_status(*retry_on);
        return;
      }
    }
    report_outcome(pool(), pool().servers[server_], !server_error, trial_, now,
                   server_error ? "5xx from server" : nullptr);
    if (server_error) pool().servers[server_].live->failures_total.add(1);
  }
  status_ = head.status;
  response_started_ = true;
  listener().live->count_status(head.status);

  http::ResponseHeadOptions opt;
  if (head.upgrade) {
    opt.framing = http::Framing::none();
    opt.connection = http::ConnectionMode::Upgrade;
  } else {
    opt.framing = http::response_framing(head, parser_->head().http_minor >= 1);
    bool keep = client_keep_alive_ && !stopping_ && opt.framing.kind != http::Framing::Kind::UntilClose;
    client_keep_alive_ = keep;
    // Keep-alive is HTTP/1.1's default; only an HTTP/1.0 client needs it said.
    if (!keep) opt.connection = http::ConnectionMode::Close;
    else opt.connection = parser_->head().http_minor >= 1 ? http::ConnectionMode::Omit : http::ConnectionMode::KeepAlive;
  }
  chunk_response_ = opt.framing.kind == http::Framing::Kind::Chunked && !is_head_;
  // The head waits in the worker's buffer so it leaves in one write with the
  // first body bytes (or the end of the response) of this same read.
  std::string& head_buf = worker_.response_head();
  head_buf.clear();
  http::serialize_response_head(head, opt, head_buf);
  head_pending_ = true;
  if (head.upgrade) {
    flush_response_head();
    if (closing()) return;  // the client went away as the 101 was written
    phase_ = Phase::tunnel;
    response_done_ = true;  // the tunnel's end is not an abort
    release_server(true);
    conn_->become_tunnel(nullptr, 0);
    arm_timer(static_cast<uint64_t>(listener().config->timeouts.client_idle.count()));
    if (!in_.empty()) {
      uv_buf_t b = uv_buf_init(in_.data(), static_cast<unsigned>(in_.size()));
      write_backend(&b, 1);
      in_.clear();
    }
    start_client_reading();
  }
}

void HttpSession::on_backend_body(std::string_view data) {
  uv_buf_t bufs[4];
  size_t n = 0;
  if (head_pending_) bufs[n++] = pending_head_buf();
  http::ChunkHeaderBuf hb;
  if (chunk_response_) {
    std::string_view h = http::chunk_header(data.size(), hb);
    bufs[n++] = uv_buf_init(const_cast<char*>(h.data()), static_cast<unsigned>(h.size()));
  }
  bufs[n++] = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
  if (chunk_response_) bufs[n++] = uv_buf_init(const_cast<char*>(http::kChunkEnd.data()), 2);
  head_pending_ = false;
  write_client(bufs, n);
}

void HttpSession::on_backend_complete() {
  uv_buf_t bufs[2];
  size_t n = 0;
  if (head_pending_) bufs[n++] = pending_head_buf();
  if (chunk_response_) bufs[n++] = uv_buf_init(const_cast<char*>(http::kLastChunk.data()), static_cast<unsigned>(http::kLastChunk.size()));
  head_pending_ = false;
  if (n > 0) write_client(bufs, n);
  if (closing()) return;  // the client went away: close_session logged and dropped everything
  response_done_ = true;
  release_server(true);
  if (conn_) {
    BackendConn* c = conn_;
    conn_ = nullptr;
    if (c->reusable() && request_done_) {
      const auto& ka = pool().config->keepalive;
      worker_.conn_pool().give(c, ka.max_idle, static_cast<uint64_t>(ka.idle_timeout.count()));
    } else {
      c->close();
    }
  }
  if (request_done_) finish_exchange();
  else {
    // The server answered before the request body ended: the rest of the
    // body has nowhere to go, so this client connection ends here.
    client_keep_alive_ = false;
    close_after_flush_ = true;
    maybe_close_after_flush();
  }
}

uv_buf_t HttpSession::pending_head_buf() {
  std::string& h = worker_.response_head();
  return uv_buf_init(h.data(), static_cast<unsigned>(h.size()));
}

void HttpSession::flush_response_head() {
  if (!head_pending_) return;
  head_pending_ = false;
  uv_buf_t b = pending_head_buf();
  write_client(&b, 1);
}

void HttpSession::on_backend_read_done() { flush_response_head(); }

void HttpSession::on_backend_tunnel_data(const char* data, size_t len) {
  arm_timer(static_cast<uint64_t>(listener().config->timeouts.client_idle.count()));
  uv_buf_t b = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(len));
  write_client(&b, 1);
}

void HttpSession::on_backend_tunnel_eof() {
  close_after_flush_ = true;
  maybe_close_after_flush();
}

}  // namespace lb
