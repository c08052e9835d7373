// lb/exchange/exchange_upstream.cpp — the server side of an exchange:
// choosing a server, connecting or taking a pooled connection, forwarding the
// request head, retries (rules, budget, backoff), the stale-connection
// replay, and relaying the response to the client stream.
#include <strings.h>

#include <cstring>

#include "algorithms/latency.h"
#include "health/retry_policy.h"
#include "lb/exchange/exchange.h"
#include "lb/http/websocket.h"
#include "lb/http1/http_serialize.h"
#include "lb/io/log.h"
#include "lb/upstream/server_health.h"

namespace lb {

namespace {
bool write_queued(uv_stream_t* s) { return uv_stream_get_write_queue_size(s) > 0; }

}  // namespace

// Each worker thread's own splitmix64 stream.
uint64_t exchange_random() {
  thread_local algo::SplitMix64 rng{uv_hrtime() ^ (reinterpret_cast<uintptr_t>(&rng) << 16)};
  return rng.next();
}

void Exchange::dispatch() {
  if (completed_) return;
  // A retry spends from the pool's budget only when it is actually sent.
  const bool retrying = attempts_.count() > 0;
  if (!retrying && pool().config->queue.max != 0) {  // the queue's one branch (exchange_queue.cpp)
    dispatch_with_queue();
    return;
  }
  const bool have_token = !retrying || pool().live->retry_tokens.try_spend();
  // An upgrade never serves as a half-open circuit's trial: its outcome is
  // only known when the tunnel ends, and the probe must not wait that long.
  const ServerRuntime* server = nullptr;
  if (have_token) server = attempts_.begin(rt_, pool_, hash_, worker_.now_ns(), !head_->upgrade, sticky_server_);
  if (!server) {
    // On a retry with every server tried, report the last failure instead.
    if (retrying && have_token) pool().live->retry_tokens.refund();
    int status = retrying ? last_failure_status_ : 503;
    answer_locally(status, retrying ? failure_message(status) : "no server available",
                   !request_done_ && head_->has_body);
    return;
  }
  go_to_server(*server, retrying);
}

// The try begun on `server`: a pooled connection to it, or a new one.
void Exchange::go_to_server(const ServerRuntime& server, bool retrying) {
  if (!retrying) pool().live->retry_tokens.on_request(retries_->budget_percent);
  if (pool().config->sticky) note_sticky_choice(server);
  if (BackendConn* idle = worker_.conn_pool().take(server.live.get())) {
    use_connection(idle);
    return;
  }
  connect_server(server);
}

// A new connection to `server` (the current try); the outcome arrives in
// on_backend_connected.
void Exchange::connect_server(const ServerRuntime& server) {
  int rc = 0;
  conn_ = BackendConn::connect(worker_, server.live, reinterpret_cast<const sockaddr*>(&server.config->address.sockaddr),
                               this, rc, pool().tls, server.config->address.host, server.config->address.text);
  if (!conn_) {
    backend_failed(uv_strerror(rc), conf::RetryOn::connect_failure);
    return;
  }
  client_.arm_exchange_timer(static_cast<uint64_t>(timeouts_->connect.count()));
}

void Exchange::on_backend_connected(int status) {
  client_.disarm_exchange_timer();
  if (status != 0) {
    conn_ = nullptr;  // it closed itself
    backend_failed(uv_strerror(status), conf::RetryOn::connect_failure);
    return;
  }
  use_connection(conn_);
}

void Exchange::use_connection(BackendConn* conn) {
  conn_ = conn;
  conn_->attach(this);
  conn_->expect_response(head_->method_id);
  phase_ = Phase::exchanging;
  if (!send_request_head()) return;
  if (!replay_body_.empty()) {
    // Replaying on a fresh connection after a stale one: the body sent so far.
    uv_buf_t b = uv_buf_init(replay_body_.data(), static_cast<unsigned>(replay_body_.size()));
    if (!write_backend(&b, 1)) return;
    replay_body_.clear();
  }
  // Only a reused connection can turn out stale; keep what it is sent.
  capture_body_ = conn->reused() && !stale_retried_;
  client_.arm_exchange_timer(static_cast<uint64_t>(timeouts_->response.count()));
  if (!request_done_) client_.want_request_body();  // buffered body bytes go now
}

bool Exchange::send_request_head() {
  const http::RequestHead& head = *head_;
  http::RequestHeadOptions opt;
  opt.framing = http::request_framing(head);
  opt.target = target_;
  opt.drop = request_edits_.dropped();
  // lb always speaks HTTP/1.1 to servers, where keep-alive is the default:
  // no Connection header unless upgrading.
  opt.connection = head.upgrade ? http::ConnectionMode::Upgrade : http::ConnectionMode::Omit;
  opt.fallback_host = attempts_.server_name();
  http::ForwardedHeaders fwd;
  if (listener().config->forwarded_headers) {
    fwd.client_ip = client_ip();
    if (derived_) {
      fwd.replace_chain = true;  // the chain up to the derived client, not the proxies after it
      fwd.chain = forwarded_chain_;
    }
    fwd.proto = client_.is_tls() ? "https" : "http";
    fwd.host = head.host;
    if (!head.headers.contains("x-request-id")) fwd.request_id = request_id();
    opt.forwarded = &fwd;
  }
  if (const TraceContext* t = trace()) {
    opt.traceparent_line = t->field_line();
    opt.drop_tracestate = !t->continued;
  }
  std::string& head_buf = worker_.scratch();
  std::string_view subject = client_.client_cert_subject();
  opt.extra = request_edits_.added();
  if (!subject.empty()) {
    request_edits_.add_field({"X-Client-Cert-Subject", subject});
    opt.extra = request_edits_.added();
  }
  head_buf.clear();
  http::serialize_request_head(head, opt, head_buf);
  request_sent_ = true;
  sent_ns_ = worker_.now_ns();
  uv_buf_t b = uv_buf_init(head_buf.data(), static_cast<unsigned>(head_buf.size()));
  return write_backend(&b, 1);
}

bool Exchange::write_backend(const uv_buf_t* bufs, size_t n) {
  if (!conn_ || completed_) return true;  // nothing to write to: not a failure of this write
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) total += bufs[i].len;
  conn_->server()->bytes_out.add(total);
  if (capture_body_) {
    // Body bytes on a reused connection, kept for a stale-connection replay.
    if (replay_body_.size() + total > kMaxReplayBytes) {
      capture_body_ = false;
      replay_overflow_ = true;
      std::string().swap(replay_body_);
    } else {
      for (size_t i = 0; i < n; ++i) replay_body_.append(bufs[i].base, bufs[i].len);
    }
  }
  int rc = conn_->write(bufs, n);
  if (rc < 0) {
    conn_->close();
    on_backend_error("write to server failed", true);
    return false;
  }
  if (write_queued(conn_->stream())) client_.pause_request_body();
  return true;
}

