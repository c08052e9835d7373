// tests/unit/algorithms_test_state.h — the MemberState the algorithm unit
// tests drive balancers with: plain vectors the tests poke directly.
#pragma once

#include <cstdint>
#include <vector>

#include "algorithms/balancer.h"

namespace lb::algo::testing {

struct TestState final : MemberState {
  explicit TestState(size_t n) : up(n, true), act(n, 0), w(n, 1), lat(n) {}
  bool available(size_t i) const override { return up.at(i); }
  uint32_t active(size_t i) const override { return act.at(i); }
  uint32_t weight(size_t i) const override { return w.at(i); }
  // Without `base` set, the base weight is the weight (no slow start).
  uint32_t base_weight(size_t i) const override { return base.empty() ? w.at(i) : base.at(i); }
  LatencyEstimate latency(size_t i) const override { return lat.at(i); }
  std::vector<bool> up;
  std::vector<uint32_t> act;
  std::vector<uint32_t> w;
  std::vector<uint32_t> base;
  std::vector<LatencyEstimate> lat;
};

}  // namespace lb::algo::testing
