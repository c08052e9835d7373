// lb/l4/proxy_protocol.h — HAProxy PROXY protocol v1 (text) and v2 (binary):
// encoding the header lb sends to backends, and parsing the one clients
// (other proxies) send to lb when `proxy_protocol.accept` is on.
// Pure functions; no I/O.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string>

namespace lb::proxy_protocol {

// Header announcing a connection from `src` to `dst` (both AF_INET or both AF_INET6;
// mixed families are sent as "UNKNOWN" / LOCAL).
std::string encode_v1(const sockaddr* src, const sockaddr* dst);
std::string encode_v2(const sockaddr* src, const sockaddr* dst);

struct ParseResult {
  enum class Status { incomplete, invalid, done } status = Status::incomplete;
  size_t consumed = 0;           // header length when done
  bool has_addresses = false;    // false for UNKNOWN / LOCAL: keep the socket's addresses
  sockaddr_storage src{};
  sockaddr_storage dst{};
};

// Parses a v1 or v2 header at the start of `data`.
ParseResult parse(const char* data, size_t len);

}  // namespace lb::proxy_protocol
