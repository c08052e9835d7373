// tests/integration/dns_fixture.h — a DNS server of the test's own on UDP
// loopback (tests/integration/dns_server.py) whose answers the test changes
// while lb runs, for discovery (SPEC 13) and host names in servers.
#pragma once

#include <cstddef>
#include <string>

#include "tests/integration/harness.h"

namespace it {

class DnsServer {
 public:
  // Starts serving `zone` (see dns_server.py for its shape). Throws if the
  // server does not print its port in time.
  explicit DnsServer(const json& zone);
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Replaces the answers (atomically: lb never reads half a zone).
  void set_zone(const json& zone);
  // How many queries for `name` of `type` ("A", "AAAA", "SRV") it got so far.
  std::size_t queries(const std::string& name, const std::string& type) const;

 private:
  TempDir dir_;
  Child child_;
  uint16_t port_ = 0;
};

// {"resolvers": [server], "timeout": timeout}: lb asks only this server.
json dns_settings(const DnsServer& server, const std::string& timeout = "1s");

}  // namespace it
