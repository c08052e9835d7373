// tests/unit/algorithms_test.cpp — unit tests for algorithms/: the seam
// contract every balancer shares (skip unavailable, nullopt when none, empty
// rebuild) and the rotation/load-based policies. The hash-based policies and
// the cross-process determinism check live in algorithms_hash_test.cpp.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "algorithms/balancer.h"
#include "algorithms/hash.h"
#include "algorithms/latency.h"
#include "tests/unit/algorithms_test_state.h"

using namespace lb::algo;
using lb::algo::testing::TestState;

namespace {

std::vector<Member> make_members(size_t n, std::vector<uint32_t> weights = {}) {
  std::vector<Member> m;
  for (size_t i = 0; i < n; ++i) {
    m.push_back({"10.0.0." + std::to_string(i + 1) + ":8080", weights.empty() ? 1 : weights[i]});
  }
  return m;
}

constexpr std::array kAllKinds = {
    Kind::round_robin,     Kind::weighted_round_robin, Kind::least_connections,
    Kind::least_response_time, Kind::ip_hash,          Kind::consistent_hash,
    Kind::maglev,          Kind::random_two_choices,
};

size_t pick(Balancer& b, const MemberState& s, uint64_t hash = 0, uint64_t now_ns = 0) {
  const auto r = b.pick(PickContext{hash, now_ns}, s);
  REQUIRE(r.has_value());
  return *r;
}

}  // namespace

TEST_CASE("algorithms: every kind handles empty sets, all-unavailable and skips unavailable") {
  for (const Kind kind : kAllKinds) {
    for (const double factor : {0.0, 1.25}) {
      CAPTURE(int(kind));
      CAPTURE(factor);
      auto b = make_balancer(kind, Options{factor, 42});
      REQUIRE(b);

      TestState empty(0);
      b->rebuild({});
      CHECK_FALSE(b->pick(PickContext{123, 0}, empty).has_value());

      const auto members = make_members(5);
      b->rebuild(members);
      TestState s(5);
      // down / drain / maint / at max_connections all look like available()==false.
      s.up[2] = false;
      s.up[4] = false;
      for (uint64_t k = 0; k < 2000; ++k) {
        const size_t i = pick(*b, s, hash_bytes("key-" + std::to_string(k)), k * 1'000'000);
        CHECK(i < 5);
        CHECK(i != 2);
        CHECK(i != 4);
        s.act[i] += (k % 3 == 0);  // some load so the load-based ones move around
      }
      s.up.assign(5, false);
      for (uint64_t k = 0; k < 50; ++k) {
        CHECK_FALSE(b->pick(PickContext{hash_bytes(std::to_string(k)), 0}, s).has_value());
      }
      // Only one left: everybody must find it.
      s.up[3] = true;
      for (uint64_t k = 0; k < 200; ++k) CHECK(pick(*b, s, mix64(k)) == 3);

      b->rebuild({});
      CHECK_FALSE(b->pick(PickContext{1, 0}, empty).has_value());
    }
  }
}

TEST_CASE("round_robin: even rotation, weights ignored, unavailable skipped") {
  auto b = make_balancer(Kind::round_robin);
  b->rebuild(make_members(3, {5, 1, 1}));
  TestState s(3);
  s.w = {5, 1, 1};
  std::vector<size_t> count(3);
  for (int k = 0; k < 3000; ++k) {
    const size_t i = pick(*b, s);
    CHECK(i == size_t(k % 3));
    ++count[i];
  }
  CHECK(count == std::vector<size_t>{1000, 1000, 1000});

  s.up[1] = false;
  count.assign(3, 0);
  for (int k = 0; k < 3000; ++k) ++count[pick(*b, s)];
  CHECK(count == std::vector<size_t>{1500, 0, 1500});

  s.up[1] = true;  // back in rotation
  count.assign(3, 0);
  for (int k = 0; k < 3000; ++k) ++count[pick(*b, s)];
  CHECK(count == std::vector<size_t>{1000, 1000, 1000});
}

