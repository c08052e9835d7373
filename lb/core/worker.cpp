// lb/core/worker.cpp — worker thread: loop lifecycle, runtime swaps, accepting, stopping.
#include "lb/core/worker.h"

#include <unistd.h>

#include <cstring>

#include "lb/io/sharded_counter.h"

namespace lb {

WorkerRuntime::WorkerRuntime(std::shared_ptr<const Runtime> runtime, uint32_t worker_index)
    : runtime_(std::move(runtime)) {
  selectors_.reserve(runtime_->pools.size());
  for (const auto& pool : runtime_->pools) selectors_.emplace_back(pool, worker_index + 1);
}

Worker::Worker(uint32_t index) : index_(index) {}

Worker::~Worker() { join(); }

void Worker::start(std::shared_ptr<const Runtime> runtime) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &wake_, &Worker::on_wake);
  wake_.data = this;
  uv_timer_init(&loop_, &resume_timer_);
  resume_timer_.data = this;
  uv_timer_init(&loop_, &flush_timer_);
  flush_timer_.data = this;
  uv_idle_init(&loop_, &idle_);
  idle_.data = this;
  conn_pool_.init(&loop_);
  queues_.init(&loop_);
  // Handles are initialised here, before the thread exists; the thread then
  // owns the loop exclusively.
  pending_runtime_ = std::move(runtime);
  thread_ = std::thread([this] { run(); });
  uv_async_send(&wake_);
}

void Worker::publish(std::shared_ptr<const Runtime> runtime) {
  {
    std::lock_guard lock(mailbox_mutex_);
    pending_runtime_ = std::move(runtime);
  }
  uv_async_send(&wake_);
}

void Worker::request_stop() {
  {
    std::lock_guard lock(mailbox_mutex_);
    stop_requested_ = true;
  }
  uv_async_send(&wake_);
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::run() {
  ShardedCounter::bind_thread_slot(index_ + 1);  // this thread's statistics slot
  queues_.bind_thread();
  uv_timer_start(&flush_timer_, &Worker::on_flush_timer, 100, 100);
  uv_run(&loop_, UV_RUN_DEFAULT);
  access_log_.flush();
  uv_loop_close(&loop_);
  finished_.store(true, std::memory_order_release);
}

void Worker::on_wake(uv_async_t* async) {
  auto* self = static_cast<Worker*>(async->data);
  std::shared_ptr<const Runtime> runtime;
  bool stop;
  {
    std::lock_guard lock(self->mailbox_mutex_);
    runtime = std::move(self->pending_runtime_);
    self->pending_runtime_.reset();
    stop = self->stop_requested_;
  }
  if (self->queue_kick_.exchange(false, std::memory_order_acq_rel)) self->queues_.on_kicked();
  if (runtime && !self->stopping_) self->apply_runtime(std::move(runtime));
  if (stop && !self->stopping_) self->begin_stop();
}

void Worker::kick_queues() {
  if (queue_kick_.exchange(true, std::memory_order_acq_rel)) return;  // a wake-up is on its way
  std::lock_guard lock(mailbox_mutex_);
  if (!wake_closed_) uv_async_send(&wake_);
}

void Worker::on_flush_timer(uv_timer_t* timer) { static_cast<Worker*>(timer->data)->access_log_.flush(); }

// An idle handle, not a check handle: while it is active the loop does not
// block in poll, so work deferred from a timer callback runs at once too.
void Worker::defer(Deferred& d) {
  if (d.deferred_queued_) return;
  d.deferred_queued_ = true;
  deferred_.push_back(&d);
  if (deferred_.size() == 1) uv_idle_start(&idle_, &Worker::on_idle);
}

void Worker::cancel(Deferred& d) {
  if (!d.deferred_queued_) return;
  d.deferred_queued_ = false;
  for (auto* list : {&deferred_, &running_deferred_})
    for (Deferred*& p : *list)
      if (p == &d) p = nullptr;
}

void Worker::on_idle(uv_idle_t* idle) {
  auto* self = static_cast<Worker*>(idle->data);
  self->running_deferred_.swap(self->deferred_);
  uv_idle_stop(idle);
  for (size_t i = 0; i < self->running_deferred_.size(); ++i) {
    Deferred* d = self->running_deferred_[i];
    if (!d) continue;  // cancelled meanwhile
    d->deferred_queued_ = false;
    d->run_deferred();
  }
  self->running_deferred_.clear();
}

void Worker::apply_runtime(std::shared_ptr<const Runtime> runtime) {
  auto view = std::make_shared<WorkerRuntime>(std::move(runtime), index_);
  const Runtime& rt = view->runtime();
  std::map<uint64_t, ListenHandle*> next;
  for (uint32_t i = 0; i < rt.listeners.size(); ++i) {
    const ListenSocket& sock = *rt.listeners[i].socket;
    auto it = listen_handles_.find(sock.id);
    if (it != listen_handles_.end()) {
      // Unchanged address: keep the socket, serve it with the new configuration.
      it->second->listener = i;
      next[sock.id] = it->second;
      listen_handles_.erase(it);
      continue;
    }
    // The Acceptor owns the fd from here (this worker's SO_REUSEPORT socket).
    auto* lh = new ListenHandle();
    lh->socket_id = sock.id;
    lh->listener = i;
    std::string error;
    lh->acceptor = Acceptor::open(
        &loop_, sock.fds[index_], {rt.listeners[i].config->name, Acceptor::Mode::shed, 1, 500},
        [this, lh] { return may_accept(*lh); }, [this, lh](int fd) { on_accepted(*lh, fd); }, error);
    if (!lh->acceptor) {
      log_error("listener failed", {{"listener", rt.listeners[i].config->name}, {"reason", error}});
      delete lh;
      continue;
    }
    next[sock.id] = lh;
  }
  // Listeners gone from the configuration stop accepting; their sessions finish.
  for (auto& [id, lh] : listen_handles_) close_listen_handle(lh);
  listen_handles_ = std::move(next);
  apply_redis(rt.config->redis);
  const bool reload = current_ != nullptr;
  current_ = std::move(view);
  queues_.prune();
  if (!reload) return;
  for (Session* s = sessions_; s;) {  // a session may unlink itself while told
    Session* next = s->next_;
    s->on_runtime_replaced();
    s = next;
  }
}

// A reload keeps the connection unless where or how to connect changed;
// a replaced connection answers its calls in flight with an error (their
// requests apply their on_store_error).
void Worker::apply_redis(const std::optional<conf::RedisConfig>& config) {
  if (!config) {
    redis_.reset();
    return;
  }
  if (redis_ && same_connection(redis_->config(), *config)) {
    redis_->set_key_prefix(config->key_prefix);
    return;
  }
  redis_.reset();
  redis_ = std::make_unique<RedisClient>(&loop_, *config);
}

void Worker::close_listen_handle(ListenHandle* lh) {
  lh->acceptor->close();  // no callback after this, so lh may go now
  delete lh;
}

// Asked by the Acceptor before each accept. At max_connections the listener
// pauses: further clients wait in the kernel's accept queue until a slot frees
// (SPEC section 3).
bool Worker::may_accept(ListenHandle& lh) {
  if (stopping_ || !current_) return false;
  const ListenerRuntime& listener = current_->runtime().listeners[lh.listener];
  uint32_t max = listener.config->max_connections;
  if (max != 0 && listener.live->connections_active.load(std::memory_order_relaxed) >= max) {
    lh.paused = true;
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&resume_timer_)))
      uv_timer_start(&resume_timer_, &Worker::on_resume_timer, 5, 5);
    return false;
  }
  return true;
}

