// lb/admin/slo_windows.h — SPEC 15 SLO burn rates over 5 minutes, 1 hour
// and 6 hours.
//
// Workers count, per listener with an "slo", every request, the ones
// answered with a status of 500 or more (429 is good)
// and the ones slower than the latency objective (ListenerLive::slo_errors,
// slo_slow). Every 10 s (the admin server's tick) the main thread copies the
// three cumulative counts into a ring of 6 h + one tick. A window's counts
// are the current ones minus the copy `window` ago (the oldest kept while
// lb has run for less): the window is exact to one tick (10 s).
//
// burn rate = (bad / total) / (1 − target / 100): 1.0 spends the error
// budget exactly as fast as the objective allows; 0 with no requests.
//
// Threading: main thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace lb {

struct Runtime;
struct ListenerLive;

class SloWindows {
 public:
  static constexpr uint64_t kTickSeconds = 10;
  static constexpr std::array<uint64_t, 3> kWindowSeconds = {300, 3600, 21600};
  static constexpr const char* kWindowNames[3] = {"5m", "1h", "6h"};

  struct Totals {
    uint64_t total = 0, errors = 0, slow = 0;
  };
  static Totals current(const ListenerLive& live);

  void tick(const Runtime& runtime);
  // `now` minus the copy taken `seconds` ago (or the oldest kept).
  Totals window(const void* key, const Totals& now, uint64_t seconds) const;

 private:
  struct Ring {
    std::vector<Totals> at;
    size_t next = 0, filled = 0;
    uint64_t seen = 0;
  };
  std::unordered_map<const void*, Ring> rings_;
  uint64_t tick_ = 0;
};

// (bad / total) / (1 − target_percent / 100); 0 when total is 0.
double burn_rate(uint64_t bad, uint64_t total, double target_percent);

}  // namespace lb
