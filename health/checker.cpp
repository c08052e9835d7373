// health/checker.cpp — active TCP/HTTP probes on one libuv loop, optionally
// through a ProbeTransport (TLS). See checker.h for the contract (loop thread
// only; handle lifetimes) and probe_transport.h for the transport's.
//
// Ownership: the Checker owns its Targets through unique_ptr while they are
// live; a retired Target is handed to its timer handle and freed in that
// handle's close callback. A Probe (one check in flight) owns itself once its
// handles exist: it counts open handles and outstanding requests in `pending`
// and frees itself when the last of their callbacks has run (each write owns
// its bytes and is freed in its own callback). A Probe reports
// to its Target only while `target` is set; finishing or abandoning clears it
// first, so a late callback (UV_ECANCELED after uv_close) never reaches a
// retired Target or the Checker.
#include "health/checker.h"
#include "health/stream_connect.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_map>

namespace lb::health {

namespace {

constexpr size_t kMaxStatusLine = 1024;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool same_check(const conf::HealthCheckConfig& a, const conf::HealthCheckConfig& b) {
  return a.type == b.type && a.path == b.path && a.host == b.host &&
         a.expect_status == b.expect_status && a.interval == b.interval &&
         a.timeout == b.timeout && a.rise == b.rise && a.fall == b.fall &&
         a.fast_interval == b.fast_interval && a.down_interval == b.down_interval;
}

bool same_address(const CheckTarget& a, const CheckTarget& b) {
  return a.addr_len == b.addr_len && std::memcmp(&a.addr, &b.addr, a.addr_len) == 0;
}

std::string uv_error(const char* what, int rc) { return std::string(what) + ": " + uv_strerror(rc); }

// "HTTP/1.x NNN[ reason]" → NNN, or -1.
int parse_status_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[7] < '0' || line[7] > '9' ||
      line[8] != ' ')
    return -1;
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return -1;
    code = code * 10 + (line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') return -1;
  return code;
}

}  // namespace

struct Checker::Target {
  Target(Checker* c, CheckTarget s, size_t i)
      : owner(c), spec(std::move(s)), index(i), rf(spec.check.rise, spec.check.fall, spec.initial) {}

  Checker* owner;
  CheckTarget spec;
  size_t index;
  RiseFall rf;
  uint64_t last_check_ns = 0;
  uv_timer_t timer{};      // next probe; its close callback frees this Target
  Probe* probe = nullptr;  // probe in flight, if any
  bool retired = false;
};

struct Checker::Probe {
  Target* target = nullptr;  // cleared once finished/abandoned
  conf::HealthCheckType type = conf::HealthCheckType::tcp;
  std::vector<int> expect;
  std::string request;      // http: the request text
  std::string head;         // plaintext received so far, up to the status line
  std::string write_error;  // set when a write failed
  std::unique_ptr<ProbeTransport> transport;  // null: plain TCP
  bool transport_started = false;
  uv_tcp_t tcp{};
  uv_timer_t timeout{};
  uv_connect_t connect_req{};
  std::array<char, 4096> buf{};  // read buffer (a TLS record may span several reads)
  int pending = 0;  // open handles + outstanding requests
  bool done = false;

  // One write in flight: owns its bytes until the callback, which frees it.
  struct Write {
    uv_write_t req{};
    std::string data;
    Probe* probe = nullptr;
  };

  static void start(Target& t);

  // Reports once to the target (if still attached), then closes the handles.
  void finish(bool ok, std::string error) {
    if (done) return;
    done = true;
    Target* t = target;
    target = nullptr;
    if (t) t->probe = nullptr;
    close_handles();
    if (t) t->owner->on_probe_result(*t, ok, error);
  }

  // The target is going away: close without reporting.
  void abandon() {
    target = nullptr;
    done = true;
    close_handles();
  }

