// tests/unit/rate_limiter_test.cpp — lb::RateLimiter with a fake clock.
// Sliding window: for random arrival sequences, no interval of length `per`
// holds more than `rate` admissions, every refusal happened with the window
// full, and Retry-After is exactly the whole seconds (rounded up) until the
// window's oldest admission expires — checked against a brute-force model,
// and by a client that waits Retry-After and must then pass. Token bucket:
// burst, refill, Retry-After truthfulness. Both: keys are independent, and
// several threads on one key never together exceed the limit. KeyedShards:
// a capped table stays within its cap when keys never go idle.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "lb/exchange/rate_limiter.h"
#include "lb/security/keyed_shards.h"

using lb::RateLimiter;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kS = 1'000'000'000;
constexpr uint64_t kMs = 1'000'000;

struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  uint64_t below(uint64_t n) { return next() % n; }
};

lb::conf::RateLimit window_config(double rate, lb::conf::Duration per) {
  lb::conf::RateLimit c;
  c.algorithm = lb::conf::RateLimit::Algorithm::sliding_window;
  c.rate = rate;
  c.per = per;
  return c;
}

lb::conf::RateLimit bucket_config(double rate, lb::conf::Duration per, double burst) {
  lb::conf::RateLimit c;
  c.rate = rate;
  c.per = per;
  c.burst = burst;
  return c;
}

struct Decision {
  uint64_t t;
  bool admitted;
  uint32_t retry_after;
};

// Arrival gaps mixing bursts (same or nearby nanoseconds), steady traffic
// on the scale of `scale_ns` (the mean gap is about scale / 8), and now and
// then a pause longer than the window `per_ns`.
uint64_t random_gap(Rng& rng, uint64_t scale_ns, uint64_t per_ns) {
  switch (rng.below(7)) {
    case 0: return 0;                                 // same instant
    case 1: return rng.below(1000);                   // nanoseconds apart
    case 2: return rng.below(scale_ns / 50 + 1);      // a burst
    case 3: return rng.below(scale_ns / 5 + 1);       // steady
    case 4: return rng.below(scale_ns / 2 + 1);
    case 5: return rng.below(40) == 0 ? per_ns + rng.below(per_ns) : rng.below(scale_ns / 10 + 1);
    default: return rng.below(scale_ns / 3 + 1);
  }
}

// Admissions in [from, to) among the sorted admission times.
size_t admitted_in(const std::vector<uint64_t>& admitted, uint64_t from, uint64_t to) {
  return std::lower_bound(admitted.begin(), admitted.end(), to) -
         std::lower_bound(admitted.begin(), admitted.end(), from);
}

// The sliding window's contract over one key's decisions (times non-decreasing).
void check_window_exact(const std::vector<Decision>& decisions, uint32_t rate, uint64_t per_ns) {
  std::vector<uint64_t> admitted;
  for (const Decision& d : decisions)
    if (d.admitted) admitted.push_back(d.t);
  // Any interval of length per holds at most rate: enough to check those
  // starting at an admission (a maximal interval can be slid right until it does).
  size_t most = 0;
  for (uint64_t a : admitted) most = std::max(most, admitted_in(admitted, a, a + per_ns));
  REQUIRE(most <= rate);
  for (const Decision& d : decisions) {
    if (d.admitted) continue;
    // Refused only with the window full: `rate` admissions in (t - per, t].
    const uint64_t from = d.t >= per_ns ? d.t - per_ns + 1 : 0;
    const size_t in_window = admitted_in(admitted, from, d.t + 1);
    REQUIRE(in_window == rate);
    // Retry-After: whole seconds, rounded up, until the oldest of those
    // leaves the window (when a request would next pass).
    const uint64_t oldest = *std::lower_bound(admitted.begin(), admitted.end(), from);
    const uint64_t wait_ns = oldest + per_ns - d.t;
    const auto expected = static_cast<uint32_t>((wait_ns + kS - 1) / kS);
    REQUIRE(d.retry_after == expected);
  }
}

}  // namespace

