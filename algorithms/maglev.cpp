// algorithms/maglev.cpp — Maglev consistent hashing (Eisenbud et al., NSDI
// 2016, section 3.4) with weights as in Envoy's MaglevTable.
//
// Build: every member has a permutation of the M slots given by two hashes of
// its key, offset = h1 % M and skip = h2 % (M - 1) + 1 (M is prime, so each
// permutation visits every slot). Members take turns claiming the next free
// slot of their permutation until the table is full; a member of weight w
// takes a turn in w of every max_weight rounds, so with equal weights the
// entry counts differ by at most one. Turns go in key order, so the table
// depends only on the set of (key, weight), not on configuration order.
//
// Lookup: table[hash % M]. If that member is unavailable, the following slots
// are tried in order; neighbouring slots belong to effectively random members,
// so an unavailable member's keys spread over the others by weight, and keys
// of available members never move. The walk is bounded by M.
#include "algorithms/maglev.h"

#include <algorithm>

#include "algorithms/hash.h"
#include "algorithms/policies.h"

namespace lb::algo {
namespace {

constexpr uint64_t kOffsetSeed = 0x6d61676c65763031ULL;  // "maglev01"
constexpr uint64_t kSkipSeed = 0x6d61676c65763032ULL;    // "maglev02"
constexpr uint32_t kEmpty = UINT32_MAX;

bool is_prime(uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

}  // namespace

uint64_t next_prime(uint64_t n) {
  while (!is_prime(n)) ++n;
  return n;
}

MaglevPolicy::MaglevPolicy(std::span<const Member> members) : n_(members.size()) {
  if (n_ == 0) return;
  const uint64_t m_size = next_prime(std::max<uint64_t>(kMinTableSize, 100 * uint64_t(n_)));

  struct Entry {
    uint32_t member;
    uint64_t weight;
    uint64_t pos;   // current slot in this member's permutation
    uint64_t skip;
    uint64_t next_turn = 0;  // round threshold, as Envoy's next_
  };
  std::vector<Entry> entries;
  entries.reserve(n_);
  uint64_t max_weight = 1;
  for (uint32_t i = 0; i < n_; ++i) {
    const uint64_t w = members[i].weight ? members[i].weight : 1;
    max_weight = std::max(max_weight, w);
    entries.push_back({i, w, hash_bytes(members[i].key, kOffsetSeed) % m_size,
                       hash_bytes(members[i].key, kSkipSeed) % (m_size - 1) + 1});
  }
  std::stable_sort(entries.begin(), entries.end(), [&](const Entry& a, const Entry& b) {
    return members[a.member].key < members[b.member].key;
  });

  table_.assign(m_size, kEmpty);
  uint64_t filled = 0;
  for (uint64_t round = 1; filled < m_size; ++round) {
    for (Entry& e : entries) {
      if (round * e.weight < e.next_turn) continue;
      e.next_turn += max_weight;
      while (table_[e.pos] != kEmpty) {
        e.pos += e.skip;
        if (e.pos >= m_size) e.pos -= m_size;
      }
      table_[e.pos] = e.member;
      if (++filled == m_size) break;
    }
  }
}

std::optional<size_t> MaglevPolicy::pick(const PickContext& ctx, const MemberState& state, LocalState*) const {
  const size_t size = table_.size();
  if (size == 0) return std::nullopt;
  size_t slot = size_t(ctx.hash % size);
  if (state.available(table_[slot])) return table_[slot];  // common case

  // Rule out "nobody available" in O(n) before a walk that could cost O(M).
  bool any = false;
  for (size_t i = 0; i < n_ && !any; ++i) any = state.available(i);
  if (!any) return std::nullopt;
  for (size_t k = 1; k < size; ++k) {
    slot = slot + 1 == size ? 0 : slot + 1;
    if (state.available(table_[slot])) return table_[slot];
  }
  return std::nullopt;  // unreachable: every member owns at least one slot
}

std::shared_ptr<const Policy> make_maglev(Members members) { return std::make_shared<MaglevPolicy>(members); }

}  // namespace lb::algo
