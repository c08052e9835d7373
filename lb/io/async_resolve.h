// lb/io/async_resolve.h — host-name lookups for a reload, off the main loop.
//
// A helper thread runs conf::resolve_hosts() (itself concurrent) and hands
// the answers back to the loop through a uv_async_t, so the admin API and
// the health checks keep running while DNS is slow. Destroying the object
// cancels: the callback never runs, and the helper thread (which may sit in
// getaddrinfo for a while) finishes on its own and drops the answers.
//
// Threading: construct, destroy and receive the callback on the loop's thread.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "conf/resolve.h"

namespace lb {

class AsyncResolve {
 public:
  using Done = std::function<void(conf::HostAnswers)>;

  // Starts resolving `hosts`; `done` runs on `loop` once all are answered.
  // `done` may destroy this object.
  AsyncResolve(uv_loop_t* loop, std::vector<std::string> hosts, Done done);
  ~AsyncResolve();
  AsyncResolve(const AsyncResolve&) = delete;
  AsyncResolve& operator=(const AsyncResolve&) = delete;

 private:
  struct Shared;
  static void on_async(uv_async_t* handle);

  std::shared_ptr<Shared> shared_;
  Done done_;
};

}  // namespace lb
