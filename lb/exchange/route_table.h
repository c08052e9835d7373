// lb/exchange/route_table.h — a listener's routes compiled once per
// configuration (SPEC 10): first match wins, but finding it does not compare
// every route. Routes are bucketed by host (exact names in a hash map,
// "*.suffix" wildcards in a second map probed once per label of the
// request's host, host-less routes in their own bucket); inside a bucket,
// path_exact routes sit in a hash map, path_prefix routes in one hash map
// probed once per distinct prefix length, and regex / path-less routes in a
// plain list. Each probe yields a list of route indices in ascending order;
// the lists are merged lowest-index-first and each candidate is checked for
// the rest of its match (methods, headers, regex) until one passes.
//
// Ownership: built by the main thread with the Runtime, read-only after;
// shared by all workers. Threading: match() is const and lock-free.
#pragma once

#include <re2/re2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "lb/core/live_state.h"
#include "lb/http/http_message.h"
#include "lb/security/cidr_set.h"

namespace lb {

class RateLimiter;

// One route ready for the data path.
struct CompiledRoute {
  const conf::Route* config = nullptr;
  uint32_t index = 0;                    // position in the listener's list (first match wins)
  uint32_t pool = 0;                     // index into Runtime::pools (action pool only)
  std::unique_ptr<RE2> path_regex;       // whole-path match
  std::unique_ptr<RE2> rewrite_regex;
  std::shared_ptr<RouteLive> live;       // counters kept across reloads by (listener, route name)
  std::shared_ptr<const AccessList> access;  // set when the route has "access" ranges
  std::shared_ptr<RateLimiter> rate_limiter; // set when the route has "rate_limit"; kept across reloads
  bool admission_checks = false;             // access, auth or rate_limit (see ListenerRuntime)
  bool request_rules = false, response_rules = false;  // header rules (see ListenerRuntime)
};

// The request's host as routes compare it: lower-cased, without port and
// without a trailing dot, in a caller-provided buffer. Empty when the host is
// longer than the buffer (no host route can match a name that long).
std::string_view normalize_host(std::string_view host, char (&buf)[256]);

class RouteTable {
 public:
  RouteTable() = default;
  explicit RouteTable(std::vector<CompiledRoute> routes);
  RouteTable(RouteTable&&) = default;
  RouteTable& operator=(RouteTable&&) = default;

  // The first route that matches, or null. A request that gathers more
  // candidate lists than the merge keeps on its stack (pathological
  // configurations only) falls back to checking every route in order. `host` as normalize_host gives
  // it; `path` normalized (lb/http/path_normalize.h).
  const CompiledRoute* match(std::string_view host, std::string_view method, std::string_view path,
                             const http::Headers& headers) const;

  bool empty() const { return routes_.empty(); }
  // Some route has a host condition (else the host need not be normalized).
  bool matches_hosts() const { return !exact_hosts_.empty() || !wildcard_hosts_.empty(); }
  const std::vector<CompiledRoute>& routes() const { return routes_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using IndexMap = std::unordered_map<std::string, std::vector<uint32_t>, StringHash, std::equal_to<>>;

  // The routes of one host bucket, by how they match the path.
  struct PathIndex {
    IndexMap exact;
    IndexMap prefix;
    std::vector<uint32_t> prefix_lengths;  // distinct lengths present in `prefix`
    std::vector<uint32_t> other;           // path_regex or no path condition
    void add(const CompiledRoute& r);
  };
  struct Candidates;

  void collect(const PathIndex& index, std::string_view path, Candidates& out) const;
  bool rest_matches(const CompiledRoute& r, std::string_view method, std::string_view path,
                    const http::Headers& headers) const;

  std::vector<CompiledRoute> routes_;
  std::unordered_map<std::string, PathIndex, StringHash, std::equal_to<>> exact_hosts_;
  std::unordered_map<std::string, PathIndex, StringHash, std::equal_to<>> wildcard_hosts_;  // key ".example.com"
  PathIndex any_host_;
  bool any_host_used_ = false;  // some route has no host condition
};

}  // namespace lb
