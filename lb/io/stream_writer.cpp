// lb/io/stream_writer.cpp — try_write, then pooled-copy uv_write for the remainder.
#include "lb/io/stream_writer.h"

#include <cstring>

namespace lb {

namespace {

struct alignas(16) PendingWrite {
  uv_write_t req;
  BufferPool* pool;
  WriteSink* sink;
  unsigned* pending;
};

constexpr size_t kRoom = BufferPool::kBufferSize - sizeof(PendingWrite);

void on_written(uv_write_t* req, int status) {
  auto* w = static_cast<PendingWrite*>(req->data);
  WriteSink* sink = w->sink;
  unsigned* pending = w->pending;
  auto* stream = req->handle;
  w->pool->put(reinterpret_cast<char*>(w));
  if (pending) --*pending;
  if (sink) sink->on_write_done(stream, status);
}

}  // namespace

int write_bufs(BufferPool& pool, uv_stream_t* stream, const uv_buf_t* bufs, size_t count, WriteSink* sink,
               unsigned* pending) {
  size_t skip = 0;  // bytes already written synchronously
  // Only try a synchronous write when nothing is queued: bytes must stay in order.
  if (uv_stream_get_write_queue_size(stream) == 0 && (!pending || *pending == 0)) {
    int n = uv_try_write(stream, bufs, static_cast<unsigned>(count));
    if (n > 0) skip = static_cast<size_t>(n);
    else if (n != UV_EAGAIN && n != UV_ENOSYS) return n;
  }
  size_t i = 0;
  while (i < count && skip >= bufs[i].len) skip -= bufs[i++].len;
  while (i < count) {
    char* block = pool.get();
    auto* w = reinterpret_cast<PendingWrite*>(block);
    char* data = block + sizeof(PendingWrite);
    size_t used = 0;
    while (i < count && used < kRoom) {
      size_t take = bufs[i].len - skip;
      if (take > kRoom - used) take = kRoom - used;
      memcpy(data + used, bufs[i].base + skip, take);
      used += take;
      skip += take;
      if (skip == bufs[i].len) {
        skip = 0;
        ++i;
      }
    }
    w->pool = &pool;
    w->sink = sink;
    w->pending = pending;
    w->req.data = w;
    uv_buf_t b = uv_buf_init(data, static_cast<unsigned>(used));
    int rc = uv_write(&w->req, stream, &b, 1, &on_written);
    if (rc != 0) {
      pool.put(block);
      return rc;
    }
    if (pending) ++*pending;
  }
  return 0;
}

}  // namespace lb
