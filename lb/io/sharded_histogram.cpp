// lb/io/sharded_histogram.cpp — quantiles of a latency histogram (see
// lb/io/sharded_histogram.h).
#include "lb/io/sharded_histogram.h"

namespace lb {

double HistogramCounts::quantile_ms(double q) const {
  const uint64_t n = count();
  if (n == 0) return 0;
  const double rank = q * static_cast<double>(n);
  uint64_t below = 0;
  for (size_t i = 0; i < kLatencyBuckets; ++i) {
    const uint64_t in = buckets[i];
    if (in != 0 && static_cast<double>(below + in) >= rank) {
      if (i == kLatencyBounds) return kLatencyBoundsSeconds[kLatencyBounds - 1] * 1000.0;  // +Inf bucket
      const double lower = i == 0 ? 0.0 : kLatencyBoundsSeconds[i - 1];
      const double upper = kLatencyBoundsSeconds[i];
      const double within = (rank - static_cast<double>(below)) / static_cast<double>(in);
      return (lower + (upper - lower) * within) * 1000.0;
    }
    below += in;
  }
  return kLatencyBoundsSeconds[kLatencyBounds - 1] * 1000.0;
}

}  // namespace lb
