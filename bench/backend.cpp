// bench/backend.cpp — the backend server used by integration tests, the demo
// (`make run`) and the benchmarks: one process, one thread, one libuv loop,
// any number of listening ports.
//
// Usage:
//   backend [--host ADDR] [--body-size N] [--echo PORT[,PORT...]]
//           [--http PORTSPEC[,PORTSPEC...]]
//
//   --host ADDR      address to bind every port on (default 127.0.0.1; IPv6 allowed)
//   --echo PORTS     raw TCP echo ports
//   --http PORTSPECS HTTP/1.1 ports. PORTSPEC is PORT or PORT:opt=val[:opt=val...]
//                      status=N   status of the default route (200..599, default 200)
//                      delay=MS   delay before answering the default route (default 0)
//                      body=N     default-route body of N pattern bytes
//   --body-size N    body=N for every http port that does not set its own
//   Without body=/--body-size the default body is the text "hello from PORT\n".
//   The flags may repeat. Port 0 binds an ephemeral port.
//
// Once every port is bound it prints, in command-line order, one line per port
// `listening echo|http PORT` (the real port), then `ready`, and flushes stdout.
// SIGTERM/SIGINT close everything and exit 0. Bind failure: message on stderr,
// exit 1. Usage error: exit 2.
//
// Echo ports echo bytes back with backpressure (reading stops while too much is
// queued) and half-close: after the client's FIN, pending echoes are written,
// then the write side is shut down, then the socket is closed.
//
// HTTP ports: keep-alive, pipelining (answers in request order), HTTP/1.0 closes
// unless "Connection: keep-alive". Every response has X-Backend-Port (the port
// that accepted the connection) and Content-Length unless noted. Routes, on the
// path without the query, for any method (HEAD gets no body):
//   /health        200 "ok"
//   /stats         200 {"port":P,"connections_total":N,"connections_active":N,"requests_total":N}
//   /echo[/...]    200 with the request body (Content-Length requests are streamed
//                  back as they arrive; chunked ones are buffered, max 64 MiB),
//                  X-Echo-Method: METHOD, and X-Seen-<Name>: value for each of
//                  X-Forwarded-For/-Proto/-Host, X-Request-Id, Connection, Host,
//                  X-Client-Cert-Subject present in the request
//   /bytes/N       N bytes, byte i = (i*31+7) & 0xff
//   /chunked/N     the same bytes, Transfer-Encoding: chunked, 16 KiB chunks
//   /close/N       the same bytes, no Content-Length, Connection: close, then FIN
//   /status/N      status N (200..599), short body (none for 204/304)
//   /delay/MS      200 "delayed MSms" after MS milliseconds (a timer, not a stall)
//   /ws            with "Upgrade: websocket": 101 + Sec-WebSocket-Accept, then a
//                  raw byte echo on the connection; without: 426
//   /drop          connection reset (RST) without any response
//   anything else  the port's status/delay/body
// "X-Close: 1" on a request: answer with Connection: close, then close.
// A malformed request gets 400 and the connection closes.
#include <uv.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "bench/backend_util.h"

