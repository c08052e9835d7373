// tls/byte_buffer.h — a growable FIFO byte buffer that gives its memory back
// as soon as it is drained (idle TLS connections must stay small), with O(1)
// consume from the front and a writable tail for reading straight into it.
//
// Threading: none; owned by one Connection on one thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace lb::tls {

class ByteBuffer {
 public:
  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  size_t capacity() const { return cap_; }

  void append(const char* p, size_t n) {
    if (n == 0) return;
    std::memcpy(prepare(n), p, n);
    commit(n);
  }

  // At least `n` writable bytes at the tail; commit() what was written.
  char* prepare(size_t n) {
    size_t used = size();
    if (cap_ - end_ < n) {
      if (begin_ > 0 && cap_ - used >= n && used <= cap_ / 2) {
        std::memmove(data_.get(), data_.get() + begin_, used);  // cheap: little left to move
      } else {
        size_t want = std::max({used + n, cap_ + cap_ / 2, kMinCapacity});
        auto bigger = std::make_unique_for_overwrite<char[]>(want);
        if (used) std::memcpy(bigger.get(), data_.get() + begin_, used);
        data_ = std::move(bigger);
        cap_ = want;
      }
      begin_ = 0;
      end_ = used;
    }
    return data_.get() + end_;
  }
  void commit(size_t n) { end_ = std::min(end_ + n, cap_); }

  // Drops `n` bytes from the front; frees the storage once empty.
  void consume(size_t n) {
    begin_ += std::min(n, size());
    if (begin_ == end_) release();
  }
  void release() {
    data_.reset();
    cap_ = begin_ = end_ = 0;
  }

 private:
  static constexpr size_t kMinCapacity = 4096;
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace lb::tls
