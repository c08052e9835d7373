// lb/http1/connection_timers.cpp — the deadlines of an HttpConnection on its
// one uv timer: the phase's deadline (tls_handshake, request_header, the
// exchange's connect/response/backoff, client_idle, the HTTP/2 codec's), and
// the slow-client clocks of SPEC 11: body_idle (no request-body byte → 408)
// and send (the client accepts no response byte → closed). Shared by the
// HTTP/1.1 codec and, through the Transport, the HTTP/2 one.
#include "lb/http1/connection.h"
#include "lb/core/tls_handshake_count.h"
#include "lb/http2/session.h"
#include "lb/io/log.h"
#include "tls/connection.h"

namespace lb {

// ------------------------------------------------------------------ deadlines

// One uv timer, kept lazily, for three clocks: the phase's deadline
// (deadline_ms_, one at a time), the request body's idle clock and the send
// clock. A keep-alive request moves the deadline up to five times (head,
// dispatch, response, idle), and the clocks move with every read or write;
// restarting the uv timer each time would be a timer-heap removal and
// insertion. The timer is restarted only when it would fire too late; when
// it fires early it looks at the clocks, acts on what is due and re-arms
// itself for the rest (a disarmed deadline or a stopped clock is a no-op).
void HttpConnection::arm_timer(uint64_t ms) {
  deadline_ms_ = uv_now(worker_.loop()) + ms;
  fire_within(ms);
}

// The timer fires no later than `due_ms` (loop time).
void HttpConnection::ensure_timer(uint64_t due_ms) {
  const uint64_t now = uv_now(worker_.loop());
  fire_within(due_ms > now ? due_ms - now : 0);
}

void HttpConnection::fire_within(uint64_t ms) {
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_)) || uv_timer_get_due_in(&timer_) > ms)
    uv_timer_start(&timer_, &HttpConnection::on_timer, ms, 0);
}

void HttpConnection::rearm_timer() {
  const conf::ListenerTimeouts& t = listener().config->timeouts;
  uint64_t next = deadline_ms_;
  auto consider = [&next](uint64_t at) {
    if (next == 0 || at < next) next = at;
  };
  if (body_since_ms_ != 0) consider(body_since_ms_ + static_cast<uint64_t>(t.body_idle.count()));
  if (send_since_ms_ != 0) consider(send_since_ms_ + static_cast<uint64_t>(t.send.count()));
  if (next != 0) ensure_timer(next);
}

void HttpConnection::on_timer(uv_timer_t* t) {
  auto* s = static_cast<HttpConnection*>(t->data);
  if (s->closing()) return;
  const uint64_t now = uv_now(s->worker_.loop());
  if (s->send_since_ms_ != 0 && s->check_send(now)) return;
  if (s->body_since_ms_ != 0 && s->check_body(now)) return;
  if (s->deadline_ms_ != 0 && now >= s->deadline_ms_) {
    s->deadline_ms_ = 0;
    s->on_deadline();  // may end the exchange or the connection
  }
  if (!s->closing()) s->rearm_timer();
}

void HttpConnection::on_deadline() {
  switch (phase_) {
    case Phase::idle:
      close_session();
      break;
    case Phase::head:
      if (tls_ && !tls_->handshake_done()) {
        count_tls_handshake_timeout(listener().live->tls_handshakes);
        close_session();  // tls_handshake deadline
        break;
      }
      if (in_.empty() && !in_request()) {
        close_session();  // nothing sent at all: just close, like an idle connection
        break;
      }
      exchange_.refuse_request(408, "request header timeout", true);
      break;
    case Phase::exchange:
      exchange_.on_timeout();  // may end the exchange: touch nothing after
      break;
    case Phase::http2:
      if (lingering_) close_session();
      else http2_->on_timer();
      break;
    case Phase::closing:
      break;
  }
}

// ------------------------------------------------------------- slow clients

