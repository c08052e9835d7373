// lb/io/log_queue.h — LogQueue: the bounded, lock-free hand-over from log
// producers (worker threads, the main thread) to the single log writer thread.
//
// Why lock-free: a producer must never wait for the writer, whatever the
// writer is doing (blocked on a full pipe, a slow disk). try_push() is a
// bounded CAS loop on atomics and fails at once when the queue is full;
// the caller then drops the text and counts it. The queue is bounded twice:
// by slot count (a power of two) and by bytes, so a stuck writer costs at most
// `max_bytes` of memory. Bytes stay charged until the writer has finished
// with a text (release()), so text being written counts too.
//
// The ring is D. Vyukov's bounded MPMC queue with the consumer side reduced
// to one thread: each cell's sequence number says whether it is free for the
// producer at position p (seq == p) or holds the item of position p
// (seq == p + 1).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace lb {

class LogQueue {
 public:
  // `slots` is rounded up to a power of two (at least 2).
  LogQueue(size_t slots, size_t max_bytes) : max_bytes_(max_bytes) {
    size_t n = 2;
    while (n < slots) n <<= 1;
    mask_ = n - 1;
    cells_ = std::make_unique<Cell[]>(n);
    for (size_t i = 0; i < n; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
  }
  LogQueue(const LogQueue&) = delete;
  LogQueue& operator=(const LogQueue&) = delete;

  // Any thread. Moves `text` in and returns true, or returns false (and leaves
  // `text` untouched) when the queue is out of slots or bytes. Never waits.
  bool try_push(std::string& text) {
    const size_t n = text.size();
    if (bytes_.fetch_add(n, std::memory_order_relaxed) + n > max_bytes_) {
      bytes_.fetch_sub(n, std::memory_order_relaxed);
      return false;
    }
    size_t pos = tail_.load(std::memory_order_relaxed);
    Cell* cell;
    for (;;) {
      cell = &cells_[pos & mask_];
      const size_t seq = cell->seq.load(std::memory_order_acquire);
      const auto diff = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos);
      if (diff == 0) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (diff < 0) {  // the cell still holds an item a lap behind: full
        bytes_.fetch_sub(n, std::memory_order_relaxed);
        return false;
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
    cell->text = std::move(text);
    cell->seq.store(pos + 1, std::memory_order_release);
    return true;
  }

  // Writer thread only. Moves the oldest text into `out`; false when empty.
  // The caller calls release(out.size()) once it is done with the text.
  bool try_pop(std::string& out) {
    Cell& cell = cells_[head_ & mask_];
    if (cell.seq.load(std::memory_order_acquire) != head_ + 1) return false;
    out = std::move(cell.text);
    cell.text = std::string();  // the slot keeps no capacity while it waits
    cell.seq.store(head_ + mask_ + 1, std::memory_order_release);
    ++head_;
    return true;
  }

  void release(size_t n) { bytes_.fetch_sub(n, std::memory_order_relaxed); }

 private:
  struct Cell {
    std::atomic<size_t> seq{0};
    std::string text;
  };
  const size_t max_bytes_;
  size_t mask_ = 0;
  std::unique_ptr<Cell[]> cells_;
  alignas(64) std::atomic<size_t> tail_{0};  // next position producers claim
  alignas(64) std::atomic<size_t> bytes_{0};
  alignas(64) size_t head_ = 0;              // writer only
};

}  // namespace lb