namespace {

constexpr size_t kReadSize = 64 * 1024;
constexpr size_t kMaxHead = 64 * 1024;
constexpr size_t kMaxChunkLine = 4096;
constexpr size_t kHighWater = 8 << 20;   // stop reading above this many queued bytes
constexpr size_t kLowWater = 2 << 20;    // resume below this
constexpr size_t kGenBudget = 1 << 20;   // generated body bytes per write
constexpr size_t kChunk = 16 * 1024;     // /chunked chunk size
constexpr size_t kMaxInlineBody = 1 << 20;
constexpr size_t kMaxBufferedBody = 64 << 20;
constexpr uint64_t kLingerMs = 2000;     // after our FIN, wait this long for the client's

enum class Mode { echo, http };

struct Port {
  Mode mode = Mode::http;
  uint16_t requested = 0;
  uint16_t port = 0;         // the bound port
  int status = 200;
  uint64_t delay_ms = 0;
  int64_t body_size = -1;    // -1: "hello from PORT\n"
  uv_tcp_t server{};
  // The default route's response, built once the port is known.
  std::string head_prefix;   // status line .. Content-Length line, no blank line
  std::string fixed_ka;      // head_prefix + blank line + body (if inline)
  uint64_t body_len = 0;
  bool body_inline = true;   // else the body comes from the pattern generator
  uint64_t connections_total = 0, connections_active = 0, requests_total = 0;
};

// One write: owned bytes (headers, echoed data) interleaved with references to
// static bytes (fixed responses, the pattern). Recycled through a pool.
struct Conn;
struct WriteReq {
  struct Seg { const char* ptr; size_t off; size_t len; };  // ptr null: offset into owned
  uv_write_t req{};
  Conn* conn = nullptr;
  std::string owned;
  std::vector<Seg> segs;
  std::vector<uv_buf_t> bufs;
};

enum class Gen : uint8_t { none, plain, chunked };

struct DelayTimer;

// A response in the connection's queue. Its bytes go out as buf, then the
// static span, then generated pattern bytes; `complete` false means more buf
// data will follow (streamed echo, raw echo).
struct Response {
  std::string buf;
  const char* sptr = nullptr;
  size_t slen = 0;
  Gen gen = Gen::none;
  uint64_t gen_pos = 0, gen_left = 0;
  bool ready = false;        // may be written (request finished, delay elapsed)
  bool complete = true;
  bool close_after = false;
  uint64_t delay_ms = 0;
  DelayTimer* timer = nullptr;
};

struct DelayTimer {
  uv_timer_t timer{};
  Conn* conn = nullptr;
  Response* resp = nullptr;
};

enum class PState : uint8_t { head, body_cl, chunk_size, chunk_data, chunk_crlf, trailers, raw, discard };

// A client connection. Owns itself from accept until its last handle (tcp,
// linger timer, delay timers) is closed. std::deque keeps Response addresses
// stable under push_back/pop_front, so timers and `cur` may point into it.
struct Conn {
  uv_tcp_t tcp{};
  uv_timer_t linger{};
  uv_shutdown_t shut{};
  Port* port = nullptr;
  int open_handles = 0;
  bool closing = false, reading = false, read_eof = false;
  bool shutdown_sent = false, shutdown_done = false, want_close = false;
  PState st = PState::head;
  std::string pending_in;               // unparsed tail of earlier reads
  std::deque<Response> queue;
  size_t queued_bytes = 0;              // sum of queue[i].buf sizes
  std::unique_ptr<WriteReq> staging;
  size_t gen_budget = 0;
  Response* raw_resp = nullptr;         // echo target in raw mode
  // The request being received.
  Response* cur = nullptr;
  uint64_t body_left = 0;
  bool cur_echo = false, cur_echo_buffered = false, cur_head_only = false;
  bool cur_close = false, cur_upgrade = false;
  std::string echo_head, echo_body;
  Conn* prev = nullptr;
  Conn* next = nullptr;
};

uv_loop_t* g_loop = nullptr;
std::vector<std::unique_ptr<Port>> g_ports;
Conn* g_conns = nullptr;
std::vector<std::unique_ptr<WriteReq>> g_write_pool;
char g_readbuf[kReadSize];
uv_signal_t g_sigterm, g_sigint;
bool g_stopping = false;

uv_stream_t* stream(Conn* c) { return reinterpret_cast<uv_stream_t*>(&c->tcp); }

void flush(Conn* c);
void close_conn(Conn* c, bool reset = false);

// ---- writes ------------------------------------------------------------------
std::unique_ptr<WriteReq> acquire_write() {
  if (g_write_pool.empty()) return std::make_unique<WriteReq>();
  auto w = std::move(g_write_pool.back());
  g_write_pool.pop_back();
  return w;
}

void release_write(std::unique_ptr<WriteReq> w) {
  if (w->owned.capacity() > 256 * 1024) std::string().swap(w->owned);
  w->owned.clear();
  w->segs.clear();
  if (g_write_pool.size() < 1024) g_write_pool.push_back(std::move(w));
}

WriteReq& staging(Conn* c) {
  if (!c->staging) c->staging = acquire_write();
  return *c->staging;
}

void stage_owned(Conn* c, const char* p, size_t n) {
  if (n == 0) return;
  WriteReq& w = staging(c);
  if (!w.segs.empty() && !w.segs.back().ptr && w.segs.back().off + w.segs.back().len == w.owned.size())
    w.segs.back().len += n;
  else
    w.segs.push_back({nullptr, w.owned.size(), n});
  w.owned.append(p, n);
}

void stage_static(Conn* c, const char* p, size_t n) {
  if (n > 0) staging(c).segs.push_back({p, 0, n});
}

void on_write(uv_write_t* req, int status) {
  std::unique_ptr<WriteReq> w(static_cast<WriteReq*>(req->data));
  Conn* c = w->conn;
  release_write(std::move(w));
  if (c->closing) return;
  if (status < 0) { close_conn(c); return; }
  flush(c);
}

// Sends everything staged: uv_try_write first (no request, no callback, and
// none of the epoll_ctl churn libuv 1.44 does after each completed uv_write),
// then uv_write for whatever the socket did not take. Returns true when all
// staged bytes went out synchronously.
bool submit(Conn* c) {
  if (!c->staging) return true;
  std::unique_ptr<WriteReq> w = std::move(c->staging);
  if (w->segs.empty()) { release_write(std::move(w)); return true; }
  w->bufs.clear();
  size_t total = 0;
  for (auto& s : w->segs) {
    const char* base = s.ptr ? s.ptr : w->owned.data() + s.off;
    w->bufs.push_back(uv_buf_init(const_cast<char*>(base), static_cast<unsigned>(s.len)));
    total += s.len;
  }
  size_t done = 0;
  int n = uv_try_write(stream(c), w->bufs.data(), static_cast<unsigned>(w->bufs.size()));
  if (n >= 0) {
    done = static_cast<size_t>(n);
  } else if (n != UV_EAGAIN) {
    release_write(std::move(w));
    close_conn(c);
    return false;
  }
  if (done == total) { release_write(std::move(w)); return true; }
  size_t first = 0;
  while (done >= w->bufs[first].len) done -= w->bufs[first++].len;
  w->bufs[first].base += done;
  w->bufs[first].len -= done;
  w->conn = c;
  w->req.data = w.get();
  WriteReq* raw = w.release();
  int rc = uv_write(&raw->req, stream(c), raw->bufs.data() + first,
                    static_cast<unsigned>(raw->bufs.size() - first), on_write);
  if (rc < 0) {
    release_write(std::unique_ptr<WriteReq>(raw));
    close_conn(c);
  }
  return false;
}

// ---- connection lifetime -----------------------------------------------------------
void handle_closed(Conn* c) {
  if (--c->open_handles == 0) std::unique_ptr<Conn> owner(c);
}

void on_handle_closed(uv_handle_t* h) { handle_closed(static_cast<Conn*>(h->data)); }

void on_delay_closed(uv_handle_t* h) {
  std::unique_ptr<DelayTimer> t(static_cast<DelayTimer*>(h->data));
  handle_closed(t->conn);
}

// Closes the connection at once (pending responses are dropped). `reset`
// sends RST instead of FIN. Idempotent.
void close_conn(Conn* c, bool reset) {
  if (c->closing) return;
  c->closing = true;
  for (auto& r : c->queue) {
    if (r.timer) {
      uv_close(reinterpret_cast<uv_handle_t*>(&r.timer->timer), on_delay_closed);
      r.timer = nullptr;
    }
  }
  if (c->staging) release_write(std::move(c->staging));
  uv_close(reinterpret_cast<uv_handle_t*>(&c->linger), on_handle_closed);
  if (reset && !c->shutdown_sent && uv_tcp_close_reset(&c->tcp, on_handle_closed) == 0) {
    // closed with RST
  } else {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_handle_closed);
  }
  if (c->prev) c->prev->next = c->next; else g_conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = nullptr;
  c->port->connections_active--;
}

