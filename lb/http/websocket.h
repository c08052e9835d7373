// lb/http/websocket.h — the one piece of RFC 6455 a proxy must check: that a
// server's 101 answers the client's handshake (Sec-WebSocket-Accept is the
// base64 SHA-1 of the client's Sec-WebSocket-Key and the RFC's GUID). A 101
// that does not is refused with 502 instead of becoming an unchecked tunnel.
#pragma once

#include <string>
#include <string_view>

namespace lb {

// The Sec-WebSocket-Accept value a server must send for `key` (RFC 6455 4.2.2).
std::string websocket_accept(std::string_view key);

// A fresh Sec-WebSocket-Key (16 random bytes, base64) for a handshake lb
// makes on a client's behalf (RFC 8441 extended CONNECT → RFC 6455).
// Empty if the random generator fails.
std::string websocket_new_key();

// True when `accept` (surrounding whitespace ignored) answers `key`.
bool websocket_accept_matches(std::string_view key, std::string_view accept);

}  // namespace lb