  void close_handles() {
    auto on_close = [](uv_handle_t* h) { static_cast<Probe*>(h->data)->unref(); };
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp)))
      uv_close(reinterpret_cast<uv_handle_t*>(&tcp), on_close);
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timeout)))
      uv_close(reinterpret_cast<uv_handle_t*>(&timeout), on_close);
  }

  // One handle closed or one request completed; the last one frees the Probe.
  void unref() {
    if (--pending == 0) std::unique_ptr<Probe> self(this);
  }

  std::string layer_error(std::string_view what) const {
    return std::string(transport->name()) + ": " + std::string(what);
  }
  bool handshaking() const { return transport && !transport->ready(); }
  std::string timeout_error() const {
    return transport_started && handshaking() ? layer_error("handshake timeout") : "timeout";
  }
  std::string closed_error() const {
    return handshaking() ? layer_error("connection closed during handshake") : "connection closed before response";
  }

  // Writes `bytes` (nothing when empty). False when the probe has finished
  // (the write could not be queued): the caller must stop.
  bool write_socket(std::string bytes) {
    if (done) return false;
    if (bytes.empty()) return true;
    auto w = std::make_unique<Write>();
    w->data = std::move(bytes);
    w->probe = this;
    w->req.data = w.get();
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp), &b, 1, [](uv_write_t* req, int status) {
      std::unique_ptr<Write> wr(static_cast<Write*>(req->data));
      // A failed write is not final: the server may have answered (and
      // closed) before reading the request. The read side ends the probe
      // (EOF, error or timeout).
      Probe* p = wr->probe;
      if (!p->done && status < 0 && p->write_error.empty()) p->write_error = uv_error("write", status);
      p->unref();
    });
    if (rc != 0) {
      finish(false, uv_error("write", rc));
      return false;
    }
    w.release();  // freed in the write callback
    ++pending;
    return true;
  }

  // The TCP connect completed: start the transport, send the request (http),
  // and read until the answer, the handshake (tcp over a transport), or the end.
  void on_connected() {
    if (transport) {
      std::string out;
      transport_started = true;
      if (!transport->start(out)) return finish(false, layer_error(transport->error()));
      if (!write_socket(std::move(out))) return;
      if (type == conf::HealthCheckType::tcp && transport->ready()) return finish(true, std::string());
      if (type == conf::HealthCheckType::http) {
        out.clear();
        if (!transport->send(request, out)) return finish(false, layer_error(transport->error()));
        if (!write_socket(std::move(out))) return;
      }
    } else if (type == conf::HealthCheckType::tcp) {
      return finish(true, std::string());
    } else if (!write_socket(std::move(request))) {
      return;
    }
    start_reading();
  }

  void start_reading() {
    int rc = uv_read_start(
        reinterpret_cast<uv_stream_t*>(&tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* out) {
          auto* p = static_cast<Probe*>(h->data);
          *out = uv_buf_init(p->buf.data(), static_cast<unsigned>(p->buf.size()));
        },
        [](uv_stream_t* s, ssize_t nread, const uv_buf_t* in) {
          auto* p = static_cast<Probe*>(s->data);
          if (p->done) return;
          if (nread > 0) {
            if (p->transport) p->on_socket_bytes(in->base, static_cast<size_t>(nread));
            else p->on_plaintext(in->base, static_cast<size_t>(nread));
          } else if (nread < 0 && !p->write_error.empty()) {
            p->finish(false, p->write_error);
          } else if (nread == UV_EOF) {
            p->finish(false, p->closed_error());
          } else if (nread < 0) {
            p->finish(false, uv_error("read", static_cast<int>(nread)));
          }
        });
    if (rc != 0) finish(false, uv_error("read", rc));
  }

  // Bytes from the socket through the transport: its replies go out first
  // (even on failure: an alert), then the plaintext to the probe, then its
  // status decides.
  void on_socket_bytes(const char* data, size_t n) {
    std::string plain, out;
    const ProbeTransport::Status st = transport->on_socket_bytes(data, n, plain, out);
    if (!write_socket(std::move(out))) return;
    if (type == conf::HealthCheckType::http && !plain.empty()) {
      on_plaintext(plain.data(), plain.size());
      if (done) return;
    }
    if (st == ProbeTransport::Status::failed) return finish(false, layer_error(transport->error()));
    if (type == conf::HealthCheckType::tcp && transport->ready()) return finish(true, std::string());
    if (st == ProbeTransport::Status::closed) finish(false, closed_error());
  }

  // HTTP: plaintext of the response; the status line decides.
  void on_plaintext(const char* data, size_t n) {
    if (type != conf::HealthCheckType::http) return;
    const size_t room = kMaxStatusLine - head.size();
    head.append(data, std::min(n, room));
    const size_t eol = head.find('\n');
    if (eol == std::string::npos) {
      if (head.size() >= kMaxStatusLine) finish(false, "bad status line");
      return;
    }
    const int code = parse_status_line(std::string_view(head).substr(0, eol));
    if (code < 0) return finish(false, "bad status line");
    const bool ok = std::find(expect.begin(), expect.end(), code) != expect.end();
    finish(ok, ok ? std::string() : "status " + std::to_string(code));
  }
};