void on_linger(uv_timer_t* t) { close_conn(static_cast<Conn*>(t->data)); }

void on_shutdown(uv_shutdown_t* req, int status) {
  Conn* c = static_cast<Conn*>(req->data);
  if (c->closing) return;
  c->shutdown_done = true;
  if (status < 0 || c->read_eof) { close_conn(c); return; }
  // Lingering close: keep reading (and discarding) until the client's FIN, so
  // unread data does not turn our close into an RST that eats the response.
  uv_timer_start(&c->linger, on_linger, kLingerMs, 0);
  flush(c);
}

// Called once all responses are written (or the connection must end): FIN
// after the queued writes, then close on the client's FIN or the linger timer.
void start_shutdown(Conn* c) {
  if (c->shutdown_sent) return;
  c->shutdown_sent = true;
  c->st = PState::discard;
  c->shut.data = c;
  if (uv_shutdown(&c->shut, stream(c), on_shutdown) < 0) close_conn(c);
}

// ---- reading with backpressure --------------------------------------------------------
void on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(g_readbuf, sizeof g_readbuf); }
void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);

void update_reading(Conn* c) {
  if (c->closing || c->read_eof) return;
  size_t backlog = uv_stream_get_write_queue_size(stream(c)) + c->queued_bytes;
  if (c->reading && !c->shutdown_sent && backlog > kHighWater) {
    uv_read_stop(stream(c));
    c->reading = false;
  } else if (!c->reading && (c->shutdown_sent || backlog <= kLowWater)) {
    if (uv_read_start(stream(c), on_alloc, on_read) == 0) c->reading = true;
  }
}

// ---- the response queue --------------------------------------------------------------
Response& push_response(Conn* c) { return c->queue.emplace_back(); }

// Appends streamed bytes (echo) to response r, straight into the next write
// when nothing is ahead of them.
void emit_data(Conn* c, Response* r, const char* d, size_t n) {
  if (r->ready && r == &c->queue.front() && r->buf.empty() && !r->sptr && r->gen == Gen::none) {
    stage_owned(c, d, n);
  } else {
    r->buf.append(d, n);
    c->queued_bytes += n;
  }
}

