// algorithms/ip_hash.cpp — the same client address goes to the same member
// while the member set is unchanged (SPEC section 4 "ip_hash").
//
// PickContext::hash is hash_client_address() of the whole address (hash.h).
// It selects a point in [0, total weight) over the members' configured
// weights (from rebuild(), not the runtime weight: slow start must not remap
// clients). Members are laid out sorted by key, so the mapping does not depend
// on the order of servers in the configuration.
//
// When the chosen member is unavailable the hash is re-mixed and tried again
// (like nginx, up to kRehashTries times), which spreads that member's clients
// over the others by weight; after that a linear walk guarantees an answer.
// Both are deterministic, and only clients of the unavailable member move.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "algorithms/hash.h"
#include "algorithms/policies.h"

namespace lb::algo {
namespace {

class IpHash final : public Policy {
 public:
  explicit IpHash(Members members) {
    const size_t n = members.size();
    order_.resize(n);
    std::iota(order_.begin(), order_.end(), size_t{0});
    std::stable_sort(order_.begin(), order_.end(),
                     [&](size_t a, size_t b) { return members[a].key < members[b].key; });
    cumulative_.resize(n);
    uint64_t total = 0;
    for (size_t k = 0; k < n; ++k) {
      const uint32_t w = members[order_[k]].weight;
      total += w ? w : 1;
      cumulative_[k] = total;
    }
  }

  std::optional<size_t> pick(const PickContext& ctx, const MemberState& state, LocalState*) const override {
    const size_t n = order_.size();
    if (n == 0) return std::nullopt;
    uint64_t h = ctx.hash;
    size_t pos = position(h);
    for (int t = 0; t < kRehashTries; ++t) {
      if (state.available(order_[pos])) return order_[pos];
      h = mix64(h);
      pos = position(h);
    }
    for (size_t k = 0; k < n; ++k) {
      if (state.available(order_[pos])) return order_[pos];
      pos = pos + 1 == n ? 0 : pos + 1;
    }
    return std::nullopt;
  }

 private:
  static constexpr int kRehashTries = 20;

  // Position in order_ whose weight range contains h % total.
  size_t position(uint64_t h) const {
    const uint64_t target = h % cumulative_.back();
    return size_t(std::upper_bound(cumulative_.begin(), cumulative_.end(), target) -
                  cumulative_.begin());
  }

  std::vector<size_t> order_;          // member indices sorted by key
  std::vector<uint64_t> cumulative_;   // running weight sums along order_
};

}  // namespace

std::shared_ptr<const Policy> make_ip_hash(Members members) { return std::make_shared<IpHash>(members); }

}  // namespace lb::algo
