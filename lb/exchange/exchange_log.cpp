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
  if (s_.request_id.empty()) {
    const http::RequestHead* head = logged_head();
    const http::Header* h = head ? head->headers.find("x-request-id") : nullptr;
    if (h && !h->value.empty()) {
      s_.request_id = h->value;
    } else {
      make_request_id(scratch_.generated_id);
      s_.request_id = std::string_view(scratch_.generated_id, 32);
    }
  }
  return s_.request_id;
}

void Exchange::write_access_log() {
  if (s_.logged || s_.status == 0) return;
  s_.logged = true;
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
    r.query = non_empty(b().query_override ? std::string_view(*b().query_override) : head.query);
    r.host = non_empty(http::split_host_port(head.host).host);
    r.protocol = non_empty(client_.protocol_name());
    if (const http::Header* ua = head.headers.find("user-agent")) r.user_agent = ua->value;
    r.request_id = request_id();
  }
  r.status = s_.status;
  r.bytes_in = s_.bytes_in;
  r.bytes_out = s_.bytes_out;
  r.duration_ms = static_cast<double>(now_ns - s_.start_ns) / 1e6;
  if (s_.pool_chosen) r.pool = pool().config->name;
  if (s_.route) r.route = s_.route->config->name;
  if (!s_.attempts.server_name().empty()) r.server = s_.attempts.server_name();
  r.attempts = s_.attempts.count();
  r.upstream_ms = s_.upstream_ms;
  if (const TraceContext* t = trace()) r.trace_id = t->id();
  r.aborted = s_.aborted;
  append_access_record(worker_.access_log().line(), r);
  worker_.access_log().line_done();
}

}  // namespace lb