void generate(Conn* c, Response& r) {
  while (r.gen != Gen::none && c->gen_budget > 0) {
    if (r.gen == Gen::chunked && r.gen_left == 0) {
      stage_owned(c, "0\r\n\r\n", 5);
      r.gen = Gen::none;
      break;
    }
    size_t limit = r.gen == Gen::chunked ? kChunk : kPatternSpan;
    size_t k = static_cast<size_t>(std::min<uint64_t>({r.gen_left, limit, c->gen_budget}));
    if (r.gen == Gen::chunked) {
      char line[24];
      auto res = std::to_chars(line, line + 20, k, 16);
      *res.ptr++ = '\r';
      *res.ptr++ = '\n';
      stage_owned(c, line, static_cast<size_t>(res.ptr - line));
    }
    stage_static(c, pattern_at(r.gen_pos), k);
    if (r.gen == Gen::chunked) stage_owned(c, "\r\n", 2);
    r.gen_pos += k;
    r.gen_left -= k;
    c->gen_budget -= k;
    if (r.gen == Gen::plain && r.gen_left == 0) r.gen = Gen::none;
  }
}

// Moves every writable response byte, in order, into one write; then decides
// about shutdown and reading. Safe to call at any time.
void flush(Conn* c) {
  if (c->closing) return;
  bool more = true;
  while (more) {
    // Generated bodies go out kGenBudget bytes per round; another round follows
    // at once while the socket takes everything, else from on_write.
    c->gen_budget = uv_stream_get_write_queue_size(stream(c)) >= kGenBudget ? 0 : kGenBudget;
    if (c->gen_budget == 0) more = false;  // on_write resumes us
    bool gen_pending = false;
    while (!c->queue.empty()) {
      Response& r = c->queue.front();
      if (!r.ready) break;
      if (!r.buf.empty()) {
        stage_owned(c, r.buf.data(), r.buf.size());
        c->queued_bytes -= r.buf.size();
        r.buf.clear();
      }
      if (r.sptr) { stage_static(c, r.sptr, r.slen); r.sptr = nullptr; }
      if (r.gen != Gen::none) {
        generate(c, r);
        if (r.gen != Gen::none) { gen_pending = c->gen_budget == 0; break; }
      }
      if (!r.complete) break;
      bool close_after = r.close_after;
      if (&r == c->raw_resp) c->raw_resp = nullptr;
      c->queue.pop_front();
      if (close_after) { c->want_close = true; break; }
    }
    more = submit(c) && gen_pending && more;
    if (c->closing) return;
  }
  if (c->want_close || (c->read_eof && c->queue.empty())) start_shutdown(c);
  if (c->closing) return;
  update_reading(c);
}

void on_delay(uv_timer_t* t) {
  DelayTimer* dt = static_cast<DelayTimer*>(t->data);
  Conn* c = dt->conn;
  dt->resp->timer = nullptr;
  dt->resp->ready = true;
  uv_close(reinterpret_cast<uv_handle_t*>(t), on_delay_closed);
  flush(c);
}

void start_delay(Conn* c, Response* r) {
  auto dt = std::make_unique<DelayTimer>();
  dt->conn = c;
  dt->resp = r;
  uv_timer_init(g_loop, &dt->timer);
  dt->timer.data = dt.get();
  c->open_handles++;
  r->timer = dt.get();
  uv_timer_start(&dt->timer, on_delay, r->delay_ms, 0);
  dt.release();  // owned by the handle until on_delay_closed
}

// ---- response building ----------------------------------------------------------------
void put_status(std::string& o, int status, const Port* p) {
  o += "HTTP/1.1 ";
  append_num(o, static_cast<uint64_t>(status));
  o += ' ';
  o += reason_phrase(status);
  o += "\r\nX-Backend-Port: ";
  append_num(o, p->port);
  o += "\r\n";
}

void put_connection(std::string& o, bool keep_alive, bool http11) {
  if (!keep_alive) o += "Connection: close\r\n";
  else if (!http11) o += "Connection: keep-alive\r\n";
}

void build_fixed_response(Port& p) {
  std::string body;
  if (p.body_size < 0) {
    body = "hello from ";
    append_num(body, p.port);
    body += '\n';
    p.body_len = body.size();
  } else {
    p.body_len = static_cast<uint64_t>(p.body_size);
    p.body_inline = p.body_len <= kMaxInlineBody;
    if (p.body_inline)
      for (uint64_t i = 0; i < p.body_len; i += kPatternSpan)
        body.append(pattern_at(i), std::min<uint64_t>(kPatternSpan, p.body_len - i));
  }
  p.head_prefix.clear();
  put_status(p.head_prefix, p.status, &p);
  p.head_prefix += p.body_size < 0 ? "Content-Type: text/plain\r\n" : "Content-Type: application/octet-stream\r\n";
  if (status_has_body(p.status)) {
    p.head_prefix += "Content-Length: ";
    append_num(p.head_prefix, p.body_len);
    p.head_prefix += "\r\n";
  }
  p.fixed_ka = p.head_prefix + "\r\n";
  if (status_has_body(p.status)) p.fixed_ka += body;
}

