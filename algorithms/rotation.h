// algorithms/rotation.h — rotation state: the process-wide rotation shared by
// round_robin and weighted_round_robin (one atomic ticket counter per policy,
// and the walk that turns a ticket into a pick while skipping slots that
// cannot be used), and the per-worker tie cursor of the least_* policies.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "algorithms/balancer.h"

namespace lb::algo {

// The rotation position. On its own cache line: every worker writes it on
// every pick, while the policy's other fields are only read.
struct alignas(64) Ticket {
  std::atomic<uint64_t> next{0};
};

// Takes the next ticket t and tries slots t, t+1, ... (absolute positions;
// the caller reduces them modulo its cycle) until accept(position) returns a
// member, at most `limit` slots. When slots were skipped, the counter is moved
// on to just after the accepted one, so the next pick continues from there as
// a single-threaded rotation would; the compare-exchange is given up when
// another pick took a ticket meanwhile (its skipped slots then go to the
// following members, a small local unevenness, never a wrong pick).
// `any_available()` is asked once, after the first refusal, so a pool with
// nothing available costs O(members) instead of a walk over `limit` slots.
// Safe from any number of threads at once.
template <class Accept, class AnyAvailable>
std::optional<size_t> rotate(Ticket& ticket, uint64_t limit, Accept&& accept, AnyAvailable&& any_available) {
  const uint64_t t = ticket.next.fetch_add(1, std::memory_order_relaxed);
  for (uint64_t k = 0; k < limit; ++k) {
    if (std::optional<size_t> member = accept(t + k)) {
      if (k != 0) {
        uint64_t expected = t + 1;
        ticket.next.compare_exchange_strong(expected, t + k + 1, std::memory_order_relaxed);
      }
      return member;
    }
    if (k == 0 && !any_available()) break;
  }
  // Nothing available: hand the ticket back (best effort, as above), so that a
  // caller that retries right away with other rules (backups, panic mode)
  // continues the rotation instead of always landing one slot further.
  uint64_t expected = t + 1;
  ticket.next.compare_exchange_strong(expected, t, std::memory_order_relaxed);
  return std::nullopt;
}

// Per-worker start of the scan for least_connections and least_response_time,
// so that ties rotate. Per worker on purpose: these policies choose by load,
// and a shared cursor would only add a shared write to every pick.
struct TieCursor final : LocalState {
  size_t start = 0;
};

}  // namespace lb::algo