// A request body is being read: the exchange forwards it to its server and
// lb is not done with the request (SPEC 11 body_idle). While the exchange is
// still choosing or connecting its server the body waits in in_ (bounded),
// and that wait is lb's, not the client's.
bool HttpConnection::body_pending() const {
  return phase_ == Phase::exchange && in_exchange_ && exchange_.phase() == Exchange::Phase::exchanging &&
         !exchange_.request_done() && !close_after_flush_;
}

// Returns true when the connection is closing.
bool HttpConnection::check_body(uint64_t now) {
  if (!body_pending()) {
    body_since_ms_ = 0;
    return false;
  }
  if (!client_reading_) {
    body_since_ms_ = now;  // lb holds the client back (its server is slow): restarts when reading resumes
    return false;
  }
  if (now - body_since_ms_ < static_cast<uint64_t>(listener().config->timeouts.body_idle.count())) return false;
  body_since_ms_ = 0;
  log_debug("request body timeout", {{"listener", listener().config->name}, {"client", std::string(client_ip())}});
  // 408 with Connection: close, or a cut when the server already answers;
  // the server connection, its request unfinished, is closed either way.
  exchange_.refuse_request(408, "request body timeout", true);
  return closing();
}

// The send clock (SPEC 11 send) runs while bytes wait in the client's write
// queue, and restarts whenever the client is seen to accept bytes: a write
// completed (`progressed`), the queue is smaller than its largest size since
// the last progress, or TCP says the client acknowledged more bytes. The last
// matters because the kernel's send buffer (megabytes once autotuned) may
// take longer than `send` to drain to where it takes lb's next write, for a
// client that reads slowly but steadily; it costs one getsockopt when bytes
// start to wait and one per check, never per write. A client that keeps up
// keeps the queue empty: one field read per write, and no timer restart.
void HttpConnection::track_send_queue(bool progressed) {
  const size_t queued = uv_stream_get_write_queue_size(client());
  if (queued == 0) {
    send_since_ms_ = 0;
    return;
  }
  if (send_since_ms_ == 0) {
    send_since_ms_ = uv_now(worker_.loop());
    send_queued_ = queued;
    send_acked_ = client_bytes_acked();
    if (!closing()) ensure_timer(send_since_ms_ + static_cast<uint64_t>(listener().config->timeouts.send.count()));
  } else if (progressed) {
    // send_acked_ stays: acknowledgements since it was taken count as
    // progress at the next check, which can only make that check lenient.
    send_since_ms_ = uv_now(worker_.loop());
    send_queued_ = queued;
  } else if (queued > send_queued_) {
    send_queued_ = queued;
  }
}

uint64_t HttpConnection::client_bytes_acked() {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&client_), &fd) != 0) return 0;
  return tcp_bytes_acked(fd);
}

// Returns true when the connection is closing. A client is closed at most
// twice `send` after it stopped accepting bytes, never sooner than `send`.
bool HttpConnection::check_send(uint64_t now) {
  const size_t queued = uv_stream_get_write_queue_size(client());
  if (queued == 0) {
    send_since_ms_ = 0;
    return false;
  }
  if (queued < send_queued_) {  // part of a write left since the last look
    send_since_ms_ = now;
    send_queued_ = queued;
    return false;
  }
  if (now - send_since_ms_ < static_cast<uint64_t>(listener().config->timeouts.send.count())) return false;
  if (const uint64_t acked = client_bytes_acked(); acked > send_acked_) {
    send_since_ms_ = now;  // the client read, the kernel's buffer has not made room for lb's write yet
    send_acked_ = acked;
    return false;
  }
  log_debug("client accepts no response bytes: closed",
            {{"listener", listener().config->name}, {"client", std::string(client_ip())},
             num("queued_bytes", static_cast<double>(queued))});
  // The queued bytes (pooled write buffers) are freed as libuv cancels the
  // writes when the socket closes.
  close_session();
  return true;
}

}  // namespace lb
