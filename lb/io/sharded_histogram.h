// lb/io/sharded_histogram.h — per-worker statistics arrays for the request
// path: latency histograms with SPEC 15's buckets (ShardedHistogram) and
// response counts by exact status (ShardedStatusCounts).
//
// Same rules as ShardedCounter (lb/io/sharded_counter.h), whose slot binding
// they share: each worker thread owns one slot, on cache lines of its own,
// and records with a plain relaxed load + store (a single writer, no atomic
// read-modify-write, no lock, no allocation); any other thread uses the
// shared slot 0 with fetch_add. Readers (the admin API, main thread) sum the
// slots with relaxed loads: a snapshot may lag a concurrent record, never
// lose one, and may see a bucket before the matching sum (harmless for
// counters scraped every few seconds).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>

#include "lb/io/sharded_counter.h"

namespace lb {

// SPEC 15's bucket upper bounds, in seconds and in nanoseconds; the 15th
// bucket is +Inf.
inline constexpr size_t kLatencyBounds = 14;
inline constexpr size_t kLatencyBuckets = kLatencyBounds + 1;
inline constexpr double kLatencyBoundsSeconds[kLatencyBounds] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                  0.1,    0.25,  0.5,    1,     2.5,   5,     10};
// Padded to 16 so the search below is four fixed steps.
inline constexpr uint64_t kLatencyBoundsNs[16] = {
    500'000,     1'000'000,     2'500'000,     5'000'000,     10'000'000, 25'000'000, 50'000'000, 100'000'000,
    250'000'000, 500'000'000,   1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000,
    UINT64_MAX,  UINT64_MAX};

// The bucket of a duration: the number of bounds below it (Prometheus "le":
// a value equal to a bound belongs to that bound's bucket). A binary search
// in four compare-and-adds the compiler turns into conditional moves.
constexpr size_t latency_bucket(uint64_t ns) {
  size_t i = 0;
  i += ns > kLatencyBoundsNs[i + 7] ? 8 : 0;
  i += ns > kLatencyBoundsNs[i + 3] ? 4 : 0;
  i += ns > kLatencyBoundsNs[i + 1] ? 2 : 0;
  i += ns > kLatencyBoundsNs[i] ? 1 : 0;
  return i;
}

// N monotonic counters per worker slot; slot arrays aligned to cache lines.
template <size_t N>
class ShardedArray {
 public:
  ShardedArray() : n_(ShardedCounter::slots()), slots_(new Slot[n_]) {}
  ShardedArray(const ShardedArray&) = delete;
  ShardedArray& operator=(const ShardedArray&) = delete;

  void add(size_t index, uint64_t v) noexcept {
    Slot& s = slots_[slot_index()];
    if (&s != &slots_[0]) {
      s.v[index].store(s.v[index].load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
    } else {
      s.v[index].fetch_add(v, std::memory_order_relaxed);
    }
  }
  // Two adds on the calling thread's slot (a histogram's bucket and sum).
  void add2(size_t i, uint64_t vi, size_t j, uint64_t vj) noexcept {
    Slot& s = slots_[slot_index()];
    if (&s != &slots_[0]) {
      s.v[i].store(s.v[i].load(std::memory_order_relaxed) + vi, std::memory_order_relaxed);
      s.v[j].store(s.v[j].load(std::memory_order_relaxed) + vj, std::memory_order_relaxed);
    } else {
      s.v[i].fetch_add(vi, std::memory_order_relaxed);
      s.v[j].fetch_add(vj, std::memory_order_relaxed);
    }
  }
  std::array<uint64_t, N> load() const noexcept {
    std::array<uint64_t, N> out{};
    for (size_t k = 0; k < n_; ++k)
      for (size_t i = 0; i < N; ++i) out[i] += slots_[k].v[i].load(std::memory_order_relaxed);
    return out;
  }

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> v[N] = {};
  };
  size_t slot_index() const noexcept {
    const size_t i = ShardedCounter::current_slot();
    return i < n_ ? i : 0;
  }
  size_t n_;
  std::unique_ptr<Slot[]> slots_;
};

