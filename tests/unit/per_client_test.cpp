// tests/unit/per_client_test.cpp — lb::PerClientLimiter (SPEC 11 per_client):
// open connections per client address with slots given back on close; the
// connection rate as a token bucket; a refusal by either takes nothing from
// the other; IPv4 and IPv4-mapped IPv6 are one client; UNIX-socket clients
// are not limited; threads opening and closing together keep counts exact.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <atomic>
#include <thread>
#include <vector>

#include "lb/exchange/rate_limiter.h"
#include "lb/security/per_client.h"

using namespace lb;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kS = 1'000'000'000;

// An IPv4 or IPv6 client address.
sockaddr_storage addr(const char* ip) {
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) sin->sin_family = AF_INET;
  else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) sin6->sin6_family = AF_INET6;
  return ss;
}

const sockaddr* sa(const sockaddr_storage& ss) { return reinterpret_cast<const sockaddr*>(&ss); }

conf::PerClient per_client(uint32_t max_connections, double rate = 0, conf::Duration per = 1000ms) {
  conf::PerClient pc;
  pc.max_connections = max_connections;
  if (rate > 0) {
    conf::RateLimit r;
    r.rate = rate;
    r.per = per;
    r.burst = rate < 1 ? 1 : rate;
    pc.connection_rate = r;
  }
  return pc;
}

PerClientLimiter make(const conf::PerClient& pc, std::shared_ptr<ConnectionCounts> counts = std::make_shared<ConnectionCounts>()) {
  return PerClientLimiter(pc, pc.max_connections ? counts : nullptr,
                          pc.connection_rate ? RateLimiter::create(*pc.connection_rate) : nullptr);
}

}  // namespace

TEST_CASE("per_client: max_connections per address; closing gives the slot back") {
  PerClientLimiter limiter = make(per_client(2));
  const auto a = addr("192.0.2.1"), b = addr("192.0.2.2");
  ConnectionSlot s1, s2, s3, other;
  CHECK(limiter.admit(sa(a), kS, s1) == 0);
  CHECK(limiter.admit(sa(a), kS, s2) == 0);
  CHECK(limiter.admit(sa(a), kS, s3) == 1);  // over: Retry-After 1
  CHECK(limiter.admit(sa(b), kS, other) == 0);
  s1.reset();
  CHECK(limiter.admit(sa(a), kS, s3) == 0);
  {
    ConnectionSlot moved = std::move(s3);  // a moved slot is released once, by its new owner
    s3.reset();
    ConnectionSlot again;
    CHECK(limiter.admit(sa(a), kS, again) == 1);
  }
  ConnectionSlot s4;
  CHECK(limiter.admit(sa(a), kS, s4) == 0);
  // IPv4-mapped IPv6 is the same client.
  ConnectionSlot mapped;
  CHECK(limiter.admit(sa(addr("::ffff:192.0.2.1")), kS, mapped) == 1);
  CHECK(limiter.admit(sa(addr("2001:db8::1")), kS, mapped) == 0);
  // A UNIX-socket client has no address to count.
  sockaddr_storage unix_client{};
  unix_client.ss_family = AF_UNIX;
  ConnectionSlot u1, u2, u3;
  CHECK(limiter.admit(sa(unix_client), kS, u1) == 0);
  CHECK(limiter.admit(sa(unix_client), kS, u2) == 0);
  CHECK(limiter.admit(sa(unix_client), kS, u3) == 0);
}

TEST_CASE("per_client: connection_rate is a bucket of rate connections; neither limit spends the other's") {
  // 2 per 10s, and at most 1 open.
  PerClientLimiter limiter = make(per_client(1, 2, 10'000ms));
  const auto a = addr("198.51.100.7");
  ConnectionSlot s1, s2;
  CHECK(limiter.admit(sa(a), kS, s1) == 0);  // rate: 1 left
  // Refused by max_connections: spends no rate token.
  CHECK(limiter.admit(sa(a), kS, s2) == 1);
  CHECK(limiter.admit(sa(a), kS, s2) == 1);
  s1.reset();
  CHECK(limiter.admit(sa(a), kS, s1) == 0);  // rate: 0 left
  s1.reset();
  // Refused by the rate: Retry-After until a token is back (5s), and no slot kept.
  CHECK(limiter.admit(sa(a), kS, s1) == 5);
  CHECK(limiter.admit(sa(a), 6 * kS, s1) == 0);
  // Rate only (no max_connections): slots are not counted at all.
  PerClientLimiter rate_only = make(per_client(0, 3, 1000ms));
  ConnectionSlot r[4];
  for (int i = 0; i < 3; ++i) CHECK(rate_only.admit(sa(a), kS, r[i]) == 0);
  CHECK(rate_only.admit(sa(a), kS, r[3]) == 1);
}

TEST_CASE("per_client: threads opening and closing connections keep the counts exact") {
  auto counts = std::make_shared<ConnectionCounts>();
  PerClientLimiter limiter = make(per_client(3), counts);
  const auto a = addr("203.0.113.9");
  std::atomic<int> open{0}, most{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        ConnectionSlot slot;
        if (limiter.admit(sa(a), kS, slot) != 0) {
          refused.fetch_add(1);
          continue;
        }
        int now_open = open.fetch_add(1) + 1;
        int seen = most.load();
        while (now_open > seen && !most.compare_exchange_weak(seen, now_open)) {
        }
        open.fetch_sub(1);
      }  // the slot is released here, after `open` went down
    });
  }
  for (auto& th : threads) th.join();
  CHECK(most.load() <= 3);
  // Everything was given back: three fresh connections fit, a fourth does not.
  ConnectionSlot s[4];
  for (int i = 0; i < 3; ++i) CHECK(limiter.admit(sa(a), kS, s[i]) == 0);
  CHECK(limiter.admit(sa(a), kS, s[3]) == 1);
}
