// lb/dns/host_lookups.h — the host names a configuration's servers name
// (SPEC 13: "Host names in static servers are resolved through the same
// dns.resolvers"), all looked up at once through c-ares.
//
// HostLookups runs on a loop that keeps serving meanwhile: a reload waits
// for DNS while the admin API and the health checks carry on. Destroying it
// cancels: the callback never runs. resolve_hosts_blocking() is the same on
// a private loop, for the start and lb --check, which have nothing else to do.
//
// Threading: the loop's thread.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/resolve.h"
#include "lb/dns/dns_resolver.h"

namespace lb::dns {

class HostLookups {
 public:
  using Done = std::function<void(conf::HostAnswers)>;

  // `hosts` must not be empty. `done` runs on `loop` once every name is answered (an address, or the
  // error text, e.g. on dns.timeout); it may destroy this object.
  HostLookups(uv_loop_t* loop, const conf::DnsConfig& settings, std::vector<std::string> hosts, Done done);
  HostLookups(const HostLookups&) = delete;
  HostLookups& operator=(const HostLookups&) = delete;

 private:
  void answered(const std::string& host, const Answer& answer);

  DnsResolver resolver_;
  std::vector<DnsLookup> lookups_;
  conf::HostAnswers answers_;
  std::size_t outstanding_ = 0;
  Done done_;
};

conf::HostAnswers resolve_hosts_blocking(const std::vector<std::string>& hosts, const conf::DnsConfig& settings);

}  // namespace lb::dns
