// algorithms/random_two_choices.cpp — power of two random choices: draw two
// distinct available members at random and take the one with fewer active
// requests per unit of weight (SPEC section 4 "random_two_choices").
//
// Randomness comes from the instance's own splitmix64 stream seeded from
// Options::seed, so runs are reproducible and no global state is touched.
// Draws are rejection-sampled a few times; when most members are unavailable
// it falls back to counting the available ones and picking the r-th, which is
// still uniform and bounded by O(n).
#include <cstdint>

#include "algorithms/policies.h"

namespace lb::algo {
namespace {

class RandomTwoChoices final : public Balancer {
 public:
  explicit RandomTwoChoices(uint64_t seed) : state_(seed) {}

  void rebuild(std::span<const Member> members) override { n_ = members.size(); }

  std::optional<size_t> pick(const PickContext&, const MemberState& ms) override {
    if (n_ == 0) return std::nullopt;
    const size_t a = draw(ms, kNone);
    if (a == kNone) return std::nullopt;
    const size_t b = draw(ms, a);
    if (b == kNone) return a;
    const uint32_t wa32 = ms.weight(a), wb32 = ms.weight(b);
    const uint64_t wa = wa32 ? wa32 : 1, wb = wb32 ? wb32 : 1;
    // active(b)/wb < active(a)/wa
    return uint64_t(ms.active(b)) * wa < uint64_t(ms.active(a)) * wb ? b : a;
  }

 private:
  static constexpr size_t kNone = SIZE_MAX;
  static constexpr int kTries = 4;

  uint64_t next() {  // splitmix64
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // A uniformly random available member other than `exclude`, or kNone.
  size_t draw(const MemberState& ms, size_t exclude) {
    for (int t = 0; t < kTries; ++t) {
      const size_t i = size_t(next() % n_);
      if (i != exclude && ms.available(i)) return i;
    }
    size_t count = 0;
    for (size_t i = 0; i < n_; ++i) count += (i != exclude && ms.available(i));
    if (count == 0) return kNone;
    size_t r = size_t(next() % count);
    for (size_t i = 0; i < n_; ++i) {
      if (i == exclude || !ms.available(i)) continue;
      if (r-- == 0) return i;
    }
    return kNone;  // unreachable: availability does not change during a pick
  }

  uint64_t state_;
  size_t n_ = 0;
};

}  // namespace

std::unique_ptr<Balancer> make_random_two_choices(uint64_t seed) {
  return std::make_unique<RandomTwoChoices>(seed);
}

}  // namespace lb::algo