struct Req {
  bool keep_alive, http11, head_only;
};

void respond_default(Conn* c, Response& r, const Req& q) {
  const Port* p = c->port;
  bool body = status_has_body(p->status) && !q.head_only;
  if (q.keep_alive && q.http11 && (body || !status_has_body(p->status))) {
    r.sptr = p->fixed_ka.data();  // the whole prebuilt response, zero copy
    r.slen = p->fixed_ka.size();
  } else {
    r.buf = p->head_prefix;
    put_connection(r.buf, q.keep_alive, q.http11);
    r.buf += "\r\n";
    if (body && p->body_inline) {
      r.sptr = p->fixed_ka.data() + p->head_prefix.size() + 2;
      r.slen = p->body_len;
    }
  }
  if (body && !p->body_inline) { r.gen = Gen::plain; r.gen_left = p->body_len; }
}

void respond_simple(Conn* c, Response& r, const Req& q, int status, std::string_view ctype,
                    std::string_view body) {
  std::string& o = r.buf;
  put_status(o, status, c->port);
  bool has_body = status_has_body(status);
  if (has_body) {
    o += "Content-Type: ";
    o += ctype;
    o += "\r\nContent-Length: ";
    append_num(o, body.size());
    o += "\r\n";
  }
  put_connection(o, q.keep_alive, q.http11);
  o += "\r\n";
  if (has_body && !q.head_only) o += body;
}

// Answers `status` and closes; used for requests we cannot parse.
void reject(Conn* c, int status) {
  Response& r = push_response(c);
  respond_simple(c, r, Req{false, true, false}, status, "application/json",
                 status == 431 ? "{\"error\":\"header too large\"}\n" : "{\"error\":\"bad request\"}\n");
  c->queued_bytes += r.buf.size();
  r.ready = true;
  r.close_after = true;
  c->st = PState::discard;
}

bool number_after(std::string_view path, std::string_view prefix, uint64_t& n) {
  return path.substr(0, prefix.size()) == prefix && parse_u64(path.substr(prefix.size()), n);
}

void on_request_end(Conn* c);

