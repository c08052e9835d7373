// lb/core/sd_notify.cpp — sd_notify datagrams to $NOTIFY_SOCKET (see sd_notify.h).
#include "lb/core/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "lb/io/log.h"

namespace lb {

SystemdNotifier::SystemdNotifier() {
  const char* env = getenv("NOTIFY_SOCKET");
  if (!env || (env[0] != '/' && env[0] != '@')) return;
  path_ = env;
  if (path_.size() >= sizeof(sockaddr_un::sun_path)) return;
  if (path_[0] == '@') path_[0] = '\0';  // abstract namespace
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

SystemdNotifier::~SystemdNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

void SystemdNotifier::reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t usec = static_cast<uint64_t>(ts.tv_sec) * 1'000'000ULL + static_cast<uint64_t>(ts.tv_nsec) / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void SystemdNotifier::send(const std::string& message) {
  if (fd_ < 0) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path_.data(), path_.size());
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  if (::sendto(fd_, message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&addr), len) < 0)
    log_debug("sd_notify: message not sent", {{"message", message}, {"reason", strerror(errno)}});
}

}  // namespace lb
