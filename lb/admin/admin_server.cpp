// lb/admin/admin_server.cpp — the admin listener and its keep-alive connections on
// the main loop: read, parse (lb::http::RequestParser), answer through
// AdminApi, write in order. See lb/admin/admin_server.h for limits and ownership.
#include "lb/admin/admin_server.h"

#include <memory>
#include <vector>

#include "lb/http1/http_parser.h"
#include "lb/http1/http_serialize.h"
#include "lb/io/log.h"
#include "lb/core/worker.h"

namespace lb {

// One client connection. Owned by its two handles (tcp, idle timer): freed
// when both close callbacks have run.
struct AdminServer::Connection final : http::RequestHandler {
  explicit Connection(AdminServer* s)
      : server(s), parser(*this, http::Limits{kMaxHeadBytes, 100, kMaxBodyBytes}) {}

  AdminServer* server;  // null once closed or the server stopped
  Connection* older = nullptr;  // AdminServer's list, least recently answered first
  Connection* newer = nullptr;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  int open_handles = 0;
  http::RequestParser parser;
  std::string pending;  // received bytes not yet consumed by the parser
  AdminRequest request;
  bool keep_alive = true;
  bool http10 = false;
  bool reading = false;
  bool eof = false;
  bool closing = false;
  bool close_after_write = false;
  bool awaiting = false;     // a response comes later (POST /reload waiting for DNS): parse nothing more
  bool dispatching = false;  // inside api_.handle(): an answer given at once must not re-enter process()
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);  // false once closed: late answers are dropped
  bool awaiting_request = false;  // idle keep-alive: the next byte starts the request timeout
  size_t writes_in_flight = 0;

