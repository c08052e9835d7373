// lb/upstream/sticky.h — cookie stickiness (SPEC 10 "Sticky sessions"): the
// cookie value that names a server, the Set-Cookie lb sends, and finding the
// server a request's cookie names.
//
// The value is the first 64 bits of SHA-256 over the pool's name and the
// server's address, in hex: it does not show the address, and every lb
// process with the same configuration computes the same value, so a client
// keeps its server whichever lb instance (or worker) it reaches.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "conf/config.h"
#include "lb/core/runtime.h"

namespace lb {

// 16 lower-case hex digits.
std::string sticky_server_id(std::string_view pool, std::string_view address);

// "NAME=VALUE; Path=/[; Max-Age=N][; Secure][; HttpOnly][; SameSite=X]".
std::string sticky_set_cookie(const conf::StickyConfig& sticky, std::string_view server_id);

// The index of the server whose id is `value`, if the pool has one.
std::optional<uint32_t> sticky_lookup(const PoolRuntime& pool, std::string_view value);

}  // namespace lb
