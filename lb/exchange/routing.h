// lb/exchange/routing.h — the request's hash key for consistent_hash /
// maglev (SPEC section 3). Pure. Route matching is lb/exchange/route_table.h.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>

#include "lb/http/http_message.h"
#include "lb/core/runtime.h"

namespace lb {

// Hash of the request's hash_key; falls back to the client address when the
// key is absent from the request (no such header or cookie).
uint64_t request_hash(const conf::KeySpec& key, const http::RequestHead& head, const sockaddr* client);

}  // namespace lb
