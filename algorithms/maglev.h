// algorithms/maglev.h — the Maglev lookup-table balancer (SPEC section 4
// "maglev"), exposed as a class so tests can inspect the table.
// lb/ code gets it through make_balancer(Kind::maglev).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "algorithms/balancer.h"

namespace lb::algo {

class MaglevBalancer final : public Balancer {
 public:
  static constexpr size_t kMinTableSize = 65537;  // prime

  // Rebuilds the table: size = smallest prime >= max(65537, 100 × members),
  // filled from each member's permutation in proportion to its weight.
  void rebuild(std::span<const Member> members) override;
  // table[hash % size]; if that member is unavailable, the next slots in turn.
  std::optional<size_t> pick(const PickContext& ctx, const MemberState& state) override;

  // Member index per slot (empty when there are no members).
  std::span<const uint32_t> table() const { return table_; }

 private:
  std::vector<uint32_t> table_;
  size_t n_ = 0;
};

// Smallest prime >= n (n >= 2). Exposed for tests.
uint64_t next_prime(uint64_t n);

}  // namespace lb::algo
