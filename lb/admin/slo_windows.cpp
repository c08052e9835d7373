// lb/admin/slo_windows.cpp — see lb/admin/slo_windows.h.
#include "lb/admin/slo_windows.h"

#include <algorithm>

#include "lb/core/runtime.h"

namespace lb {

namespace {
constexpr size_t kRingSize = SloWindows::kWindowSeconds.back() / SloWindows::kTickSeconds + 1;
}

SloWindows::Totals SloWindows::current(const ListenerLive& live) {
  return {live.slo_total.load(), live.slo_errors.load(), live.slo_slow.load()};
}

void SloWindows::tick(const Runtime& runtime) {
  ++tick_;
  for (const auto& l : runtime.listeners) {
    if (!l.config->slo) continue;
    Ring& r = rings_[l.live.get()];
    if (r.at.empty()) r.at.resize(kRingSize);
    r.at[r.next] = current(*l.live);
    r.next = (r.next + 1) % r.at.size();
    r.filled = std::min(r.filled + 1, r.at.size());
    r.seen = tick_;
  }
  std::erase_if(rings_, [this](const auto& kv) { return kv.second.seen != tick_; });
}

SloWindows::Totals SloWindows::window(const void* key, const Totals& now, uint64_t seconds) const {
  auto it = rings_.find(key);
  if (it == rings_.end() || it->second.filled == 0) return now;
  const Ring& r = it->second;
  // The newest copy is at most one tick old; `back` ticks before it is `seconds` before now.
  const size_t back = std::min<size_t>(seconds / kTickSeconds, r.filled - 1);
  const size_t newest = (r.next + r.at.size() - 1) % r.at.size();
  const Totals& then = r.at[(newest + r.at.size() - back) % r.at.size()];
  auto minus = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
  return {minus(now.total, then.total), minus(now.errors, then.errors), minus(now.slow, then.slow)};
}

double burn_rate(uint64_t bad, uint64_t total, double target_percent) {
  if (total == 0) return 0;
  const double budget = 1.0 - target_percent / 100.0;
  if (budget <= 0) return 0;
  return (static_cast<double>(bad) / static_cast<double>(total)) / budget;
}

}  // namespace lb
