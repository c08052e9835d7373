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
  if (s_.completed) return;
  // A retry spends from the pool's budget only when it is actually sent.
  const bool retrying = s_.attempts.count() > 0;
  if (!retrying && pool().config->queue.max != 0) {  // the queue's one branch (exchange_queue.cpp)
    dispatch_with_queue();
    return;
  }
  const bool have_token = !retrying || pool().live->retry_tokens.try_spend();
  // An upgrade never serves as a half-open circuit's trial: its outcome is
  // only known when the tunnel ends, and the probe must not wait that long.
  const ServerRuntime* server = nullptr;
  if (have_token) server = s_.attempts.begin(rt_, s_.pool, s_.hash, worker_.now_ns(), !s_.head->upgrade, s_.sticky_server);
  if (!server) {
    // On a retry with every server tried, report the last failure instead.
    if (retrying && have_token) pool().live->retry_tokens.refund();
    int status = retrying ? s_.last_failure_status : 503;
    answer_locally(status, retrying ? failure_message(status) : "no server available",
                   !s_.request_done && s_.head->has_body);
    return;
  }
  go_to_server(*server, retrying);
}

// The try begun on `server`: a pooled connection to it, or a new one.
void Exchange::go_to_server(const ServerRuntime& server, bool retrying) {
  if (!retrying) pool().live->retry_tokens.on_request(s_.retries->budget_percent);
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
  s_.conn = BackendConn::connect(worker_, server.live, reinterpret_cast<const sockaddr*>(&server.config->address.sockaddr),
                               this, rc, pool().tls, server.config->address.host, server.config->address.text);
  if (!s_.conn) {
    backend_failed(uv_strerror(rc), conf::RetryOn::connect_failure);
    return;
  }
  client_.arm_exchange_timer(static_cast<uint64_t>(s_.timeouts->connect.count()));
}

void Exchange::on_backend_connected(int status) {
  client_.disarm_exchange_timer();
  if (status != 0) {
    s_.conn = nullptr;  // it closed itself
    backend_failed(uv_strerror(status), conf::RetryOn::connect_failure);
    return;
  }
  use_connection(s_.conn);
}

void Exchange::use_connection(BackendConn* conn) {
  s_.conn = conn;
  s_.conn->attach(this);
  s_.conn->expect_response(s_.head->method_id);
  s_.phase = Phase::exchanging;
  if (!send_request_head()) return;
  if (!b().replay_body.empty()) {
    // Replaying on a fresh connection after a stale one: the body sent so far.
    uv_buf_t b = uv_buf_init(edit_b().replay_body.data(), static_cast<unsigned>(edit_b().replay_body.size()));
    if (!write_backend(&b, 1)) return;
    edit_b().replay_body.clear();
  }
  // Only a reused connection can turn out stale; keep what it is sent.
  s_.capture_body = conn->reused() && !s_.stale_retried;
  client_.arm_exchange_timer(static_cast<uint64_t>(s_.timeouts->response.count()));
  if (!s_.request_done) client_.want_request_body();  // buffered body bytes go now
}

bool Exchange::send_request_head() {
  const http::RequestHead& head = *s_.head;
  http::RequestHeadOptions opt;
  opt.framing = http::request_framing(head);
  opt.target = b().target;
  opt.drop = b().request_edits.dropped();
  // lb always speaks HTTP/1.1 to servers, where keep-alive is the default:
  // no Connection header unless upgrading.
  opt.connection = head.upgrade ? http::ConnectionMode::Upgrade : http::ConnectionMode::Omit;
  opt.fallback_host = s_.attempts.server_name();
  http::ForwardedHeaders fwd;
  if (listener().config->forwarded_headers) {
    fwd.client_ip = client_ip();
    if (s_.derived) {
      fwd.replace_chain = true;  // the chain up to the derived client, not the proxies after it
      fwd.chain = b().forwarded_chain;
    }
    fwd.proto = client_.is_tls() ? "https" : "http";
    fwd.host = head.host;
    if (!head.headers.contains("x-request-id")) fwd.request_id = request_id();
    opt.forwarded = &fwd;
  }
  if (const TraceContext* t = trace()) {
    opt.traceparent_line = t->field_line();
    opt.drop_tracestate = !t->continued;
    opt.client_trace_fields = t->client_fields;
  }
  std::string& head_buf = worker_.scratch();
  // Only a TLS client has a certificate (asked first: is_tls() reads a field
  // the request touches anyway, the subject one it does not).
  std::string_view subject = client_.is_tls() ? client_.client_cert_subject() : std::string_view();
  opt.extra = b().request_edits.added();
  if (!subject.empty()) {
    edit_b().request_edits.add_field({"X-Client-Cert-Subject", subject});
    opt.extra = b().request_edits.added();
  }
  head_buf.clear();
  http::serialize_request_head(head, opt, head_buf);
  s_.request_sent = true;
  s_.sent_ns = worker_.now_ns();
  uv_buf_t b = uv_buf_init(head_buf.data(), static_cast<unsigned>(head_buf.size()));
  return write_backend(&b, 1);
}

