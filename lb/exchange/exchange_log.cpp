// lb/exchange/exchange_log.cpp — the access line of an HTTP exchange (SPEC 8):
// exactly one per request that reached lb, whatever ended it — a response,
// lb's own error, a tunnel's close, or the client going away — and the
// request id it carries.
#include "lb/exchange/exchange.h"
#include "lb/http/host_port.h"
#include "lb/io/access_log.h"
#include "lb/io/log.h"

namespace lb {

namespace {

// 128-bit-looking request id from a per-thread splitmix64 sequence: unique
// enough for correlation, no syscall, no lock.
void make_request_id(char out[33]) {
  thread_local algo::SplitMix64 rng{uv_hrtime() ^ (reinterpret_cast<uintptr_t>(&rng) << 16)};
  const uint64_t hi = rng.next(), lo = rng.next();
  snprintf(out, 33, "%016llx%016llx", static_cast<unsigned long long>(hi), static_cast<unsigned long long>(lo));
}

std::optional<std::string_view> non_empty(std::string_view s) {
  if (s.empty()) return std::nullopt;
  return s;
}

}  // namespace

// The client's X-Request-Id, or one made for this exchange (the same one is
// forwarded to the server and logged).
std::string_view Exchange::request_id() {
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

void Exchange::write_access_log() {
  if (logged_ || status_ == 0) return;
  logged_ = true;
  const uint64_t now_ns = worker_.now_ns();
  record_observations(now_ns);
  if (!Logger::instance().access_enabled()) return;
  AccessRecord r;
  r.listener = listener().config->name;
  r.client = client_ip();
  r.client_port = port_of(client_sockaddr());
  r.tls = non_empty(client_.tls_version());
  if (const http::RequestHead* logged = logged_head()) {
    const http::RequestHead& head = *logged;
    r.method = head.method;
    r.path = head.path;
    // Without a JWT taken from the query (exchange_auth.cpp): tokens are
    // credentials, and access logs travel further than lb.
    r.query = non_empty(query_override_ ? std::string_view(*query_override_) : head.query);
    r.host = non_empty(http::split_host_port(head.host).host);
    r.protocol = non_empty(client_.protocol_name());
    if (const http::Header* ua = head.headers.find("user-agent")) r.user_agent = ua->value;
    r.request_id = request_id();
  }
  r.status = status_;
  r.bytes_in = bytes_in_;
  r.bytes_out = bytes_out_;
  r.duration_ms = static_cast<double>(now_ns - start_ns_) / 1e6;
  if (pool_chosen_) r.pool = pool().config->name;
  if (route_) r.route = route_->config->name;
  if (!attempts_.server_name().empty()) r.server = attempts_.server_name();
  r.attempts = attempts_.count();
  r.upstream_ms = upstream_ms_;
  if (const TraceContext* t = trace()) r.trace_id = t->id();
  r.aborted = aborted_;
  append_access_record(worker_.access_log().line(), r);
  worker_.access_log().line_done();
}

}  // namespace lb