// Handles one request head: picks the route, queues its response, and sets
// the body state. The response becomes ready when the request ends.
void on_head(Conn* c, const RequestHead& h) {
  Port* p = c->port;
  p->requests_total++;
  if (h.bad) { reject(c, 400); return; }
  Req q;
  q.http11 = h.http11;
  q.keep_alive = (h.http11 ? !has_token(h.connection, "close") : has_token(h.connection, "keep-alive")) && !h.x_close;
  q.head_only = h.method == "HEAD";
  std::string_view path = h.path;

  if (path == "/drop") { close_conn(c, true); return; }
  bool has_body = h.chunked || h.content_length > 0;
  if (has_body && has_token(h.expect, "100-continue")) {
    Response& cont = push_response(c);
    cont.buf = "HTTP/1.1 100 Continue\r\n\r\n";
    c->queued_bytes += cont.buf.size();
    cont.ready = true;
  }

  Response& r = push_response(c);
  c->cur = &r;
  c->cur_head_only = q.head_only;
  uint64_t n = 0;
  if (path == "/health") {
    respond_simple(c, r, q, 200, "text/plain", "ok");
  } else if (path == "/stats") {
    std::string j = "{\"port\":";
    append_num(j, p->port);
    j += ",\"connections_total\":";
    append_num(j, p->connections_total);
    j += ",\"connections_active\":";
    append_num(j, p->connections_active);
    j += ",\"requests_total\":";
    append_num(j, p->requests_total);
    j += "}\n";
    respond_simple(c, r, q, 200, "application/json", j);
  } else if (path == "/echo" || path.starts_with("/echo/")) {
    std::string& o = h.chunked ? c->echo_head : r.buf;
    o.clear();
    put_status(o, 200, p);
    o += "X-Echo-Method: ";
    o += h.method;
    o += "\r\n";
    for (size_t i = 0; i < h.seen_count; ++i) {
      o += "X-Seen-";
      o += kSeenHeaders[h.seen[i].index];
      o += ": ";
      o += h.seen[i].value;
      o += "\r\n";
    }
    o += "Content-Type: application/octet-stream\r\n";
    put_connection(o, q.keep_alive, q.http11);
    if (h.chunked) {
      c->cur_echo_buffered = true;
      c->echo_body.clear();
    } else {
      o += "Content-Length: ";
      append_num(o, h.content_length > 0 ? static_cast<uint64_t>(h.content_length) : 0);
      o += "\r\n\r\n";
      r.ready = true;      // stream the body back as it arrives
      r.complete = false;
      c->cur_echo = !q.head_only;
    }
  } else if (number_after(path, "/bytes/", n)) {
    put_status(r.buf, 200, p);
    r.buf += "Content-Type: application/octet-stream\r\nContent-Length: ";
    append_num(r.buf, n);
    r.buf += "\r\n";
    put_connection(r.buf, q.keep_alive, q.http11);
    r.buf += "\r\n";
    if (!q.head_only && n > 0) { r.gen = Gen::plain; r.gen_left = n; }
  } else if (number_after(path, "/chunked/", n) && h.http11) {
    put_status(r.buf, 200, p);
    r.buf += "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n";
    put_connection(r.buf, q.keep_alive, q.http11);
    r.buf += "\r\n";
    if (!q.head_only) { r.gen = Gen::chunked; r.gen_left = n; }
  } else if (number_after(path, "/close/", n) || number_after(path, "/chunked/", n)) {
    // /chunked/N from an HTTP/1.0 client falls back to close-delimited framing.
    q.keep_alive = false;
    put_status(r.buf, 200, p);
    r.buf += "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n";
    if (!q.head_only && n > 0) { r.gen = Gen::plain; r.gen_left = n; }
  } else if (number_after(path, "/status/", n)) {
    if (n < 200 || n > 599) {
      respond_simple(c, r, q, 400, "text/plain", "status must be 200..599\n");
    } else {
      std::string body = "status ";
      append_num(body, n);
      body += '\n';
      respond_simple(c, r, q, static_cast<int>(n), "text/plain", body);
    }
  } else if (number_after(path, "/delay/", n)) {
    std::string body = "delayed ";
    append_num(body, n);
    body += "ms\n";
    respond_simple(c, r, q, 200, "text/plain", body);
    r.delay_ms = n;
  } else if (path == "/ws") {
    if (has_token(h.upgrade, "websocket")) {
      put_status(r.buf, 101, p);
      r.buf += "Upgrade: websocket\r\nConnection: Upgrade\r\n";
      if (!h.ws_key.empty()) {
        r.buf += "Sec-WebSocket-Accept: ";
        r.buf += websocket_accept(h.ws_key);
        r.buf += "\r\n";
      }
      r.buf += "\r\n";
      c->cur_upgrade = true;
      q.keep_alive = true;
    } else {
      respond_simple(c, r, q, 426, "text/plain", "websocket upgrade required\n");
    }
  } else {
    respond_default(c, r, q);
    r.delay_ms = p->delay_ms;
  }
  c->queued_bytes += r.buf.size();
  r.close_after = !q.keep_alive;
  c->cur_close = !q.keep_alive;

  if (h.chunked) {
    c->st = PState::chunk_size;
  } else if (h.content_length > 0) {
    c->st = PState::body_cl;
    c->body_left = static_cast<uint64_t>(h.content_length);
  } else {
    on_request_end(c);
  }
}

void on_body(Conn* c, const char* d, size_t n) {
  if (c->cur_echo_buffered) {
    if (c->echo_body.size() + n > kMaxBufferedBody) { close_conn(c); return; }
    c->echo_body.append(d, n);
  } else if (c->cur_echo) {
    emit_data(c, c->cur, d, n);
  }
}

void on_request_end(Conn* c) {
  Response* r = c->cur;
  if (c->cur_echo_buffered) {
    r->buf = std::move(c->echo_head);
    r->buf += "Content-Length: ";
    append_num(r->buf, c->echo_body.size());
    r->buf += "\r\n\r\n";
    if (!c->cur_head_only) r->buf += c->echo_body;
    c->queued_bytes += r->buf.size();
    if (c->echo_body.capacity() > kMaxInlineBody) std::string().swap(c->echo_body);
    c->echo_body.clear();
  }
  r->complete = true;
  if (r->delay_ms > 0 && !r->ready) start_delay(c, r);
  else r->ready = true;
  c->cur = nullptr;
  if (c->cur_upgrade) {
    c->st = PState::raw;
    Response& raw = push_response(c);
    raw.ready = true;
    raw.complete = false;
    c->raw_resp = &raw;
  } else {
    c->st = c->cur_close ? PState::discard : PState::head;
  }
  c->cur_echo = c->cur_echo_buffered = c->cur_head_only = c->cur_close = c->cur_upgrade = false;
}

