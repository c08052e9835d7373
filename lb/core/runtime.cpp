// lb/core/runtime.cpp — building Runtime snapshots; live-state and socket registries.
#include "lb/core/runtime.h"
#include "lb/upstream/sticky.h"

#include "lb/io/listen_probe.h"
#include "lb/io/log.h"
#include "lb/io/unix_listen.h"
#include "lb/exchange/rate_limiter.h"
#include "lb/security/per_client.h"
#include "lb/upstream/selection.h"
#include "tls/client_context.h"
#include "tls/server_context.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace lb {

std::shared_ptr<ServerLive> LiveRegistry::server(const std::string& pool, const std::string& address) {
  auto& slot = servers_[{pool, address}];
  if (!slot) slot = std::make_shared<ServerLive>();
  return slot;
}

std::shared_ptr<PoolLive> LiveRegistry::pool(const std::string& name) {
  auto& slot = pools_[name];
  if (!slot) slot = std::make_shared<PoolLive>();
  return slot;
}

std::shared_ptr<ListenerLive> LiveRegistry::listener(const std::string& name) {
  auto& slot = listeners_[name];
  if (!slot) slot = std::make_shared<ListenerLive>();
  return slot;
}

std::shared_ptr<RouteLive> LiveRegistry::route(const std::string& listener, const std::string& name) {
  auto& slot = routes_[{listener, name}];
  if (!slot) slot = std::make_shared<RouteLive>();
  return slot;
}

std::shared_ptr<RateLimiter> LiveRegistry::rate_limiter(const std::string& listener, const std::string& route,
                                                        const conf::RateLimit& c) {
  auto& slot = rate_limiters_[{listener, route}];
  if (!slot || !(slot->config() == c)) slot = RateLimiter::create(c, listener + ":" + route);
  return slot;
}

std::shared_ptr<ConnectionCounts> LiveRegistry::connection_counts(const std::string& listener) {
  auto& slot = connection_counts_[listener];
  if (!slot) slot = std::make_shared<ConnectionCounts>();
  return slot;
}

// A listener's per_client connection_rate lives among the rate limiters
// under a "route" name no route can have (names match [A-Za-z0-9_.-]+).
static const std::string kConnectionRate = "*connection_rate";

void LiveRegistry::retain_only(const Runtime& runtime) {
  std::set<std::pair<std::string, std::string>> servers;
  std::set<std::string> pools, listeners;
  for (auto& p : runtime.pools) {
    pools.insert(p.config->name);
    for (auto& s : p.servers) servers.insert({p.config->name, s.config->address.text});
  }
  for (auto& l : runtime.listeners) listeners.insert(l.config->name);
  std::erase_if(servers_, [&](auto& kv) { return !servers.count(kv.first); });
  std::erase_if(pools_, [&](auto& kv) { return !pools.count(kv.first); });
  std::erase_if(listeners_, [&](auto& kv) { return !listeners.count(kv.first); });
  std::set<std::pair<std::string, std::string>> routes;
  for (auto& l : runtime.listeners)
    for (auto& r : l.routes.routes()) routes.insert({l.config->name, r.config->name});
  std::erase_if(routes_, [&](auto& kv) { return !routes.count(kv.first); });
  std::set<std::pair<std::string, std::string>> limited;
  for (auto& l : runtime.listeners) {
    if (l.rate_limiter) limited.insert({l.config->name, ""});
    if (l.config->per_client.connection_rate) limited.insert({l.config->name, kConnectionRate});
    for (auto& r : l.routes.routes())
      if (r.rate_limiter) limited.insert({l.config->name, r.config->name});
  }
  std::erase_if(rate_limiters_, [&](auto& kv) { return !limited.count(kv.first); });
  std::erase_if(connection_counts_, [&](auto& kv) { return !listeners.count(kv.first); });
}

