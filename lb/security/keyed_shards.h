// lb/security/keyed_shards.h — a table of `Entry` per key (bytes) shared by
// all workers: the rate limiters' buckets and windows
// (lb/exchange/rate_limiter.h) and the per-client connection counts
// (lb/security/per_client.h).
//
// Keys are spread over 256 shards by hash; each shard is guarded by a spin
// flag held only for a hash lookup and a few arithmetic operations (no
// system call, no wait), so workers practically never meet on a shard and
// an operation costs one uncontended atomic exchange. One very hot key
// serialises its own operations on its shard; the critical section stays
// the same few instructions. Idle entries are swept when a shard grows,
// bounding memory under key churn. A table may also be capped (the rate
// limiters are: a client can make up keys faster than they go idle, e.g.
// IPv6 addresses or a header value): a full shard drops one arbitrary entry
// for each new key, so memory stays bounded and the dropped key merely
// starts afresh (fails open, as HAProxy's stick tables and nginx's
// limit_req zones evict rather than refuse).
//
// Time: callers pass a monotonic clock (uv_hrtime). Workers read it at
// slightly different moments, so each shard keeps the latest time it has
// seen and never goes back: operations on one key see non-decreasing times.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "algorithms/hash.h"

namespace lb {

template <class Entry>
class KeyedShards {
 public:
  static constexpr size_t kShards = 256;
  // max_entries: the table's cap (spread over the shards); 0 = none.
  explicit KeyedShards(size_t max_entries = 0)
      : max_per_shard_(max_entries == 0 ? 0 : std::max<size_t>(1, max_entries / kShards)) {}

  // Runs use(entry, now) under the key's shard lock, `now` being the shard's
  // clock advanced to `now_ns` (it never goes back). A missing entry is
  // made by make(); before one is added to a crowded shard, entries for
  // which idle(entry, now) holds are dropped.
  template <class Make, class Idle, class Use>
  bool apply(std::string_view key, uint64_t now_ns, Make&& make, Idle&& idle, Use&& use) {
    Shard& shard = shards_[algo::hash_bytes(key) % kShards];
    Guard guard(shard.busy);
    shard.clock = std::max(shard.clock, now_ns);
    const uint64_t now = shard.clock;
    auto it = shard.entries.find(key);
    if (it == shard.entries.end()) {
      if (shard.entries.size() >= shard.sweep_at) {
        std::erase_if(shard.entries, [&](const auto& kv) { return idle(kv.second, now); });
        // Keys that are all busy stay: sweep again only once the shard has
        // doubled, so a shard of live keys costs O(1) per insertion, not O(n).
        shard.sweep_at = std::max(kSweepAbove, 2 * shard.entries.size());
      }
      if (max_per_shard_ != 0 && shard.entries.size() >= max_per_shard_) shard.entries.erase(shard.entries.begin());
      it = shard.entries.emplace(std::string(key), make(now)).first;
    }
    return use(it->second, now);
  }

  // Entries held now (takes every shard's lock in turn; for tests and stats).
  size_t size() {
    size_t n = 0;
    for (Shard& shard : shards_) {
      Guard guard(shard.busy);
      n += shard.entries.size();
    }
    return n;
  }

 private:
  struct Guard {
    std::atomic_flag& flag;
    explicit Guard(std::atomic_flag& f) : flag(f) {
      // Held for a few hundred instructions at most; a holder descheduled by
      // the kernel is the only long wait, and yielding lets it run.
      for (unsigned spins = 0; flag.test_and_set(std::memory_order_acquire); ++spins)
        if (spins >= 64) std::this_thread::yield();
    }
    ~Guard() { flag.clear(std::memory_order_release); }
  };
  // Transparent hashing: look up by string_view without building a string.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct alignas(64) Shard {
    std::atomic_flag busy = ATOMIC_FLAG_INIT;
    uint64_t clock = 0;
    size_t sweep_at = kSweepAbove;
    std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> entries;
  };
  static constexpr size_t kSweepAbove = 4096;  // entries per shard before idle ones are dropped

  size_t max_per_shard_;
  Shard shards_[kShards];
};

}  // namespace lb
