// lb/io/recycled.h — class-specific operator new/delete that recycle freed
// objects of one type through a per-thread free list.
//
// Sessions are created per accepted connection and destroyed on the same
// worker thread; with this a connection-per-request client costs no heap
// allocation once the worker has seen as many concurrent connections as it
// keeps spare (kMaxSpare). Memory beyond that goes back to malloc. Derive
// as `class X : public Recycled<X>`; a derived-from-X object of another size
// (there are none) falls back to plain ::operator new.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define LB_RECYCLED_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define LB_RECYCLED_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define LB_RECYCLED_POISON(p, n) ((void)(p), (void)(n))
#define LB_RECYCLED_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace lb {

template <class T, size_t kMaxSpare = 1024>
class Recycled {
 public:
  static void* operator new(size_t size) {
    auto& spare = spares();
    if (size == sizeof(T) && !spare.empty()) {
      void* p = spare.back();
      spare.pop_back();
      LB_RECYCLED_UNPOISON(p, sizeof(T));
      return p;
    }
    return ::operator new(size);
  }

  static void operator delete(void* p, size_t size) noexcept {
    auto& spare = spares();
    if (p && size == sizeof(T) && spare.size() < kMaxSpare) {
      // Reserved once, so later pushes never allocate.
      bool room = spare.capacity() >= kMaxSpare;
      if (!room) {
        try {
          spare.reserve(kMaxSpare);
          room = true;
        } catch (const std::bad_alloc&) {
        }
      }
      if (room) {
        // Under ASan a spare stays poisoned, so a use after delete is still
        // reported although the memory is not given back to malloc.
        LB_RECYCLED_POISON(p, sizeof(T));
        spare.push_back(p);
        return;
      }
    }
    ::operator delete(p);
  }

  // Freed objects held for reuse on the calling thread.
  static size_t spare_count() { return spares().size(); }

 private:
  struct Spares {
    std::vector<void*> list;
    ~Spares() {
      for (void* p : list) {
        LB_RECYCLED_UNPOISON(p, sizeof(T));
        ::operator delete(p);
      }
    }
  };
  static std::vector<void*>& spares() {
    thread_local Spares s;
    return s.list;
  }
};

}  // namespace lb
