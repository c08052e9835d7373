// algorithms/weighted_round_robin.cpp — nginx's smooth weighted round-robin:
// weights {5,1,1} give a a b a c a a, spreading the heavy member's turns out
// instead of sending it five in a row.
//
// Each pick adds every available member's current weight (MemberState::weight,
// so slow start and runtime changes apply at once) to its running counter,
// picks the largest counter and subtracts the round's total from it.
// Unavailable members take no part in the round: their counters stay as they
// are until they come back.
#include <cstdint>
#include <vector>

#include "algorithms/policies.h"

namespace lb::algo {
namespace {

class WeightedRoundRobin final : public Balancer {
 public:
  void rebuild(std::span<const Member> members) override {
    current_.assign(members.size(), 0);
  }

  std::optional<size_t> pick(const PickContext&, const MemberState& state) override {
    int64_t total = 0;
    size_t best = kNone;
    for (size_t i = 0; i < current_.size(); ++i) {
      if (!state.available(i)) continue;
      const uint32_t weight = state.weight(i);
      const int64_t w = weight ? weight : 1;
      current_[i] += w;
      total += w;
      if (best == kNone || current_[i] > current_[best]) best = i;
    }
    if (best == kNone) return std::nullopt;
    current_[best] -= total;
    return best;
  }

 private:
  static constexpr size_t kNone = SIZE_MAX;
  std::vector<int64_t> current_;  // nginx's current_weight, one per member
};

}  // namespace

std::unique_ptr<Balancer> make_weighted_round_robin() {
  return std::make_unique<WeightedRoundRobin>();
}

}  // namespace lb::algo
