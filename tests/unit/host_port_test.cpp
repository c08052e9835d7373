// tests/unit/host_port_test.cpp — split_host_port: every Host shape routing,
// redirects and the access log rely on.
#include <doctest/doctest.h>

#include "lb/http/host_port.h"

using lb::http::split_host_port;

TEST_CASE("split_host_port: names, IPv4, bracketed IPv6, with and without a port") {
  struct Case {
    const char* in;
    const char* host;
    const char* port;
  };
  const Case cases[] = {
      {"example.com", "example.com", ""},
      {"example.com:8080", "example.com", "8080"},
      {"example.com:", "example.com", ""},
      {"127.0.0.1:80", "127.0.0.1", "80"},
      {"[::1]", "[::1]", ""},
      {"[::1]:8443", "[::1]", "8443"},
      {"[::1]x", "[::1]", ""},       // junk after the bracket is no port
      {"[::1", "[::1", ""},          // unclosed: all host
      {"", "", ""},
      {"a:b:c", "a:b", "c"},         // unbracketed colons: the last one splits
  };
  for (const Case& c : cases) {
    CAPTURE(c.in);
    auto hp = split_host_port(c.in);
    CHECK(hp.host == c.host);
    CHECK(hp.port == c.port);
  }
}
