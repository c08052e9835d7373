// lb/io/net_util.cpp — socket-address formatting and hashing, and what TCP says about a socket.
#include "lb/io/net_util.h"

#include <arpa/inet.h>
#include <linux/tcp.h>  // tcp_info with tcpi_bytes_acked (glibc's netinet/tcp.h lacks it)

#include <cstddef>

#include "algorithms/hash.h"

namespace lb {

int port_of(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  if (sa->sa_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  return -1;
}

std::string format_ip(const sockaddr* sa) {
  if (sa->sa_family == AF_UNIX) return "unix";  // a UNIX-socket client has no address (SPEC 3)
  char buf[INET6_ADDRSTRLEN] = "-";
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  return buf;
}

std::string format_address(const sockaddr* sa) {
  if (sa->sa_family == AF_INET)
    return format_ip(sa) + ":" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port));
  if (sa->sa_family == AF_INET6)
    return "[" + format_ip(sa) + "]:" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port));
  if (sa->sa_family == AF_UNIX) return "unix";
  return "-";
}

std::string_view ip_bytes(const sockaddr* sa) {
  if (sa->sa_family == AF_INET)
    return {reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr), 4};
  if (sa->sa_family == AF_INET6)
    return {reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr), 16};
  return {};
}

uint64_t hash_client_ip(const sockaddr* sa) {
  std::string_view ip = ip_bytes(sa);
  return algo::hash_client_address(ip.data(), ip.size());
}

uint64_t tcp_bytes_acked(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  // An old kernel fills less of the struct: the counter reads as 0 then.
  if (len < offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked) return 0;
  return info.tcpi_bytes_acked;
}

}  // namespace lb
