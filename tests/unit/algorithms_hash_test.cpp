// tests/unit/algorithms_hash_test.cpp — unit tests for the hash-based
// balancers (ip_hash, consistent_hash, maglev) and hash_bytes: stability,
// spread, minimal disruption on removal, walking past unavailable members,
// bounded load, and identical mappings in two separate processes (the test
// re-executes its own binary with LB_ALGO_DIGEST=1 and compares digests).
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "algorithms/balancer.h"
#include "algorithms/consistent_hash.h"
#include "algorithms/hash.h"
#include "algorithms/maglev.h"
#include "tests/unit/algorithms_test_state.h"

using namespace lb::algo;
using lb::algo::testing::TestState;

namespace {

std::vector<Member> servers(size_t n, std::vector<uint32_t> weights = {}) {
  std::vector<Member> m;
  for (size_t i = 0; i < n; ++i) {
    m.push_back({"192.168.1." + std::to_string(i + 10) + ":80", weights.empty() ? 1 : weights[i]});
  }
  return m;
}

uint64_t key_hash(size_t k) { return hash_bytes("user-" + std::to_string(k)); }

// Key -> member key for `n_keys` keys, so mappings over different member lists compare.
std::vector<std::string> mapping(Balancer& b, std::span<const Member> members,
                                 const MemberState& s, size_t n_keys) {
  std::vector<std::string> out(n_keys);
  for (size_t k = 0; k < n_keys; ++k) {
    const auto r = b.pick(PickContext{key_hash(k), 0}, s);
    if (!r || *r >= members.size()) {
      FAIL("no valid member for key " << k);
    }
    out[k] = members[*r].key;
  }
  return out;
}

std::vector<size_t> loads(const std::vector<std::string>& map, std::span<const Member> members) {
  std::vector<size_t> out(members.size());
  for (const auto& key : map) {
    for (size_t i = 0; i < members.size(); ++i) out[i] += members[i].key == key;
  }
  return out;
}

// Removing `victim` from `members`: only its keys may move; returns the moved share.
double removal_moves(Kind kind, size_t victim, bool only_victims_keys) {
  const auto all = servers(10);
  auto fewer = all;
  fewer.erase(fewer.begin() + long(victim));
  auto b = make_balancer(kind);
  TestState s10(10), s9(9);
  b->rebuild(all);
  const auto before = mapping(*b, all, s10, 100'000);
  b->rebuild(fewer);
  const auto after = mapping(*b, fewer, s9, 100'000);
  size_t moved = 0;
  for (size_t k = 0; k < before.size(); ++k) {
    if (before[k] == after[k]) continue;
    ++moved;
    if (only_victims_keys && before[k] != all[victim].key) FAIL("key " << k << " moved off a survivor");
  }
  return double(moved) / double(before.size());
}

// Marking one member unavailable changes the result only for keys it owned,
// and those land on other available members.
void check_walk_past_unavailable(Kind kind) {
  const auto m = servers(10);
  auto b = make_balancer(kind);
  b->rebuild(m);
  TestState s(10);
  const auto before = mapping(*b, m, s, 20'000);
  s.up[3] = false;
  s.up[7] = false;
  const auto after = mapping(*b, m, s, 20'000);
  size_t moved = 0;
  std::vector<size_t> landed(10);
  for (size_t k = 0; k < before.size(); ++k) {
    if (before[k] == m[3].key || before[k] == m[7].key) {
      ++moved;
      if (after[k] == m[3].key || after[k] == m[7].key) FAIL("key " << k << " on an unavailable member");
      for (size_t i = 0; i < 10; ++i) landed[i] += after[k] == m[i].key;
    } else if (after[k] != before[k]) {
      FAIL("key " << k << " moved off an available member");
    }
  }
  CHECK(moved > 2000);
  // The displaced keys spread out instead of all piling onto one neighbour.
  size_t receivers = 0;
  for (size_t i = 0; i < 10; ++i) receivers += landed[i] > moved / 50;
  CHECK(receivers >= 6);
  // Back up: everything returns.
  s.up.assign(10, true);
  CHECK(mapping(*b, m, s, 20'000) == before);
}

uint64_t fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// Digest of 10k key mappings for consistent_hash, maglev and ip_hash.
std::string mapping_digest() {
  uint64_t h = 0xcbf29ce484222325ULL;
  const auto m = servers(10, {1, 2, 1, 3, 1, 1, 2, 1, 1, 5});
  TestState s(10);
  for (const Kind kind : {Kind::consistent_hash, Kind::maglev, Kind::ip_hash}) {
    auto b = make_balancer(kind);
    b->rebuild(m);
    for (const auto& key : mapping(*b, m, s, 10'000)) h = fnv1a(h, key + ";");
    h = fnv1a(h, "|");
  }
  for (uint32_t a = 0; a < 1000; ++a) {  // client address hashing itself
    unsigned char v4[4] = {10, 1, uint8_t(a >> 8), uint8_t(a)};
    const uint64_t x = hash_client_address(v4, 4);
    h = fnv1a(h, std::string_view(reinterpret_cast<const char*>(&x), sizeof x));
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

TEST_CASE("hash_bytes: XXH64 reference values, seeds, client addresses") {
  CHECK(hash_bytes("") == 0xef46db3751d8e999ULL);
  CHECK(hash_bytes("abc") == 0x44bc2cf5ad770999ULL);
  CHECK(hash_bytes("Nobody inspects the spammish repetition") == 0xfbcea83c8a378bf1ULL);
  CHECK(hash_bytes("abc", 0) == hash_bytes("abc"));
  CHECK(hash_bytes("abc", 1) != hash_bytes("abc"));

  const unsigned char v4[4] = {192, 0, 2, 1};
  const unsigned char v4b[4] = {192, 0, 2, 2};
  const unsigned char mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  CHECK(hash_client_address(v4, 4) == hash_client_address(mapped, 16));
  CHECK(hash_client_address(v4, 4) != hash_client_address(v4b, 4));
  CHECK(hash_client_address(v6, 16) != hash_client_address(v4, 4));
  CHECK(hash_client_address(v6, 16) == hash_bytes(std::string_view(reinterpret_cast<const char*>(v6), 16)));
}

TEST_CASE("ip_hash: stable per IPv4 and IPv6 address, different addresses spread") {
  const auto m = servers(5);
  auto b1 = make_balancer(Kind::ip_hash);
  auto b2 = make_balancer(Kind::ip_hash);
  b1->rebuild(m);
  b2->rebuild(m);
  TestState s(5);
  std::vector<size_t> count(5);
  for (uint32_t a = 0; a < 10'000; ++a) {
    unsigned char v4[4] = {10, uint8_t(a >> 16), uint8_t(a >> 8), uint8_t(a)};
    unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, uint8_t(a >> 16),
                            uint8_t(a >> 8), uint8_t(a)};
    for (const uint64_t h : {hash_client_address(v4, 4), hash_client_address(v6, 16)}) {
      const auto first = b1->pick(PickContext{h, 0}, s);
      REQUIRE(first.has_value());
      for (int again = 0; again < 3; ++again) CHECK(b1->pick(PickContext{h, 0}, s) == first);
      CHECK(b2->pick(PickContext{h, 0}, s) == first);  // another worker's instance
      ++count[*first];
    }
  }
  for (size_t c : count) {
    CHECK(c > 20'000 * 0.17);
    CHECK(c < 20'000 * 0.23);
  }

  SUBCASE("weights shift the share") {
    const auto weighted = servers(3, {1, 1, 2});
    b1->rebuild(weighted);
    TestState s3(3);
    const auto map = mapping(*b1, weighted, s3, 40'000);
    const auto l = loads(map, weighted);
    CHECK(l[2] > 18'000);
    CHECK(l[2] < 22'000);
  }
  SUBCASE("independent of configuration order") {
    auto reversed = m;
    std::reverse(reversed.begin(), reversed.end());
    b2->rebuild(reversed);
    CHECK(mapping(*b1, m, s, 5'000) == mapping(*b2, reversed, s, 5'000));
  }
}

TEST_CASE("hash algorithms walk past unavailable members; only their keys move") {
  for (const Kind kind : {Kind::ip_hash, Kind::consistent_hash, Kind::maglev}) {
    CAPTURE(int(kind));
    check_walk_past_unavailable(kind);
  }
}

TEST_CASE("consistent_hash: ketama ring over 10 servers and 100k keys") {
  const auto m = servers(10);
  const auto ring_policy = std::make_shared<ConsistentHashPolicy>(m);
  Balancer ring(Kind::consistent_hash, {}, ring_policy);
  CHECK(ring_policy->ring_size() == 10 * 160);
  TestState s(10);
  const auto l = loads(mapping(ring, m, s, 100'000), m);
  const double mean = 10'000;
  CHECK(double(*std::max_element(l.begin(), l.end())) / mean <= 1.35);
  CHECK(double(*std::min_element(l.begin(), l.end())) / mean >= 0.65);

  for (const size_t victim : {size_t(0), size_t(4), size_t(9)}) {
    CAPTURE(victim);
    const double moved = removal_moves(Kind::consistent_hash, victim, true);
    CHECK(moved >= 0.05);
    CHECK(moved <= 0.15);
  }

  SUBCASE("points per weight unit") {
    CHECK(ConsistentHashPolicy(servers(3, {1, 2, 3})).ring_size() == 6 * 160);
  }
  SUBCASE("independent of configuration order") {
    auto reversed = m;
    std::reverse(reversed.begin(), reversed.end());
    Balancer other(Kind::consistent_hash, {}, std::make_shared<ConsistentHashPolicy>(reversed));
    CHECK(mapping(ring, m, s, 20'000) == mapping(other, reversed, s, 20'000));
  }
}

TEST_CASE("consistent_hash: bounded load keeps every server under c x mean") {
  const auto m = servers(10);
  auto b = make_balancer(Kind::consistent_hash, Options{1.25, 0});
  b->rebuild(m);
  TestState s(10);
  // Sticky while load is even: with nobody busy the bounded ring equals the plain one.
  Balancer plain(Kind::consistent_hash, {}, std::make_shared<ConsistentHashPolicy>(m));
  CHECK(mapping(*b, m, s, 5'000) == mapping(plain, m, s, 5'000));

  for (size_t k = 0; k < 100'000; ++k) {
    const auto r = b->pick(PickContext{key_hash(k), 0}, s);
    REQUIRE(r.has_value());
    ++s.act[*r];
  }
  const double mean = 10'000;
  for (size_t i = 0; i < 10; ++i) {
    CAPTURE(i);
    CHECK(double(s.act[i]) <= 1.25 * mean + 1);
  }

  SUBCASE("a hot key spills over instead of piling onto one server") {
    std::fill(s.act.begin(), s.act.end(), 0);
    const uint64_t hot = key_hash(42);
    const size_t home = *plain.pick(PickContext{hot, 0}, s);
    for (int k = 0; k < 1000; ++k) {
      const auto r = b->pick(PickContext{hot, 0}, s);
      REQUIRE(r.has_value());
      ++s.act[*r];
    }
    for (size_t i = 0; i < 10; ++i) CHECK(s.act[i] <= 125);  // ceil(1.25 * 1000 / 10)
    CHECK(s.act[home] >= 100);  // the key's own server still takes its full share
  }
}

TEST_CASE("maglev: table balance, weights, minimal disruption") {
  CHECK(next_prime(65537) == 65537);
  CHECK(next_prime(65538) == 65539);

  const auto m = servers(10);
  const auto table = std::make_shared<MaglevPolicy>(m);
  Balancer mag(Kind::maglev, {}, table);
  REQUIRE(table->table().size() == 65537);
  std::vector<size_t> entries(10);
  for (uint32_t i : table->table()) ++entries.at(i);
  const auto [lo, hi] = std::minmax_element(entries.begin(), entries.end());
  CHECK(*hi - *lo <= 1);

  for (const size_t victim : {size_t(0), size_t(5), size_t(9)}) {
    CAPTURE(victim);
    const double moved = removal_moves(Kind::maglev, victim, false);
    CHECK(moved >= 0.05);
    CHECK(moved <= 0.20);
  }

  SUBCASE("weights") {
    const auto weighted = servers(3, {1, 2, 5});
    const MaglevPolicy weighted_table(weighted);
    std::vector<double> e(3);
    for (uint32_t i : weighted_table.table()) ++e[i];
    CHECK(e[0] / 65537 == doctest::Approx(1.0 / 8).epsilon(0.02));
    CHECK(e[1] / 65537 == doctest::Approx(2.0 / 8).epsilon(0.02));
    CHECK(e[2] / 65537 == doctest::Approx(5.0 / 8).epsilon(0.02));
  }
  SUBCASE("independent of configuration order") {
    auto reversed = m;
    std::reverse(reversed.begin(), reversed.end());
    Balancer other(Kind::maglev, {}, std::make_shared<MaglevPolicy>(reversed));
    TestState s(10);
    CHECK(mapping(mag, m, s, 20'000) == mapping(other, reversed, s, 20'000));
  }
  SUBCASE("table grows with the member count") {
    CHECK(MaglevPolicy(servers(1000)).table().size() == next_prime(100'000));
  }
}

// Child half of the cross-process check: prints the digest when asked to.
TEST_CASE("algorithms: digest child") {
  if (std::getenv("LB_ALGO_DIGEST") == nullptr) return;
  std::printf("LB_ALGO_DIGEST=%s\n", mapping_digest().c_str());
  std::fflush(stdout);
}

TEST_CASE("hash algorithms map keys identically in a separate process") {
  if (std::getenv("LB_ALGO_DIGEST") != nullptr) return;  // we are the child
  char exe[4096];
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  REQUIRE(len > 0);
  exe[len] = '\0';
  REQUIRE(std::strchr(exe, '\'') == nullptr);
  const std::string cmd =
      std::string("LB_ALGO_DIGEST=1 '") + exe + "' -tc='algorithms: digest child' 2>&1";
  FILE* child = popen(cmd.c_str(), "r");
  REQUIRE(child != nullptr);
  std::string theirs;
  char line[512];
  while (std::fgets(line, sizeof line, child) != nullptr) {
    const char* p = std::strstr(line, "LB_ALGO_DIGEST=");
    if (p != nullptr) theirs.assign(p + std::strlen("LB_ALGO_DIGEST="), 16);
  }
  CHECK(pclose(child) == 0);
  const std::string ours = mapping_digest();
  CHECK(theirs.size() == 16);
  CHECK(theirs == ours);
}
