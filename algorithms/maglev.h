// algorithms/maglev.h — the Maglev lookup-table policy (SPEC section 4
// "maglev"), exposed as a class so tests can inspect the table.
// lb/ code gets it through make_policy(Kind::maglev, members). The table is
// built once and shared read-only by every worker; picks need no local state.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "algorithms/balancer.h"

namespace lb::algo {

class MaglevPolicy final : public Policy {
 public:
  static constexpr size_t kMinTableSize = 65537;  // prime

  // Builds the table: size = smallest prime >= max(65537, 100 × members),
  // filled from each member's permutation in proportion to its weight.
  explicit MaglevPolicy(std::span<const Member> members);
  // table[hash % size]; if that member is unavailable, the next slots in turn.
  std::optional<size_t> pick(const PickContext& ctx, const MemberState& state, LocalState* local) const override;

  // Member index per slot (empty when there are no members).
  std::span<const uint32_t> table() const { return table_; }

 private:
  std::vector<uint32_t> table_;
  size_t n_ = 0;
};

// Smallest prime >= n (n >= 2). Exposed for tests.
uint64_t next_prime(uint64_t n);

}  // namespace lb::algo
