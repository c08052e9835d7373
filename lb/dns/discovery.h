// lb/dns/discovery.h — SPEC 13: pools whose servers are what DNS answers.
//
// Each pool with "discovery" asks DNS (A, AAAA, or SRV and then each
// target's addresses) at `interval`, sooner when the answer's TTL is
// shorter, never more than once a second. The answer is a set of servers
// keyed by "IP:port":
//   - a server that stays keeps everything it has (live state is kept by
//     (pool, address) in the LiveRegistry: health, circuit, counters);
//   - a new one joins at once (up unless the pool has a health check);
//   - one that left is kept in state "drain" until its in-flight requests
//     are done, then forgotten (Process polls forget_drained()).
// A failed, empty or timed-out answer changes nothing: the last good set
// stays, a warning is logged, and every outcome is counted per pool for
// lb_dns_resolutions_total{pool,result}.
//
// Discovery only decides the sets; Process lays them over the file's
// configuration (add_servers) and builds a runtime the way a reload does.
//
// Threading: the main loop only.
#pragma once

#include <uv.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "lb/dns/dns_resolver.h"

namespace lb {

struct Runtime;

class Discovery {
 public:
  // `changed` runs (on the loop) whenever a pool's set changed: rebuild.
  Discovery(uv_loop_t* loop, std::function<void()> changed);
  ~Discovery();
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // The file's configuration at start and after each reload: starts,
  // restarts (name, type or dns settings changed) and stops pools' lookups.
  void configure(const conf::Config& file_config);
  // Adds every pool's discovered servers (leaving ones in state drain) to
  // `config`, except addresses the pool already lists.
  void add_servers(conf::Config& config) const;
  // Forgets leaving servers with no request in flight; true if any was.
  bool forget_drained(const Runtime& runtime);
  bool has_leaving() const;
  // Every pool has had one answer (good or not) since start.
  bool first_round_complete() const;

  struct Count {
    std::string pool;
    const char* result;
    uint64_t value;
  };
  std::vector<Count> resolution_counts() const;

 private:
  struct Pool;
  void resolve(Pool& p);
  void resolve_srv_targets(Pool& p, const dns::Answer& srv);
  void answered(Pool& p, dns::Result result, const std::string& error, std::map<std::string, conf::ServerConfig> set,
                uint32_t ttl);
  void schedule(Pool& p, uint32_t ttl);

  uv_loop_t* loop_;
  std::function<void()> changed_;
  std::unique_ptr<dns::DnsResolver> resolver_;
  std::map<std::string, std::unique_ptr<Pool>> pools_;  // by pool name
};

}  // namespace lb
