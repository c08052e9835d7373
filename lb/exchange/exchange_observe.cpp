// lb/exchange/exchange_observe.cpp — what an ending HTTP exchange records
// for SPEC 15's metrics: its duration (head received → last response byte)
// in the listener's and the route's histograms, and its status by route
// (route="none" when no route matched); the listener's latency is the sum
// of its routes'. Called once per exchange, from
// write_access_log, with the clock read that line also uses. Per-worker
// slots: no lock, no allocation, no shared read-modify-write. Also the
// exchange's W3C trace context (lb/exchange/trace_context.h).
#include "lb/exchange/exchange.h"

namespace lb {

// trace()'s first call on a tracing listener.
// One pass over the fields finds the client's first traceparent and whether
// there is a tracestate (length first: most names differ in length), so
// that forwarding skips its per-field test when neither is there.
const TraceContext* Exchange::make_trace() {
  const http::RequestHead* head = logged_head();
  const http::Header* client = nullptr;
  bool tracestate = false;
  if (head) {
    for (const http::Header& h : head->headers) {
      if (h.name.size() == 11 && !client && http::iequals(h.name, "traceparent")) client = &h;
      else if (h.name.size() == 10 && http::iequals(h.name, "tracestate")) tracestate = true;
    }
  }
  TraceContext& t = scratch_.trace;
  make_trace_context(client ? std::string_view(client->value) : std::string_view(),
                     listener().config->tracing->sample_percent, t);
  t.client_fields = client || (tracestate && !t.continued);
  s_.trace_made = true;
  return &t;
}

void Exchange::record_observations(uint64_t now_ns) {
  const uint64_t duration_ns = now_ns > s_.start_ns ? now_ns - s_.start_ns : 0;
  ListenerLive& l = *listener().live;
  RouteLive& r = s_.route ? *s_.route->live : l.unmatched;
  r.duration.record(duration_ns);
  r.codes.count(s_.status);
  if (const std::optional<conf::Slo>& slo = listener().config->slo) {
    l.slo_total.add(1);
    if (s_.status >= 500) l.slo_errors.add(1);
    if (slo->latency && duration_ns > static_cast<uint64_t>(std::chrono::nanoseconds(*slo->latency).count()))
      l.slo_slow.add(1);
  }
}

}  // namespace lb
