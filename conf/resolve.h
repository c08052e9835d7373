// conf/resolve.h — resolving the host names a configuration names, all at
// once: many blocking getaddrinfo() calls on short-lived threads, so N slow
// or unresolvable names cost about one lookup's time instead of N. The
// caller decides where to wait: lb --check and the start wait right here;
// a reload runs this on a helper thread (lb/io/async_resolve.h) so the main
// loop keeps serving the admin API and health checks.
#pragma once

#include <sys/socket.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace lb::conf {

// One host name's answer: an address (port 0) or the error text.
struct HostAnswer {
  sockaddr_storage addr{};
  socklen_t len = 0;  // 0 when `error` is set
  std::string error;  // e.g. "cannot resolve host \"x\": Name or service not known"
};
using HostAnswers = std::unordered_map<std::string, HostAnswer>;

// At most this many lookups run at the same time.
constexpr std::size_t kMaxConcurrentLookups = 64;

// Resolves every name (duplicates are looked up once); blocks until all are
// answered. Never throws.
HostAnswers resolve_hosts(const std::vector<std::string>& hosts);

}  // namespace lb::conf