void Checker::Probe::start(Target& t) {
  Checker& c = *t.owner;
  auto owned = std::make_unique<Probe>();
  Probe* p = owned.get();
  const conf::HealthCheckConfig& check = t.spec.check;
  p->type = check.type;
  p->expect = check.expect_status;
  if (check.type == conf::HealthCheckType::http) {
    // A UNIX-socket server has no host name: "localhost" unless "host" says otherwise.
    const std::string host = check.host.value_or(t.spec.server.rfind("unix:", 0) == 0 ? "localhost" : t.spec.server);
    p->request = "GET " + check.path + " HTTP/1.1\r\nHost: " + host +
                 "\r\nUser-Agent: lb-health\r\nConnection: close\r\n\r\n";
  }
  if (t.spec.transport) {
    p->transport = t.spec.transport();
    if (!p->transport) return c.on_probe_result(t, false, "transport: unavailable");  // `owned` frees p
  }
  int rc = uv_tcp_init(c.loop_, &p->tcp);
  if (rc != 0) return c.on_probe_result(t, false, uv_error("socket", rc));  // `owned` frees p
  p->tcp.data = p;
  ++p->pending;
  uv_timer_init(c.loop_, &p->timeout);
  p->timeout.data = p;
  ++p->pending;
  owned.release();  // from here the handles own p (freed in Probe::unref)

  p->target = &t;
  t.probe = p;
  const auto timeout_ms = static_cast<uint64_t>(std::max<int64_t>(check.timeout.count(), 1));
  uv_timer_start(
      &p->timeout,
      [](uv_timer_t* h) {
        auto* pr = static_cast<Probe*>(h->data);
        if (!pr->done) pr->finish(false, pr->timeout_error());
      },
      timeout_ms, 0);
  p->connect_req.data = p;
  rc = stream_connect(&p->connect_req, &p->tcp, reinterpret_cast<const sockaddr*>(&t.spec.addr),
                      [](uv_connect_t* req, int status) {
                        auto* pr = static_cast<Probe*>(req->data);
                        if (!pr->done) {
                          if (status < 0) pr->finish(false, uv_error("connect", status));
                          else pr->on_connected();
                        }
                        pr->unref();
                      });
  if (rc != 0) return p->finish(false, uv_error("connect", rc));
  ++p->pending;
}

// ---- Checker ----

Checker::Checker(uv_loop_t* loop, ResultFn on_result, uint64_t seed)
    : loop_(loop),
      on_result_(std::move(on_result)),
      rng_(seed != 0 ? seed : uv_hrtime() ^ reinterpret_cast<uintptr_t>(this)) {}

Checker::~Checker() { stop(); }

uint64_t Checker::next_random() { return splitmix64(rng_); }

void Checker::retire(std::unique_ptr<Target> t) {
  t->retired = true;
  if (t->probe) {
    t->probe->abandon();
    t->probe = nullptr;
  }
  Target* raw = t.release();  // freed in the timer's close callback
  raw->timer.data = raw;
  uv_close(reinterpret_cast<uv_handle_t*>(&raw->timer),
           [](uv_handle_t* h) { std::unique_ptr<Target> del(static_cast<Target*>(h->data)); });
}

