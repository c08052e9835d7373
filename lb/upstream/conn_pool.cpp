// lb/upstream/conn_pool.cpp — idle backend connections: take, give, sweep.
#include "lb/upstream/conn_pool.h"

#include "lb/upstream/backend_conn.h"

namespace lb {

void ConnPool::init(uv_loop_t* loop) {
  loop_ = loop;
  uv_timer_init(loop, &sweep_timer_);
  sweep_timer_.data = this;
  uv_timer_start(&sweep_timer_, &ConnPool::on_sweep, 1000, 1000);
  uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_timer_));  // never keeps the loop alive on its own
}

BackendConn* ConnPool::take(ServerLive* server) {
  auto it = idle_.find(server);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  const uint64_t now_ms = uv_now(loop_);
  while (!list.empty()) {
    BackendConn* c = list.back();
    list.pop_back();
    c->pool = nullptr;
    if (c->still_idle(now_ms)) return c;  // else it closed itself: try the next
  }
  return nullptr;
}

void ConnPool::remove(BackendConn* conn) {
  auto it = idle_.find(conn->server());
  if (it != idle_.end()) std::erase(it->second, conn);
}

void ConnPool::give(BackendConn* conn, uint32_t max_idle, uint64_t idle_timeout_ms) {
  if (closed_) {
    conn->close();  // an idle connection would keep a stopping worker's loop alive
    return;
  }
  auto& list = idle_[conn->server()];
  if (list.size() >= max_idle) {
    conn->close();
    return;
  }
  conn->idle_since_ms = uv_now(loop_);
  conn->idle_timeout_ms = idle_timeout_ms;
  conn->go_idle();
  conn->pool = this;
  list.push_back(conn);
}

void ConnPool::on_sweep(uv_timer_t* t) { static_cast<ConnPool*>(t->data)->sweep(); }

void ConnPool::sweep() {
  uint64_t now = uv_now(loop_);
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& list = it->second;
    // Idle connections the server closed have already removed themselves.
    std::erase_if(list, [now](BackendConn* c) {
      if (now - c->idle_since_ms < c->idle_timeout_ms) return false;
      c->pool = nullptr;
      c->close();
      return true;
    });
    if (list.empty()) it = idle_.erase(it);
    else ++it;
  }
}

void ConnPool::close_all() {
  closed_ = true;
  auto idle = std::move(idle_);
  idle_.clear();
  for (auto& [server, list] : idle)
    for (BackendConn* c : list) {
      c->pool = nullptr;
      c->close();
    }
  if (loop_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&sweep_timer_)))
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_timer_), nullptr);
}

}  // namespace lb
