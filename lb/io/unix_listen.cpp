// lb/io/unix_listen.cpp — UNIX-socket listeners: stale and live files, mode, removal.
#include "lb/io/unix_listen.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

namespace lb {

namespace {

struct Created {
  dev_t dev;
  ino_t ino;
};
// The files this process created, by path.
std::map<std::string, Created>& created() {
  static std::map<std::string, Created> files;
  return files;
}

// Does a process accept connections on the socket file at `address`?
bool someone_listens(const conf::Address& address) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&address.sockaddr), address.sockaddr_len) == 0 ||
              errno == EAGAIN;  // a full backlog is still a listener
  ::close(fd);
  return live;
}

}  // namespace

int bind_unix_listener(const conf::Address& address, std::string& error) {
  const std::string& path = address.host;
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = path + " exists and is not a socket";
      return -1;
    }
    if (created().count(path) == 0) {
      if (someone_listens(address)) {
        error = address.text + " is already in use by another process";
        return -1;
      }
      ::unlink(path.c_str());  // stale: left by a process that is gone
    }
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + strerror(errno);
    return -1;
  }
  // The file gets 0660 from the start: no moment where others could connect.
  mode_t old = ::umask(0117);
  int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&address.sockaddr), address.sockaddr_len);
  ::umask(old);
  if (rc != 0 || ::listen(fd, 4096) != 0) {
    error = "bind " + address.text + ": " + strerror(errno);
    ::close(fd);
    return -1;
  }
  if (::stat(path.c_str(), &st) == 0) created()[path] = {st.st_dev, st.st_ino};
  return fd;
}

bool give_socket_to_group(const std::string& path, const std::string& group, std::string& error) {
  const struct group* gr = ::getgrnam(group.c_str());
  if (!gr) {
    error = "no such group \"" + group + "\"";
    return false;
  }
  // Every runtime build comes here, also after the privilege drop, when a
  // chown is no longer allowed: a file that already has the group is done.
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && st.st_gid == gr->gr_gid) return true;
  if (::chown(path.c_str(), static_cast<uid_t>(-1), gr->gr_gid) != 0) {
    error = "chown unix:" + path + " to group \"" + group + "\": " + strerror(errno);
    return false;
  }
  return true;
}

void remove_unix_socket_file(const std::string& path) {
  auto it = created().find(path);
  if (it == created().end()) return;
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0 && st.st_dev == it->second.dev && st.st_ino == it->second.ino)
    ::unlink(path.c_str());
  created().erase(it);
}

void remove_unix_socket_files() {
  while (!created().empty()) remove_unix_socket_file(created().begin()->first);
}

}  // namespace lb