TEST_CASE("weighted_round_robin: smooth sequence a a b a c a a for {5,1,1}") {
  auto b = make_balancer(Kind::weighted_round_robin);
  b->rebuild(make_members(3, {5, 1, 1}));
  TestState s(3);
  s.w = {5, 1, 1};
  std::string seq;
  for (int k = 0; k < 7 * 5; ++k) seq += char('a' + pick(*b, s));
  CHECK(seq == "aabacaa" "aabacaa" "aabacaa" "aabacaa" "aabacaa");

  SUBCASE("unavailable member is left out of the round") {
    s.up[1] = false;
    std::vector<size_t> count(3);
    for (int k = 0; k < 600; ++k) ++count[pick(*b, s)];
    CHECK(count == std::vector<size_t>{500, 0, 100});
  }
  SUBCASE("runtime weight changes (slow start) apply at once") {
    s.w = {1, 1, 1};
    std::vector<size_t> count(3);
    for (int k = 0; k < 300; ++k) ++count[pick(*b, s)];
    CHECK(count == std::vector<size_t>{100, 100, 100});
  }
}

TEST_CASE("least_connections: active/weight, ties rotate") {
  auto b = make_balancer(Kind::least_connections);
  b->rebuild(make_members(3));
  TestState s(3);

  s.act = {3, 1, 2};
  CHECK(pick(*b, s) == 1);
  s.act = {10, 10, 10};
  s.w = {1, 2, 1};
  CHECK(pick(*b, s) == 1);  // 10/2 beats 10/1
  s.act = {4, 9, 3};
  s.w = {2, 3, 1};
  CHECK(pick(*b, s) == 0);  // 2 < 3 = 3

  SUBCASE("ties rotate") {
    s.act = {0, 0, 0};
    s.w = {1, 1, 1};
    std::string seq;
    for (int k = 0; k < 9; ++k) seq += char('0' + pick(*b, s));
    // starts after the last pick (0), then keeps rotating
    CHECK(seq == "120120120");
    s.act = {4, 2, 7};
    s.w = {2, 1, 1};  // 0 and 1 tie at 2 per weight unit
    std::vector<size_t> count(3);
    for (int k = 0; k < 100; ++k) ++count[pick(*b, s)];
    CHECK(count == std::vector<size_t>{50, 50, 0});
  }
  SUBCASE("with load accumulating, traffic follows weights") {
    s.act = {0, 0, 0};
    s.w = {1, 2, 1};
    for (int k = 0; k < 400; ++k) ++s.act[pick(*b, s)];
    CHECK(s.act == std::vector<uint32_t>{100, 200, 100});
  }
  SUBCASE("unavailable skipped even when idle") {
    s.act = {5, 0, 5};
    s.w = {1, 1, 1};
    s.up[1] = false;
    for (int k = 0; k < 10; ++k) CHECK(pick(*b, s) != 1);
  }
}

