// algorithms/least_connections.cpp — the available member with the fewest
// active connections per unit of weight (SPEC section 4 "least_connections").
//
// active/weight is compared cross-multiplied in 64-bit integers, so no float
// rounding decides a tie. Ties rotate: the scan starts just after the member
// this worker picked last time (a per-worker cursor, see rotation.h), and the
// first minimum found wins.
#include <cstdint>

#include "algorithms/policies.h"
#include "algorithms/rotation.h"

namespace lb::algo {
namespace {

class LeastConnections final : public Policy {
 public:
  explicit LeastConnections(size_t n) : n_(n) {}

  std::unique_ptr<LocalState> make_local(uint64_t) const override { return std::make_unique<TieCursor>(); }

  std::optional<size_t> pick(const PickContext&, const MemberState& state, LocalState* local) const override {
    size_t& start = static_cast<TieCursor*>(local)->start;
    if (start >= n_) start = 0;
    size_t best = kNone;
    uint64_t best_active = 0, best_weight = 1;
    size_t i = start;
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
    start = best + 1 == n_ ? 0 : best + 1;
    return best;
  }

 private:
  static constexpr size_t kNone = SIZE_MAX;
  const size_t n_;
};

}  // namespace

std::shared_ptr<const Policy> make_least_connections(Members members) {
  return std::make_shared<LeastConnections>(members.size());
}

}  // namespace lb::algo