// ---- request parsing ------------------------------------------------------------------
// Consumes what it can of [d, d+n); returns the number of bytes used. The rest
// (an incomplete head or chunk line) is kept by the caller for the next read.
size_t parse(Conn* c, const char* d, size_t n) {
  size_t pos = 0;
  while (pos < n && !c->closing) {
    switch (c->st) {
      case PState::head: {
        while (pos < n && (d[pos] == '\r' || d[pos] == '\n')) ++pos;  // stray CRLF between requests
        if (pos == n) return pos;
        const void* end = memmem(d + pos, n - pos, "\r\n\r\n", 4);
        if (!end) {
          if (n - pos > kMaxHead) { reject(c, 431); return n; }
          return pos;
        }
        size_t len = static_cast<size_t>(static_cast<const char*>(end) - (d + pos)) + 4;
        if (len > kMaxHead) { reject(c, 431); return n; }
        RequestHead h;
        parse_head(d + pos, len, h);
        pos += len;
        on_head(c, h);
        break;
      }
      case PState::body_cl:
      case PState::chunk_data: {
        size_t k = static_cast<size_t>(std::min<uint64_t>(c->body_left, n - pos));
        on_body(c, d + pos, k);
        pos += k;
        c->body_left -= k;
        if (c->body_left == 0) {
          if (c->st == PState::body_cl) on_request_end(c);
          else c->st = PState::chunk_crlf;
        }
        break;
      }
      case PState::chunk_crlf:
        if (n - pos < 2) return pos;
        if (d[pos] != '\r' || d[pos + 1] != '\n') { close_conn(c); return n; }
        pos += 2;
        c->st = PState::chunk_size;
        break;
      case PState::chunk_size:
      case PState::trailers: {
        const void* e = memmem(d + pos, n - pos, "\r\n", 2);
        if (!e) {
          if (n - pos > kMaxChunkLine) { close_conn(c); return n; }
          return pos;
        }
        std::string_view line(d + pos, static_cast<size_t>(static_cast<const char*>(e) - (d + pos)));
        pos += line.size() + 2;
        if (c->st == PState::trailers) {
          if (line.empty()) on_request_end(c);
        } else {
          uint64_t size = 0;
          if (!parse_chunk_size(line, size)) { close_conn(c); return n; }
          if (size == 0) c->st = PState::trailers;
          else { c->body_left = size; c->st = PState::chunk_data; }
        }
        break;
      }
      case PState::raw:
        if (c->raw_resp) emit_data(c, c->raw_resp, d + pos, n - pos);
        return n;
      case PState::discard:
        return n;
    }
  }
  return pos;
}

void on_eof(Conn* c) {
  c->read_eof = true;
  c->reading = false;
  if (c->shutdown_sent) {
    if (c->shutdown_done) close_conn(c);
    return;  // otherwise on_shutdown closes
  }
  switch (c->st) {
    case PState::raw:
      if (c->raw_resp) c->raw_resp->complete = true;
      break;
    case PState::body_cl: case PState::chunk_size: case PState::chunk_data:
    case PState::chunk_crlf: case PState::trailers:
      close_conn(c);  // the request can never finish
      return;
    default:
      c->pending_in.clear();  // a partial head is dropped
  }
  flush(c);
}

void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  Conn* c = static_cast<Conn*>(s->data);
  if (c->closing) return;
  if (nread < 0) {
    if (nread == UV_EOF) on_eof(c);
    else close_conn(c);
    return;
  }
  if (nread == 0 || c->st == PState::discard) return;
  const char* d = buf->base;
  size_t n = static_cast<size_t>(nread);
  if (c->pending_in.empty()) {
    size_t used = parse(c, d, n);
    if (!c->closing && used < n) c->pending_in.assign(d + used, n - used);
  } else {
    c->pending_in.append(d, n);
    size_t used = parse(c, c->pending_in.data(), c->pending_in.size());
    if (!c->closing) c->pending_in.erase(0, used);
  }
  flush(c);
}

// ---- listening ---------------------------------------------------------------------------
void on_connection(uv_stream_t* server, int status) {
  if (status < 0 || g_stopping) return;
  Port* p = static_cast<Port*>(server->data);
  auto owner = std::make_unique<Conn>();
  Conn* c = owner.release();  // owned by its handles until the last close callback
  c->port = p;
  uv_tcp_init(g_loop, &c->tcp);
  uv_timer_init(g_loop, &c->linger);
  c->tcp.data = c->linger.data = c;
  c->open_handles = 2;
  c->next = g_conns;
  if (g_conns) g_conns->prev = c;
  g_conns = c;
  p->connections_total++;
  p->connections_active++;
  if (uv_accept(server, stream(c)) != 0) { close_conn(c); return; }
  uv_tcp_nodelay(&c->tcp, 1);
  if (p->mode == Mode::echo) {
    c->st = PState::raw;
    Response& raw = push_response(c);
    raw.ready = true;
    raw.complete = false;
    c->raw_resp = &raw;
  }
  if (uv_read_start(stream(c), on_alloc, on_read) == 0) c->reading = true;
  else close_conn(c);
}

void stop_all() {
  if (g_stopping) return;
  g_stopping = true;
  for (auto& p : g_ports)
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&p->server)))
      uv_close(reinterpret_cast<uv_handle_t*>(&p->server), nullptr);
  while (g_conns) close_conn(g_conns);
  uv_close(reinterpret_cast<uv_handle_t*>(&g_sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&g_sigint), nullptr);
}

