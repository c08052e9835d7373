// lb/security/per_client.h — a listener's per_client limits (SPEC 11): open
// connections per client address (max_connections) and new connections per
// client address and time (connection_rate, a token bucket). Checked once
// per connection, when it is accepted (after the PROXY header when the
// listener accepts one); the http codecs answer the connection's requests
// 429 with Retry-After and Connection: close, tcp sessions close at once.
//
// Sharing: every worker of the listener uses the same counts (a KeyedShards:
// one uncontended atomic exchange per connection opened and per connection
// closed; nothing on the request path). The counts outlive reloads (kept by
// listener name in the LiveRegistry), so connections opened before a reload
// are still counted after it, and each connection releases its slot into
// the counts it took it from.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "conf/config.h"
#include "lb/security/keyed_shards.h"

namespace lb {

class RateLimiter;

// A client address as key bytes: 4 for IPv4 (IPv4-mapped IPv6 included, so
// one client is one key whichever way it connects), 16 for IPv6; empty for
// a client without an IP address (a UNIX socket), which is never limited.
struct ClientKey {
  char bytes[16] = {};
  uint8_t len = 0;
  explicit ClientKey(const sockaddr* client);
  ClientKey() = default;
  std::string_view view() const { return {bytes, len}; }
};

// Open connections per client address.
class ConnectionCounts {
 public:
  // Takes a slot unless `key` already holds `max`.
  bool try_acquire(std::string_view key, uint32_t max, uint64_t now_ns);
  void release(std::string_view key);

 private:
  KeyedShards<uint32_t> counts_;
};

// A connection's slot in ConnectionCounts, given back when it is destroyed.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  ConnectionSlot(std::shared_ptr<ConnectionCounts> counts, const ClientKey& key)
      : counts_(std::move(counts)), key_(key) {}
  ConnectionSlot(ConnectionSlot&& o) noexcept : counts_(std::move(o.counts_)), key_(o.key_) {}
  ConnectionSlot& operator=(ConnectionSlot&& o) noexcept;
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ~ConnectionSlot() { reset(); }
  void reset();

 private:
  std::shared_ptr<ConnectionCounts> counts_;
  ClientKey key_;
};

class PerClientLimiter {
 public:
  // `counts` is needed when config.max_connections > 0, `rate` when
  // config.connection_rate is set.
  PerClientLimiter(const conf::PerClient& config, std::shared_ptr<ConnectionCounts> counts,
                   std::shared_ptr<RateLimiter> rate);

  // A new connection from `client` at `now_ns`. Admitted: returns 0 and
  // fills `slot` (when max_connections counts). Refused: returns the
  // Retry-After in seconds (1 when the client has too many connections
  // open: when one will close cannot be known), and takes nothing — a
  // connection the rate refuses holds no slot, one max_connections refuses
  // spends no rate token.
  uint32_t admit(const sockaddr* client, uint64_t now_ns, ConnectionSlot& slot) const;

 private:
  uint32_t max_connections_;
  std::shared_ptr<ConnectionCounts> counts_;
  std::shared_ptr<RateLimiter> rate_;
};

}  // namespace lb
