// lb/exchange/exchange.cpp — the request side of an exchange: rate limit and
// routing on the head, lb's own answers, request body forwarding, deadlines
// and the end of the exchange. The server side (tries, retries, response
// relay) lives in exchange_upstream.cpp, the access line in exchange_log.cpp.
#include "lb/exchange/exchange.h"

#include "lb/exchange/rate_limiter.h"
#include "lb/exchange/routing.h"
#include "lb/http1/http_serialize.h"

namespace lb {

Exchange::Exchange(Worker& worker, WorkerRuntime& rt, uint32_t listener, ClientStream& client, uint64_t start_ns)
    : worker_(worker), rt_(rt), listener_(listener), client_(client), start_ns_(start_ns) {}

Exchange::~Exchange() {
  if (auth_job_) auth_job_->detach();
  attempts_.release();
  drop_backend();
}

void Exchange::on_request_head(const http::RequestHead& head) {
  listener().live->requests_total.add(1);
  start_ns_ = worker_.now_ns();
  head_ = &head;
  chunk_request_ = head.chunked;
  phase_ = Phase::dispatching;
  if (listener().trusted_proxies) derive_client(head);
  // SPEC 11's order: access, auth, rate limits, then the route's action.
  if (!match_route(head) || !admit_access(head)) return;
  switch (authenticate(head)) {
    case AuthStep::refused: return;
    case AuthStep::pending: return;  // on_basic_auth_result continues
    case AuthStep::passed: break;
  }
  finish_admission();
}

// The steps after authentication (also reached from an asynchronous check).
void Exchange::finish_admission() {
  const http::RequestHead& head = *head_;
  if (!admit_rate(head) || !act(head)) return;
  prepare_request_edits();
  if (pool().config->sticky) choose_sticky(head);
  hash_ = uses_request_hash(this->pool().config->algorithm)
              ? request_hash(this->pool().config->hash_key, head, client_sockaddr())
              : 0;
}

void Exchange::start() {
  if (phase_ == Phase::authenticating) {
    start_requested_ = true;  // dispatched once the credentials are checked
    return;
  }
  if (phase_ != Phase::dispatching || response_done_) return;
  if (fault_delay_) {
    // An injected delay (SPEC 10 "fault") waits like a backoff, then dispatches.
    fault_delay_ = false;
    phase_ = Phase::backoff;
    client_.arm_exchange_timer(static_cast<uint64_t>(route_->config->fault->delay.count()));
    return;
  }
  dispatch();
}

void Exchange::refuse_request(int status, std::string_view reason, bool close_after) {
  if (!head_) listener().live->requests_total.add(1);  // a parsed head was counted already
  abandon_queue();
  attempts_.release();
  drop_backend();
  if (response_started_) {
    aborted_ = true;  // the server is already answering: only ending the stream tells the client
    response_done_ = request_done_ = completed_ = true;
    client_.abort_response();
    return;
  }
  answer_locally(status, reason, close_after);
}

void Exchange::on_request_body(std::string_view data) {
  if (!conn_) return;  // a local answer is being given; the body is dropped
  request_body_sent_ += data.size();
  if (chunk_request_) {
    http::ChunkHeaderBuf hb;
    std::string_view h = http::chunk_header(data.size(), hb);
    uv_buf_t bufs[3] = {uv_buf_init(const_cast<char*>(h.data()), static_cast<unsigned>(h.size())),
                        uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size())),
                        uv_buf_init(const_cast<char*>(http::kChunkEnd.data()), 2)};
    (void)write_backend(bufs, 3);  // a failure is handled inside; nothing follows here
  } else {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
    (void)write_backend(&b, 1);
  }
}

void Exchange::on_request_complete() {
  request_done_ = true;
  if (conn_ && chunk_request_) {
    std::string& last = worker_.scratch();
    http::serialize_last_chunk(request_trailers_, last);
    uv_buf_t b = uv_buf_init(last.data(), static_cast<unsigned>(last.size()));
    if (!write_backend(&b, 1)) return;
  }
  maybe_complete();
}

void Exchange::maybe_complete() {
  if (response_done_ && request_done_ && !completed_) complete();
}

// The last thing an exchange does: the codec may destroy it inside this call.
void Exchange::complete() {
  completed_ = true;
  client_.exchange_complete();
}

void Exchange::on_timeout() {
  switch (phase_) {
    case Phase::dispatching:
      backend_failed("connect timeout", conf::RetryOn::connect_failure);
      break;
    case Phase::backoff:
      phase_ = Phase::dispatching;
      dispatch();
      break;
    case Phase::exchanging:
      if (!response_started_) backend_failed("response timeout", conf::RetryOn::timeout);
      break;
    case Phase::tunnel:  // idle tunnel: the client side closes
      completed_ = true;
      client_.abort_response();
      break;
    case Phase::receiving:
    case Phase::authenticating:  // no exchange timer runs while credentials are checked
    case Phase::queued:  // the queue keeps its own deadline (PoolQueues)
      break;
  }
}

void Exchange::on_client_drained() {
  if (conn_) conn_->resume_reading();
}

void Exchange::on_tunnel_data(std::string_view data) {
  uv_buf_t b = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
  (void)write_backend(&b, 1);
}

void Exchange::on_tunnel_client_eof() {
  if (!conn_) return;
  // Pass the half-close on; the server's EOF ends the tunnel.
  auto* req = new uv_shutdown_t;  // freed in its callback
  if (uv_shutdown(req, conn_->stream(), [](uv_shutdown_t* r, int) { delete r; }) != 0) delete req;
}

// The session is closing in the middle of an exchange: a response cut off
// (server or client gone), a tunnel's end, lb's own answer that closes the
// connection, or a client that left before any answer (logged as 499, the
// status nginx uses for it, with "aborted": true).
void Exchange::on_client_gone() {
  abandon_queue();
  completed_ = true;  // no more calls into the client side
  if (!logged_ && head_) {
    if (status_ == 0) {
      status_ = 499;
      aborted_ = true;
    } else if (!response_done_) {
      aborted_ = true;
    }
    write_access_log();
  }
  attempts_.release();
  drop_backend();
}

}  // namespace lb