bool Exchange::write_backend(const uv_buf_t* bufs, size_t n) {
  if (!s_.conn || s_.completed) return true;  // nothing to write to: not a failure of this write
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) total += bufs[i].len;
  s_.conn->server()->bytes_out.add(total);
  if (s_.capture_body) {
    // Body bytes on a reused connection, kept for a stale-connection replay.
    if (b().replay_body.size() + total > kMaxReplayBytes) {
      s_.capture_body = false;
      s_.replay_overflow = true;
      std::string().swap(edit_b().replay_body);
    } else {
      for (size_t i = 0; i < n; ++i) edit_b().replay_body.append(bufs[i].base, bufs[i].len);
    }
  }
  int rc = s_.conn->write(bufs, n);
  if (rc < 0) {
    s_.conn->close();
    on_backend_error("write to server failed", true);
    return false;
  }
  if (write_queued(s_.conn->stream())) client_.pause_request_body();
  return true;
}

void Exchange::hold_server_if_blocked() {
  if (s_.conn && !s_.completed && client_.output_blocked()) s_.conn->pause_reading();
}

void Exchange::on_write_done(uv_stream_t* stream, int status) {
  // A server write finished: resume reading the client if it was held back.
  if (status == 0 && s_.conn && !s_.completed && stream == s_.conn->stream() && !write_queued(stream) &&
      (s_.phase == Phase::tunnel || (s_.phase == Phase::exchanging && !s_.request_done)))
    client_.resume_request_body();
}

// A try failed before any response byte reached the client: retry on another
// server when the rules allow (SPEC section 3 "retries"), else answer 502/504.
void Exchange::backend_failed(const char* reason, conf::RetryOn condition) {
  if (s_.completed) return;
  client_.disarm_exchange_timer();
  log_debug("backend failed", {{"listener", listener().config->name}, {"pool", pool().config->name},
                               {"server", std::string(s_.attempts.server_name())}, {"reason", reason}});
  s_.attempts.fail(reason, worker_.now_ns());
  drop_backend();
  if (s_.response_started) {
    s_.aborted = true;
    s_.completed = true;
    write_access_log();       // the request is over for the client too
    client_.abort_response();  // the client has part of a response: only ending it tells the client
    return;
  }
  s_.last_failure_status = failure_status(condition);
  if (schedule_retry(condition)) return;
  answer_locally(s_.last_failure_status, failure_message(s_.last_failure_status), !s_.request_done);
}

// Only what can be replayed is retried: nothing of the body has been sent,
// and a request that may have reached the server is idempotent or bodiless.
bool Exchange::replayable(conf::RetryOn condition) const {
  return s_.request_body_sent == 0 && !client_.stopping() && s_.retries->retries_on(condition) &&
         s_.attempts.count() < 1 + s_.retries->attempts &&
         (condition == conf::RetryOn::connect_failure || health::is_idempotent(s_.head->method) || !s_.head->has_body);
}

// Each retry spends from the pool's retry budget (when it is sent, in
// dispatch) and waits a jittered backoff.
bool Exchange::schedule_retry(conf::RetryOn condition) {
  if (!replayable(condition) || !another_try_possible()) return false;
  s_.request_sent = false;
  auto delay = health::backoff(s_.attempts.count() - 1, s_.retries->backoff_base, s_.retries->backoff_max, exchange_random());
  s_.phase = Phase::backoff;
  client_.arm_exchange_timer(static_cast<uint64_t>(delay.count()));
  return true;
}

