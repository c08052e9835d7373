// lb/io/net_util.cpp — socket-address formatting and hashing.
#include "lb/io/net_util.h"

#include <arpa/inet.h>

#include "algorithms/hash.h"

namespace lb {

int port_of(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  if (sa->sa_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  return -1;
}

std::string format_ip(const sockaddr* sa) {
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

}  // namespace lb
