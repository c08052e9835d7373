// lb/io/acceptor.cpp — poll + accept4 with fd-exhaustion back-off, shedding and a
// rate-limited log. See lb/io/acceptor.h for why libuv's uv_listen is not used.
#include "lb/io/acceptor.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "lb/io/log.h"

namespace lb {

namespace {
int accept_one(int listen_fd) { return ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC); }

bool is_fd_exhaustion(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

// A client that gave up before we accepted it, or a signal: try the next one.
bool is_transient(int err) { return err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM; }
}  // namespace

Acceptor* Acceptor::open(uv_loop_t* loop, int listen_fd, Options options, Gate gate, OnAccepted on_accepted,
                         std::string& error) {
  auto* a = new Acceptor(loop, listen_fd, std::move(options), std::move(gate), std::move(on_accepted));
  int rc = uv_poll_init_socket(loop, &a->poll_, listen_fd);
  if (rc != 0) {
    error = uv_strerror(rc);
    ::close(listen_fd);
    delete a;
    return nullptr;
  }
  a->poll_.data = a;
  uv_timer_init(loop, &a->backoff_timer_);
  a->backoff_timer_.data = a;
  a->open_handles_ = 2;
  a->refill();
  a->update_polling();
  return a;
}

Acceptor::Acceptor(uv_loop_t* loop, int listen_fd, Options options, Gate gate, OnAccepted on_accepted)
    : loop_(loop), listen_fd_(listen_fd), options_(std::move(options)), gate_(std::move(gate)),
      on_accepted_(std::move(on_accepted)) {}

Acceptor::~Acceptor() {
  for (int fd : reserve_) ::close(fd);
}

void Acceptor::pause() {
  paused_ = true;
  update_polling();
}

void Acceptor::resume() {
  paused_ = false;
  update_polling();
}

void Acceptor::close() {
  if (closing_) return;
  closing_ = true;
  // uv_close stops the poll at once, so the fd may be closed right after.
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &Acceptor::on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&backoff_timer_), &Acceptor::on_closed);
  ::close(listen_fd_);
  listen_fd_ = -1;
}

void Acceptor::on_closed(uv_handle_t* handle) {
  auto* self = static_cast<Acceptor*>(handle->data);
  if (--self->open_handles_ == 0) delete self;
}

void Acceptor::refill() {
  while (reserve_.size() < options_.reserve_fds) {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;  // still out of fds: the back-off timer tries again
    reserve_.push_back(fd);
  }
}

void Acceptor::update_polling() {
  if (closing_) return;
  bool want = !paused_ && !backing_off_;
  if (want == polling_) return;
  if (want) uv_poll_start(&poll_, UV_READABLE, &Acceptor::on_poll);
  else uv_poll_stop(&poll_);
  polling_ = want;
}

void Acceptor::on_poll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<Acceptor*>(handle->data);
  if (status < 0) {
    // libuv has stopped the handle; poll again after a back-off.
    self->polling_ = false;
    self->note(-status);  // libuv errors are negated errnos on Unix
    self->start_backoff();
    return;
  }
  self->accept_ready();
}

// Accepts up to kMaxBatch connections; the level-triggered poll wakes again
// for the rest after other handles had their turn.
void Acceptor::accept_ready() {
  for (uint32_t n = 0; n < kMaxBatch && !closing_ && polling_; ++n) {
    if (gate_ && !gate_()) {
      pause();  // the connection waits in the kernel's queue until resume()
      return;
    }
    int fd = accept_one(listen_fd_);
    if (fd >= 0) {
      if (backoff_ms_ != 0) {
        // The shortage is over. Say so with what the rate limit held back,
        // unless a line went out within the last second (then the counts wait
        // for the next line, so there is still at most one per second).
        backoff_ms_ = 0;
        uint64_t now = uv_now(loop_);
        if (events_since_log_ != 0 && now >= last_log_ms_ + kLogIntervalMs) {
          last_log_ms_ = now;
          log_info("accepting again", {{"listener", options_.log_name}, num("events", events_since_log_),
                                       num("shed", shed_since_log_)});
          events_since_log_ = shed_since_log_ = 0;
        }
      }
      on_accepted_(fd);
      continue;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    if (is_transient(err)) continue;
    if (is_fd_exhaustion(err)) {
      out_of_fds(err);
    } else {
      note(err);
      start_backoff();  // a persistent error must not spin the level-triggered poll
    }
    return;
  }
}

void Acceptor::out_of_fds(int err) {
  uint64_t shed = 0;
  if (options_.mode == Mode::serve) {
    // Each reserve fd becomes one served connection; refill() takes them back
    // when connections close.
    while (!reserve_.empty() && !closing_) {
      ::close(reserve_.back());
      reserve_.pop_back();
      int fd = accept_one(listen_fd_);
      if (fd < 0) {
        refill();  // nothing waiting, or another thread took the fd
        break;
      }
      on_accepted_(fd);
    }
  } else if (!reserve_.empty()) {
    for (int fd : reserve_) ::close(fd);
    reserve_.clear();
    while (shed < kMaxShed) {
      int fd = accept_one(listen_fd_);
      if (fd < 0) {
        if (is_transient(errno)) continue;
        break;
      }
      ::close(fd);
      ++shed;
    }
    refill();
  } else {
    // The spare went to another thread (the fd table is shared) and nothing
    // has freed one since. Without an fd, accept() cannot take a client off
    // the queue; shutdown() of the listening socket resets every connection
    // waiting in it, and listen() on the same bound socket opens it again.
    if (::shutdown(listen_fd_, SHUT_RD) == 0) shed_since_log_ += 1;  // at least one was waiting
    if (::listen(listen_fd_, options_.backlog) != 0) note(errno);
  }
  shed_since_log_ += shed;
  note(err);
  start_backoff();
}

void Acceptor::start_backoff() {
  if (closing_) return;
  backoff_ms_ = backoff_ms_ == 0 ? kMinBackoffMs : std::min(backoff_ms_ * 2, options_.max_backoff_ms);
  backing_off_ = true;
  update_polling();
  uv_timer_start(&backoff_timer_, &Acceptor::on_backoff, backoff_ms_, 0);
}

void Acceptor::on_backoff(uv_timer_t* timer) {
  auto* self = static_cast<Acceptor*>(timer->data);
  self->backing_off_ = false;
  self->refill();
  self->update_polling();
}

void Acceptor::note(int err) {
  ++events_total_;
  ++events_since_log_;
  last_error_ = err;
  uint64_t now = uv_now(loop_);
  if (last_log_ms_ != 0 && now < last_log_ms_ + kLogIntervalMs) return;
  last_log_ms_ = now;
  // "events" counts this failure and those held back since the last line.
  log_warn("accept failed", {{"listener", options_.log_name}, {"reason", strerror(err)},
                             num("events", events_since_log_), num("shed", shed_since_log_)});
  events_since_log_ = shed_since_log_ = 0;
}

int open_listen_socket(const sockaddr* addr, socklen_t len, int backlog, std::string& error) {
  int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, addr, len) != 0 || ::listen(fd, backlog) != 0) {
    error = strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace lb
