// tests/unit/algorithms_shared_test.cpp — unit tests for policies shared by
// several workers (SPEC section 4, second edition): round_robin and
// weighted_round_robin rotate over all callers of one policy together, each
// "worker" being a Balancer with its own local state over the same policy;
// every kind stays correct when real threads pick concurrently.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "algorithms/balancer.h"
#include "algorithms/hash.h"
#include "tests/unit/algorithms_test_state.h"

using namespace lb::algo;
using lb::algo::testing::TestState;

namespace {

std::vector<Member> members(std::vector<uint32_t> weights) {
  std::vector<Member> m;
  for (size_t i = 0; i < weights.size(); ++i) m.push_back({"10.1.0." + std::to_string(i + 1) + ":80", weights[i]});
  return m;
}

// `count` balancers ("workers") over one shared policy, with distinct seeds.
std::vector<Balancer> workers(Kind kind, const std::shared_ptr<const Policy>& policy, size_t count) {
  std::vector<Balancer> out;
  for (size_t w = 0; w < count; ++w) out.emplace_back(kind, Options{0, 1000 + w}, policy);
  return out;
}

size_t pick(Balancer& b, const MemberState& s, uint64_t hash = 0) {
  const auto r = b.pick(PickContext{hash, 0}, s);
  REQUIRE(r.has_value());
  return *r;
}

// Picks `n` times, the k-th pick from worker order[k % order.size()].
std::string sequence(std::vector<Balancer>& ws, const MemberState& s, size_t n, std::vector<size_t> order) {
  std::string seq;
  for (size_t k = 0; k < n; ++k) seq += char('a' + pick(ws[order[k % order.size()]], s));
  return seq;
}

constexpr std::array kAllKinds = {
    Kind::round_robin,         Kind::weighted_round_robin, Kind::least_connections, Kind::least_response_time,
    Kind::ip_hash,             Kind::consistent_hash,      Kind::maglev,            Kind::random_two_choices,
};

}  // namespace

TEST_CASE("round_robin: picks from interleaved workers rotate over the whole pool") {
  const auto policy = make_policy(Kind::round_robin, members({1, 1, 1}));
  auto ws = workers(Kind::round_robin, policy, 3);
  TestState s(3);
  // Whatever the mix of workers, every 3 consecutive picks visit all 3 members.
  for (const auto& order : {std::vector<size_t>{0, 1}, std::vector<size_t>{0, 0, 1, 2, 1}, std::vector<size_t>{2}}) {
    const std::string seq = sequence(ws, s, 300, order);
    for (size_t k = 0; k + 3 <= seq.size(); k += 3) {
      CAPTURE(seq.substr(k, 3));
      CHECK(std::set<char>(seq.begin() + long(k), seq.begin() + long(k) + 3).size() == 3);
    }
  }

  SUBCASE("an unavailable member is skipped and its turns spread evenly") {
    s.up[1] = false;
    std::vector<size_t> count(3);
    for (int k = 0; k < 3000; ++k) ++count[pick(ws[size_t(k) % 2], s)];
    CHECK(count == std::vector<size_t>{1500, 0, 1500});
    CHECK(sequence(ws, s, 6, {0, 1}) == "acacac");
  }
}