void Worker::on_accepted(ListenHandle& lh, int fd) {
  if (current_->runtime().listeners[lh.listener].config->protocol == conf::Protocol::tcp)
    start_tcp_session(*this, current_, lh.listener, fd);
  else
    start_http_session(*this, current_, lh.listener, fd);
}

// Paused listeners are retried on a short timer: a slot may free on any worker,
// so there is no local event to wait for.
void Worker::on_resume_timer(uv_timer_t* timer) {
  auto* self = static_cast<Worker*>(timer->data);
  bool any_paused = false;
  for (auto& [id, lh] : self->listen_handles_) {
    if (!lh->paused) continue;
    lh->paused = false;
    lh->acceptor->resume();  // the gate pauses it again if still full
    any_paused |= lh->paused;
  }
  if (!any_paused) uv_timer_stop(&self->resume_timer_);
}

bool adopt_accepted(uv_tcp_t* client, int fd) {
  if (uv_tcp_open(client, fd) == 0) return true;
  ::close(fd);
  return false;
}

void Worker::add_session(Session* s) {
  s->next_ = sessions_;
  if (sessions_) sessions_->prev_ = s;
  sessions_ = s;
  ++session_count_;
}

void Worker::remove_session(Session* s) {
  if (s->prev_) s->prev_->next_ = s->next_;
  else sessions_ = s->next_;
  if (s->next_) s->next_->prev_ = s->prev_;
  s->prev_ = s->next_ = nullptr;
  --session_count_;
  if (stopping_) maybe_finish_stop();
}

void Worker::begin_stop() {
  stopping_ = true;
  for (auto& [id, lh] : listen_handles_) close_listen_handle(lh);
  listen_handles_.clear();
  uv_timer_stop(&resume_timer_);
  conn_pool_.close_all();
  // Sessions may remove themselves while being told; walk a snapshot of the links.
  for (Session* s = sessions_; s;) {
    Session* next = s->next_;
    s->on_worker_stopping();
    s = next;
  }
  maybe_finish_stop();
}

void Worker::maybe_finish_stop() {
  if (stopped_ || session_count_ != 0) return;
  stopped_ = true;
  current_.reset();
  redis_.reset();  // its handles close with the loop's last iterations
  access_log_.flush();
  queues_.close();
  {
    std::lock_guard lock(mailbox_mutex_);
    wake_closed_ = true;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&resume_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
}

}  // namespace lb
