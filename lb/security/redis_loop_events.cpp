// lb/security/redis_loop_events.cpp — see redis_loop_events.h.
#include "lb/security/redis_loop_events.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace lb {

namespace {

struct LoopEvents {
  redisAsyncContext* ac = nullptr;  // null once hiredis cleaned up
  uv_poll_t poll{};
  uv_prepare_t flush{};
  int polled = 0;        // events poll watches now
  int wanted = 0;        // events hiredis asked for (UV_READABLE, UV_WRITABLE through poll)
  bool flushing = false; // inside on_flush's redisAsyncHandleWrite
  int open_handles = 2;  // freed when both handles are closed
};

LoopEvents* events_of(void* privdata) { return static_cast<LoopEvents*>(privdata); }

void on_poll(uv_poll_t* handle, int status, int events) {
  auto* e = static_cast<LoopEvents*>(handle->data);
  // An error on the socket: let hiredis read or write it to learn which.
  const int ready = status < 0 ? e->wanted : events;
  if (e->ac && (ready & UV_READABLE)) redisAsyncHandleRead(e->ac);
  if (e->ac && (ready & UV_WRITABLE)) redisAsyncHandleWrite(e->ac);
}

void update_poll(LoopEvents* e) {
  if (e->wanted == e->polled) return;
  e->polled = e->wanted;
  if (e->wanted == 0) uv_poll_stop(&e->poll);
  else uv_poll_start(&e->poll, e->wanted, &on_poll);
}

void on_flush(uv_prepare_t* handle) {
  auto* e = static_cast<LoopEvents*>(handle->data);
  uv_prepare_stop(handle);
  if (!e->ac) return;
  e->flushing = true;
  redisAsyncHandleWrite(e->ac);  // may free the context: cleanup clears e->ac
  e->flushing = false;
}

void add_read(void* privdata) {
  LoopEvents* e = events_of(privdata);
  e->wanted |= UV_READABLE;
  update_poll(e);
}

void del_read(void* privdata) {
  LoopEvents* e = events_of(privdata);
  e->wanted &= ~UV_READABLE;
  update_poll(e);
}

void add_write(void* privdata) {
  LoopEvents* e = events_of(privdata);
  // Connecting (hiredis learns the outcome from "writable"), or the last
  // flush left bytes the kernel did not take: wait for the socket.
  if (!(e->ac->c.flags & REDIS_CONNECTED) || e->flushing) {
    e->wanted |= UV_WRITABLE;
    update_poll(e);
    return;
  }
  if (!(e->wanted & UV_WRITABLE)) uv_prepare_start(&e->flush, &on_flush);
}

void del_write(void* privdata) {
  LoopEvents* e = events_of(privdata);
  uv_prepare_stop(&e->flush);
  e->wanted &= ~UV_WRITABLE;
  update_poll(e);
}

void on_closed(uv_handle_t* handle) {
  auto* e = static_cast<LoopEvents*>(handle->data);
  if (--e->open_handles == 0) delete e;
}

void cleanup(void* privdata) {
  LoopEvents* e = events_of(privdata);
  e->ac = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&e->poll), &on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&e->flush), &on_closed);
}

}  // namespace

int attach_redis_to_loop(redisAsyncContext* ac, uv_loop_t* loop) {
  if (ac->ev.data != nullptr) return REDIS_ERR;
  auto* e = new LoopEvents;
  e->ac = ac;
  if (uv_poll_init(loop, &e->poll, ac->c.fd) != 0) {
    delete e;
    return REDIS_ERR;
  }
  uv_prepare_init(loop, &e->flush);
  e->poll.data = e;
  e->flush.data = e;
  ac->ev.addRead = &add_read;
  ac->ev.delRead = &del_read;
  ac->ev.addWrite = &add_write;
  ac->ev.delWrite = &del_write;
  ac->ev.cleanup = &cleanup;
  ac->ev.data = e;
  return REDIS_OK;
}

}  // namespace lb
