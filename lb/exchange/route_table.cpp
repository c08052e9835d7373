// lb/exchange/route_table.cpp — building the route index and matching a request.
#include "lb/exchange/route_table.h"

#include <algorithm>
#include <span>

#include "lb/http/host_port.h"

namespace lb {

std::string_view normalize_host(std::string_view value, char (&buf)[256]) {
  std::string_view host = http::split_host_port(value).host;
  if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  if (host.size() > sizeof buf) return {};
  for (size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
  }
  return {buf, host.size()};
}

void RouteTable::PathIndex::add(const CompiledRoute& r) {
  const conf::Route& c = *r.config;
  if (c.path_exact) {
    exact[*c.path_exact].push_back(r.index);
  } else if (c.path_prefix) {
    prefix[*c.path_prefix].push_back(r.index);
    auto len = static_cast<uint32_t>(c.path_prefix->size());
    if (std::find(prefix_lengths.begin(), prefix_lengths.end(), len) == prefix_lengths.end())
      prefix_lengths.push_back(len);
  } else {
    other.push_back(r.index);
  }
}

RouteTable::RouteTable(std::vector<CompiledRoute> routes) : routes_(std::move(routes)) {
  for (const CompiledRoute& r : routes_) {
    const auto& host = r.config->host;
    if (!host) {
      any_host_.add(r);
      any_host_used_ = true;
    } else if (host->starts_with("*.")) {
      wildcard_hosts_[host->substr(1)].add(r);
    } else {
      exact_hosts_[*host].add(r);
    }
  }
}

// Sorted lists of route indices still to look at, merged lowest-first.
struct RouteTable::Candidates {
  static constexpr size_t kMaxLists = 32;
  std::span<const uint32_t> lists[kMaxLists];
  size_t count = 0;
  bool overflow = false;

  void push(const std::vector<uint32_t>& v) {
    if (v.empty()) return;
    if (count == kMaxLists) {
      overflow = true;
      return;
    }
    lists[count++] = v;
  }
  // The lowest index at the head of any list (and pops it), or false when all are empty.
  bool pop(uint32_t& out) {
    size_t best = kMaxLists;
    for (size_t i = 0; i < count; ++i)
      if (!lists[i].empty() && (best == kMaxLists || lists[i].front() < lists[best].front())) best = i;
    if (best == kMaxLists) return false;
    out = lists[best].front();
    lists[best] = lists[best].subspan(1);
    return true;
  }
};

void RouteTable::collect(const PathIndex& index, std::string_view path, Candidates& out) const {
  if (!index.exact.empty())
    if (auto it = index.exact.find(path); it != index.exact.end()) out.push(it->second);
  for (uint32_t len : index.prefix_lengths) {
    if (len > path.size()) continue;
    if (auto it = index.prefix.find(path.substr(0, len)); it != index.prefix.end()) out.push(it->second);
  }
  out.push(index.other);
}

bool RouteTable::rest_matches(const CompiledRoute& r, std::string_view method, std::string_view path,
                              const http::Headers& headers) const {
  const conf::Route& c = *r.config;
  if (!c.methods.empty() && std::find(c.methods.begin(), c.methods.end(), method) == c.methods.end()) return false;
  for (const auto& [name, value] : c.headers) {
    const http::Header* h = headers.find(name);
    if (!h || h->value != value) return false;
  }
  if (r.path_regex && !RE2::FullMatch(re2::StringPiece(path.data(), path.size()), *r.path_regex)) return false;
  return true;
}

const CompiledRoute* RouteTable::match(std::string_view host, std::string_view method, std::string_view path,
                                       const http::Headers& headers) const {
  if (routes_.empty()) return nullptr;
  Candidates c;
  if (!host.empty()) {
    if (!exact_hosts_.empty())
      if (auto it = exact_hosts_.find(host); it != exact_hosts_.end()) collect(it->second, path, c);
    if (!wildcard_hosts_.empty()) {
      // "*.example.com" matches any name ending in ".example.com" (one label or more before it).
      for (size_t dot = host.find('.'); dot != std::string_view::npos && dot + 1 < host.size();
           dot = host.find('.', dot + 1)) {
        if (dot == 0) continue;
        if (auto it = wildcard_hosts_.find(host.substr(dot)); it != wildcard_hosts_.end()) collect(it->second, path, c);
      }
    }
  }
  if (any_host_used_) collect(any_host_, path, c);
  if (c.overflow) {
    // More lists than the merge holds: check every route in order instead.
    for (const CompiledRoute& r : routes_) {
      const conf::Route& rc = *r.config;
      if (rc.host) {
        std::string_view pattern = *rc.host;
        bool ok = pattern.starts_with("*.") ? host.size() > pattern.size() - 1 && host.ends_with(pattern.substr(1))
                                            : host == pattern;
        if (!ok) continue;
      }
      if (rc.path_exact && path != *rc.path_exact) continue;
      if (rc.path_prefix && !path.starts_with(*rc.path_prefix)) continue;
      if (rest_matches(r, method, path, headers)) return &r;
    }
    return nullptr;
  }
  uint32_t index = 0;
  while (c.pop(index)) {
    const CompiledRoute& r = routes_[index];
    if (rest_matches(r, method, path, headers)) return &r;
  }
  return nullptr;
}

}  // namespace lb
