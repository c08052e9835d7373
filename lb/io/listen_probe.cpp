// lb/io/listen_probe.cpp — the bind probe and the /proc comparison behind
// foreign_listener() (see listen_probe.h).
#include "lb/io/listen_probe.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "conf/values.h"

namespace lb {

namespace {

// Binds (never listens) a socket without SO_REUSEPORT; the errno of bind, 0 on success.
int probe_bind(const conf::Address& address) {
  int fd = ::socket(address.sockaddr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  // SO_REUSEADDR as the real sockets have it: connections in TIME_WAIT do not count.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (address.sockaddr.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&address.sockaddr), address.sockaddr_len) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

// Inodes of every socket this process has open.
std::set<unsigned long> own_socket_inodes() {
  std::set<unsigned long> out;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return out;
  while (dirent* e = ::readdir(dir)) {
    char link[64] = {};
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
    unsigned long inode = 0;
    if (n > 0 && std::sscanf(link, "socket:[%lu]", &inode) == 1) out.insert(inode);
  }
  ::closedir(dir);
  return out;
}

// "0100007F:1F90" (tcp) or 32 hex digits + ":PORT" (tcp6), as the kernel
// prints them: each 32-bit word in host byte order.
bool parse_proc_address(const std::string& field, bool v6, conf::Address& out) {
  const std::size_t colon = field.find(':');
  if (colon == std::string::npos) return false;
  const std::string ip = field.substr(0, colon);
  unsigned port = 0;
  if (std::sscanf(field.c_str() + colon + 1, "%x", &port) != 1) return false;
  out.port = static_cast<uint16_t>(port);
  out.sockaddr = {};
  if (!v6) {
    if (ip.size() != 8) return false;
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.sockaddr);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(out.port);
    sin->sin_addr.s_addr = static_cast<uint32_t>(std::stoul(ip, nullptr, 16));
    out.sockaddr_len = sizeof(sockaddr_in);
    return true;
  }
  if (ip.size() != 32) return false;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.sockaddr);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(out.port);
  for (int w = 0; w < 4; ++w) {
    const uint32_t word = static_cast<uint32_t>(std::stoul(ip.substr(w * 8, 8), nullptr, 16));
    std::memcpy(&sin6->sin6_addr.s6_addr[w * 4], &word, 4);
  }
  out.sockaddr_len = sizeof(sockaddr_in6);
  return true;
}

// Listening sockets (state 0A) in /proc/net/tcp or tcp6 that overlap
// `address` and are not in `own`. -1: the file could not be read.
int foreign_in(const char* file, bool v6, const conf::Address& address, const std::set<unsigned long>& own) {
  std::ifstream in(file);
  if (!in) return -1;
  std::string line;
  std::getline(in, line);  // header
  int found = 0;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, local, remote, state, queues, timer, retrans, uid, timeout;
    unsigned long inode = 0;
    if (!(f >> slot >> local >> remote >> state >> queues >> timer >> retrans >> uid >> timeout >> inode)) continue;
    if (state != "0A") continue;
    conf::Address other;
    try {
      if (!parse_proc_address(local, v6, other)) continue;
    } catch (...) {
      continue;
    }
    if (other.port != address.port || !conf::detail::listen_conflict(address, other)) continue;
    if (!own.count(inode)) ++found;
  }
  return found;
}

}  // namespace

std::optional<std::string> foreign_listener(const conf::Address& address) {
  if (probe_bind(address) != EADDRINUSE) return std::nullopt;
  const std::set<unsigned long> own = own_socket_inodes();
  const int v4 = foreign_in("/proc/net/tcp", false, address, own);
  const int v6 = foreign_in("/proc/net/tcp6", true, address, own);
  if (v4 <= 0 && v6 <= 0) return std::nullopt;  // only lb's own sockets (or cannot tell)
  return address.text + " is already in use by another process (lb shares a port only among its own workers)";
}

}  // namespace lb