void Checker::stop() {
  if (stopped_) return;
  stopped_ = true;
  auto targets = std::move(targets_);
  targets_.clear();
  for (auto& t : targets) retire(std::move(t));
}

void Checker::schedule(Target& t, conf::Duration delay) {
  uv_timer_start(
      &t.timer,
      [](uv_timer_t* h) {
        auto* tg = static_cast<Target*>(h->data);
        if (!tg->retired) tg->owner->on_timer(*tg);
      },
      static_cast<uint64_t>(std::max<int64_t>(delay.count(), 0)), 0);
}

void Checker::on_timer(Target& t) {
  if (stopped_ || t.probe) return;  // never overlap probes of one target
  start_probe(t);
}

void Checker::start_probe(Target& t) { Probe::start(t); }

void Checker::on_probe_result(Target& t, bool ok, const std::string& error) {
  if (stopped_ || t.retired) return;
  const uint64_t now = uv_hrtime();
  t.last_check_ns = now;
  const Status previous = t.rf.status();
  const Transition tr = t.rf.record(ok, error);
  // Schedule before the callback, which may call set_targets() or stop().
  schedule(t, jitter(t.rf.next_interval(t.spec.check), next_random()));
  if (on_result_) {
    CheckResult r;
    r.index = t.index;
    r.ok = ok;
    r.error = error;
    r.previous = previous;
    r.status = t.rf.status();
    r.transition = tr;
    r.now_ns = now;
    on_result_(r);
  }
}

void Checker::set_targets(std::vector<CheckTarget> targets) {
  if (stopped_) return;
  std::vector<std::unique_ptr<Target>> old = std::move(targets_);
  targets_.clear();
  targets_.reserve(targets.size());
  // (pool, server) → positions in `old`, in order (duplicates are matched in order).
  std::unordered_map<std::string, std::vector<size_t>> by_key;
  auto key = [](const CheckTarget& s) { return s.pool + '\0' + s.server; };
  for (size_t j = old.size(); j-- > 0;) by_key[key(old[j]->spec)].push_back(j);
  for (size_t i = 0; i < targets.size(); ++i) {
    CheckTarget& spec = targets[i];
    std::unique_ptr<Target> t;
    if (auto it = by_key.find(key(spec)); it != by_key.end() && !it->second.empty()) {
      t = std::move(old[it->second.back()]);
      it->second.pop_back();
    }
    if (t) {
      const bool same = same_check(t->spec.check, spec.check) && same_address(t->spec, spec) &&
                        static_cast<bool>(t->spec.transport) == static_cast<bool>(spec.transport);
      t->index = i;
      t->spec = std::move(spec);
      if (!same) {
        t->rf.set_thresholds(t->spec.check.rise, t->spec.check.fall);
        if (t->probe) {
          t->probe->abandon();
          t->probe = nullptr;
        }
        schedule(*t, initial_offset(t->spec.check.interval, next_random()));
      }
    } else {
      t = std::make_unique<Target>(this, std::move(spec), i);
      uv_timer_init(loop_, &t->timer);
      t->timer.data = t.get();
      schedule(*t, initial_offset(t->spec.check.interval, next_random()));
    }
    targets_.push_back(std::move(t));
  }
  for (auto& o : old)
    if (o) retire(std::move(o));
}

size_t Checker::size() const { return targets_.size(); }

const RiseFall* Checker::state(size_t index) const {
  return index < targets_.size() ? &targets_[index]->rf : nullptr;
}

uint64_t Checker::last_check_ns(size_t index) const {
  return index < targets_.size() ? targets_[index]->last_check_ns : 0;
}

bool Checker::first_round_complete() const {
  for (const auto& t : targets_)
    if (t->rf.status() == Status::unchecked) return false;
  return true;
}

}  // namespace lb::health
