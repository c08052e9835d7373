// lb/security/redis_loop_events.h — how a hiredis asynchronous context
// waits on a worker's libuv loop: our own adapter in place of hiredis's
// adapters/libuv.h.
//
// Why not hiredis's adapter: it polls for "writable" after every queued
// command and stops polling after every write, and each change is a
// uv_poll_start, which libuv turns into epoll_ctl calls (two apiece, EEXIST
// then MOD, as it re-adds the descriptor); the write itself waits for the
// next loop iteration's epoll_wait and then for every other event that
// iteration handles first. Here a connected context's queued commands are
// written by a prepare handle: once per loop iteration, just before the loop
// polls, in one write for everything the iteration's callbacks (I/O, timers,
// deferred work) queued. The socket is polled for "writable" only while
// hiredis really waits for it: connecting, or a write the kernel did not
// take whole.
#pragma once

#include <uv.h>

struct redisAsyncContext;

namespace lb {

// REDIS_OK or REDIS_ERR (already attached). The events live until hiredis
// frees the context (its cleanup hook closes the handles).
int attach_redis_to_loop(redisAsyncContext* ac, uv_loop_t* loop);

}  // namespace lb
