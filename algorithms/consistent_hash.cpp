// algorithms/consistent_hash.cpp — ketama ring with optional bounded load.
//
// Ring: member m with weight w contributes points hash_bytes(m.key, seed = j)
// for j in [0, 160·w). Points depend only on the key and weight, so removing
// one of N members remaps only the keys that were on it (about 1/N), raising a
// weight only adds points, and every process with the same configuration
// builds the same ring. Equal point hashes are ordered by key, so the ring
// does not depend on the order of servers in the configuration either.
//
// Lookup: first point >= PickContext::hash (wrapping), then clockwise. An
// unavailable member is passed over and the walk continues to the next
// distinct member, so only keys of that member move.
//
// Bounded load (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with
// Bounded Loads"): with factor c, a member is eligible only while
// active + 1 <= ceil(c · (total_active + 1) / n_available), summing over the
// available members. Because c >= 1 some member always satisfies it, so the
// walk ends; a fallback to the first available member is kept regardless.
//
// pick() allocates nothing: the per-member visit marks are a reused vector
// with an epoch counter instead of a cleared set, kept per worker.
#include "algorithms/consistent_hash.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "algorithms/hash.h"
#include "algorithms/policies.h"

namespace lb::algo {
namespace {

// One worker's visit marks for the walk: seen[m] == epoch when visited.
struct WalkMarks final : LocalState {
  explicit WalkMarks(size_t n) : seen(n, 0) {}
  std::vector<uint32_t> seen;
  uint32_t epoch = 0;
};

}  // namespace

ConsistentHashPolicy::ConsistentHashPolicy(std::span<const Member> members, double hash_balance_factor)
    : factor_(hash_balance_factor > 0 ? std::max(hash_balance_factor, 1.0) : 0), n_(members.size()) {
  const size_t n = members.size();
  // rank[i]: position of member i's key in key order, the tie-break for equal points.
  std::vector<uint32_t> by_key(n), rank(n);
  std::iota(by_key.begin(), by_key.end(), uint32_t{0});
  std::stable_sort(by_key.begin(), by_key.end(),
                   [&](uint32_t a, uint32_t b) { return members[a].key < members[b].key; });
  for (uint32_t r = 0; r < n; ++r) rank[by_key[r]] = r;

  struct Point {
    uint64_t hash;
    uint32_t rank;
    uint32_t member;
  };
  size_t total = 0;
  for (const Member& m : members) total += size_t(kPointsPerWeight) * (m.weight ? m.weight : 1);
  std::vector<Point> points;
  points.reserve(total);
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t count = uint64_t(kPointsPerWeight) * (members[i].weight ? members[i].weight : 1);
    for (uint64_t j = 0; j < count; ++j) points.push_back({hash_bytes(members[i].key, j), rank[i], i});
  }
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.rank < b.rank;
  });

  point_hash_.resize(points.size());
  point_member_.resize(points.size());
  for (size_t p = 0; p < points.size(); ++p) {
    point_hash_[p] = points[p].hash;
    point_member_[p] = points[p].member;
  }
}

std::unique_ptr<LocalState> ConsistentHashPolicy::make_local(uint64_t) const {
  return std::make_unique<WalkMarks>(n_);
}

std::optional<size_t> ConsistentHashPolicy::pick(const PickContext& ctx, const MemberState& state,
                                                 LocalState* local) const {
  const size_t size = point_hash_.size();
  if (size == 0) return std::nullopt;
  size_t pos = size_t(std::lower_bound(point_hash_.begin(), point_hash_.end(), ctx.hash) -
                      point_hash_.begin());
  if (pos == size) pos = 0;

  const bool bounded = factor_ > 0;
  if (!bounded && state.available(point_member_[pos])) return point_member_[pos];  // common case

  auto& marks = *static_cast<WalkMarks*>(local);
  const size_t n = n_;
  size_t n_available = 0;
  uint64_t total_active = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!state.available(i)) continue;
    ++n_available;
    total_active += state.active(i);
  }
  if (n_available == 0) return std::nullopt;
  const uint64_t cap =
      bounded ? uint64_t(std::ceil(factor_ * double(total_active + 1) / double(n_available)))
              : UINT64_MAX;

  if (++marks.epoch == 0) {  // wrapped: old marks could collide with new epochs
    std::fill(marks.seen.begin(), marks.seen.end(), 0);
    marks.epoch = 1;
  }
  size_t fallback = SIZE_MAX;
  size_t visited_available = 0;
  for (size_t step = 0; step < size; ++step, pos = pos + 1 == size ? 0 : pos + 1) {
    const uint32_t m = point_member_[pos];
    if (marks.seen[m] == marks.epoch) continue;
    marks.seen[m] = marks.epoch;
    if (!state.available(m)) continue;
    if (uint64_t(state.active(m)) + 1 <= cap) return m;
    if (fallback == SIZE_MAX) fallback = m;
    if (++visited_available == n_available) break;
  }
  if (fallback == SIZE_MAX) return std::nullopt;
  return fallback;
}

std::shared_ptr<const Policy> make_consistent_hash(Members members, double hash_balance_factor) {
  return std::make_shared<ConsistentHashPolicy>(members, hash_balance_factor);
}

}  // namespace lb::algo
