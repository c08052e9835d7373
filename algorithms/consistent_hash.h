// algorithms/consistent_hash.h — the ketama ring policy (SPEC section 4
// "consistent_hash"), exposed as a class so tests can inspect the ring.
// lb/ code gets it through make_policy(Kind::consistent_hash, members, options).
// The ring is built once and shared read-only by every worker; the bounded
// load walk's visit marks are per worker (LocalState).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "algorithms/balancer.h"

namespace lb::algo {

class ConsistentHashPolicy final : public Policy {
 public:
  static constexpr uint32_t kPointsPerWeight = 160;

  // Builds the ring: kPointsPerWeight × weight points per member. O(P log P).
  // hash_balance_factor <= 0 disables bounded load; values in (0, 1) act as 1.
  explicit ConsistentHashPolicy(std::span<const Member> members, double hash_balance_factor = 0);

  std::unique_ptr<LocalState> make_local(uint64_t seed) const override;
  // Binary search for the first point >= ctx.hash, then clockwise past
  // unavailable (or, with bounded load, over-capacity) members.
  std::optional<size_t> pick(const PickContext& ctx, const MemberState& state, LocalState* local) const override;

  size_t ring_size() const { return point_hash_.size(); }

 private:
  double factor_;
  size_t n_;
  std::vector<uint64_t> point_hash_;    // sorted ring positions
  std::vector<uint32_t> point_member_;  // member index at each position
};

}  // namespace lb::algo
