// lb/http2/session.h — the HTTP/2 codec of one client connection, on
// nghttp2's server session: SETTINGS (max_concurrent_streams,
// initial_window_size, the 4096-byte HPACK table, extended CONNECT), the
// ≥ 1 MiB connection window, streams (lb/http2/stream.h), the connection's
// deadlines (client_idle with no open stream, per-stream exchange deadlines
// and request-body idleness, a zero-window stall past timeouts.send), GOAWAY on reload, stop and max_requests_per_connection,
// and the abuse defences (lb/http2/abuse_guard.h).
//
// Output is pulled from nghttp2 (mem_send), collected and written through
// the Transport in one write while its write queue is empty; the rest waits
// in nghttp2 until on_output_drained. Sending is done at the end of each
// entry point (input, drain, timer) and, for bytes servers produced, once
// per loop iteration (Worker::defer), so concurrent responses share writes.
//
// Ownership: owned by the client connection (lb/http1/connection.h) and
// destroyed with it; owns its streams. Worker thread only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "lb/core/worker.h"
#include "lb/http2/abuse_guard.h"
#include "lb/http2/transport.h"

namespace lb::http2 {

class Stream;

class Session final : public Deferred {
 public:
  Session(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, Transport& transport);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Sends lb's SETTINGS; false when nghttp2 could not be set up.
  bool start();
  // ---- from the connection
  void on_input(const char* data, size_t len);
  void on_output_drained();
  void on_timer();
  void on_stopping();            // worker stop: GOAWAY, in-flight streams finish
  void on_runtime_replaced();    // reload: the same
  void on_connection_closing();  // the socket is closing: every open exchange is told

  // ---- for streams
  Worker& worker() { return worker_; }
  WorkerRuntime& runtime() { return *rt_; }
  uint32_t listener_index() const { return listener_; }
  const ListenerRuntime& listener() const { return rt_->runtime().listeners[listener_]; }
  Transport& transport() { return transport_; }
  nghttp2_session* ng() { return ng_; }
  bool draining() const { return draining_; }
  // Frames were submitted. Sent at the end of the running entry point, or at
  // the worker's next loop iteration (run_deferred): what every stream of the
  // connection produced meanwhile leaves in one write.
  void want_send();
  void run_deferred() override;
  // Reused per response: the header list handed to nghttp2 (which copies it)
  // and the lower-cased names it points into. No allocation per response
  // once they have grown to the largest head seen.
  std::vector<nghttp2_nv>& nv_scratch() { return nv_scratch_; }
  std::string& name_scratch() { return name_scratch_; }
  // A stream's deadline changed to `deadline_ms` (loop time).
  void on_stream_deadline(uint64_t deadline_ms);
  // GOAWAY(error) and close once it has left; open streams end.
  void end_connection(uint32_t error_code);

 private:
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* self);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t flags, void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_data_chunk_recv(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                                size_t len, void* self);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* self);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_invalid_frame_recv(nghttp2_session*, const nghttp2_frame* frame, int lib_error_code, void* self);

  Stream* find(int32_t id);
  bool valid_headers_stream(int32_t id);
  void flush();
  void reap();
  void calm_down(Http2CloseReason reason);
  void protocol_failure(int nghttp2_error);
  void goaway_gracefully();
  void check(std::optional<Http2CloseReason> verdict) {
    if (verdict) calm_down(*verdict);
  }
  void arm_next_deadline();
  uint64_t now_ms() const { return uv_now(worker_.loop()); }

  Worker& worker_;
  std::shared_ptr<WorkerRuntime> rt_;
  uint32_t listener_;
  Transport& transport_;
  nghttp2_session* ng_ = nullptr;
  AbuseGuard guard_;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  std::vector<std::unique_ptr<Stream>> closed_;  // freed by reap()
  std::string out_;  // frames collected by flush() for one write
  std::vector<nghttp2_nv> nv_scratch_;
  std::string name_scratch_;
  int in_nghttp2_ = 0;          // depth of nghttp2 calls running (no sending from inside)
  bool flushing_ = false;
  bool draining_ = false;       // GOAWAY sent: no new streams
  bool calmed_ = false;         // closed for abuse: input is ignored
  bool failed_ = false;
  bool counted_close_ = false;  // a close reason was counted for this connection
  uint64_t streams_opened_ = 0;
  int32_t max_stream_id_ = 0;
  // Ids of the last streams closed: a client may still send their trailers.
  std::array<int32_t, 64> recently_closed_{};
  size_t recently_closed_next_ = 0;
  uint64_t idle_since_ms_ = 0;   // no open stream since; 0 while streams are open
  uint64_t stalled_since_ms_ = 0;  // output waiting on a zero window since; 0: not stalled
  uint64_t next_deadline_ms_ = 0;
};

}  // namespace lb::http2
