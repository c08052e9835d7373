// lb/admin/latency_window.cpp — see lb/admin/latency_window.h.
#include "lb/admin/latency_window.h"

#include "lb/core/runtime.h"

namespace lb {

void LatencyWindow::push(const void* key, const HistogramCounts& counts) {
  Ring& r = rings_[key];
  r.at[r.next] = counts;
  r.next = (r.next + 1) % r.at.size();
  if (r.filled < r.at.size()) ++r.filled;
  r.seen = tick_;
}

HistogramCounts listener_duration(const ListenerRuntime& l) {
  HistogramCounts sum = l.live->unmatched.duration.load();
  for (const CompiledRoute& r : l.routes.routes()) sum += r.live->duration.load();
  return sum;
}

void LatencyWindow::tick(const Runtime& runtime) {
  ++tick_;
  for (const auto& l : runtime.listeners) {
    push(l.live.get(), listener_duration(l));
    push(&l.live->unmatched, l.live->unmatched.duration.load());
    for (const CompiledRoute& r : l.routes.routes()) push(r.live.get(), r.live->duration.load());
  }
  for (const auto& p : runtime.pools)
    for (const auto& s : p.servers) push(s.live.get(), s.live->upstream_latency.load());
  std::erase_if(rings_, [this](const auto& kv) { return kv.second.seen != tick_; });
}

HistogramCounts LatencyWindow::last_minute(const void* key, const HistogramCounts& now) const {
  auto it = rings_.find(key);
  if (it == rings_.end() || it->second.filled == 0) return now;
  const Ring& r = it->second;
  const size_t oldest = r.filled < r.at.size() ? 0 : r.next;
  return now.since(r.at[oldest]);
}

}  // namespace lb
