// health/slow_start.cpp — linear slow-start weight ramp. See slow_start.h.
#include "health/slow_start.h"

#include <algorithm>

namespace lb::health {

namespace {
__extension__ using u128 = unsigned __int128;  // GCC/Clang; __extension__ keeps -Wpedantic quiet

uint64_t window_ns(conf::Duration window) {
  return window.count() <= 0 ? 0 : static_cast<uint64_t>(window.count()) * 1'000'000;
}
}  // namespace

bool in_slow_start(uint64_t now_ns, uint64_t up_since_ns, conf::Duration window) {
  const uint64_t w = window_ns(window);
  if (w == 0 || up_since_ns == 0) return false;
  return now_ns < up_since_ns + w;
}

uint32_t slow_start_weight(uint32_t weight, uint64_t now_ns, uint64_t up_since_ns,
                           conf::Duration window) {
  if (!in_slow_start(now_ns, up_since_ns, window)) return weight;
  const uint64_t elapsed = now_ns > up_since_ns ? now_ns - up_since_ns : 0;
  // Integer ramp (exact, no float rounding at the steps); 128-bit product
  // because weight × window in ns can pass 2^64 for long windows.
  const auto ramp = static_cast<uint32_t>(static_cast<u128>(weight) * elapsed /
                                          window_ns(window));
  const uint32_t floor = static_cast<uint32_t>(uint64_t{weight} * kSlowStartMinPercent / 100);
  const uint32_t w = std::min(std::max(ramp, floor), weight);
  return std::max<uint32_t>(w, 1);
}

}  // namespace lb::health
