// lb/security/per_client.cpp — per-client connection counts and rate.
#include "lb/security/per_client.h"

#include <netinet/in.h>

#include <cstring>

#include "lb/exchange/rate_limiter.h"

namespace lb {

ClientKey::ClientKey(const sockaddr* client) {
  if (!client) return;
  if (client->sa_family == AF_INET) {
    std::memcpy(bytes, &reinterpret_cast<const sockaddr_in*>(client)->sin_addr, 4);
    len = 4;
  } else if (client->sa_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(client)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      std::memcpy(bytes, a.s6_addr + 12, 4);
      len = 4;
    } else {
      std::memcpy(bytes, a.s6_addr, 16);
      len = 16;
    }
  }
}

namespace {
auto make_count = [](uint64_t) { return uint32_t{0}; };
auto count_idle = [](uint32_t n, uint64_t) { return n == 0; };
}  // namespace

bool ConnectionCounts::try_acquire(std::string_view key, uint32_t max, uint64_t now_ns) {
  return counts_.apply(key, now_ns, make_count, count_idle, [&](uint32_t& n, uint64_t) {
    if (n >= max) return false;
    ++n;
    return true;
  });
}

void ConnectionCounts::release(std::string_view key) {
  // A held slot keeps its entry (only zero counts are swept), so this finds it.
  counts_.apply(key, 0, make_count, count_idle, [](uint32_t& n, uint64_t) {
    if (n > 0) --n;
    return true;
  });
}

ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& o) noexcept {
  if (this != &o) {
    reset();
    counts_ = std::move(o.counts_);
    key_ = o.key_;
  }
  return *this;
}

void ConnectionSlot::reset() {
  if (counts_) counts_->release(key_.view());
  counts_.reset();
}

PerClientLimiter::PerClientLimiter(const conf::PerClient& config, std::shared_ptr<ConnectionCounts> counts,
                                   std::shared_ptr<RateLimiter> rate)
    : max_connections_(config.max_connections), counts_(std::move(counts)), rate_(std::move(rate)) {}

uint32_t PerClientLimiter::admit(const sockaddr* client, uint64_t now_ns, ConnectionSlot& slot) const {
  const ClientKey key(client);
  if (key.len == 0) return 0;
  const bool counted = max_connections_ > 0 && counts_;
  if (counted && !counts_->try_acquire(key.view(), max_connections_, now_ns)) return 1;
  ConnectionSlot taken = counted ? ConnectionSlot(counts_, key) : ConnectionSlot();
  uint32_t retry_after = 0;
  if (rate_ && !rate_->allow(key.view(), now_ns, retry_after)) return retry_after;  // `taken` gives its slot back
  slot = std::move(taken);
  return 0;
}

}  // namespace lb
