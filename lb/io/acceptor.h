// lb/io/acceptor.h — accepting connections on a listening socket without ever
// spinning when the process runs out of file descriptors (issue 11).
//
// Why not uv_listen: libuv accepts in a loop inside one callback. On EMFILE it
// closes its one-per-loop reserve fd, accepts and drops the waiting clients
// and reopens the reserve; once another thread has taken that fd in between
// (two workers + the main loop share one fd table), the reserve is gone for
// good, and libuv calls the connection callback with the error and loops
// again — forever, without returning to its loop: 100% CPU, timers, stop
// requests and the sessions that could free fds never run.
//
// An Acceptor watches the socket with a uv_poll_t and calls accept4() itself.
// When accept() fails for want of fds (EMFILE, ENFILE, ENOBUFS, ENOMEM):
//   - Mode::shed (workers): close the reserve fd, accept the connections
//     waiting in the queue (at most kMaxShed) and close them at once — their
//     clients see a close rather than hang in the queue — then reopen the
//     reserve; when another thread took the reserve, shutdown() the listening
//     socket (resetting the queued connections without needing an fd) and
//     listen() on it again;
//   - Mode::serve (admin): use the reserve fds to accept and *serve* the
//     connection, so /healthz keeps answering while the data path is out of
//     fds; the owner calls refill() when one of its connections closed;
//   - then stop polling the socket for a back-off (kMinBackoffMs, doubling up
//     to max_backoff_ms, back to the minimum after a successful accept), so the
//     fds that sessions free go to them, not straight to the next accept;
//   - log "accept failed" at most once per second, with how many events and
//     shed connections the line stands for.
//
// Ownership: open() returns a heap object; close() stops it, closes the
// listening fd and frees the object in its handles' close callbacks. No
// callback runs after close(). Threading: one loop's thread only.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lb {

class Acceptor {
 public:
  enum class Mode { shed, serve };
  static constexpr uint64_t kMinBackoffMs = 10;
  static constexpr uint32_t kMaxShed = 1024;     // per out-of-fds event
  static constexpr uint32_t kMaxBatch = 256;     // accepts per poll wake-up (fairness)
  static constexpr uint64_t kLogIntervalMs = 1000;

  struct Options {
    std::string log_name;          // "listener" field of the log line ("admin" for the admin)
    Mode mode = Mode::shed;
    uint32_t reserve_fds = 1;      // spare fds held for the out-of-fds case
    uint64_t max_backoff_ms = 500;
    int backlog = 4096;            // to listen() again after dropping the queue
  };
  // Whether another connection may be accepted now; false pauses the Acceptor
  // until resume() (used for max_connections). Null: always.
  using Gate = std::function<bool()>;
  // Takes ownership of an accepted, non-blocking, close-on-exec socket.
  using OnAccepted = std::function<void(int fd)>;

  // Starts polling `listen_fd` (non-blocking, already listening; the Acceptor
  // owns it from here, even on failure). Null with `error` set on failure.
  static Acceptor* open(uv_loop_t* loop, int listen_fd, Options options, Gate gate, OnAccepted on_accepted,
                        std::string& error);
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  void pause();   // the owner is at capacity: stop accepting until resume()
  void resume();
  void close();   // idempotent; no callback after this
  // Reopens reserve fds that were used to serve (Mode::serve); call after
  // closing a connection, when an fd has just been freed.
  void refill();

  int fd() const { return listen_fd_; }
  uint64_t fd_exhaustion_events() const { return events_total_; }

 private:
  Acceptor(uv_loop_t* loop, int listen_fd, Options options, Gate gate, OnAccepted on_accepted);
  ~Acceptor();
  static void on_poll(uv_poll_t* handle, int status, int events);
  static void on_backoff(uv_timer_t* timer);
  static void on_closed(uv_handle_t* handle);
  void accept_ready();
  void out_of_fds(int err);
  void start_backoff();  // stop polling for backoff_ms_ (doubled each time)
  void note(int err);  // counts and maybe logs
  void update_polling();

  uv_loop_t* loop_;
  int listen_fd_;
  Options options_;
  Gate gate_;
  OnAccepted on_accepted_;
  uv_poll_t poll_{};
  uv_timer_t backoff_timer_{};
  int open_handles_ = 0;
  std::vector<int> reserve_;
  bool polling_ = false;
  bool paused_ = false;       // by the owner (gate)
  bool backing_off_ = false;  // out of fds
  bool closing_ = false;
  uint64_t backoff_ms_ = 0;

  // Rate-limited log of failures.
  uint64_t last_log_ms_ = 0;
  uint64_t events_since_log_ = 0;
  uint64_t shed_since_log_ = 0;
  int last_error_ = 0;
  uint64_t events_total_ = 0;
};

// A non-blocking, close-on-exec TCP socket bound to `addr` and listening with
// `backlog` (SO_REUSEADDR). -1 with `error` set on failure.
int open_listen_socket(const sockaddr* addr, socklen_t len, int backlog, std::string& error);

}  // namespace lb