void Exchange::hold_server_if_blocked() {
  if (conn_ && !completed_ && client_.output_blocked()) conn_->pause_reading();
}

void Exchange::on_write_done(uv_stream_t* stream, int status) {
  // A server write finished: resume reading the client if it was held back.
  if (status == 0 && conn_ && !completed_ && stream == conn_->stream() && !write_queued(stream) &&
      (phase_ == Phase::tunnel || (phase_ == Phase::exchanging && !request_done_)))
    client_.resume_request_body();
}

// A try failed before any response byte reached the client: retry on another
// server when the rules allow (SPEC section 3 "retries"), else answer 502/504.
void Exchange::backend_failed(const char* reason, conf::RetryOn condition) {
  if (completed_) return;
  client_.disarm_exchange_timer();
  log_debug("backend failed", {{"listener", listener().config->name}, {"pool", pool().config->name},
                               {"server", std::string(attempts_.server_name())}, {"reason", reason}});
  attempts_.fail(reason, worker_.now_ns());
  drop_backend();
  if (response_started_) {
    aborted_ = true;
    completed_ = true;
    write_access_log();       // the request is over for the client too
    client_.abort_response();  // the client has part of a response: only ending it tells the client
    return;
  }
  last_failure_status_ = failure_status(condition);
  if (schedule_retry(condition)) return;
  answer_locally(last_failure_status_, failure_message(last_failure_status_), !request_done_);
}

// Only what can be replayed is retried: nothing of the body has been sent,
// and a request that may have reached the server is idempotent or bodiless.
bool Exchange::replayable(conf::RetryOn condition) const {
  return request_body_sent_ == 0 && !client_.stopping() && retries_->retries_on(condition) &&
         attempts_.count() < 1 + retries_->attempts &&
         (condition == conf::RetryOn::connect_failure || health::is_idempotent(head_->method) || !head_->has_body);
}

// Each retry spends from the pool's retry budget (when it is sent, in
// dispatch) and waits a jittered backoff.
bool Exchange::schedule_retry(conf::RetryOn condition) {
  if (!replayable(condition) || !another_try_possible()) return false;
  request_sent_ = false;
  auto delay = health::backoff(attempts_.count() - 1, retries_->backoff_base, retries_->backoff_max, exchange_random());
  phase_ = Phase::backoff;
  client_.arm_exchange_timer(static_cast<uint64_t>(delay.count()));
  return true;
}

// Whether a retry would find budget and a server not yet tried.
bool Exchange::another_try_possible() {
  return pool().live->retry_tokens.available() && attempts_.has_candidate(rt_, worker_.now_ns());
}

const char* Exchange::failure_message(int status) {
  switch (status) {
    case 503: return "server unavailable";
    case 504: return "server too slow";
    default: return "server failed";
  }
}

// The status lb answers with when `condition` ends the request.
int Exchange::failure_status(conf::RetryOn condition) {
  switch (condition) {
    case conf::RetryOn::timeout: return 504;
    case conf::RetryOn::status_503: return 503;
    case conf::RetryOn::status_504: return 504;
    default: return 502;
  }
}

