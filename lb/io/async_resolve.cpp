// lb/io/async_resolve.cpp — see async_resolve.h. The state the helper thread
// touches (answers, "cancelled") lives in a shared block guarded by a mutex;
// the uv_async_t is heap-allocated and freed by its close callback, so
// neither outlives the other's user.
#include "lb/io/async_resolve.h"

#include <mutex>
#include <thread>

#include "lb/io/log.h"

namespace lb {

struct AsyncResolve::Shared {
  std::mutex mutex;
  bool cancelled = false;      // set by the loop; the thread then only drops its answers
  uv_async_t* async = nullptr;  // valid while !cancelled
  conf::HostAnswers answers;
};

AsyncResolve::AsyncResolve(uv_loop_t* loop, std::vector<std::string> hosts, Done done)
    : shared_(std::make_shared<Shared>()), done_(std::move(done)) {
  auto* async = new uv_async_t{};
  uv_async_init(loop, async, &AsyncResolve::on_async);
  async->data = this;
  shared_->async = async;
  std::shared_ptr<Shared> shared = shared_;
  try {
    std::thread([shared, hosts] {
      conf::HostAnswers answers = conf::resolve_hosts(hosts);
      std::lock_guard<std::mutex> lock(shared->mutex);
      if (shared->cancelled) return;
      shared->answers = std::move(answers);
      uv_async_send(shared->async);
    }).detach();
  } catch (const std::exception& e) {
    // No thread: answer every name with the error rather than block the loop.
    log_error("cannot start the resolver thread", {{"reason", e.what()}});
    std::lock_guard<std::mutex> lock(shared_->mutex);
    for (const auto& h : hosts) shared_->answers[h].error = "cannot resolve host \"" + h + "\": no resolver thread";
    uv_async_send(async);
  }
}

AsyncResolve::~AsyncResolve() {
  uv_async_t* async = nullptr;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->cancelled = true;
    async = shared_->async;
    shared_->async = nullptr;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(async), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

void AsyncResolve::on_async(uv_async_t* handle) {
  auto* self = static_cast<AsyncResolve*>(handle->data);
  conf::HostAnswers answers;
  {
    std::lock_guard<std::mutex> lock(self->shared_->mutex);
    answers = std::move(self->shared_->answers);
  }
  Done done = std::move(self->done_);  // `done` may destroy self
  if (done) done(std::move(answers));
}

}  // namespace lb
