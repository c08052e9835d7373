// algorithms/round_robin.cpp — plain rotation over the available members;
// weights are ignored (SPEC section 4 "round_robin").
//
// The rotation is process-wide: one policy is shared by every worker and its
// position is a single atomic counter, so consecutive picks from any mix of
// workers and connections take consecutive members (N picks over N available
// members visit all N). One relaxed fetch_add per pick.
//
// An unavailable member is skipped deterministically: the pick goes to the
// next available member in order, and the counter is then moved on to just
// after that member (one compare-exchange, only on this skip path, given up if
// another pick moved the counter meanwhile). So a down member's turns spread
// over the rotation instead of doubling its successor's share.
#include <atomic>
#include <cstdint>

#include "algorithms/policies.h"
#include "algorithms/rotation.h"

namespace lb::algo {
namespace {

class RoundRobin final : public Policy {
 public:
  explicit RoundRobin(size_t n) : n_(n) {}

  std::optional<size_t> pick(const PickContext&, const MemberState& state, LocalState*) const override {
    if (n_ == 0) return std::nullopt;
    auto member_at = [&](uint64_t position) -> std::optional<size_t> {
      const size_t i = size_t(position % n_);
      if (state.available(i)) return i;
      return std::nullopt;
    };
    return rotate(ticket_, n_, member_at, [] { return true; });  // the walk is only n long anyway
  }

 private:
  const size_t n_;
  mutable Ticket ticket_;
};

}  // namespace

std::shared_ptr<const Policy> make_round_robin(Members members) {
  return std::make_shared<RoundRobin>(members.size());
}

}  // namespace lb::algo
