// tests/unit/recycled_test.cpp — lb::Recycled: freed objects come back from
// the per-thread spare list, up to its bound, then memory goes back to malloc.
#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "lb/io/recycled.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace {

struct Widget : lb::Recycled<Widget, 4> {
  char payload[200] = {};
};

}  // namespace

TEST_CASE("Recycled: a freed object's memory is handed to the next new of the same type") {
  auto* a = new Widget;
  void* where = a;
  delete a;
#if defined(__SANITIZE_ADDRESS__)
  // A spare is poisoned: a use after delete is still caught under ASan.
  CHECK(__asan_address_is_poisoned(where));
#endif
  auto* b = new Widget;
  CHECK(static_cast<void*>(b) == where);
#if defined(__SANITIZE_ADDRESS__)
  CHECK_FALSE(__asan_address_is_poisoned(b));
#endif
  delete b;
}

TEST_CASE("Recycled: at most kMaxSpare freed objects are kept per thread") {
  std::vector<Widget*> live;
  for (int i = 0; i < 8; ++i) live.push_back(new Widget);
  CHECK(Widget::spare_count() == 0);  // every spare was taken
  // The first four deletes fill the spare list; the last four go to malloc.
  const std::set<void*> kept(live.begin(), live.begin() + 4);
  for (Widget* w : live) delete w;
  CHECK(Widget::spare_count() == 4);
  // The next four news are exactly the kept ones (malloc's own reuse could
  // only hand back the other four).
  std::set<void*> got;
  for (int i = 0; i < 4; ++i) {
    auto* w = new Widget;
    got.insert(w);
    live[i] = w;
  }
  CHECK(got == kept);
  CHECK(Widget::spare_count() == 0);
  for (int i = 0; i < 4; ++i) delete live[i];
}

TEST_CASE("Recycled: each thread recycles its own objects") {
  void* main_spare = nullptr;
  {
    auto* w = new Widget;
    main_spare = w;
    delete w;
  }
  void* other = nullptr;
  std::thread([&] {
    auto* w = new Widget;  // this thread's list is empty: not the main thread's spare
    other = w;
    delete w;
  }).join();
  CHECK(other != main_spare);  // the main thread's spare stays in its own list
  auto* w = new Widget;
  CHECK(static_cast<void*>(w) == main_spare);
  delete w;
}
