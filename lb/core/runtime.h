// lb/core/runtime.h — the immutable snapshot workers serve from.
//
// A Runtime is built on the main thread from a validated Config, the live state
// registry (so servers keep their health and counters across reloads) and the
// listening sockets (so unchanged listeners keep their sockets). It is
// published to workers as shared_ptr<const Runtime>; every connection keeps the
// snapshot it started with, so a reload never changes anything under it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "algorithms/balancer.h"
#include "conf/config.h"
#include "lb/core/live_state.h"
#include "lb/exchange/route_table.h"

namespace lb {

namespace tls { class ServerContext; class ClientContext; class TicketKeys; }
class RateLimiter;
class PerClientLimiter;
class ConnectionCounts;

// One listening address bound on the main thread: one SO_REUSEPORT socket per
// worker. The worker that opens fds[i] owns it from then on (uv_close closes it).
struct ListenSocket {
  uint64_t id = 0;          // unique per bind; workers key their handles by it
  std::string address;      // conf Address::text
  std::vector<int> fds;     // one per worker
};

struct ServerRuntime {
  const conf::ServerConfig* config = nullptr;
  std::shared_ptr<ServerLive> live;
  std::string sticky_id;  // the sticky cookie's value for this server (pools with "sticky")
};

struct PoolRuntime {
  const conf::PoolConfig* config = nullptr;
  std::shared_ptr<PoolLive> live;
  std::vector<ServerRuntime> servers;
  // Balancer member lists: primaries and backups, with their server indices.
  std::vector<algo::Member> primary_members, backup_members;
  std::vector<uint32_t> primary_servers, backup_servers;
  // Balancer policies over those lists (rings, Maglev tables, WRR schedules,
  // the process-wide rotation counters): built once per Runtime by
  // build_pool_policies() (lb/upstream/selection.h) and shared by every worker.
  std::shared_ptr<const algo::Policy> primary_policy, backup_policy;
  std::shared_ptr<const tls::ClientContext> tls;  // backend TLS (re-encryption), when configured
};

struct ListenerRuntime {
  const conf::ListenerConfig* config = nullptr;
  std::shared_ptr<ListenerLive> live;
  std::shared_ptr<const ListenSocket> socket;
  std::optional<uint32_t> default_pool;
  RouteTable routes;
  std::shared_ptr<const tls::ServerContext> tls;  // set when the listener terminates TLS
  std::shared_ptr<RateLimiter> rate_limiter;       // set when rate_limit is configured
  std::shared_ptr<const AccessList> access;         // set when "access" has ranges
  std::shared_ptr<const CidrSet> trusted_proxies;   // set when "trusted_proxies" has ranges
  std::shared_ptr<const PerClientLimiter> per_client;  // set when "per_client" limits anything
  // Access lists, auth, rate limit or per_client: requests go through the
  // admission checks (a listener without any skips them).
  bool admission_checks = false;
  // request_headers / response_headers rules to apply (most listeners have
  // none: the exchange then skips building edits).
  bool request_rules = false, response_rules = false;
};

struct Runtime {
  std::shared_ptr<const conf::Config> config;
  uint64_t generation = 0;
  std::vector<PoolRuntime> pools;
  std::vector<ListenerRuntime> listeners;
  uint32_t workers = 1;
};

// Live state by identity, kept by the main thread across reloads.
class LiveRegistry {
 public:
  std::shared_ptr<ServerLive> server(const std::string& pool, const std::string& address);
  std::shared_ptr<PoolLive> pool(const std::string& name);
  std::shared_ptr<ListenerLive> listener(const std::string& name);
  std::shared_ptr<RouteLive> route(const std::string& listener, const std::string& name);
  // The limiter of a listener (route "") or of one of its routes; kept (with
  // its buckets and windows) across reloads while the settings are unchanged.
  std::shared_ptr<RateLimiter> rate_limiter(const std::string& listener, const std::string& route,
                                            const conf::RateLimit& config);
  // A listener's open connections per client address (per_client), kept
  // across every reload: its open connections stay counted.
  std::shared_ptr<ConnectionCounts> connection_counts(const std::string& listener);
  // Forget identities the current runtime no longer uses.
  void retain_only(const Runtime& runtime);

 private:
  std::map<std::pair<std::string, std::string>, std::shared_ptr<ServerLive>> servers_;
  std::map<std::string, std::shared_ptr<PoolLive>> pools_;
  std::map<std::string, std::shared_ptr<ListenerLive>> listeners_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<RouteLive>> routes_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<RateLimiter>> rate_limiters_;
  std::map<std::string, std::shared_ptr<ConnectionCounts>> connection_counts_;
};

// Listening sockets by address, kept by the main thread across reloads.
class SocketRegistry {
 public:
  // Returns the socket for `address`, binding a new one when the address is
  // new. On failure returns null and sets `error`.
  std::shared_ptr<const ListenSocket> acquire(const conf::Address& address, uint32_t workers, std::string& error);
  // After a successful build: drop sockets the new runtime does not use (the
  // workers close their fds when they drop their handles).
  void commit(const Runtime& runtime);
  // After a failed build: close sockets bound for it (never given to workers).
  void rollback();

 private:
  std::map<std::string, std::shared_ptr<const ListenSocket>> sockets_;
  std::vector<std::string> bound_since_commit_;
  uint64_t next_id_ = 1;
};

// Builds a Runtime. On failure (bind error) returns null and sets `error`.
// TLS contexts are built here, so certificate and key files are re-read on
// every reload and a bad pair rejects it. `ticket_keys` is shared by every
// listener of every generation, so session tickets survive reloads.
std::shared_ptr<Runtime> build_runtime(std::shared_ptr<const conf::Config> config, uint64_t generation,
                                       uint32_t workers, LiveRegistry& live, SocketRegistry& sockets,
                                       const std::shared_ptr<tls::TicketKeys>& ticket_keys, std::string& error);

}  // namespace lb
