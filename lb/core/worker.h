// lb/core/worker.h — one data-path thread: its own libuv loop, its own
// SO_REUSEPORT listening sockets, its own buffers and per-worker balancer
// state (the balancer tables and rotations are shared through the Runtime).
//
// Threading contract: every method except publish(), request_stop() and
// join() runs on the worker's own thread. The main thread hands over new
// runtimes and the stop request through a mailbox + uv_async_send; the worker
// applies them on its loop, so nothing on the request path takes a lock.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "lb/io/acceptor.h"
#include "lb/io/buffer_pool.h"
#include "lb/upstream/conn_pool.h"
#include "lb/http1/request_parser_pool.h"
#include "lb/io/log.h"
#include "lb/core/runtime.h"
#include "lb/security/redis_client.h"
#include "lb/upstream/pool_queues.h"
#include "lb/upstream/selection.h"

namespace lb {

class Worker;

// A worker's view of one Runtime: the runtime plus this worker's handles on
// the pools' shared balancer policies.
// Sessions hold a shared_ptr to the view they started with.
class WorkerRuntime {
 public:
  WorkerRuntime(std::shared_ptr<const Runtime> runtime, uint32_t worker_index);
  const Runtime& runtime() const { return *runtime_; }
  PoolSelector& selector(uint32_t pool) { return selectors_[pool]; }

 private:
  std::shared_ptr<const Runtime> runtime_;
  std::vector<PoolSelector> selectors_;
};

// Base of every client connection a worker serves (TCP session, HTTP connection).
class Session {
 public:
  virtual ~Session() = default;
  // The worker is stopping: finish what is in flight, take nothing new.
  virtual void on_worker_stopping() = 0;
  // A reload published a new runtime (this session keeps the one it started
  // with). HTTP/2 connections send GOAWAY so clients move to a new one.
  virtual void on_runtime_replaced() {}

 private:
  friend class Worker;
  Session* prev_ = nullptr;
  Session* next_ = nullptr;
};

// Work an object wants done once, at the start of the worker's next loop
// iteration, off every call stack of the current one (e.g. an HTTP/2 session
// batching the frames of all the responses that progressed in this
// iteration into one write). The object cancels in its destructor.
class Deferred {
 public:
  virtual void run_deferred() = 0;

 protected:
  ~Deferred() = default;

 private:
  friend class Worker;
  bool deferred_queued_ = false;
};

class Worker {
 public:
  explicit Worker(uint32_t index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Main thread. `peers` (every worker of the process, this one included,
  // by index) is set before any worker starts and not changed while they run.
  void set_peers(const std::vector<std::unique_ptr<Worker>>* peers) { peers_ = peers; }
  void start(std::shared_ptr<const Runtime> runtime);
  void publish(std::shared_ptr<const Runtime> runtime);
  void request_stop();
  void join();
  bool finished() const { return finished_.load(std::memory_order_acquire); }

  // Worker thread.
  uint32_t index() const { return index_; }
  uv_loop_t* loop() { return &loop_; }
  BufferPool& buffers() { return buffers_; }
  AccessLogBuffer& access_log() { return access_log_; }
  ConnPool& conn_pool() { return conn_pool_; }
  PoolQueues& queues() { return queues_; }
  // Worker `i` of the process (pool queues hand freed slots across), or null.
  Worker* peer(size_t i) const { return peers_ && i < peers_->size() ? (*peers_)[i].get() : nullptr; }
  // Any thread: another worker freed a slot for one of this worker's
  // waiting requests (the pool's flag is raised first); the queues are
  // served on this worker's loop. Takes the mailbox lock only to send the
  // wake-up, and only when none is pending already.
  void kick_queues();
  RequestParserPool& request_parsers() { return request_parsers_; }
  // Transient per-worker buffers: serialized heads are written (or copied by
  // write_bufs) before control returns to the loop, so one buffer per worker
  // serves every connection and no connection holds one while idle.
  std::string& scratch() { return scratch_; }
  std::string& response_head() { return response_head_; }
  bool stopping() const { return stopping_; }
  uint64_t now_ns() const { return uv_hrtime(); }
  // Deferred work (worker thread): queued once until it runs; cancel() before
  // the object goes away.
  void defer(Deferred& d);
  void cancel(Deferred& d);
  void add_session(Session* s);
  void remove_session(Session* s);  // may finish the stop
  // This worker's connection to the configuration's "redis" (SPEC 17), or
  // null when none is configured.
  RedisClient* redis() { return redis_.get(); }

 private:
  // One listening socket; freed at once when dropped (its Acceptor frees itself).
  struct ListenHandle {
    Acceptor* acceptor = nullptr;  // owns the socket's fd
    uint64_t socket_id = 0;
    uint32_t listener = 0;  // index into the current runtime's listeners
    bool paused = false;    // at max_connections: a connection waits in the accept queue
  };

  void run();
  static void on_wake(uv_async_t* async);
  static void on_resume_timer(uv_timer_t* timer);
  static void on_flush_timer(uv_timer_t* timer);
  static void on_idle(uv_idle_t* idle);
  void apply_runtime(std::shared_ptr<const Runtime> runtime);
  void apply_redis(const std::optional<conf::RedisConfig>& config);
  bool may_accept(ListenHandle& lh);
  void on_accepted(ListenHandle& lh, int fd);
  void begin_stop();
  void maybe_finish_stop();
  static void close_listen_handle(ListenHandle* lh);

  const uint32_t index_;
  std::thread thread_;
  uv_loop_t loop_{};
  uv_async_t wake_{};
  uv_timer_t resume_timer_{};  // retries paused listeners
  uv_timer_t flush_timer_{};   // flushes the access-log batch
  uv_idle_t idle_{};           // runs deferred_ (active only while it is not empty)
  std::vector<Deferred*> deferred_;
  std::vector<Deferred*> running_deferred_;
  BufferPool buffers_;
  AccessLogBuffer access_log_;
  ConnPool conn_pool_;
  RequestParserPool request_parsers_;
  std::string scratch_;
  std::string response_head_;
  std::unique_ptr<RedisClient> redis_;  // on this loop; reset before the loop ends

  const std::vector<std::unique_ptr<Worker>>* peers_ = nullptr;
  std::atomic<bool> queue_kick_{false};
  std::shared_ptr<WorkerRuntime> current_;
  std::map<uint64_t, ListenHandle*> listen_handles_;  // by ListenSocket::id
  Session* sessions_ = nullptr;
  size_t session_count_ = 0;
  bool stopping_ = false;
  bool stopped_ = false;
  std::atomic<bool> finished_{false};

  // Mailbox (main → worker).
  std::mutex mailbox_mutex_;
  std::shared_ptr<const Runtime> pending_runtime_;
  bool stop_requested_ = false;
  bool wake_closed_ = false;  // no more uv_async_send (guarded by mailbox_mutex_)

  // Last: waiting requests unlink themselves from it as sessions go.
  PoolQueues queues_{*this};
};

// Called by listeners on a new connection; defined by the session code.
// `fd` is the accepted socket (non-blocking); the session owns it from here.
void start_tcp_session(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, int fd);
void start_http_session(Worker& worker, std::shared_ptr<WorkerRuntime> rt, uint32_t listener, int fd);
// Opens `client` (initialised) on the accepted `fd`; closes the fd on failure.
bool adopt_accepted(uv_tcp_t* client, int fd);

}  // namespace lb