TEST_CASE("weighted_round_robin: interleaved workers follow one smooth sequence") {
  const auto policy = make_policy(Kind::weighted_round_robin, members({5, 1, 1}));
  auto ws = workers(Kind::weighted_round_robin, policy, 2);
  TestState s(3);
  s.w = {5, 1, 1};
  CHECK(sequence(ws, s, 21, {0, 1}) == "aabacaa" "aabacaa" "aabacaa");
  CHECK(sequence(ws, s, 14, {1, 1, 0}) == "aabacaa" "aabacaa");

  SUBCASE("an unavailable member's turns drop out of the sequence") {
    s.up[1] = false;
    CHECK(sequence(ws, s, 12, {0, 1}) == "aaacaa" "aaacaa");
  }
  SUBCASE("base weights changed at runtime: every worker lays out the same new schedule") {
    s.w = {1, 1, 3};  // e.g. set through the admin API: differs from the configured 5, 1, 1
    const std::string seq = sequence(ws, s, 50, {0, 1, 1});
    CHECK(seq == "cacbc" "cacbc" "cacbc" "cacbc" "cacbc" "cacbc" "cacbc" "cacbc" "cacbc" "cacbc");
  }
  SUBCASE("slow start: a member takes weight/base_weight of its turns") {
    TestState ss(2);
    const auto even = make_policy(Kind::weighted_round_robin, members({100, 100}));
    auto two = workers(Kind::weighted_round_robin, even, 2);
    ss.base = {100, 100};
    ss.w = {100, 25};  // b at a quarter of its weight
    std::vector<size_t> count(2);
    for (int k = 0; k < 12'500; ++k) ++count[pick(two[size_t(k) % 2], ss)];
    CHECK(count[1] == 2'500);  // 25 / (100 + 25) of the picks
    ss.w = {100, 100};         // ramp done: even again
    count.assign(2, 0);
    for (int k = 0; k < 1'000; ++k) ++count[pick(two[size_t(k) % 2], ss)];
    CHECK(count == std::vector<size_t>{500, 500});
    ss.up[0] = false;  // only the slow starter left: it gets every pick anyway
    ss.w = {100, 1};
    for (int k = 0; k < 100; ++k) CHECK(pick(two[0], ss) == 1);
  }
}

TEST_CASE("round robin policies: a pick that finds nothing available does not move the rotation") {
  // As in panic mode: every request first asks with health applied (nothing
  // available), then again ignoring health. The second picks must still rotate.
  for (const Kind kind : {Kind::round_robin, Kind::weighted_round_robin}) {
    CAPTURE(int(kind));
    auto ws = workers(kind, make_policy(kind, members({1, 1})), 2);
    TestState down(2), up(2);
    down.up = {false, false};
    std::string seq;
    for (size_t k = 0; k < 8; ++k) {
      CHECK_FALSE(ws[k % 2].pick(PickContext{}, down).has_value());
      seq += char('a' + pick(ws[k % 2], up));
    }
    CHECK(seq == "abababab");
  }
}

TEST_CASE("round robin policies: threads picking concurrently share one rotation") {
  for (const Kind kind : {Kind::round_robin, Kind::weighted_round_robin}) {
    CAPTURE(int(kind));
    const auto policy = make_policy(kind, members({3, 2, 1}));
    auto ws = workers(kind, policy, 4);
    TestState s(3);
    s.w = {3, 2, 1};
    constexpr int kPerThread = 6'000;
    std::vector<std::array<size_t, 3>> counts(ws.size());
    std::vector<std::thread> threads;
    for (size_t t = 0; t < ws.size(); ++t) {
      threads.emplace_back([&, t] {
        for (int k = 0; k < kPerThread; ++k) {
          const auto r = ws[t].pick(PickContext{}, s);
          if (r) ++counts[t][*r];
        }
      });
    }
    for (auto& th : threads) th.join();
    std::array<size_t, 3> total{};
    for (const auto& c : counts)
      for (size_t i = 0; i < 3; ++i) total[i] += c[i];
    // Each ticket is one slot of the shared cycle, whichever thread took it:
    // 24,000 picks are whole cycles, so the split is exact.
    const size_t n = ws.size() * kPerThread;
    if (kind == Kind::round_robin) CHECK(total == std::array<size_t, 3>{n / 3, n / 3, n / 3});
    else CHECK(total == std::array<size_t, 3>{n / 2, n / 3, n / 6});
  }
}

TEST_CASE("every kind: one policy picked from concurrently by several workers stays correct") {
  for (const Kind kind : kAllKinds) {
    CAPTURE(int(kind));
    const auto policy = make_policy(kind, members({1, 2, 1, 1, 3}), Options{1.25, 0});
    auto ws = workers(kind, policy, 3);
    TestState s(5);
    s.w = {1, 2, 1, 1, 3};
    s.up[3] = false;
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < ws.size(); ++t) {
      threads.emplace_back([&, t] {
        for (uint64_t k = 0; k < 5'000; ++k) {
          const auto r = ws[t].pick(PickContext{mix64(k * 7 + t), k}, s);
          if (!r || *r >= 5 || *r == 3) bad.fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(bad.load() == 0);
    // Hash kinds: the shared table gives every worker the same answer.
    for (uint64_t k = 0; k < 200; ++k) {
      const uint64_t h = hash_bytes("key-" + std::to_string(k));
      if (kind == Kind::ip_hash || kind == Kind::consistent_hash || kind == Kind::maglev)
        CHECK(pick(ws[0], s, h) == pick(ws[2], s, h));
    }
  }
}