  struct WriteReq {
    uv_write_t req{};
    Connection* conn = nullptr;
    std::string data;
  };

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }

  // ---- RequestHandler ----
  http::Flow on_request_head(const http::RequestHead& h) override {
    request = AdminRequest{};
    request.method.assign(h.method);
    request.path.assign(h.path);
    if (const http::Header* a = h.headers.find("authorization")) request.authorization.emplace(a->value);
    keep_alive = h.keep_alive;
    http10 = h.http_minor == 0;
    // curl and others wait (briefly) for this before sending a larger body.
    if (h.expect_continue && h.has_body && !http10) send("HTTP/1.1 100 Continue\r\n\r\n");
    return http::Flow::Continue;
  }
  void on_request_body(std::string_view data) override { request.body.append(data); }
  void on_request_complete() override {}

  // ---- I/O ----
  void arm_timer(uint64_t ms) { uv_timer_start(&timer, &Connection::on_timeout, ms, 0); }
  // After an answer: an idle keep-alive connection may wait kIdleTimeoutMs for
  // its next request; bytes of one already buffered start its request timeout.
  void arm_after_response() {
    awaiting_request = pending.empty();
    arm_timer(awaiting_request ? kIdleTimeoutMs : kRequestTimeoutMs);
  }

  void start_reading() {
    if (reading || eof || closing) return;
    if (uv_read_start(stream(), &Connection::on_alloc, &Connection::on_read) == 0) reading = true;
    else close();
  }
  void stop_reading() {
    if (!reading) return;
    uv_read_stop(stream());
    reading = false;
  }

  // Parses and answers as many buffered requests as the write queue allows.
  void process() {
    while (!closing && !close_after_write && !awaiting) {
      if (uv_stream_get_write_queue_size(stream()) > kMaxQueuedBytes) {
        stop_reading();  // resumed from on_write once the client reads
        return;
      }
      http::FeedResult r = parser.feed(pending.data(), pending.size());
      pending.erase(0, r.consumed);
      switch (r.status) {
        case http::FeedStatus::NeedMore:
          if (eof) {
            close_after_write = true;  // EOF mid-request or between requests: nothing to answer
            maybe_close();
          } else {
            start_reading();
          }
          return;
        case http::FeedStatus::HeadPaused: continue;  // never asked for, but harmless
        case http::FeedStatus::MessageComplete: {
          awaiting = true;
          dispatching = true;
          uv_timer_stop(&timer);  // a reload may wait for DNS longer than the request timeout
          auto answer = [this, alive = alive, head = request.method == "HEAD"](AdminResponse resp) {
            // Closed meanwhile (or handle() stopped the server: a reload removed the admin section).
            if (!*alive || closing) return;
            awaiting = false;
            bool close_now = !keep_alive || server == nullptr;
            respond(resp, head, close_now);
            if (close_now) return;
            if (server) server->touch(this);
            arm_after_response();
            if (!dispatching) process();  // answered later: go on with pipelined requests
          };
          if (server) server->api_.handle(request, answer);
          else answer(AdminResponse{503, "application/json", json_error("stopping"), {}});
          dispatching = false;
          continue;
        }
        case http::FeedStatus::Closed:
          close_after_write = true;
          maybe_close();
          return;
        case http::FeedStatus::Upgrade:
        case http::FeedStatus::Error: {
          const http::ParseError& e = parser.error();
          int status = e.status >= 400 ? e.status : 400;
          std::string reason = e.reason.empty() ? std::string(http::default_reason(status)) : std::string(e.reason);
          respond({status, "application/json", json_error(reason), {}}, false, true);
          return;
        }
      }
    }
  }

  void respond(const AdminResponse& resp, bool head_only, bool close_after) {
    std::string out;
    out.reserve(256 + (head_only ? 0 : resp.body.size()));
    std::string_view reason = http::default_reason(resp.status);
    out += "HTTP/1.1 ";
    out += std::to_string(resp.status);
    out += ' ';
    out += reason.empty() ? std::string_view("Unknown") : reason;
    out += "\r\nContent-Type: ";
    out += resp.content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(resp.body.size());
    out += "\r\nCache-Control: no-store\r\n";
    for (const auto& [name, value] : resp.headers) {
      out += name;
      out += ": ";
      out += value;
      out += "\r\n";
    }
    if (close_after) out += "Connection: close\r\n";
    else if (http10) out += "Connection: keep-alive\r\n";
    out += "\r\n";
    if (!head_only) out += resp.body;
    send(std::move(out));
    if (close_after) {
      close_after_write = true;
      stop_reading();
      maybe_close();
    }
  }

  void send(std::string data) {
    if (closing) return;
    auto w = std::make_unique<WriteReq>();
    w->conn = this;
    w->data = std::move(data);
    w->req.data = w.get();
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    if (uv_write(&w->req, stream(), &buf, 1, &Connection::on_write) != 0) {
      close();
      return;
    }
    w.release();  // owned by the request until on_write
    ++writes_in_flight;
  }

  void maybe_close() {
    if (close_after_write && writes_in_flight == 0) close();
  }

  // Idempotent. The object is freed once both handles have closed; pending
  // writes complete (UV_ECANCELED) before that.
  void close() {
    if (closing) return;
    closing = true;
    *alive = false;
    AdminServer* s = server;
    if (s) s->unlink(this);
    server = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp), &Connection::on_close);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), &Connection::on_close);
    // uv_close has closed the socket: take the fd back as a reserve before a
    // worker's accept does (see Acceptor::Mode::serve).
    if (s && s->acceptor_) s->acceptor_->refill();
  }

  // ---- libuv callbacks ----
  static void on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
    // The main loop is single-threaded and on_read copies out at once, so one
    // scratch buffer serves every connection.
    static char scratch[64 * 1024];
    *buf = uv_buf_init(scratch, sizeof scratch);
  }

  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* c = static_cast<Connection*>(s->data);
    if (n > 0) {
      if (c->awaiting_request) {
        c->awaiting_request = false;
        c->arm_timer(kRequestTimeoutMs);
      }
      c->pending.append(buf->base, static_cast<size_t>(n));
      c->process();
    } else if (n == UV_EOF) {
      c->eof = true;
      c->stop_reading();
      c->process();
    } else if (n < 0) {
      c->close();
    }
  }

  static void on_write(uv_write_t* req, int status) {
    std::unique_ptr<WriteReq> w(static_cast<WriteReq*>(req->data));
    Connection* c = w->conn;
    --c->writes_in_flight;
    if (c->closing) return;
    if (status < 0) {
      c->close();
      return;
    }
    if (c->close_after_write) {
      c->maybe_close();
      return;
    }
    if (!c->reading && !c->eof && uv_stream_get_write_queue_size(c->stream()) <= kMaxQueuedBytes / 2) c->process();
  }

  static void on_timeout(uv_timer_t* t) { static_cast<Connection*>(t->data)->close(); }

  static void on_close(uv_handle_t* h) {
    auto* c = static_cast<Connection*>(h->data);
    if (--c->open_handles == 0) delete c;
  }
};

