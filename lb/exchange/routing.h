// lb/exchange/routing.h — the request's hash key for consistent_hash /
// maglev (SPEC section 3). Pure. Route matching is lb/exchange/route_table.h.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>

#include "lb/http/http_message.h"
#include "lb/core/runtime.h"

namespace lb {

// The value of cookie `name` in the request's Cookie fields, if any.
std::optional<std::string_view> cookie_value(const http::Headers& headers, std::string_view name);

// Hash of the request's hash_key; falls back to the client address when the
// key is absent from the request (no such header or cookie).
uint64_t request_hash(const conf::KeySpec& key, const http::RequestHead& head, const sockaddr* client);

}  // namespace lb
