// lb/exchange/routing.h — request → pool: the listener's routes (host exact or "*."
// wildcard with the port ignored and case-insensitive, path_prefix, exact
// header matches; first match wins) then the listener's default pool; and the
// request's hash key for consistent_hash / maglev (SPEC section 3). Pure.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>

#include "lb/http/http_message.h"
#include "lb/core/runtime.h"

namespace lb {

// Index into Runtime::pools, or nullopt (→ 404).
std::optional<uint32_t> route_request(const ListenerRuntime& listener, const http::RequestHead& head);

// True when `host` (may carry ":port") matches `pattern` ("api.example.com" or "*.example.com").
bool host_matches(std::string_view pattern, std::string_view host);

// Hash of the request's hash_key; falls back to the client address when the
// key is absent from the request (no such header or cookie).
uint64_t request_hash(const conf::KeySpec& key, const http::RequestHead& head, const sockaddr* client);

}  // namespace lb