TEST_CASE("rate limit: a sliding window admits at most rate in any interval of length per, exactly") {
  struct Params {
    uint32_t rate;
    lb::conf::Duration per;
  };
  for (Params p : {Params{1, 1000ms}, Params{3, 250ms}, Params{5, 2000ms}, Params{10, 1000ms}, Params{50, 3500ms},
                   Params{7, 60'000ms}}) {
    const uint64_t per_ns = static_cast<uint64_t>(p.per.count()) * kMs;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      CAPTURE(p.rate);
      CAPTURE(p.per.count());
      CAPTURE(seed);
      auto limiter = RateLimiter::create(window_config(p.rate, p.per));
      Rng rng{seed * 0x9E3779B97F4A7C15ull};
      // Two keys interleaved: each must obey the contract on its own.
      std::vector<Decision> by_key[2];
      uint64_t t = 5 * kS;
      for (int i = 0; i < 3000; ++i) {
        // Two keys, each offered about twice its rate on average.
        t += random_gap(rng, per_ns * 2 / p.rate, per_ns);
        const size_t k = rng.below(2);
        // Odd seeds put arrivals on a millisecond grid, so some land exactly
        // when an admission leaves the window (the boundary case).
        const uint64_t at = seed % 2 ? t / kMs * kMs : t;
        uint32_t retry = 0;
        bool ok = limiter->allow(k ? "key-b" : "key-a", at, retry);
        by_key[k].push_back({at, ok, ok ? 0u : retry});
      }
      size_t admitted = 0, refused = 0;
      for (const auto& d : by_key) {
        check_window_exact(d, p.rate, per_ns);
        for (const Decision& x : d) (x.admitted ? admitted : refused)++;
      }
      CHECK(admitted > 0);
      CHECK(refused > 0);  // the sequences do reach the limit
    }
  }
}

TEST_CASE("rate limit: sliding window Retry-After is truthful: a client waiting it passes") {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    CAPTURE(seed);
    Rng rng{seed * 0x2545F4914F6CDD1Dull};
    const uint32_t rate = 1 + static_cast<uint32_t>(rng.below(20));
    const lb::conf::Duration per{100 + static_cast<int64_t>(rng.below(5000))};
    const uint64_t per_ns = static_cast<uint64_t>(per.count()) * kMs;
    auto limiter = RateLimiter::create(window_config(rate, per));
    uint64_t t = kS;
    int refusals = 0;
    for (int i = 0; i < 2000; ++i) {
      uint32_t retry = 0;
      if (limiter->allow("client", t, retry)) {
        t += random_gap(rng, per_ns / rate, per_ns);  // eager: reaches the limit often
        continue;
      }
      ++refusals;
      REQUIRE(retry >= 1);
      t += retry * kS;
      uint32_t unused = 0;
      REQUIRE(limiter->allow("client", t, unused));
      t += random_gap(rng, per_ns / rate, per_ns);
    }
    CHECK(refusals > 0);
  }
}

TEST_CASE("rate limit: sliding window stays exact when callers' clocks step back (workers read it apart)") {
  const uint32_t rate = 4;
  const uint64_t per_ns = 1 * kS;
  auto limiter = RateLimiter::create(window_config(rate, 1000ms));
  Rng rng{77};
  std::vector<Decision> decisions;
  uint64_t t = 10 * kS, effective = 0;
  for (int i = 0; i < 5000; ++i) {
    t += random_gap(rng, per_ns / rate, per_ns);
    // Another worker's reading, up to 2ms older than the newest seen.
    const uint64_t reading = rng.below(3) == 0 ? t - rng.below(2 * kMs) : t;
    uint32_t retry = 0;
    bool ok = limiter->allow("k", reading, retry);
    // The limiter decides at the latest time it has seen; the contract holds
    // over those times (the true admission times differ by the skew alone).
    effective = std::max(effective, reading);
    decisions.push_back({effective, ok, ok ? 0u : retry});
    if (!ok) {
      // Measured from the caller's own (older) reading: never understated.
      std::vector<uint64_t> admitted;
      for (const Decision& d : decisions)
        if (d.admitted) admitted.push_back(d.t);
      const uint64_t oldest = *std::lower_bound(admitted.begin(), admitted.end(), effective - per_ns + 1);
      CHECK(reading + uint64_t{retry} * kS >= oldest + per_ns);
      decisions.back().retry_after = static_cast<uint32_t>((oldest + per_ns - effective + kS - 1) / kS);
    }
  }
  check_window_exact(decisions, rate, per_ns);
}

