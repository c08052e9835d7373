// lb/io/sharded_counter.h — a monotonic statistics counter with one slot per
// worker thread, so the request path never does an atomic read-modify-write
// on a cache line other workers also write.
//
// Each worker thread binds its slot once (bind_thread_slot(worker + 1)); it
// then adds with a plain relaxed load and store on its own cache line, which
// is safe because no other thread writes that slot. Any other thread (the main
// thread, tests) uses slot 0, shared, with an atomic fetch_add. Readers (the
// admin API) sum the slots with relaxed loads: a total may lag a concurrent
// add, never lose one.
//
// The number of slots is fixed for the process (set_slots, from `workers`
// before any counter exists; workers never change without a restart). A
// thread bound past the slots falls back to slot 0.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace lb {

class ShardedCounter {
 public:
  // Slots for `workers` worker threads plus the shared slot. Call before
  // creating counters; counters keep the slot count they were created with.
  static void set_slots(size_t workers) { configured_slots() = workers + 1; }
  // Binds the calling worker thread to slot `slot` (≥ 1).
  static void bind_thread_slot(size_t slot) { thread_slot() = slot; }
  // For the other per-worker statistics (lb/io/sharded_histogram.h): the
  // slot count new objects get, and the calling thread's slot.
  static size_t slots() { return configured_slots(); }
  static size_t current_slot() { return thread_slot(); }

  ShardedCounter() : n_(configured_slots()), slots_(new Slot[n_]) {}
  ShardedCounter(const ShardedCounter&) = delete;
  ShardedCounter& operator=(const ShardedCounter&) = delete;

  void add(uint64_t v) noexcept {
    const size_t i = thread_slot();
    if (i != 0 && i < n_) {
      std::atomic<uint64_t>& s = slots_[i].value;
      s.store(s.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
    } else {
      slots_[0].value.fetch_add(v, std::memory_order_relaxed);
    }
  }

  uint64_t load(std::memory_order = std::memory_order_relaxed) const noexcept {
    uint64_t sum = 0;
    for (size_t i = 0; i < n_; ++i) sum += slots_[i].value.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> value{0};
  };
  static size_t& configured_slots() {
    static size_t n = 1;
    return n;
  }
  static size_t& thread_slot() {
    thread_local size_t slot = 0;
    return slot;
  }

  size_t n_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace lb