TEST_CASE("latency helper: EWMA with age-weighted memory and decay") {
  LatencyEstimate e;
  CHECK(effective_latency_ms(e, 5) == 0);
  e = update_latency(e, 10, 1'000);
  CHECK(e.ewma_ms == doctest::Approx(10));
  CHECK(e.updated_ns == 1'000);
  e = update_latency(e, 20, 1'000);  // fresh: plain EWMA
  CHECK(e.ewma_ms == doctest::Approx(10 * (1 - kLatencyAlpha) + 20 * kLatencyAlpha));
  const double before = e.ewma_ms;
  CHECK(effective_latency_ms(e, 1'000 + kLatencyHalfLifeNs) == doctest::Approx(before / 2));
  CHECK(effective_latency_ms(e, 1'000 + 4 * kLatencyHalfLifeNs) == doctest::Approx(before / 16));
  CHECK(effective_latency_ms(e, 0) == doctest::Approx(before));  // clock behind: no decay
  // After a long gap the new sample replaces the stale estimate almost fully.
  e = update_latency(e, 500, 1'000 + 30 * kLatencyHalfLifeNs);
  CHECK(e.ewma_ms == doctest::Approx(500).epsilon(0.001));
  // A zero sample still counts as "has a sample".
  CHECK(update_latency({}, 0, 7).ewma_ms > 0);
}

TEST_CASE("least_response_time: prefers the faster server, probes the slow one after decay") {
  auto b = make_balancer(Kind::least_response_time);
  b->rebuild(make_members(2));
  TestState s(2);
  const std::array<double, 2> true_ms = {5, 100};
  uint64_t now = 1'000'000'000;
  s.lat[0] = update_latency({}, true_ms[0], now);
  s.lat[1] = update_latency({}, true_ms[1], now);

  // Sequential requests every 10 ms for 60 simulated seconds; each response
  // updates the chosen server's estimate.
  std::vector<size_t> count(2);
  std::vector<uint64_t> slow_pick_times;
  for (int k = 0; k < 6000; ++k, now += 10'000'000) {
    const size_t i = pick(*b, s, 0, now);
    ++count[i];
    if (i == 1) slow_pick_times.push_back(now);
    s.lat[i] = update_latency(s.lat[i], true_ms[i], now);
  }
  CHECK(count[0] > 50 * count[1]);  // the fast one gets nearly everything
  CHECK(count[1] >= 5);             // but the slow one is not starved
  // ...and keeps being probed throughout, not just once.
  REQUIRE(!slow_pick_times.empty());
  CHECK(slow_pick_times.back() - slow_pick_times.front() > 30'000'000'000ULL);

  SUBCASE("active requests count: a busy fast server loses to an idle slower one") {
    s.lat[0] = {5, now};
    s.lat[1] = {20, now};
    s.act = {10, 0};  // 5 * 11 = 55 > 20 * 1
    CHECK(pick(*b, s, 0, now) == 1);
    s.act = {2, 0};  // 15 < 20
    CHECK(pick(*b, s, 0, now) == 0);
    s.w = {1, 4};    // 20 * 1 / 4 = 5 < 15
    CHECK(pick(*b, s, 0, now) == 1);
  }
}

TEST_CASE("least_response_time: servers without a sample are probed first, without a flood") {
  auto b = make_balancer(Kind::least_response_time);
  b->rebuild(make_members(3));
  TestState s(3);
  const uint64_t now = 5'000'000'000;
  s.lat[0] = {8, now};
  s.lat[1] = {3, now};
  // member 2 is new: no sample
  CHECK(pick(*b, s, 0, now) == 2);
  // While its probe is in flight it is costed like the fastest sampled server.
  s.act = {0, 0, 1};  // 3 * 2 = 6 vs member 1 at 3 * 1
  CHECK(pick(*b, s, 0, now) == 1);
  s.act = {0, 1, 1};  // tie 6 vs 6: the unsampled one wins
  CHECK(pick(*b, s, 0, now) == 2);

  // No samples at all: behaves like least_connections.
  TestState fresh(3);
  fresh.act = {2, 1, 3};
  CHECK(pick(*b, fresh, 0, now) == 1);
}

TEST_CASE("random_two_choices: deterministic per seed, picks the less loaded of two") {
  const auto members = make_members(8);
  TestState s(8);
  auto run = [&](uint64_t seed) {
    auto b = make_balancer(Kind::random_two_choices, Options{0, seed});
    b->rebuild(members);
    std::string seq;
    for (int k = 0; k < 200; ++k) seq += char('a' + pick(*b, s));
    return seq;
  };
  CHECK(run(7) == run(7));
  CHECK(run(7) != run(8));

  SUBCASE("with two members the less loaded one always wins") {
    auto b = make_balancer(Kind::random_two_choices, Options{0, 1});
    b->rebuild(make_members(2));
    TestState two(2);
    two.act = {5, 3};
    for (int k = 0; k < 100; ++k) CHECK(pick(*b, two) == 1);
    two.w = {2, 1};  // 5/2 < 3/1
    for (int k = 0; k < 100; ++k) CHECK(pick(*b, two) == 0);
  }
  SUBCASE("load stays balanced and every available member is used") {
    auto b = make_balancer(Kind::random_two_choices, Options{0, 99});
    b->rebuild(members);
    s.up[5] = false;
    for (int k = 0; k < 7000; ++k) ++s.act[pick(*b, s)];
    CHECK(s.act[5] == 0);
    for (size_t i = 0; i < 8; ++i) {
      if (i == 5) continue;
      CHECK(s.act[i] >= 990);
      CHECK(s.act[i] <= 1010);
    }
  }
  SUBCASE("mostly unavailable: still finds the survivors, uniformly") {
    auto b = make_balancer(Kind::random_two_choices, Options{0, 3});
    auto many = make_members(64);
    b->rebuild(many);
    TestState m(64);
    m.up.assign(64, false);
    m.up[10] = m.up[50] = true;
    std::map<size_t, int> count;
    for (int k = 0; k < 1000; ++k) ++count[pick(*b, m)];
    CHECK(count.size() == 2);
    CHECK(count[10] > 400);  // both idle: the tie goes to the first draw, which is uniform
    CHECK(count[10] < 600);
  }
}
