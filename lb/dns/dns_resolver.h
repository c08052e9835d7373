// lb/dns/dns_resolver.h — asynchronous DNS on a libuv loop, with c-ares.
//
// Why c-ares: it never blocks (getaddrinfo does, for as long as the DNS
// server takes), it can be pointed at specific servers (SPEC 13
// "dns.resolvers") with a timeout of our choosing, and it reports TTLs,
// which discovery uses to re-resolve sooner. It reads /etc/resolv.conf and
// /etc/hosts itself when no servers are given.
//
// One DnsResolver is one c-ares channel driven by the loop it was made on:
// a uv_poll_t per socket c-ares opens (its sock_state_cb tells us which) and
// one uv_timer_t for c-ares' retransmissions and our own per-lookup deadline
// (dns.timeout covers the whole lookup, whatever c-ares' retry schedule).
//
// A lookup's callback runs at most once, on the loop. The DnsLookup handle a
// lookup returns owns the callback: destroying it cancels (the callback
// never runs), so an owner that goes away never gets called back.
//
// Threading: the loop's thread only.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "conf/config.h"

namespace lb::dns {

// The label of lb_dns_resolutions_total{result}.
enum class Result { ok, empty, nxdomain, servfail, timeout, error };
const char* to_string(Result r);

struct AddressRecord {
  sockaddr_storage addr{};  // port 0
  socklen_t len = 0;
  uint32_t ttl = 0;         // seconds
};

struct SrvRecord {
  std::string target;
  uint16_t port = 0, priority = 0, weight = 0;
};

struct Answer {
  Result result = Result::error;
  std::string error;                     // empty when ok
  std::vector<AddressRecord> addresses;  // address lookups
  std::vector<SrvRecord> srv;            // SRV lookups
  uint32_t ttl = 0;                      // smallest TTL of the answer (0: unknown)
};

using Callback = std::function<void(Answer)>;

class DnsLookup;

class DnsResolver {
 public:
  // `settings.resolvers` empty: the system's /etc/resolv.conf. Construction
  // never fails: a bad channel makes every lookup answer `error` at once.
  DnsResolver(uv_loop_t* loop, const conf::DnsConfig& settings);
  ~DnsResolver();  // cancels every lookup; its callbacks never run
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // A host name's addresses as getaddrinfo would give them (/etc/hosts,
  // then DNS; IPv4 and IPv6).
  DnsLookup lookup_host(const std::string& name, Callback done);
  // One record type: family AF_INET (A) or AF_INET6 (AAAA); search domains apply.
  DnsLookup lookup_records(const std::string& name, int family, Callback done);
  DnsLookup lookup_srv(const std::string& name, Callback done);

  const conf::DnsConfig& settings() const { return settings_; }

 private:
  friend class DnsLookup;
  struct Pending;
  struct Poll;
  static void on_sock_state(void* data, int fd, int readable, int writable);
  static void on_poll(uv_poll_t* handle, int status, int events);
  static void on_timer(uv_timer_t* timer);
  std::shared_ptr<Pending> start(DnsLookup& lookup, Callback done);
  DnsLookup search(const std::string& name, int type, Callback done);
  void finish(const std::shared_ptr<Pending>& p, Answer answer);
  void deliver();
  void arm_timer();

  uv_loop_t* loop_;
  conf::DnsConfig settings_;
  void* channel_ = nullptr;  // ares_channel
  std::string init_error_;
  uv_timer_t* timer_;        // heap: closed asynchronously
  std::unordered_map<int, Poll*> polls_;
  std::vector<std::shared_ptr<Pending>> pending_;
  bool destroying_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed
};

// Owns a lookup's callback; destroying (or reset()) cancels it.
class DnsLookup {
 public:
  DnsLookup() = default;
  DnsLookup(DnsLookup&&) noexcept = default;
  DnsLookup& operator=(DnsLookup&& other) noexcept {
    reset();
    pending_ = std::move(other.pending_);
    return *this;
  }
  ~DnsLookup() { reset(); }
  void reset();
  bool active() const;

 private:
  friend class DnsResolver;
  explicit DnsLookup(std::shared_ptr<DnsResolver::Pending> p) : pending_(std::move(p)) {}
  std::shared_ptr<DnsResolver::Pending> pending_;
};

}  // namespace lb::dns