void on_signal(uv_signal_t*, int) { stop_all(); }

// ---- command line ----------------------------------------------------------------------
[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "backend: %s\n"
               "usage: backend [--host ADDR] [--body-size N] [--echo PORT[,PORT...]]"
               " [--http PORT[:status=N][:delay=MS][:body=N][,...]]\n", msg.c_str());
  std::exit(2);
}

uint64_t cli_number(std::string_view s, uint64_t max, const char* what) {
  uint64_t v = 0;
  if (!parse_u64(s, v) || v > max) usage_error(std::string("bad ") + what + ": " + std::string(s));
  return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    size_t i = s.find(sep);
    out.push_back(s.substr(0, i));
    if (i == std::string_view::npos) return out;
    s.remove_prefix(i + 1);
  }
}

void add_ports(Mode mode, std::string_view list) {
  for (std::string_view spec : split(list, ',')) {
    auto parts = split(spec, ':');
    auto p = std::make_unique<Port>();
    p->mode = mode;
    p->requested = static_cast<uint16_t>(cli_number(parts[0], 65535, "port"));
    for (size_t i = 1; i < parts.size(); ++i) {
      if (mode != Mode::http) usage_error("echo ports take no options: " + std::string(spec));
      std::string_view opt = parts[i];
      size_t eq = opt.find('=');
      std::string_view key = opt.substr(0, eq);
      std::string_view val = eq == std::string_view::npos ? std::string_view() : opt.substr(eq + 1);
      if (key == "status") {
        p->status = static_cast<int>(cli_number(val, 599, "status"));
        if (p->status < 200) usage_error("status must be 200..599");
      } else if (key == "delay") {
        p->delay_ms = cli_number(val, 3'600'000, "delay");
      } else if (key == "body") {
        p->body_size = static_cast<int64_t>(cli_number(val, uint64_t{1} << 40, "body"));
      } else {
        usage_error("unknown port option: " + std::string(opt));
      }
    }
    g_ports.push_back(std::move(p));
  }
}

void bind_port(Port& p, const std::string& host) {
  sockaddr_storage ss{};
  int rc = host.find(':') != std::string::npos
               ? uv_ip6_addr(host.c_str(), p.requested, reinterpret_cast<sockaddr_in6*>(&ss))
               : uv_ip4_addr(host.c_str(), p.requested, reinterpret_cast<sockaddr_in*>(&ss));
  if (rc == 0) rc = uv_tcp_init(g_loop, &p.server);
  p.server.data = &p;
  if (rc == 0) rc = uv_tcp_bind(&p.server, reinterpret_cast<sockaddr*>(&ss), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&p.server), 1024, on_connection);
  if (rc == 0) {
    int len = sizeof ss;
    rc = uv_tcp_getsockname(&p.server, reinterpret_cast<sockaddr*>(&ss), &len);
    p.port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  if (rc < 0) {
    std::fprintf(stderr, "backend: cannot listen on %s port %u: %s\n", host.c_str(), p.requested, uv_strerror(rc));
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int64_t body_size = -1;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      std::printf("usage: backend [--host ADDR] [--body-size N] [--echo PORT[,PORT...]]"
                  " [--http PORT[:status=N][:delay=MS][:body=N][,...]]\n"
                  "see the header of bench/backend.cpp for routes and behaviour\n");
      return 0;
    }
    if (i + 1 >= argc) usage_error("missing value for " + std::string(a));
    std::string_view v = argv[++i];
    if (a == "--host") host = v;
    else if (a == "--echo") add_ports(Mode::echo, v);
    else if (a == "--http") add_ports(Mode::http, v);
    else if (a == "--body-size") body_size = static_cast<int64_t>(cli_number(v, uint64_t{1} << 40, "body size"));
    else usage_error("unknown argument: " + std::string(a));
  }
  if (g_ports.empty()) usage_error("no ports given");

  std::signal(SIGPIPE, SIG_IGN);
  g_loop = uv_default_loop();
  for (auto& p : g_ports) {
    if (p->mode == Mode::http && p->body_size < 0) p->body_size = body_size;
    bind_port(*p, host);
    if (p->mode == Mode::http) build_fixed_response(*p);
  }
  uv_signal_init(g_loop, &g_sigterm);
  uv_signal_init(g_loop, &g_sigint);
  uv_signal_start(&g_sigterm, on_signal, SIGTERM);
  uv_signal_start(&g_sigint, on_signal, SIGINT);
  for (auto& p : g_ports) std::printf("listening %s %u\n", p->mode == Mode::echo ? "echo" : "http", p->port);
  std::printf("ready\n");
  std::fflush(stdout);

  uv_run(g_loop, UV_RUN_DEFAULT);
  g_write_pool.clear();
  uv_loop_close(g_loop);
  g_ports.clear();
  return 0;
}