// Whether a retry would find budget and a server not yet tried.
bool Exchange::another_try_possible() {
  return pool().live->retry_tokens.available() && s_.attempts.has_candidate(rt_, worker_.now_ns());
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
  const bool stale = s_.conn && s_.conn->reused() && !s_.conn->response_bytes_seen();
  s_.conn = nullptr;  // already closing itself
  if (s_.phase == Phase::tunnel) {
    s_.completed = true;
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
  if (s_.stale_retried || client_.stopping() || !s_.attempts.server() || s_.response_started || s_.completed) return false;
  if (s_.request_body_sent > 0 && s_.replay_overflow) return false;
  s_.stale_retried = true;
  s_.capture_body = false;
  client_.disarm_exchange_timer();
  log_debug("stale server connection: request replayed on a new one",
            {{"listener", listener().config->name}, {"pool", pool().config->name},
             {"server", std::string(s_.attempts.server_name())}});
  s_.request_sent = false;
  s_.phase = Phase::dispatching;
  connect_server(*s_.attempts.server());
  return true;
}

// A 101 must answer an upgrade the client asked for, and for WebSocket carry
// the right Sec-WebSocket-Accept; otherwise the bytes that follow are not
// what the client agreed to, and lb answers 502 (as HAProxy does).
bool Exchange::reject_upgrade(const http::ResponseHead& head) {
  const http::RequestHead& req = *s_.head;
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
                                {"server", std::string(s_.attempts.server_name())}, {"reason", problem}});
  s_.attempts.fail(problem, worker_.now_ns());
  drop_backend();
  answer_locally(502, "server failed", true);
  return true;
}

void Exchange::drop_backend() {
  if (!s_.conn) return;
  s_.conn->close();
  s_.conn = nullptr;
}

// -------------------------------------------------------------- response side

void Exchange::on_backend_interim(const http::ResponseHead& head) {
  client_.send_interim(head);
  hold_server_if_blocked();
}

void Exchange::on_backend_head(const http::ResponseHead& head) {
  client_.disarm_exchange_timer();
  s_.capture_body = false;  // a response byte arrived: no stale replay from here on
  if (!b().replay_body.empty()) edit_b().replay_body.clear();
  if (head.upgrade && reject_upgrade(head)) return;
  uint64_t now = worker_.now_ns();
  s_.upstream_ms = static_cast<double>(now - s_.sent_ns) / 1e6;
  const ServerRuntime* server = s_.attempts.server();
  if (server) server->live->set_latency(algo::update_latency(server->live->latency(), s_.upstream_ms, now));
  if (server) server->live->upstream_latency.record(now - s_.sent_ns);
  if (server && !head.upgrade) {
    bool server_error = head.status >= 500;
    if (auto retry_on = health::retry_on_for_status(head.status); retry_on && s_.retries->retries_on(*retry_on)) {
      // A retryable status: try another server instead of passing it on,
      // while the rules and the budget allow.
      if (replayable(*retry_on) && another_try_possible()) {
        s_.status = head.status;
        char reason[16];
        snprintf(reason, sizeof reason, "status %d", s_.status);
        backend_failed(reason, *retry_on);
        return;
      }
    }
    report_outcome(pool(), *server, !server_error, s_.attempts.trial(), now, server_error ? "5xx from server" : nullptr);
    if (server_error) server->live->failures_total.add(1);
  }
  s_.status = head.status;
  s_.response_started = true;
  listener().live->count_status(head.status);
  client_.send_response_head(edit_response_head(head));
  if (s_.completed) return;
  hold_server_if_blocked();
  if (!head.upgrade) return;
  // The server accepted the upgrade: a tunnel from here on.
  s_.phase = Phase::tunnel;
  s_.response_done = true;  // the tunnel's end is not an abort
  s_.attempts.release();
  s_.conn->become_tunnel(nullptr, 0);
  client_.arm_exchange_timer(static_cast<uint64_t>(listener().config->timeouts.client_idle.count()));
  client_.start_tunnel();
}

void Exchange::on_backend_body(std::string_view data) {
  client_.send_response_body(data);
  hold_server_if_blocked();
}

void Exchange::on_backend_complete() {
  if (s_.completed) return;
  client_.send_response_end(s_.conn ? s_.conn->trailers() : nullptr);
  if (s_.completed) return;  // the client went away as the end was written
  s_.response_done = true;
  s_.attempts.release();
  if (s_.conn) {
    BackendConn* c = s_.conn;
    s_.conn = nullptr;
    if (c->reusable() && s_.request_done) {
      const auto& ka = pool().config->keepalive;
      worker_.conn_pool().give(c, ka.max_idle, static_cast<uint64_t>(ka.idle_timeout.count()));
    } else {
      c->close();
    }
  }
  // The server may answer before the request body ended: the rest of the
  // body has nowhere to go, so the codec ends the request side here.
  if (!s_.request_done) s_.request_cut_short = s_.request_done = true;
  complete();
}

void Exchange::on_backend_read_done() {
  if (!s_.completed) client_.flush_response();
}

void Exchange::on_backend_tunnel_data(const char* data, size_t len) {
  client_.arm_exchange_timer(static_cast<uint64_t>(listener().config->timeouts.client_idle.count()));
  client_.send_tunnel_data(std::string_view(data, len));
  hold_server_if_blocked();
}

void Exchange::on_backend_tunnel_eof() {
  if (!s_.completed) client_.end_tunnel();
}

}  // namespace lb