// One non-blocking SO_REUSEPORT listening socket.
static int bind_listen_socket(const conf::Address& address, std::string& error) {
  int fd = ::socket(address.sockaddr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (address.sockaddr.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address.sockaddr), address.sockaddr_len) != 0 ||
      ::listen(fd, 4096) != 0) {
    error = "bind " + address.text + ": " + strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

// A UNIX socket cannot be bound once per worker (no SO_REUSEPORT): every
// worker accepts from its own dup of the one listening socket.
static std::shared_ptr<ListenSocket> bind_unix(const conf::Address& address, uint32_t workers, std::string& error) {
  int fd = bind_unix_listener(address, error);
  if (fd < 0) return nullptr;
  auto sock = std::make_shared<ListenSocket>();
  sock->address = address.text;
  sock->fds.push_back(fd);
  for (uint32_t i = 1; i < workers; ++i) sock->fds.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  return sock;
}

std::shared_ptr<const ListenSocket> SocketRegistry::acquire(const conf::Address& address, uint32_t workers,
                                                            std::string& error) {
  auto it = sockets_.find(address.text);
  if (it != sockets_.end() && it->second->fds.size() == workers) return it->second;
  if (address.sockaddr.ss_family == AF_UNIX) {
    // A worker-count change on a running UNIX listener keeps its file: the
    // old socket lives on in the old runtime, so the path cannot be rebound.
    if (it != sockets_.end()) {
      error = "the worker count of a UNIX-socket listener cannot change";
      return nullptr;
    }
    auto sock = bind_unix(address, workers, error);
    if (!sock) return nullptr;
    sock->id = next_id_++;
    sockets_[address.text] = sock;
    bound_since_commit_.push_back(address.text);
    return sock;
  }
  // A new address: SO_REUSEPORT below would let us join another process's
  // listening group without a word.
  if (auto foreign = foreign_listener(address)) {
    error = *foreign;
    return nullptr;
  }
  auto sock = std::make_shared<ListenSocket>();
  sock->id = next_id_++;
  sock->address = address.text;
  for (uint32_t i = 0; i < workers; ++i) {
    int fd = bind_listen_socket(address, error);
    if (fd < 0) {
      for (int f : sock->fds) ::close(f);
      return nullptr;
    }
    sock->fds.push_back(fd);
  }
  // A socket replaced in the map (worker count changed) stays alive through the
  // old runtime's reference until the workers drop it.
  sockets_[address.text] = sock;
  bound_since_commit_.push_back(address.text);
  return sock;
}

void SocketRegistry::commit(const Runtime& runtime) {
  std::set<std::string> used;
  for (auto& l : runtime.listeners) used.insert(l.socket->address);
  std::erase_if(sockets_, [&](auto& kv) {
    if (used.count(kv.first)) return false;
    if (kv.first.rfind("unix:", 0) == 0) remove_unix_socket_file(kv.first.substr(5));
    return true;
  });
  bound_since_commit_.clear();
}

void SocketRegistry::rollback() {
  for (auto& address : bound_since_commit_) {
    auto it = sockets_.find(address);
    if (it == sockets_.end()) continue;
    for (int fd : it->second->fds) ::close(fd);
    if (address.rfind("unix:", 0) == 0) remove_unix_socket_file(address.substr(5));
    sockets_.erase(it);
  }
  bound_since_commit_.clear();
}

std::shared_ptr<Runtime> build_runtime(std::shared_ptr<const conf::Config> config, uint64_t generation,
                                       uint32_t workers, LiveRegistry& live, SocketRegistry& sockets,
                                       const std::shared_ptr<tls::TicketKeys>& ticket_keys, std::string& error) {
  auto rt = std::make_shared<Runtime>();
  rt->config = config;
  rt->generation = generation;
  rt->workers = workers;

  // TLS contexts first (they read files), then sockets: any failure must
  // reject the reload before a socket is bound or live state is touched.
  std::vector<std::shared_ptr<const tls::ServerContext>> listener_tls(config->listeners.size());
  for (size_t i = 0; i < config->listeners.size(); ++i) {
    const auto& lc = config->listeners[i];
    if (!lc.tls) continue;
    listener_tls[i] = tls::ServerContext::create(*lc.tls, ticket_keys, error);
    if (!listener_tls[i]) {
      error = "/listeners/" + std::to_string(i) + "/tls: " + error;
      return nullptr;
    }
  }
  std::vector<std::shared_ptr<const tls::ClientContext>> pool_tls(config->pools.size());
  for (size_t i = 0; i < config->pools.size(); ++i) {
    const auto& pc = config->pools[i];
    if (!pc.tls) continue;
    pool_tls[i] = tls::ClientContext::create(*pc.tls, error);
    if (!pool_tls[i]) {
      error = "/pools/" + std::to_string(i) + "/tls: " + error;
      return nullptr;
    }
  }

  auto pool_index = [&](const std::string& name) -> uint32_t {
    for (uint32_t i = 0; i < config->pools.size(); ++i)
      if (config->pools[i].name == name) return i;
    return 0;  // unreachable: conf/ rejects dangling pool references
  };

  // Both lists were checked by conf/: add() cannot fail here.
  auto compile_access = [](const conf::AccessRules& rules) -> std::shared_ptr<const AccessList> {
    if (rules.empty()) return nullptr;
    auto list = std::make_shared<AccessList>();
    std::string err;
    for (const auto& c : rules.allow) list->allow.add(c, err);
    for (const auto& c : rules.deny) list->deny.add(c, err);
    list->allow.build();
    list->deny.build();
    return list;
  };

  for (const auto& lc : config->listeners) {
    ListenerRuntime listener;
    listener.config = &lc;
    listener.live = live.listener(lc.name);
    listener.socket = sockets.acquire(lc.listen, workers, error);
    if (!listener.socket) {
      error = "/listeners/" + std::to_string(rt->listeners.size()) + "/listen: listener \"" + lc.name + "\": " + error;
      sockets.rollback();
      return nullptr;
    }
    if (lc.listen.sockaddr.ss_family == AF_UNIX && config->group &&
        !give_socket_to_group(lc.listen.host, *config->group, error)) {
      error = "/listeners/" + std::to_string(rt->listeners.size()) + "/listen: " + error;
      sockets.rollback();
      return nullptr;
    }
    if (lc.pool) listener.default_pool = pool_index(*lc.pool);
    if (lc.rate_limit) listener.rate_limiter = live.rate_limiter(lc.name, "", *lc.rate_limit);
    listener.access = compile_access(lc.access);
    if (const conf::PerClient& pc = lc.per_client; pc.any()) {
      listener.per_client = std::make_shared<PerClientLimiter>(
          pc, pc.max_connections ? live.connection_counts(lc.name) : nullptr,
          pc.connection_rate ? live.rate_limiter(lc.name, kConnectionRate, *pc.connection_rate) : nullptr);
    }
    if (!lc.trusted_proxies.empty()) {
      auto trusted = std::make_shared<CidrSet>();
      std::string err;
      for (const auto& c : lc.trusted_proxies) trusted->add(c, err);
      trusted->build();
      listener.trusted_proxies = std::move(trusted);
    }
    listener.admission_checks = listener.access || listener.rate_limiter || listener.per_client || lc.auth;
    listener.request_rules = !lc.request_headers.empty();
    listener.response_rules = !lc.response_headers.empty();
    listener.tls = listener_tls[rt->listeners.size()];
    std::vector<CompiledRoute> routes;
    for (const auto& route : lc.routes) {
      CompiledRoute& r = routes.emplace_back();
      r.config = &route;
      r.index = static_cast<uint32_t>(routes.size() - 1);
      if (route.action == conf::Route::Action::pool) r.pool = pool_index(route.pool);
      // conf/ compiled both patterns once already: these cannot fail.
      if (route.path_regex) r.path_regex = std::make_unique<RE2>(*route.path_regex);
      if (route.rewrite && !route.rewrite->prefix) r.rewrite_regex = std::make_unique<RE2>(route.rewrite->regex);
      r.live = live.route(lc.name, route.name);
      r.access = compile_access(route.access);
      if (route.rate_limit) r.rate_limiter = live.rate_limiter(lc.name, route.name, *route.rate_limit);
      r.admission_checks = r.access || r.rate_limiter || route.auth;
      r.request_rules = !route.request_headers.empty();
      r.response_rules = !route.response_headers.empty();
    }
    listener.routes = RouteTable(std::move(routes));
    rt->listeners.push_back(std::move(listener));
  }
  rt->pools.reserve(config->pools.size());
  for (const auto& pc : config->pools) {
    PoolRuntime pool;
    pool.config = &pc;
    pool.tls = pool_tls[rt->pools.size()];
    pool.live = live.pool(pc.name);
    for (const auto& sc : pc.servers) {
      ServerRuntime server{&sc, live.server(pc.name, sc.address.text), {}};
      if (pc.sticky) server.sticky_id = sticky_server_id(pc.name, sc.address.text);
      // Operator state and weight come from the file on every (re)load;
      // admin API overrides last until the next reload (SPEC section 6).
      server.live->admin_state.store(sc.state, std::memory_order_relaxed);
      server.live->weight.store(sc.weight, std::memory_order_relaxed);
      bool checked = pc.health_check.has_value();
      if (server.live->health_checked.exchange(checked) != checked && checked)
        server.live->health.store(HealthStatus::unchecked);
      uint32_t index = static_cast<uint32_t>(pool.servers.size());
      algo::Member member{sc.address.text, sc.weight};
      if (sc.backup) {
        pool.backup_members.push_back(member);
        pool.backup_servers.push_back(index);
      } else {
        pool.primary_members.push_back(member);
        pool.primary_servers.push_back(index);
      }
      pool.servers.push_back(std::move(server));
    }
    build_pool_policies(pool);
    rt->pools.push_back(std::move(pool));
  }

  // Only once the runtime is whole, so a rejected reload does not log
  // warnings about a configuration that never served.
  for (const auto& listener : rt->listeners) {
    if (!listener.tls) continue;
    for (const auto& w : listener.tls->warnings())
      log_warn("tls: certificate problem", {{"listener", listener.config->name}, {"reason", w}});
  }
  return rt;
}

}  // namespace lb