void Exchange::on_backend_error(const char* reason, bool) {
  // A reused connection that fails before any response byte was most likely
  // closed by the server while idle: not the server's failure, not a retry.
  // (EOF and RST before a complete response are both "reset" for retries.)
  const bool stale = conn_ && conn_->reused() && !conn_->response_bytes_seen();
  conn_ = nullptr;  // already closing itself
  if (phase_ == Phase::tunnel) {
    completed_ = true;
    client_.abort_response();
    return;
  }
  if (stale && retry_stale_connection()) return;
  backend_failed(reason, conf::RetryOn::reset);
}

// Replays the request once on a fresh connection to the same server, like
// HAProxy and nginx do: no retry budget, no retry counted, no breaker report.
// Possible while the body sent so far was kept (see kMaxReplayBytes).
bool Exchange::retry_stale_connection() {
  if (stale_retried_ || client_.stopping() || !attempts_.server() || response_started_ || completed_) return false;
  if (request_body_sent_ > 0 && replay_overflow_) return false;
  stale_retried_ = true;
  capture_body_ = false;
  client_.disarm_exchange_timer();
  log_debug("stale server connection: request replayed on a new one",
            {{"listener", listener().config->name}, {"pool", pool().config->name},
             {"server", std::string(attempts_.server_name())}});
  request_sent_ = false;
  phase_ = Phase::dispatching;
  connect_server(*attempts_.server());
  return true;
}

// A 101 must answer an upgrade the client asked for, and for WebSocket carry
// the right Sec-WebSocket-Accept; otherwise the bytes that follow are not
// what the client agreed to, and lb answers 502 (as HAProxy does).
bool Exchange::reject_upgrade(const http::ResponseHead& head) {
  const http::RequestHead& req = *head_;
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
                                {"server", std::string(attempts_.server_name())}, {"reason", problem}});
  attempts_.fail(problem, worker_.now_ns());
  drop_backend();
  answer_locally(502, "server failed", true);
  return true;
}

void Exchange::drop_backend() {
  if (!conn_) return;
  conn_->close();
  conn_ = nullptr;
}

// -------------------------------------------------------------- response side

void Exchange::on_backend_interim(const http::ResponseHead& head) {
  client_.send_interim(head);
  hold_server_if_blocked();
}

void Exchange::on_backend_head(const http::ResponseHead& head) {
  client_.disarm_exchange_timer();
  capture_body_ = false;  // a response byte arrived: no stale replay from here on
  replay_body_.clear();
  if (head.upgrade && reject_upgrade(head)) return;
  uint64_t now = worker_.now_ns();
  upstream_ms_ = static_cast<double>(now - sent_ns_) / 1e6;
  const ServerRuntime* server = attempts_.server();
  if (server) server->live->set_latency(algo::update_latency(server->live->latency(), upstream_ms_, now));
  if (server) server->live->upstream_latency.record(now - sent_ns_);
  if (server && !head.upgrade) {
    bool server_error = head.status >= 500;
    if (auto retry_on = health::retry_on_for_status(head.status); retry_on && retries_->retries_on(*retry_on)) {
      // A retryable status: try another server instead of passing it on,
      // while the rules and the budget allow.
      if (replayable(*retry_on) && another_try_possible()) {
        status_ = head.status;
        char reason[16];
        snprintf(reason, sizeof reason, "status %d", status_);
        backend_failed(reason, *retry_on);
        return;
      }
    }
    report_outcome(pool(), *server, !server_error, attempts_.trial(), now, server_error ? "5xx from server" : nullptr);
    if (server_error) server->live->failures_total.add(1);
  }
  status_ = head.status;
  response_started_ = true;
  listener().live->count_status(head.status);
  client_.send_response_head(edit_response_head(head));
  if (completed_) return;
  hold_server_if_blocked();
  if (!head.upgrade) return;
  // The server accepted the upgrade: a tunnel from here on.
  phase_ = Phase::tunnel;
  response_done_ = true;  // the tunnel's end is not an abort
  attempts_.release();
  conn_->become_tunnel(nullptr, 0);
  client_.arm_exchange_timer(static_cast<uint64_t>(listener().config->timeouts.client_idle.count()));
  client_.start_tunnel();
}

void Exchange::on_backend_body(std::string_view data) {
  client_.send_response_body(data);
  hold_server_if_blocked();
}

void Exchange::on_backend_complete() {
  if (completed_) return;
  client_.send_response_end(conn_ ? conn_->trailers() : nullptr);
  if (completed_) return;  // the client went away as the end was written
  response_done_ = true;
  attempts_.release();
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
  // The server may answer before the request body ended: the rest of the
  // body has nowhere to go, so the codec ends the request side here.
  if (!request_done_) request_cut_short_ = request_done_ = true;
  complete();
}

void Exchange::on_backend_read_done() {
  if (!completed_) client_.flush_response();
}

void Exchange::on_backend_tunnel_data(const char* data, size_t len) {
  client_.arm_exchange_timer(static_cast<uint64_t>(listener().config->timeouts.client_idle.count()));
  client_.send_tunnel_data(std::string_view(data, len));
  hold_server_if_blocked();
}

void Exchange::on_backend_tunnel_eof() {
  if (!completed_) client_.end_tunnel();
}

}  // namespace lb
