// lb/exchange/exchange.cpp — the request side of an exchange: rate limit and
// routing on the head, lb's own answers, request body forwarding, deadlines
// and the end of the exchange. The server side (tries, retries, response
// relay) lives in exchange_upstream.cpp, the access line in exchange_log.cpp.
#include "lb/exchange/exchange.h"

#include <memory>

#include "lb/exchange/rate_limiter.h"
#include "lb/exchange/routing.h"
#include "lb/http1/http_serialize.h"

namespace lb {

Exchange::Exchange(Worker& worker, WorkerRuntime& rt, uint32_t listener, ClientStream& client, uint64_t start_ns)
    : worker_(worker), rt_(rt), listener_(listener), client_(client) {
  s_.start_ns = start_ns;
}

Exchange::~Exchange() { release_resources(); }

const Exchange::Buffers Exchange::kNoBuffers{};

void Exchange::release_resources() {
  if (s_.admission_used) {
    if (adm_.auth_job) {
      adm_.auth_job->detach();
      adm_.auth_job = nullptr;
    }
    if (adm_.store_call.pending()) adm_.store_call.cancel();  // a Redis answer never reaches a finished exchange
  }
  // Tested here, not only inside: this runs twice per request (finish() and
  // the next begin_request()), usually with nothing to let go of.
  if (queued()) abandon_queue();
  if (s_.attempts.server_index() >= 0) s_.attempts.release();
  if (s_.conn) drop_backend();
}

void Exchange::finish() { release_resources(); }

void Exchange::begin_request(uint64_t start_ns) {
  if (used_) {
    release_resources();
    if (s_.admission_used) std::construct_at(&adm_);
    std::construct_at(&s_);  // the whole state anew, in place
    if (buffers_touched_) {
      buffers_touched_ = false;
      buf_.clear();
    }
  }
  used_ = true;
  s_.start_ns = start_ns;
}

namespace {

// Empties `s` for the next request; a buffer that grew past this is given
// back rather than kept per idle connection (a replayed request body may
// reach 64 KiB).
inline void reuse(std::string& s) {
  constexpr size_t kKeepCapacity = 4096;
  if (s.capacity() > kKeepCapacity) std::string().swap(s);
  else s.clear();
}

}  // namespace

void Exchange::Buffers::clear() {
  reuse(path_buf);
  reuse(target);
  reuse(location);
  reuse(sticky_cookie);
  reuse(derived_ip);
  reuse(forwarded_chain);
  reuse(www_authenticate);
  reuse(kept_cookies);
  reuse(replay_body);
  request_edits.reset();
  response_edits.reset();
  edited_head.headers.fields.clear();
  jwt_claims.reset();
  claim_texts.clear();
  query_override.reset();
}

void Exchange::on_request_head(const http::RequestHead& head) {
  listener().live->requests_total.add(1);
  s_.start_ns = worker_.now_ns();
  s_.head = &head;
  s_.chunk_request = head.chunked;
  s_.phase = Phase::dispatching;
  if (listener().trusted_proxies) derive_client(head);
  // SPEC 11's order: access, auth, rate limits, then the route's action.
  if (!match_route(head)) return;
  if (admission_checks()) {
    if (!admit_access(head)) return;
    switch (authenticate(head)) {
      case AuthStep::refused: return;
      case AuthStep::pending: return;  // on_basic_auth_result continues
      case AuthStep::passed: break;
    }
  }
  finish_admission();
}

// The steps after authentication (also reached from an asynchronous check).
void Exchange::finish_admission() {
  const http::RequestHead& head = *s_.head;
  // Refused: answered. Pending: on_redis_reply comes back here.
  if (admission_checks() && admit_rate(head) != AuthStep::passed) return;
  if (!act(head)) return;
  if (auth_edits() || request_rules()) prepare_request_edits();
  if (pool().config->sticky) choose_sticky(head);
  s_.hash = uses_request_hash(this->pool().config->algorithm)
              ? request_hash(this->pool().config->hash_key, head, client_sockaddr())
              : 0;
}

void Exchange::resume_admission() {
  finish_admission();
  if (s_.completed || s_.phase != Phase::dispatching || !s_.start_requested) return;
  s_.start_requested = false;
  start();
}

void Exchange::start() {
  if (s_.phase == Phase::authenticating || s_.phase == Phase::limiting) {
    s_.start_requested = true;  // dispatched once the credentials are checked (or Redis answered)
    return;
  }
  if (s_.phase != Phase::dispatching || s_.response_done) return;
  if (s_.fault_delay) {
    // An injected delay (SPEC 10 "fault") waits like a backoff, then dispatches.
    s_.fault_delay = false;
    s_.phase = Phase::backoff;
    client_.arm_exchange_timer(static_cast<uint64_t>(s_.route->config->fault->delay.count()));
    return;
  }
  dispatch();
}

void Exchange::refuse_request(int status, std::string_view reason, bool close_after) {
  if (!s_.head) listener().live->requests_total.add(1);  // a parsed head was counted already
  abandon_queue();
  s_.attempts.release();
  drop_backend();
  if (s_.response_started) {
    s_.aborted = true;  // the server is already answering: only ending the stream tells the client
    s_.response_done = s_.request_done = s_.completed = true;
    client_.abort_response();
    return;
  }
  answer_locally(status, reason, close_after);
}

void Exchange::on_request_body(std::string_view data) {
  if (!s_.conn) return;  // a local answer is being given; the body is dropped
  s_.request_body_sent += data.size();
  if (s_.chunk_request) {
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
  s_.request_done = true;
  if (s_.conn && s_.chunk_request) {
    std::string& last = worker_.scratch();
    http::serialize_last_chunk(s_.request_trailers, last);
    uv_buf_t b = uv_buf_init(last.data(), static_cast<unsigned>(last.size()));
    if (!write_backend(&b, 1)) return;
  }
  maybe_complete();
}

void Exchange::maybe_complete() {
  if (s_.response_done && s_.request_done && !s_.completed) complete();
}

// The last thing an exchange does: the codec may destroy it inside this call.
void Exchange::complete() {
  s_.completed = true;
  client_.exchange_complete();
}

void Exchange::on_timeout() {
  switch (s_.phase) {
    case Phase::dispatching:
      backend_failed("connect timeout", conf::RetryOn::connect_failure);
      break;
    case Phase::backoff:
      s_.phase = Phase::dispatching;
      dispatch();
      break;
    case Phase::exchanging:
      if (!s_.response_started) backend_failed("response timeout", conf::RetryOn::timeout);
      break;
    case Phase::tunnel:  // idle tunnel: the client side closes
      s_.completed = true;
      client_.abort_response();
      break;
    case Phase::receiving:
    case Phase::authenticating:  // no exchange timer runs while credentials are checked
    case Phase::limiting:        // nor while Redis is asked (the call has its own timeout)
    case Phase::queued:  // the queue keeps its own deadline (PoolQueues)
      break;
  }
}

void Exchange::on_client_drained() {
  if (s_.conn) s_.conn->resume_reading();
}

void Exchange::on_tunnel_data(std::string_view data) {
  uv_buf_t b = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
  (void)write_backend(&b, 1);
}

void Exchange::on_tunnel_client_eof() {
  if (!s_.conn) return;
  // Pass the half-close on; the server's EOF ends the tunnel.
  auto* req = new uv_shutdown_t;  // freed in its callback
  if (uv_shutdown(req, s_.conn->stream(), [](uv_shutdown_t* r, int) { delete r; }) != 0) delete req;
}

// The session is closing in the middle of an exchange: a response cut off
// (server or client gone), a tunnel's end, lb's own answer that closes the
// connection, or a client that left before any answer (logged as 499, the
// status nginx uses for it, with "aborted": true).
void Exchange::on_client_gone() {
  abandon_queue();
  s_.completed = true;  // no more calls into the client side
  if (!s_.logged && s_.head) {
    if (s_.status == 0) {
      s_.status = 499;
      s_.aborted = true;
    } else if (!s_.response_done) {
      s_.aborted = true;
    }
    write_access_log();
  }
  s_.attempts.release();
  drop_backend();
}

}  // namespace lb