// Cumulative counts of one histogram (or a difference of two snapshots).
struct HistogramCounts {
  std::array<uint64_t, kLatencyBuckets> buckets{};  // per bucket, not cumulative
  uint64_t sum_ns = 0;

  uint64_t count() const {
    uint64_t n = 0;
    for (uint64_t b : buckets) n += b;
    return n;
  }
  HistogramCounts& operator+=(const HistogramCounts& o) {
    for (size_t i = 0; i < kLatencyBuckets; ++i) buckets[i] += o.buckets[i];
    sum_ns += o.sum_ns;
    return *this;
  }
  // this − older (counters only grow; a smaller value, after a restart of
  // the object, counts as zero).
  HistogramCounts since(const HistogramCounts& older) const {
    HistogramCounts d;
    for (size_t i = 0; i < kLatencyBuckets; ++i)
      d.buckets[i] = buckets[i] > older.buckets[i] ? buckets[i] - older.buckets[i] : 0;
    d.sum_ns = sum_ns > older.sum_ns ? sum_ns - older.sum_ns : 0;
    return d;
  }
  // The q-quantile (0 < q < 1) in milliseconds, interpolated linearly within
  // its bucket (as Prometheus' histogram_quantile does): exact to the bucket
  // bounds, so e.g. a p99 of 30 ms is reported somewhere in (25, 50] ms.
  // Past the last bound it answers the last bound (10 s). No samples: 0.
  double quantile_ms(double q) const;
};

class ShardedHistogram {
 public:
  void record(uint64_t ns) noexcept { counts_.add2(latency_bucket(ns), 1, kLatencyBuckets, ns); }
  HistogramCounts load() const {
    const auto a = counts_.load();
    HistogramCounts h;
    for (size_t i = 0; i < kLatencyBuckets; ++i) h.buckets[i] = a[i];
    h.sum_ns = a[kLatencyBuckets];
    return h;
  }

 private:
  ShardedArray<kLatencyBuckets + 1> counts_;  // buckets, then the sum in ns
};

// Responses by exact status. Compact, since every (listener, route) has one
// per worker: the registered statuses (RFC 9110 and friends, plus nginx's
// 499) each have their own counter; any other status from 100 to 599 is
// counted per class and reported as its class ("5xx").
class ShardedStatusCounts {
 public:
  static constexpr int kRegistered[] = {
      100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301,
      302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409,
      410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428,
      429, 431, 451, 499, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511};
  static constexpr size_t kSlots = std::size(kRegistered) + 5;  // + one "other" per class

  void count(int status) noexcept {
    if (status >= 100 && status <= 599) counts_.add(index().of[status - 100], 1);
  }
  // f(status, count) for every status seen; for the "other" counters the
  // status is the class digit 1..5 (reported as "1xx".."5xx").
  template <class F>
  void for_each(F&& f) const {
    const auto a = counts_.load();
    for (size_t i = 0; i < kSlots; ++i) {
      if (a[i] == 0) continue;
      f(i < std::size(kRegistered) ? kRegistered[i] : static_cast<int>(i - std::size(kRegistered)) + 1, a[i]);
    }
  }

 private:
  struct Index {
    uint8_t of[500];
  };
  static constexpr Index make_index() {
    Index x{};
    for (int s = 100; s <= 599; ++s) x.of[s - 100] = static_cast<uint8_t>(std::size(kRegistered) + s / 100 - 1);
    for (size_t i = 0; i < std::size(kRegistered); ++i) x.of[kRegistered[i] - 100] = static_cast<uint8_t>(i);
    return x;
  }
  static const Index& index() {
    static constexpr Index x = make_index();
    return x;
  }
  ShardedArray<kSlots> counts_;
};

}  // namespace lb