TEST_CASE("rate limit: a sliding window has no burst; rate per per from a standing start") {
  auto limiter = RateLimiter::create(window_config(3, 10'000ms));
  uint32_t retry = 0;
  for (int i = 0; i < 3; ++i) CHECK(limiter->allow("k", kS + i, retry));
  CHECK_FALSE(limiter->allow("k", kS + 5, retry));
  CHECK(retry == 10);  // the first admission leaves at 11s
  CHECK_FALSE(limiter->allow("k", 10 * kS + kS / 2, retry));
  CHECK(retry == 1);  // 0.5s left, rounded up
  CHECK(limiter->allow("k", 11 * kS, retry));       // exactly per after the first
  CHECK(limiter->allow("k", 11 * kS + 1, retry));
  CHECK(limiter->allow("k", 11 * kS + 2, retry));
  CHECK_FALSE(limiter->allow("k", 11 * kS + 3, retry));
  CHECK(limiter->allow("other", 11 * kS + 3, retry));  // keys are independent
}

TEST_CASE("rate limit: token bucket starts full, refills at rate, and Retry-After tells when a token is back") {
  // 2 per 3s, burst 5: 5 at once, then one every 1.5s.
  auto limiter = RateLimiter::create(bucket_config(2, 3000ms, 5));
  uint32_t retry = 0;
  for (int i = 0; i < 5; ++i) CHECK(limiter->allow("k", kS, retry));
  CHECK_FALSE(limiter->allow("k", kS, retry));
  CHECK(retry == 2);  // 1.5s, rounded up
  CHECK_FALSE(limiter->allow("k", kS + 1500 * kMs - 1000, retry));
  CHECK(retry == 1);
  CHECK(limiter->allow("k", kS + 1500 * kMs, retry));
  CHECK_FALSE(limiter->allow("k", kS + 1500 * kMs, retry));
  CHECK(limiter->allow("k2", kS, retry));  // keys are independent
  // A long pause refills only up to burst.
  for (int i = 0; i < 5; ++i) CHECK(limiter->allow("k", 1000 * kS, retry));
  CHECK_FALSE(limiter->allow("k", 1000 * kS, retry));
}

TEST_CASE("rate limit: token bucket over random arrivals: bounded by burst + refill, Retry-After waits pass") {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    Rng rng{seed * 0xD1B54A32D192ED03ull};
    const double rate = 0.5 + static_cast<double>(rng.below(200)) / 10;
    const double burst = std::max(1.0, rate * static_cast<double>(1 + rng.below(3)) / 2);
    const lb::conf::Duration per{200 + static_cast<int64_t>(rng.below(3000))};
    const uint64_t per_ns = static_cast<uint64_t>(per.count()) * kMs;
    CAPTURE(rate);
    CAPTURE(burst);
    CAPTURE(per.count());
    auto limiter = RateLimiter::create(bucket_config(rate, per, burst));
    std::vector<uint64_t> admitted;
    uint64_t t = kS;
    for (int i = 0; i < 2000; ++i) {
      uint32_t retry = 0;
      if (limiter->allow("k", t, retry)) {
        admitted.push_back(t);
      } else {
        // Waiting Retry-After finds a token (nothing else spends this key's).
        t += retry * kS;
        uint32_t unused = 0;
        REQUIRE(limiter->allow("k", t, unused));
        admitted.push_back(t);
      }
      t += random_gap(rng, static_cast<uint64_t>(static_cast<double>(per_ns) / rate), per_ns);
    }
    // Any span [a_i, a_j] holds at most burst + rate * span / per admissions.
    double worst = -1e9;
    for (size_t i = 0; i < admitted.size(); ++i)
      for (size_t j = i; j < admitted.size() && j < i + 400; ++j) {
        const double span = static_cast<double>(admitted[j] - admitted[i]);
        worst = std::max(worst, static_cast<double>(j - i + 1) - (burst + rate * span / static_cast<double>(per_ns)));
      }
    CHECK(worst <= 1e-6);
  }
}

TEST_CASE("rate limit: threads sharing one key never admit more than the limit together") {
  for (auto algorithm : {lb::conf::RateLimit::Algorithm::token_bucket, lb::conf::RateLimit::Algorithm::sliding_window}) {
    lb::conf::RateLimit c = bucket_config(1000, 3'600'000ms, 1000);  // ~0.28 refilled per second
    c.algorithm = algorithm;
    if (algorithm == lb::conf::RateLimit::Algorithm::sliding_window) c.burst = 0;
    auto limiter = RateLimiter::create(c);
    std::atomic<uint64_t> clock{kS};
    std::atomic<int> admitted{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < 4; ++w) {
      threads.emplace_back([&] {
        for (int i = 0; i < 5000; ++i) {
          uint32_t retry = 0;
          // Each thread reads a shared fake clock advancing 1µs per call.
          if (limiter->allow(i % 2 ? "hot" : "hot", clock.fetch_add(1000), retry)) admitted.fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
    // 20ms of fake time refill 0.0056 tokens: no more than the 1000 of the start.
    CHECK(admitted.load() == 1000);
  }
}

TEST_CASE("KeyedShards: a capped table holds at most its cap of live keys; an uncapped one keeps them all") {
  // Entries never go idle: only the cap can bound the table.
  auto make = [](uint64_t) { return 0; };
  auto never_idle = [](int, uint64_t) { return false; };
  auto count = [](int& n, uint64_t) { return ++n == 1; };  // true: the entry was new

  lb::KeyedShards<int> capped(lb::KeyedShards<int>::kShards * 8);
  lb::KeyedShards<int> uncapped;
  constexpr int kKeys = 50'000;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "client-" + std::to_string(i);
    capped.apply(key, 1, make, never_idle, count);
    uncapped.apply(key, 1, make, never_idle, count);
  }
  CHECK(capped.size() <= lb::KeyedShards<int>::kShards * 8);
  CHECK(capped.size() >= lb::KeyedShards<int>::kShards * 4);  // shards fill evenly enough to use the room
  CHECK(uncapped.size() == static_cast<size_t>(kKeys));

  // The newest key is kept (the entry dropped is another) and counts on.
  CHECK_FALSE(capped.apply("client-" + std::to_string(kKeys - 1), 2, make, never_idle, count));
}
