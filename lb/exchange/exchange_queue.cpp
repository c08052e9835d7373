// lb/exchange/exchange_queue.cpp — the first try of a request at a pool with
// a queue (SPEC 11 "Queue"): when only max_connections stands between the
// request and a server, it waits in the pool's queue (lb/upstream/
// pool_queues.h) instead of getting 503 at once; it leaves it for a server
// when its turn comes, or with 503 + Retry-After when the queue is full or
// its wait reaches `timeout`. A client that goes away while waiting leaves
// the queue in on_client_gone (or the QueueWaiter destructor).
//
// Pools without a queue never come here (one branch in dispatch()), and
// retries never wait: a retry that finds no server answers as before.
#include "lb/exchange/exchange.h"

namespace lb {

const ServerRuntime* Exchange::try_server(uint64_t now_ns) {
  return s_.attempts.try_begin(rt_, s_.pool, s_.hash, now_ns, !s_.head->upgrade, s_.sticky_server);
}

// 503 + Retry-After with lb's JSON body (or the listener's error page),
// counted as a request for which the pool had no server. `later`: answered
// after the request waited (from the queue's timer or a turn), outside the
// codec's parsing: an HTTP/1.1 codec has not parsed the end of a bodiless
// request yet (it stops at the head until a server is ready), so it is asked
// to now, and the exchange completes without closing the connection. The
// exchange may be gone when this returns.
void Exchange::refuse_no_server(std::string_view message, bool later) {
  pool().live->no_server_total.add(1);
  const bool close_after = !s_.request_done && s_.head->has_body;
  const bool ends_here = s_.request_done || close_after;  // answer_locally completes the exchange
  answer_locally(503, message, close_after);
  if (later && !ends_here) client_.want_request_body();
}

void Exchange::dispatch_with_queue() {
  const uint64_t now = worker_.now_ns();
  // While others wait, a new request queues behind them rather than take a
  // slot freed for the oldest one.
  const bool others_wait = pool().live->queue.waiting.load(std::memory_order_relaxed) != 0;
  const ServerRuntime* server = others_wait ? nullptr : try_server(now);
  if (server) {
    go_to_server(*server, false);
    return;
  }
  // Down, draining, ejected servers: no wait would help, the usual 503.
  if (!s_.attempts.has_candidate_if_uncapped(rt_, s_.pool, now)) {
    refuse_no_server("no server available", false);
    return;
  }
  if (worker_.queues().enter(pool(), *this, now)) {
    s_.phase = Phase::queued;
    client_.watch_client();
    return;
  }
  // Full. With others waiting, a slot may still be free this moment.
  if (others_wait && (server = try_server(now))) {
    go_to_server(*server, false);
    return;
  }
  refuse_no_server("no server available: the pool's queue is full", false);
}

// A slot may have freed. Leaves the queue (for a server, or with the usual
// 503 when the pool has no server left that could take the request) and
// returns true, or keeps its place and returns false.
bool Exchange::on_queue_turn() {
  const uint64_t now = worker_.now_ns();
  s_.attempts.forget_refusals();
  const ServerRuntime* server = try_server(now);
  if (!server && s_.attempts.has_candidate_if_uncapped(rt_, s_.pool, now)) return false;
  leave_queue_served();
  s_.phase = Phase::dispatching;
  // Either call may end the exchange: nothing is touched after it.
  if (server) go_to_server(*server, false);
  else refuse_no_server("no server available", true);
  return true;
}

// Removed from the queue (counted) before this call.
void Exchange::on_queue_timeout() {
  s_.phase = Phase::dispatching;
  refuse_no_server("no server available: timed out in the pool's queue", true);
}

}  // namespace lb
