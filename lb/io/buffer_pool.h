// lb/io/buffer_pool.h — per-worker free list of fixed-size I/O buffers.
//
// Reads land in a pooled buffer that is handed on to the write on the other
// side and returned when that write completes, so forwarding bytes costs no
// allocation and no copy on the steady path. Owned by one worker thread.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <vector>

namespace lb {

class BufferPool {
 public:
  static constexpr size_t kBufferSize = 64 * 1024;

  BufferPool() { free_.reserve(kMaxFree); }
  ~BufferPool() {
    for (char* b : free_) std::free(b);
  }
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  char* get() {
    if (!free_.empty()) {
      char* b = free_.back();
      free_.pop_back();
      return b;
    }
    return static_cast<char*>(std::malloc(kBufferSize));
  }
  void put(char* b) {
    if (!b) return;
    if (free_.size() < kMaxFree) free_.push_back(b);
    else std::free(b);
  }

 private:
  static constexpr size_t kMaxFree = 256;  // keep at most 16 MiB idle per worker
  std::vector<char*> free_;
};

}  // namespace lb
