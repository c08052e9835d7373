// lb/io/log.cpp — JSON line formatting helpers and the Logger: producers'
// non-blocking hand-over, and the writer thread behind the error and access logs.
#include "lb/io/log.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

namespace lb {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

std::string rfc3339_now() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm t;
  gmtime_r(&tv.tv_sec, &t);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
           t.tm_hour, t.tm_min, t.tm_sec, static_cast<int>(tv.tv_usec / 1000));
  return buf;
}

static const char* level_name(conf::LogLevel l) {
  switch (l) {
    case conf::LogLevel::debug: return "debug";
    case conf::LogLevel::info: return "info";
    case conf::LogLevel::warn: return "warn";
    case conf::LogLevel::error: return "error";
  }
  return "info";
}

namespace {

// How long stop() lets the writer wait for a destination that does not take
// data (a full FIFO) before dropping what is left, and how long stop() waits
// for the writer at all (a blocking "-" descriptor may hold it in write(2)).
constexpr auto kStopFlush = std::chrono::seconds(2);
constexpr auto kStopWait = std::chrono::seconds(3);
// The writer re-checks stop / reconfigure / reopen this often while waiting
// for a full destination.
constexpr int kWritablePollMs = 100;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Opens a log destination: "-" maps to `std_fd`. Returns -1 with errno set on
// failure. O_NONBLOCK: open() of a FIFO without a reader fails (ENXIO) instead
// of blocking, and writes to a full FIFO return EAGAIN instead of blocking.
int open_log(const std::string& path, int std_fd) {
  if (path == "-") return std_fd;
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
}

void close_log(int fd) {
  if (fd > 2) ::close(fd);
}

uint64_t count_lines(const char* p, size_t n) {
  return static_cast<uint64_t>(std::count(p, p + n, '\n'));
}

}  // namespace

Logger& Logger::instance() {
  // Never destroyed: a writer detached by a stop() that timed out may still
  // be running at exit.
  static Logger* logger = new Logger;
  return *logger;
}

Logger::Logger() {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  writer_ = std::thread([this] { writer_loop(); });
}

// Any thread. An eventfd write never blocks (non-blocking, and the counter
// cannot realistically reach its 2^64-2 limit).
void Logger::wake() {
  uint64_t one = 1;
  ssize_t r = ::write(wake_fd_, &one, sizeof one);
  (void)r;
}

std::optional<std::string> Logger::configure(const conf::LoggingConfig& config) {
  Files next;
  next.error_path = config.error_log;
  next.access_path = config.access_log;
  next.error_fd = open_log(config.error_log, 2);
  if (next.error_fd < 0) return "cannot open error_log " + config.error_log + ": " + strerror(errno);
  if (config.access_log) {
    next.access_fd = open_log(*config.access_log, 1);
    if (next.access_fd < 0) {
      std::string err = "cannot open access_log " + *config.access_log + ": " + strerror(errno);
      close_log(next.error_fd);
      return err;
    }
  }
  {
    std::lock_guard lock(config_mutex_);
    if (pending_) {  // an earlier configure() the writer has not taken yet
      close_log(pending_->error_fd);
      close_log(pending_->access_fd);
    }
    pending_ = std::move(next);
  }
  config_pending_.store(true, std::memory_order_release);
  level_.store(config.level, std::memory_order_relaxed);
  access_enabled_.store(config.access_log.has_value(), std::memory_order_relaxed);
  wake();
  return std::nullopt;
}

void Logger::reopen() {
  reopen_requested_.store(true, std::memory_order_release);
  wake();
}

void Logger::stop() {
  if (stopping_.exchange(true)) return;
  wake();
  std::unique_lock lock(done_mutex_);
  if (!done_cv_.wait_for(lock, kStopWait, [this] { return done_; })) {
    // Stuck in write(2) on an inherited blocking descriptor: leave it; the
    // process is about to exit.
    lock.unlock();
    writer_.detach();
    return;
  }
  lock.unlock();
  writer_.join();
}

