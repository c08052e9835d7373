// algorithms/latency.h — the per-server latency estimate behind
// least_response_time: an EWMA of response times whose weight fades with age.
//
// Pure helpers, no clock reads: the caller passes its monotonic clock. lb/
// keeps one LatencyEstimate per server (per worker, so no locking), calls
// update_latency() after each response and exposes it via MemberState::latency().
//
// Why it decays: a server that once answered slowly stops being picked, so it
// would never get a fresh sample and would be starved forever. For selection
// the estimate halves every kLatencyHalfLifeNs since its last sample, so the
// slow server eventually looks cheap enough to get a probe request; that probe's
// sample then largely replaces the stale value (see update_latency).
#pragma once

#include <cmath>
#include <cstdint>

#include "algorithms/balancer.h"

namespace lb::algo {

inline constexpr uint64_t kLatencyHalfLifeNs = 1'000'000'000;  // 1 s
inline constexpr double kLatencyAlpha = 0.3;  // weight of a new sample against a fresh estimate

// Share of the estimate still trusted `now_ns` after it was last updated:
// 1 when fresh, 0.5 after one half-life, towards 0 afterwards.
inline double latency_freshness(const LatencyEstimate& est, uint64_t now_ns) {
  if (now_ns <= est.updated_ns) return 1.0;
  return std::exp2(-double(now_ns - est.updated_ns) / double(kLatencyHalfLifeNs));
}

// The estimate as used for selection at `now_ns` (0 = no sample yet).
inline double effective_latency_ms(const LatencyEstimate& est, uint64_t now_ns) {
  if (est.ewma_ms <= 0) return 0;
  return est.ewma_ms * latency_freshness(est, now_ns);
}

// Folds one response time into the estimate. The first sample is taken as is;
// later ones form an EWMA whose memory shrinks with the age of the previous
// estimate, so a sample after a long gap counts almost fully. Samples <= 0 are
// clamped to a tiny positive value so "has a sample" stays distinguishable.
inline LatencyEstimate update_latency(LatencyEstimate prev, double sample_ms, uint64_t now_ns) {
  constexpr double kMinSampleMs = 0.001;
  if (!(sample_ms > kMinSampleMs)) sample_ms = kMinSampleMs;  // also catches NaN
  if (prev.ewma_ms <= 0) return {sample_ms, now_ns};
  const double keep = (1.0 - kLatencyAlpha) * latency_freshness(prev, now_ns);
  return {prev.ewma_ms * keep + sample_ms * (1.0 - keep),
          now_ns > prev.updated_ns ? now_ns : prev.updated_ns};
}

}  // namespace lb::algo
