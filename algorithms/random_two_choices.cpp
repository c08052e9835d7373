// algorithms/random_two_choices.cpp — power of two random choices: draw two
// distinct available members at random and take the one with fewer active
// requests per unit of weight (SPEC section 4 "random_two_choices").
//
// Randomness comes from each worker's own splitmix64 stream (its LocalState,
// seeded from Options::seed), so runs are reproducible, workers draw
// differently and no shared state is written.
// Draws are rejection-sampled a few times; when most members are unavailable
// it falls back to counting the available ones and picking the r-th, which is
// still uniform and bounded by O(n).
#include <cstdint>

#include "algorithms/hash.h"
#include "algorithms/policies.h"

namespace lb::algo {
namespace {

struct Prng final : LocalState {
  explicit Prng(uint64_t seed) : rng{seed} {}
  uint64_t next() { return rng.next(); }
  SplitMix64 rng;
};

class RandomTwoChoices final : public Policy {
 public:
  explicit RandomTwoChoices(size_t n) : n_(n) {}

  std::unique_ptr<LocalState> make_local(uint64_t seed) const override { return std::make_unique<Prng>(seed); }

  std::optional<size_t> pick(const PickContext&, const MemberState& ms, LocalState* local) const override {
    if (n_ == 0) return std::nullopt;
    Prng& rng = *static_cast<Prng*>(local);
    const size_t a = draw(rng, ms, kNone);
    if (a == kNone) return std::nullopt;
    const size_t b = draw(rng, ms, a);
    if (b == kNone) return a;
    const uint32_t wa32 = ms.weight(a), wb32 = ms.weight(b);
    const uint64_t wa = wa32 ? wa32 : 1, wb = wb32 ? wb32 : 1;
    // active(b)/wb < active(a)/wa
    return uint64_t(ms.active(b)) * wa < uint64_t(ms.active(a)) * wb ? b : a;
  }

 private:
  static constexpr size_t kNone = SIZE_MAX;
  static constexpr int kTries = 4;

  // A uniformly random available member other than `exclude`, or kNone.
  size_t draw(Prng& rng, const MemberState& ms, size_t exclude) const {
    for (int t = 0; t < kTries; ++t) {
      const size_t i = size_t(rng.next() % n_);
      if (i != exclude && ms.available(i)) return i;
    }
    size_t count = 0;
    for (size_t i = 0; i < n_; ++i) count += (i != exclude && ms.available(i));
    if (count == 0) return kNone;
    size_t r = size_t(rng.next() % count);
    for (size_t i = 0; i < n_; ++i) {
      if (i == exclude || !ms.available(i)) continue;
      if (r-- == 0) return i;
    }
    return kNone;  // unreachable: availability does not change during a pick
  }

  const size_t n_;
};

}  // namespace

std::shared_ptr<const Policy> make_random_two_choices(Members members) {
  return std::make_shared<RandomTwoChoices>(members.size());
}

}  // namespace lb::algo