void Logger::log(conf::LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!enabled(level)) return;
  std::string line;
  line.reserve(128);
  line += "{\"ts\":\"";
  line += rfc3339_now();
  line += "\",\"level\":\"";
  line += level_name(level);
  line += "\",\"msg\":";
  append_json_string(line, msg);
  for (const auto& f : fields) {
    line += ',';
    append_json_string(line, f.key);
    line += ':';
    if (f.quoted) append_json_string(line, f.value);
    else line += f.value;
  }
  line += "}\n";
  if (!error_queue_.try_push(line)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  wake();
}

void Logger::write_access(std::string& batch) {
  if (!access_queue_.try_push(batch)) {
    dropped_.fetch_add(count_lines(batch.data(), batch.size()), std::memory_order_relaxed);
    batch.clear();
    return;
  }
  wake();
}

void Logger::apply_pending() {
  if (config_pending_.exchange(false, std::memory_order_acq_rel)) {
    std::optional<Files> next;
    {
      std::lock_guard lock(config_mutex_);
      next.swap(pending_);
    }
    if (next) {
      close_log(files_.error_fd);
      close_log(files_.access_fd);
      files_ = std::move(*next);
    }
  }
  if (reopen_requested_.exchange(false, std::memory_order_acq_rel)) {
    // Reopen by path: after `mv access.log access.log.1` we write to a new file.
    // A path that cannot be opened now keeps its old descriptor.
    int efd = open_log(files_.error_path, 2);
    if (efd >= 0) {
      close_log(files_.error_fd);
      files_.error_fd = efd;
    }
    if (files_.access_path) {
      int afd = open_log(*files_.access_path, 1);
      if (afd >= 0) {
        close_log(files_.access_fd);
        files_.access_fd = afd;
      }
    }
  }
}

// Writer: true when the text in hand should be abandoned rather than waited
// for — its descriptor is about to be replaced, or stop's flush time is up.
bool Logger::give_up_writing() {
  if (config_pending_.load(std::memory_order_acquire) || reopen_requested_.load(std::memory_order_acquire))
    return true;
  if (!stopping_.load(std::memory_order_acquire)) return false;
  if (stop_deadline_ns_ == 0)
    stop_deadline_ns_ = now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(kStopFlush).count();
  return now_ns() >= stop_deadline_ns_;
}

// Writer: writes `text` to `fd`; what cannot be written is counted as dropped.
void Logger::write_text(int fd, const std::string& text, bool access) {
  if (fd < 0) return;  // the access log was switched off by a reload: nothing to drop
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n >= 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN || give_up_writing()) break;  // nowhere left to report a failing log write
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, kWritablePollMs);
  }
  if (off < text.size())
    dropped_.fetch_add(access ? count_lines(text.data() + off, text.size() - off) : 1, std::memory_order_relaxed);
}

void Logger::writer_loop() {
  std::string text;
  for (;;) {
    uint64_t wakes;
    ssize_t r = ::read(wake_fd_, &wakes, sizeof wakes);  // reset before draining: no lost wake-up
    (void)r;
    // Read before draining: whatever was queued before stop() is written.
    const bool stopping = stopping_.load(std::memory_order_acquire);
    apply_pending();
    for (;;) {
      bool access = false;
      if (!error_queue_.try_pop(text)) {  // error lines first: they are rare and matter
        if (!access_queue_.try_pop(text)) break;
        access = true;
      }
      apply_pending();  // a configure() that happened before this text was queued
      write_text(access ? files_.access_fd : files_.error_fd, text, access);
      (access ? access_queue_ : error_queue_).release(text.size());
    }
    if (stopping) break;
    pollfd p{wake_fd_, POLLIN, 0};
    ::poll(&p, 1, wake_fd_ >= 0 ? -1 : kWritablePollMs);  // no eventfd (fd exhaustion at start): poll slowly
  }
  std::lock_guard lock(done_mutex_);
  done_ = true;
  done_cv_.notify_one();
}

}  // namespace lb
