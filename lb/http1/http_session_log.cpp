// lb/http1/http_session_log.cpp — the access line of an HTTP exchange (SPEC 8):
// exactly one per request that reached lb, whatever ended it — a response,
// lb's own error, a tunnel's close, or the client going away.
#include "lb/io/access_log.h"
#include "lb/http1/http_session.h"
#include "lb/io/log.h"
#include "tls/connection.h"

namespace lb {

namespace {

// 128-bit-looking request id from a per-thread splitmix64 sequence: unique
// enough for correlation, no syscall, no lock.
void make_request_id(char out[33]) {
  thread_local uint64_t state = uv_hrtime() ^ (reinterpret_cast<uintptr_t>(&state) << 16);
  auto next = [] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  snprintf(out, 33, "%016llx%016llx", static_cast<unsigned long long>(next()),
           static_cast<unsigned long long>(next()));
}

std::optional<std::string_view> non_empty(std::string_view s) {
  if (s.empty()) return std::nullopt;
  return s;
}

}  // namespace

// The client's X-Request-Id, or one made for this exchange (the same one is
// forwarded to the server and logged).
// The head this exchange's line describes: the parsed one, or the one the
// parser refused after reading it (400/413 on Host or framing).
const http::RequestHead* HttpSession::logged_head() const {
  if (!parser_) return nullptr;
  return have_head_ ? &parser_->head() : parser_->refused_head();
}

std::string_view HttpSession::request_id() {
  if (request_id_.empty()) {
    const http::RequestHead* head = logged_head();
    const http::Header* h = head ? head->headers.find("x-request-id") : nullptr;
    if (h && !h->value.empty()) {
      request_id_ = h->value;
    } else {
      make_request_id(generated_id_);
      request_id_ = std::string_view(generated_id_, 32);
    }
  }
  return request_id_;
}

void HttpSession::write_access_log() {
  if (logged_ || status_ == 0) return;
  logged_ = true;
  if (!Logger::instance().access_enabled()) return;
  AccessRecord r;
  r.listener = listener().config->name;
  r.client = client_ip();
  r.client_port = port_of(client_addr().get());
  if (tls_ && tls_->handshake_done()) r.tls = tls_->version();
  if (const http::RequestHead* logged = logged_head()) {
    const http::RequestHead& head = *logged;
    r.method = head.method;
    r.path = head.path;
    r.query = non_empty(head.query);
    r.host = non_empty(host_without_port(head.host));
    r.protocol = http1_protocol_name(head.http_minor);
    if (const http::Header* ua = head.headers.find("user-agent")) r.user_agent = ua->value;
    r.request_id = request_id();
  }
  r.status = status_;
  r.bytes_in = bytes_in_;
  r.bytes_out = bytes_out_;
  r.duration_ms = static_cast<double>(worker_.now_ns() - exchange_start_ns_) / 1e6;
  if (pool_chosen_) r.pool = pool().config->name;
  if (!server_name_.empty()) r.server = server_name_;
  r.attempts = attempts_;
  r.upstream_ms = upstream_ms_;
  r.aborted = aborted_;
  append_access_record(worker_.access_log().line(), r);
  worker_.access_log().line_done();
}

// The session is closing in the middle of an exchange: a response cut off
// (server or client gone), a tunnel's end, lb's own answer that closes the
// connection, or a client that left before any answer (logged as 499, the
// status nginx uses for it, with "aborted": true).
void HttpSession::log_unfinished_exchange() {
  if (logged_ || !have_head_) return;
  if (status_ == 0) {
    status_ = 499;
    aborted_ = true;
  } else if (!response_done_) {
    aborted_ = true;
  }
  write_access_log();
}

}  // namespace lb
