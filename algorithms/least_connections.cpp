// algorithms/least_connections.cpp — the available member with the fewest
// active connections per unit of weight (SPEC section 4 "least_connections").
//
// active/weight is compared cross-multiplied in 64-bit integers, so no float
// rounding decides a tie. Ties rotate: the scan starts just after the member
// picked last time, and the first minimum found wins.
#include <cstdint>

#include "algorithms/policies.h"

namespace lb::algo {
namespace {

class LeastConnections final : public Balancer {
 public:
  void rebuild(std::span<const Member> members) override {
    n_ = members.size();
    if (start_ >= n_) start_ = 0;
  }

  std::optional<size_t> pick(const PickContext&, const MemberState& state) override {
    size_t best = kNone;
    uint64_t best_active = 0, best_weight = 1;
    size_t i = start_;
    for (size_t k = 0; k < n_; ++k, i = i + 1 == n_ ? 0 : i + 1) {
      if (!state.available(i)) continue;
      const uint64_t a = state.active(i);
      const uint32_t weight = state.weight(i);
      const uint64_t w = weight ? weight : 1;
      // a/w < best_active/best_weight
      if (best == kNone || a * best_weight < best_active * w) {
        best = i;
        best_active = a;
        best_weight = w;
      }
    }
    if (best == kNone) return std::nullopt;
    start_ = best + 1 == n_ ? 0 : best + 1;
    return best;
  }

 private:
  static constexpr size_t kNone = SIZE_MAX;
  size_t n_ = 0;
  size_t start_ = 0;
};

}  // namespace

std::unique_ptr<Balancer> make_least_connections() {
  return std::make_unique<LeastConnections>();
}

}  // namespace lb::algo
