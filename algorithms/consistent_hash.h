// algorithms/consistent_hash.h — the ketama ring balancer (SPEC section 4
// "consistent_hash"), exposed as a class so tests can inspect the ring.
// lb/ code gets it through make_balancer(Kind::consistent_hash, options).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "algorithms/balancer.h"

namespace lb::algo {

class ConsistentHashBalancer final : public Balancer {
 public:
  static constexpr uint32_t kPointsPerWeight = 160;

  // hash_balance_factor <= 0 disables bounded load; values in (0, 1) act as 1.
  explicit ConsistentHashBalancer(double hash_balance_factor = 0);

  // Rebuilds the ring: kPointsPerWeight × weight points per member. O(P log P).
  void rebuild(std::span<const Member> members) override;
  // Binary search for the first point >= ctx.hash, then clockwise past
  // unavailable (or, with bounded load, over-capacity) members.
  std::optional<size_t> pick(const PickContext& ctx, const MemberState& state) override;

  size_t ring_size() const { return point_hash_.size(); }

 private:
  double factor_;
  std::vector<uint64_t> point_hash_;    // sorted ring positions
  std::vector<uint32_t> point_member_;  // member index at each position
  std::vector<uint32_t> seen_;          // per member: epoch_ when last visited by a walk
  uint32_t epoch_ = 0;
};

}  // namespace lb::algo