AdminServer::AdminServer(uv_loop_t* loop, Process& process) : loop_(loop), api_(process) {}

AdminServer::~AdminServer() { stop(); }

std::optional<std::string> AdminServer::start(const conf::AdminConfig& cfg) {
  api_.set_token(cfg.token);
  start_ticker();
  if (acceptor_ && listen_text_ == cfg.listen.text) return std::nullopt;

  std::string error;
  int fd = open_listen_socket(reinterpret_cast<const sockaddr*>(&cfg.listen.sockaddr), cfg.listen.sockaddr_len,
                              kBacklog, error);
  Acceptor* acceptor = nullptr;
  if (fd >= 0)
    acceptor = Acceptor::open(loop_, fd, {"admin", Acceptor::Mode::serve, kReserveFds, kMaxBackoffMs, kBacklog}, nullptr,
                              [this](int client) { on_accepted(client); }, error);
  if (!acceptor) return "admin: bind " + cfg.listen.text + ": " + error;
  close_listener();  // the previous address, if any; its connections stay
  acceptor_ = acceptor;
  listen_text_ = cfg.listen.text;
  log_info("admin listening", {{"listen", cfg.listen.text}});
  return std::nullopt;
}

std::optional<std::string> AdminServer::reconfigure(const std::optional<conf::AdminConfig>& cfg) {
  if (!cfg) {
    if (acceptor_) log_info("admin endpoint removed by reload");
    stop();
    api_.clear_token();
    return std::nullopt;
  }
  return start(*cfg);
}

void AdminServer::close_listener() {
  if (!acceptor_) return;
  acceptor_->close();
  acceptor_ = nullptr;
  listen_text_.clear();
}

// The stats history's 10 s tick (latency and SLO windows). The handle is its own heap object (freed
// in its close callback, like the connections), unreferenced so that it
// never keeps the loop alive at exit.
void AdminServer::start_ticker() {
  if (ticker_) return;
  ticker_ = new uv_timer_t{};
  uv_timer_init(loop_, ticker_);
  ticker_->data = &api_;
  uv_timer_start(
      ticker_, [](uv_timer_t* t) { static_cast<AdminApi*>(t->data)->tick(); }, 0, StatsHistory::kTickMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(ticker_));
}

void AdminServer::stop() {
  if (ticker_) {
    uv_timer_stop(ticker_);
    uv_close(reinterpret_cast<uv_handle_t*>(ticker_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    ticker_ = nullptr;
  }
  close_listener();
  while (oldest_) oldest_->close();  // close() unlinks it
}

void AdminServer::link(Connection* c) {
  c->older = newest_;
  c->newer = nullptr;
  if (newest_) newest_->newer = c;
  else oldest_ = c;
  newest_ = c;
  ++count_;
}

void AdminServer::unlink(Connection* c) {
  if (c->older) c->older->newer = c->newer;
  else oldest_ = c->newer;
  if (c->newer) c->newer->older = c->older;
  else newest_ = c->older;
  c->older = c->newer = nullptr;
  --count_;
}

void AdminServer::touch(Connection* c) {
  if (newest_ == c) return;
  unlink(c);
  link(c);
}

uint16_t AdminServer::port() const {
  if (!acceptor_) return 0;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(acceptor_->fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

// At the cap the least recently answered connection makes room: a client
// holding a partial head (slowloris) has never been answered, so it goes
// before the probe that just arrived.
void AdminServer::on_accepted(int fd) {
  auto* c = new Connection(this);  // owned by its handles from here on
  uv_tcp_init(loop_, &c->tcp);
  uv_timer_init(loop_, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  if (!adopt_accepted(&c->tcp, fd)) {
    c->server = nullptr;  // never tracked
    c->close();
    return;
  }
  if (count_ >= kMaxConnections && oldest_) oldest_->close();
  link(c);
  uv_tcp_nodelay(&c->tcp, 1);
  c->arm_timer(kRequestTimeoutMs);
  c->start_reading();
}

}  // namespace lb
