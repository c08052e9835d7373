// algorithms/least_response_time.cpp — lowest expected cost, where
// cost = decayed latency estimate × (active requests + 1) / weight
// (SPEC section 4 "least_response_time").
//
// The latency estimate fades with time since its last sample (latency.h), so a
// server that was slow and stopped being picked eventually looks cheap enough
// to get a probe request and a fresh sample: nobody is starved forever.
//
// Members without a sample yet (new or just added) are preferred so they get
// probed: they are costed as if as fast as the fastest sampled member, and win
// ties against sampled ones. Costing them at 0 instead would send them every
// request until their first response came back. Ties otherwise rotate.
#include <cstdint>

#include "algorithms/latency.h"
#include "algorithms/policies.h"
#include "algorithms/rotation.h"

namespace lb::algo {
namespace {

class LeastResponseTime final : public Policy {
 public:
  explicit LeastResponseTime(size_t n) : n_(n) {}

  std::unique_ptr<LocalState> make_local(uint64_t) const override { return std::make_unique<TieCursor>(); }

  std::optional<size_t> pick(const PickContext& ctx, const MemberState& state, LocalState* local) const override {
    size_t& start = static_cast<TieCursor*>(local)->start;
    if (start >= n_) start = 0;
    // Best sampled member by cost, best unsampled member by (active+1)/weight,
    // and the lowest sampled latency to cost the unsampled one with.
    size_t best_s = kNone, best_u = kNone;
    double best_s_cost = 0, min_latency = 0;
    uint64_t u_load = 0, u_weight = 1;
    size_t i = start;
    for (size_t k = 0; k < n_; ++k, i = i + 1 == n_ ? 0 : i + 1) {
      if (!state.available(i)) continue;
      const uint32_t weight = state.weight(i);
      const uint64_t w = weight ? weight : 1;
      const uint64_t load = uint64_t(state.active(i)) + 1;
      const LatencyEstimate est = state.latency(i);
      if (est.ewma_ms <= 0) {
        if (best_u == kNone || load * u_weight < u_load * w) {
          best_u = i;
          u_load = load;
          u_weight = w;
        }
        continue;
      }
      const double latency = effective_latency_ms(est, ctx.now_ns);
      const double cost = latency * double(load) / double(w);
      if (best_s == kNone || latency < min_latency) min_latency = latency;
      if (best_s == kNone || cost < best_s_cost) {
        best_s = i;
        best_s_cost = cost;
      }
    }
    size_t best = best_s;
    if (best_u != kNone &&
        (best_s == kNone || min_latency * double(u_load) / double(u_weight) <= best_s_cost)) {
      best = best_u;
    }
    if (best == kNone) return std::nullopt;
    start = best + 1 == n_ ? 0 : best + 1;
    return best;
  }

 private:
  static constexpr size_t kNone = SIZE_MAX;
  const size_t n_;
};

}  // namespace

std::shared_ptr<const Policy> make_least_response_time(Members members) {
  return std::make_shared<LeastResponseTime>(members.size());
}

}  // namespace lb::algo
