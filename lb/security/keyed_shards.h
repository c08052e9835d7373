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
// bounding memory under key churn.
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
      it = shard.entries.emplace(std::string(key), make(now)).first;
    }
    return use(it->second, now);
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
  static constexpr size_t kShards = 256;
  static constexpr size_t kSweepAbove = 4096;  // entries per shard before idle ones are dropped

  Shard shards_[kShards];
};

}  // namespace lb
