// lb/io/net_util.h — small socket-address helpers shared by the sessions.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace lb {

// Room for an IPv4 or IPv6 peer address: a fifth of sockaddr_storage, which
// matters in objects kept per idle connection.
union PeerAddress {
  sockaddr sa;
  sockaddr_in in4;
  sockaddr_in6 in6;
  const sockaddr* get() const { return &sa; }
};

// "1.2.3.4:5678" or "[::1]:5678"; "-" for an unknown family.
std::string format_address(const sockaddr* sa);
// Just the IP text, without port or brackets (X-Forwarded-For, access log "client").
std::string format_ip(const sockaddr* sa);
// The port of an IPv4/IPv6 address; -1 for other families.
int port_of(const sockaddr* sa);
// The raw IP bytes (4 or 16) as a view into `sa`; empty for other families.
std::string_view ip_bytes(const sockaddr* sa);
// Stable hash of the whole client address (IP only), for ip_hash and hash_key client_ip.
uint64_t hash_client_ip(const sockaddr* sa);
// How many of the bytes written to TCP socket `fd` its peer has acknowledged
// so far (TCP_INFO tcpi_bytes_acked: only ever grows), or 0 when the socket
// cannot say (not TCP). One getsockopt: for slow paths (timers) only.
uint64_t tcp_bytes_acked(int fd);

}  // namespace lb
