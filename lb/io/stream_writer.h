// lb/io/stream_writer.h — scatter writes to a libuv stream without per-write
// allocation: try a synchronous uv_try_write first (the common case on
// loopback and fast clients); only the bytes the kernel did not take are
// copied into pooled blocks and queued with uv_write.
//
// A pending write reports completion to its WriteSink (the connection that
// issued it) so the connection can apply backpressure and close after flush.
// Runs on the owning worker's thread only.
#pragma once

#include <uv.h>

#include <cstddef>

#include "lb/io/buffer_pool.h"

namespace lb {

class WriteSink {
 public:
  virtual ~WriteSink() = default;
  virtual void on_write_done(uv_stream_t* stream, int status) = 0;
};

// Writes `bufs` (in order) to `stream`. Returns a libuv error code (< 0) when
// the stream is unusable; 0 otherwise. `pending` counts the queued uv_write
// requests and is decremented before `sink->on_write_done` runs.
int write_bufs(BufferPool& pool, uv_stream_t* stream, const uv_buf_t* bufs, size_t count, WriteSink* sink,
               unsigned* pending);

}  // namespace lb
