// lb/dns/discovery.cpp — see discovery.h.
#include "lb/dns/discovery.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "conf/values.h"
#include "lb/core/runtime.h"
#include "lb/io/log.h"

namespace lb {

namespace {

constexpr std::size_t kResults = 6;  // dns::Result values
constexpr uint64_t kMinIntervalMs = 1000;

using ServerSet = std::map<std::string, conf::ServerConfig>;

conf::ServerConfig discovered_server(const sockaddr_storage& addr, socklen_t len, uint16_t port, uint32_t weight,
                                     bool backup) {
  conf::ServerConfig s;
  s.address.port = port;
  s.address.sockaddr = addr;
  s.address.sockaddr_len = len;
  if (addr.ss_family == AF_INET) reinterpret_cast<sockaddr_in&>(s.address.sockaddr).sin_port = htons(port);
  else reinterpret_cast<sockaddr_in6&>(s.address.sockaddr).sin6_port = htons(port);
  s.address.text = conf::detail::numeric_address(s.address);  // "IP:port" / "[v6]:port", as conf spells them
  const std::string& t = s.address.text;
  s.address.host = t[0] == '[' ? t.substr(1, t.find(']') - 1) : t.substr(0, t.rfind(':'));
  s.weight = std::clamp<uint32_t>(weight, 1, 1000);
  s.backup = backup;
  s.discovered = true;
  return s;
}

bool same_server(const conf::ServerConfig& a, const conf::ServerConfig& b) {
  return a.weight == b.weight && a.backup == b.backup;
}

}  // namespace

struct Discovery::Pool {
  Discovery* owner;  // owns this pool, so outlives it
  std::string name;
  conf::DiscoveryConfig config;
  uv_timer_t* timer = nullptr;  // heap: closed asynchronously
  dns::DnsLookup lookup;
  // SRV: one lookup per target, answered into `srv_set`.
  std::vector<dns::DnsLookup> target_lookups;
  std::size_t targets_outstanding = 0;
  ServerSet srv_set;
  uint32_t srv_ttl = 0;
  ServerSet current, leaving;
  bool answered_once = false;
  std::array<uint64_t, kResults> counts{};
};

Discovery::Discovery(uv_loop_t* loop, std::function<void()> changed) : loop_(loop), changed_(std::move(changed)) {}

Discovery::~Discovery() {
  for (auto& [name, p] : pools_)
    uv_close(reinterpret_cast<uv_handle_t*>(p->timer), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Discovery::configure(const conf::Config& config) {
  std::map<std::string, const conf::PoolConfig*> wanted;
  for (const auto& pc : config.pools)
    if (pc.discovery) wanted[pc.name] = &pc;
  // No c-ares channel (and no sockets) unless some pool needs one.
  const bool new_resolver = !wanted.empty() && (!resolver_ || !(resolver_->settings() == config.dns));
  if (new_resolver) {
    // Lookups of the old resolver are cancelled with it: every pool asks again.
    for (auto& [name, p] : pools_) {
      p->lookup.reset();
      p->target_lookups.clear();
    }
    resolver_ = std::make_unique<dns::DnsResolver>(loop_, config.dns);
  }
  for (auto it = pools_.begin(); it != pools_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(it->second->timer),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    it = pools_.erase(it);
  }
  bool moved = false;
  for (const auto& [name, pc] : wanted) {
    auto& slot = pools_[name];
    bool restart = new_resolver;
    if (!slot) {
      slot = std::make_unique<Pool>();
      slot->owner = this;
      slot->name = name;
      slot->timer = new uv_timer_t;
      uv_timer_init(loop_, slot->timer);
      slot->timer->data = slot.get();
      restart = true;
    }
    if (!(slot->config == *pc->discovery)) {
      // Another name or type: the old set no longer describes anything.
      if (slot->config.name != pc->discovery->name || slot->config.type != pc->discovery->type ||
          slot->config.port != pc->discovery->port) {
        for (auto& [addr, s] : slot->current) {
          slot->leaving[addr] = s;
          slot->leaving[addr].state = conf::ServerState::drain;
          moved = true;
        }
        slot->current.clear();
      }
      slot->config = *pc->discovery;
      restart = true;
    }
    if (restart) resolve(*slot);
  }
  if (wanted.empty()) resolver_.reset();
  if (moved) changed_();  // the old name's servers drain
}

void Discovery::resolve(Pool& p) {
  uv_timer_stop(p.timer);
  p.target_lookups.clear();
  const conf::DiscoveryConfig& c = p.config;
  if (c.type == conf::DiscoveryType::srv) {
    p.lookup = resolver_->lookup_srv(c.name, [this, &p](dns::Answer a) {
      if (a.result != dns::Result::ok) return answered(p, a.result, a.error, {}, 0);
      resolve_srv_targets(p, a);
    });
    return;
  }
  const int family = c.type == conf::DiscoveryType::a ? AF_INET : AF_INET6;
  p.lookup = resolver_->lookup_records(c.name, family, [this, &p](dns::Answer a) {
    ServerSet set;
    if (a.result == dns::Result::ok)
      for (const auto& r : a.addresses) {
        auto s = discovered_server(r.addr, r.len, p.config.port, p.config.weight, false);
        set.emplace(s.address.text, std::move(s));
      }
    answered(p, a.result, a.error, std::move(set), a.ttl);
  });
}

// SRV: lowest priority = primary, the others backup; weights clamped to
// 1..1000; each target's first address (IPv4 first).
void Discovery::resolve_srv_targets(Pool& p, const dns::Answer& srv) {
  uint16_t primary = UINT16_MAX;
  for (const auto& r : srv.srv) primary = std::min(primary, r.priority);
  p.srv_set.clear();
  p.srv_ttl = srv.ttl;
  p.targets_outstanding = srv.srv.size();
  std::vector<dns::SrvRecord> records = srv.srv;
  for (const auto& r : records) {
    p.target_lookups.push_back(resolver_->lookup_host(r.target, [this, &p, r, primary](dns::Answer a) {
      if (a.result == dns::Result::ok) {
        const auto& addr = a.addresses.front();
        auto s = discovered_server(addr.addr, addr.len, r.port, r.weight, r.priority != primary);
        p.srv_set.emplace(s.address.text, std::move(s));
        if (addr.ttl && (!p.srv_ttl || addr.ttl < p.srv_ttl)) p.srv_ttl = addr.ttl;
      } else {
        log_warn("dns: SRV target not resolved", {{"pool", p.name}, {"target", r.target}, {"reason", a.error}});
      }
      if (--p.targets_outstanding != 0) return;
      ServerSet set = std::move(p.srv_set);
      p.srv_set.clear();
      const bool any = !set.empty();
      answered(p, any ? dns::Result::ok : dns::Result::empty, any ? "" : "no SRV target resolved", std::move(set),
               p.srv_ttl);
    }));
  }
}

void Discovery::answered(Pool& p, dns::Result result, const std::string& error, ServerSet set, uint32_t ttl) {
  p.answered_once = true;
  ++p.counts[static_cast<std::size_t>(result)];
  if (result != dns::Result::ok || set.empty()) {
    log_warn("dns: resolution failed, keeping the last good servers",
             {{"pool", p.name}, {"name", p.config.name}, {"result", dns::to_string(result)}, {"reason", error},
              num("servers", static_cast<double>(p.current.size()))});
    schedule(p, 0);
    return;
  }
  bool changed = false;
  for (auto& [addr, s] : p.current) {
    if (set.count(addr)) continue;
    conf::ServerConfig gone = s;
    gone.state = conf::ServerState::drain;
    p.leaving[addr] = gone;
    changed = true;
    log_info("dns: server left", {{"pool", p.name}, {"server", addr}});
  }
  for (auto& [addr, s] : set) {
    p.leaving.erase(addr);  // back before it was forgotten
    auto old = p.current.find(addr);
    if (old == p.current.end()) log_info("dns: server joined", {{"pool", p.name}, {"server", addr}});
    if (old == p.current.end() || !same_server(old->second, s)) changed = true;
  }
  p.current = std::move(set);
  schedule(p, ttl);
  if (changed) changed_();
}

void Discovery::schedule(Pool& p, uint32_t ttl) {
  uint64_t delay = static_cast<uint64_t>(p.config.interval.count());
  if (ttl > 0) delay = std::min<uint64_t>(delay, uint64_t{ttl} * 1000);
  delay = std::max(delay, kMinIntervalMs);
  uv_timer_start(p.timer, [](uv_timer_t* t) {
    auto* pool = static_cast<Pool*>(t->data);
    pool->owner->resolve(*pool);
  }, delay, 0);
}

void Discovery::add_servers(conf::Config& config) const {
  for (auto& pc : config.pools) {
    auto it = pools_.find(pc.name);
    if (it == pools_.end() || !pc.discovery) continue;
    auto listed = [&](const std::string& addr) {
      return std::any_of(pc.servers.begin(), pc.servers.end(), [&](const auto& s) { return s.address.text == addr; });
    };
    for (const ServerSet* set : {&it->second->current, &it->second->leaving})
      for (const auto& [addr, s] : *set)
        if (!listed(addr)) pc.servers.push_back(s);
  }
}

bool Discovery::forget_drained(const Runtime& runtime) {
  bool forgot = false;
  for (auto& entry_of_pool : pools_) {
    const std::string& name = entry_of_pool.first;  // (a lambda may not capture a structured binding in C++20)
    std::erase_if(entry_of_pool.second->leaving, [&](const auto& entry) {
      for (const auto& pool : runtime.pools) {
        if (pool.config->name != name) continue;
        for (const auto& s : pool.servers)
          if (s.config->address.text == entry.first && s.live->active.load(std::memory_order_relaxed) != 0) return false;
      }
      forgot = true;
      log_info("dns: server drained and removed", {{"pool", name}, {"server", entry.first}});
      return true;
    });
  }
  return forgot;
}

bool Discovery::has_leaving() const {
  return std::any_of(pools_.begin(), pools_.end(), [](const auto& e) { return !e.second->leaving.empty(); });
}

bool Discovery::first_round_complete() const {
  return std::all_of(pools_.begin(), pools_.end(), [](const auto& e) { return e.second->answered_once; });
}

std::vector<Discovery::Count> Discovery::resolution_counts() const {
  std::vector<Count> out;
  for (const auto& [name, p] : pools_)
    for (std::size_t i = 0; i < kResults; ++i)
      out.push_back({name, dns::to_string(static_cast<dns::Result>(i)), p->counts[i]});
  return out;
}

}  // namespace lb
