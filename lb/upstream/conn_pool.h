// lb/upstream/conn_pool.h — per-worker keep-alive pool of idle backend connections,
// keyed by server identity (its ServerLive, which survives reloads).
//
// LIFO per server (the most recently used connection is the warmest), at most
// keepalive.max_idle idle connections per server, and a sweep that closes
// connections idle longer than keepalive.idle_timeout. Worker thread only.
#pragma once

#include <uv.h>

#include <unordered_map>
#include <vector>

namespace lb {

class BackendConn;
struct ServerLive;

class ConnPool {
 public:
  void init(uv_loop_t* loop);
  // An idle connection to `server`, or null.
  BackendConn* take(ServerLive* server);
  // Parks `conn` (or closes it when the server already has max_idle idle ones).
  void give(BackendConn* conn, uint32_t max_idle, uint64_t idle_timeout_ms);
  // Called by an idle connection that is closing (the server closed it):
  // the pool must forget it before its memory is freed.
  void remove(BackendConn* conn);
  void close_all();  // worker stopping: from now on give() closes instead of parking

 private:
  static void on_sweep(uv_timer_t* t);
  void sweep();

  uv_loop_t* loop_ = nullptr;
  uv_timer_t sweep_timer_{};
  bool closed_ = false;
  std::unordered_map<ServerLive*, std::vector<BackendConn*>> idle_;
};

}  // namespace lb
