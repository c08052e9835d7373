// algorithms/weighted_round_robin.cpp — nginx's smooth weighted round-robin:
// weights {5,1,1} give a a b a c a a, spreading the heavy member's turns out
// instead of sending it five in a row. Process-wide (SPEC section 4, second
// edition): consecutive picks from any mix of workers follow one sequence.
//
// The sequence is precomputed: a schedule of one cycle (length = sum of the
// weights, after dividing by their gcd) laid out by nginx's algorithm over all
// members, built once per policy and shared by every worker. A pick takes the
// next ticket of the policy's atomic counter (rotation.h) and uses the
// schedule slot ticket % length.
//
// Weights that change at runtime:
//  - base weights (configured, or set through the admin API) different from
//    the ones the shared schedule was built for: the worker lays out the same
//    schedule for the current weights in its LocalState (rebuilt only when
//    they change again) and indexes it with the same shared counter. The
//    schedule is a pure function of the weights, so all workers still follow
//    one sequence;
//  - slow start (weight() below base_weight()): the member keeps its slots
//    but takes only weight/base_weight of its turns, spread evenly over its
//    turns across cycles; a refused turn is skipped like an unavailable slot.
//
// Unavailable members (down, draining, circuit-open, at max_connections,
// already tried) are skipped deterministically: the pick goes to the next slot
// of an available member, and the counter moves on past it, so with a member
// out its turns simply drop out of the sequence — {5,1,1} with b out gives
// a a a c a a, in the proportions 5:1 of the members left, as nginx's own
// "leave it out of the round" would. With several workers racing over a skip,
// a skipped turn may go to the next member in the schedule instead.
//
// Schedule size: the cycle is capped (weights scaled down proportionally,
// never below 1) so that building it, O(length × members), stays near 2^24
// steps even for pools of hundreds of heavily weighted servers.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "algorithms/policies.h"
#include "algorithms/rotation.h"

namespace lb::algo {
namespace {

struct Schedule {
  std::vector<uint32_t> weights;  // base weight per member this was laid out for
  std::vector<uint32_t> slot_member;
  std::vector<uint32_t> slot_turn;  // which of its member's turns in the cycle (0-based)
  std::vector<uint32_t> turns;      // per member: its turns per cycle

  bool matches(const MemberState& state) const {
    for (size_t i = 0; i < weights.size(); ++i) {
      const uint32_t w = state.base_weight(i);
      if ((w ? w : 1) != weights[i]) return false;
    }
    return true;
  }
};

Schedule build_schedule(std::vector<uint32_t> weights) {
  Schedule s;
  const size_t n = weights.size();
  s.turns.assign(n, 0);
  for (uint32_t& w : weights) w = w ? w : 1;
  s.weights = weights;
  if (n == 0) return s;
  uint64_t g = 0, total = 0;
  for (uint32_t w : weights) g = std::gcd(g, uint64_t(w));
  for (uint32_t w : weights) total += w / g;
  const uint64_t cap = std::max<uint64_t>(n, (uint64_t(1) << 24) / n);
  std::vector<int64_t> step(n), current(n, 0);
  int64_t cycle = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t w = weights[i] / g;
    if (total > cap) w = std::max<uint64_t>(1, w * cap / total);
    step[i] = int64_t(w);
    cycle += step[i];
  }
  s.slot_member.resize(size_t(cycle));
  s.slot_turn.resize(size_t(cycle));
  for (int64_t k = 0; k < cycle; ++k) {  // nginx: add weights, take the largest, subtract the total
    size_t best = 0;
    for (size_t i = 0; i < n; ++i) {
      current[i] += step[i];
      if (current[i] > current[best]) best = i;
    }
    current[best] -= cycle;
    s.slot_member[size_t(k)] = uint32_t(best);
    s.slot_turn[size_t(k)] = s.turns[best]++;
  }
  return s;
}

// A worker's schedule for base weights that differ from the configured ones.
struct WrrLocal final : LocalState {
  Schedule schedule;
};

class WeightedRoundRobin final : public Policy {
 public:
  explicit WeightedRoundRobin(Members members) {
    std::vector<uint32_t> weights;
    for (const Member& m : members) weights.push_back(m.weight);
    configured_ = build_schedule(std::move(weights));
  }

  std::unique_ptr<LocalState> make_local(uint64_t) const override { return std::make_unique<WrrLocal>(); }

  std::optional<size_t> pick(const PickContext&, const MemberState& state, LocalState* local) const override {
    const size_t n = configured_.weights.size();
    if (n == 0) return std::nullopt;
    const Schedule& s = configured_.matches(state) ? configured_ : local_schedule(state, *local);
    const uint64_t cycle = s.slot_member.size();
    auto member_at = [&](uint64_t position) -> std::optional<size_t> {
      const size_t slot = size_t(position % cycle);
      const uint32_t i = s.slot_member[slot];
      if (!state.available(i)) return std::nullopt;
      const uint64_t base = s.weights[i], weight = std::max<uint32_t>(state.weight(i), 1);
      if (weight < base) {  // slow start: take weight/base of the turns, evenly
        const uint64_t turn = (position / cycle) * s.turns[i] + s.slot_turn[slot];
        if ((turn * weight) % base + weight < base) return std::nullopt;
      }
      return i;
    };
    auto first_available = [&]() -> std::optional<size_t> {
      for (size_t i = 0; i < n; ++i)
        if (state.available(i)) return i;
      return std::nullopt;
    };
    auto picked = rotate(ticket_, kMaxCycles * cycle, member_at, [&] { return first_available().has_value(); });
    // Only slow-starting members left, at a ratio below 1/kMaxCycles: take one anyway.
    return picked ? picked : first_available();
  }

 private:
  // The schedule for the current base weights, rebuilt when they change.
  const Schedule& local_schedule(const MemberState& state, LocalState& local) const {
    auto& l = static_cast<WrrLocal&>(local);
    const size_t n = configured_.weights.size();
    if (l.schedule.weights.size() == n && l.schedule.matches(state)) return l.schedule;
    std::vector<uint32_t> weights(n);
    for (size_t i = 0; i < n; ++i) weights[i] = state.base_weight(i);
    l.schedule = build_schedule(std::move(weights));
    return l.schedule;
  }

  static constexpr uint64_t kMaxCycles = 64;  // bound on the walk (slow-start thinning)
  Schedule configured_;
  mutable Ticket ticket_;
};

}  // namespace

std::shared_ptr<const Policy> make_weighted_round_robin(Members members) {
  return std::make_shared<WeightedRoundRobin>(members);
}

}  // namespace lb::algo
