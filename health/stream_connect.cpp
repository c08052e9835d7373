// health/stream_connect.cpp — see stream_connect.h.
#include "health/stream_connect.h"

#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lb::health {

namespace {

// The connect callback, delivered through a zero-byte write: the write
// queue calls back from the loop, and with UV_ECANCELED when the handle is
// closed first — exactly what uv_tcp_connect's caller expects.
struct UnixConnect {
  uv_write_t write;
  uv_connect_t* req;
  uv_connect_cb cb;
};

}  // namespace

int stream_connect(uv_connect_t* req, uv_tcp_t* handle, const sockaddr* addr, uv_connect_cb cb) {
  if (addr->sa_family != AF_UNIX) return uv_tcp_connect(req, handle, addr, cb);
  const auto* sun = reinterpret_cast<const sockaddr_un*>(addr);
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + strnlen(sun->sun_path, sizeof sun->sun_path) + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  if (::connect(fd, addr, len) != 0) {
    const int err = errno;
    ::close(fd);
    return uv_translate_sys_error(err);
  }
  if (int rc = uv_tcp_open(handle, fd); rc != 0) {
    ::close(fd);
    return rc;
  }
  req->handle = reinterpret_cast<uv_stream_t*>(handle);
  auto* pending = new UnixConnect{{}, req, cb};
  static char nothing;
  uv_buf_t empty = uv_buf_init(&nothing, 0);
  int rc = uv_write(&pending->write, reinterpret_cast<uv_stream_t*>(handle), &empty, 1, [](uv_write_t* w, int status) {
    auto* p = reinterpret_cast<UnixConnect*>(w);
    uv_connect_cb done = p->cb;
    uv_connect_t* r = p->req;
    delete p;
    done(r, status);
  });
  if (rc != 0) {
    delete pending;
    return rc;  // the descriptor is the handle's now: closed with it
  }
  return 0;
}

}  // namespace lb::health
