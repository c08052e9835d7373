// algorithms/round_robin.cpp — plain rotation over the available members;
// weights are ignored (SPEC section 4 "round_robin").
//
// The cursor moves to just after the member picked, so an unavailable member
// is skipped without giving its turn to one neighbour twice in a row.
#include "algorithms/policies.h"

namespace lb::algo {
namespace {

class RoundRobin final : public Balancer {
 public:
  void rebuild(std::span<const Member> members) override {
    n_ = members.size();
    if (next_ >= n_) next_ = 0;  // keep the rotation position across reloads
  }

  std::optional<size_t> pick(const PickContext&, const MemberState& state) override {
    size_t i = next_;
    for (size_t k = 0; k < n_; ++k) {
      if (state.available(i)) {
        next_ = i + 1 == n_ ? 0 : i + 1;
        return i;
      }
      i = i + 1 == n_ ? 0 : i + 1;
    }
    return std::nullopt;
  }

 private:
  size_t n_ = 0;
  size_t next_ = 0;
};

}  // namespace

std::unique_ptr<Balancer> make_round_robin() { return std::make_unique<RoundRobin>(); }

}  // namespace lb::algo
