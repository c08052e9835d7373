// health/stream_connect.h — connecting a uv_tcp_t to a server that is either
// an IP endpoint or a UNIX socket ("unix:/run/app.sock", SPEC 3).
//
// libuv's uv_tcp_connect refuses AF_UNIX, and a uv_pipe_t would make every
// user of a server connection handle two stream types. A UNIX stream
// socket's connect() finishes at once (or fails: ENOENT, ECONNREFUSED,
// EAGAIN when the server's backlog is full), so for AF_UNIX this opens the
// socket itself, connects, hands the descriptor to the uv_tcp_t
// (uv_tcp_open: libuv treats it as any stream; TCP-only options such as
// TCP_NODELAY then fail harmlessly) and reports the outcome through `cb`
// from the loop, as uv_tcp_connect would (UV_ECANCELED if the handle is
// closed first).
//
// Lives in health/ because the health probes use it and nothing in health/
// uses lb/; the data path (lb/upstream, lb/l4) uses it too.
#pragma once

#include <sys/socket.h>
#include <uv.h>

namespace lb::health {

// As uv_tcp_connect: 0 and `cb` later, or a libuv error now (no callback).
int stream_connect(uv_connect_t* req, uv_tcp_t* handle, const sockaddr* addr, uv_connect_cb cb);

}  // namespace lb::health
