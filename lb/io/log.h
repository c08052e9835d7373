// lb/io/log.h — the error log and the access log (SPEC section 8).
//
// Both are JSON lines, written by one writer thread so that no worker loop
// ever touches a log file. Workers batch access-log lines in their own buffer
// (AccessLogBuffer) and hand a whole batch over through a bounded lock-free
// queue (LogQueue); error-log lines (start, stop, reload, up/down) go through
// a second, separate queue. A producer never waits for the writer: when a
// queue is full (the writer is stuck on a full pipe or a slow disk) the text
// is dropped and counted in lines_dropped() (lb_log_lines_dropped_total).
//
// Error lines have their own queue and byte budget, so an access-log flood or
// a stuck access log never crowds them out; they are dropped only when that
// queue too is full, i.e. the writer has been stuck for a long time — a
// logging call must not block whichever thread makes it (workers log up/down
// and circuit events too).
//
// The writer owns the file descriptors. configure() (start, reload) opens the
// new files on the caller's thread and hands them over; SIGUSR1 → reopen()
// asks the writer to re-open both paths (log rotation). Files are opened with
// O_NONBLOCK, so neither open() nor write() blocks on a FIFO: open fails
// (ENXIO) when a FIFO has no reader, and the writer waits for a full FIFO in
// poll() slices, giving up on the text in hand when a reconfiguration, a
// reopen or stop's flush deadline comes. "-" (lb's stdout/stderr) is used as
// inherited: lb does not change the flags of descriptors it shares.
// stop() writes out what is queued (bounded: see log.cpp) and ends the writer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "conf/config.h"
#include "lb/io/log_queue.h"

namespace lb {

// Appends `s` to `out` as a JSON string literal (with quotes).
void append_json_string(std::string& out, std::string_view s);
// RFC 3339 UTC timestamp with milliseconds, e.g. 2026-11-22T10:00:00.123Z.
std::string rfc3339_now();

struct LogField {
  std::string_view key;
  std::string value;
  bool quoted = true;  // false: value is already JSON (number, bool, null)
};
inline LogField num(std::string_view key, double v) {
  char buf[64];
  int n = (v == static_cast<double>(static_cast<int64_t>(v)))
              ? snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v))
              : snprintf(buf, sizeof buf, "%.3f", v);
  return {key, std::string(buf, static_cast<size_t>(n)), false};
}

class Logger {
 public:
  static Logger& instance();

  // Applies logging settings (level, file paths); opens files. Returns an error
  // message when a file cannot be opened. Safe to call again on reload.
  std::optional<std::string> configure(const conf::LoggingConfig& config);
  void reopen();  // SIGUSR1
  void stop();    // write out what is queued and end the writer thread

  bool enabled(conf::LogLevel level) const { return level >= level_.load(std::memory_order_relaxed); }
  bool access_enabled() const { return access_enabled_.load(std::memory_order_relaxed); }

  // One error-log line: {"ts":..., "level":..., "msg":..., fields...}.
  [[gnu::cold]] void log(conf::LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
  // A batch of complete access-log lines ("...\n" each). Never waits: the
  // batch is either moved to the writer or dropped (counted); either way
  // `batch` is left empty for reuse.
  void write_access(std::string& batch);

  // Log lines dropped since start because the writer fell behind or could not
  // write them.
  uint64_t lines_dropped() const { return dropped_.load(std::memory_order_relaxed); }

  // Queue bounds. An access batch is up to ~33 KiB (AccessLogBuffer).
  static constexpr size_t kAccessQueueBytes = 2 << 20;
  static constexpr size_t kErrorQueueBytes = 1 << 20;

 private:
  // The destinations; owned by the writer thread once handed over.
  struct Files {
    int error_fd = 2;
    int access_fd = -1;
    std::string error_path = "-";
    std::optional<std::string> access_path;
  };

  Logger();
  ~Logger() = delete;  // instance() never destroys it: a detached writer may outlive stop()
  void wake();
  void writer_loop();
  void apply_pending();  // writer: take a configure()'d Files, or reopen by path
  void write_text(int fd, const std::string& text, bool access);
  bool give_up_writing();  // writer: abandon the text in hand?

  LogQueue error_queue_{1024, kErrorQueueBytes};
  LogQueue access_queue_{256, kAccessQueueBytes};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<conf::LogLevel> level_{conf::LogLevel::info};
  std::atomic<bool> access_enabled_{false};

  int wake_fd_ = -1;  // eventfd (non-blocking): producers → writer
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reopen_requested_{false};
  std::atomic<bool> config_pending_{false};

  // configure() → writer. Taken only by the main thread and the writer, never
  // by a worker, and never held across a write.
  std::mutex config_mutex_;
  std::optional<Files> pending_;

  Files files_;                  // writer thread only
  int64_t stop_deadline_ns_ = 0;  // writer thread only; 0 until it sees stopping_

  std::thread writer_;
  std::mutex done_mutex_;  // stop() ↔ writer: "everything is written"
  std::condition_variable done_cv_;
  bool done_ = false;
};

inline void log_info(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Logger::instance().log(conf::LogLevel::info, msg, f);
}
inline void log_warn(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Logger::instance().log(conf::LogLevel::warn, msg, f);
}
inline void log_error(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Logger::instance().log(conf::LogLevel::error, msg, f);
}
inline void log_debug(std::string_view msg, std::initializer_list<LogField> f = {}) {
  if (Logger::instance().enabled(conf::LogLevel::debug)) Logger::instance().log(conf::LogLevel::debug, msg, f);
}

// Per-worker access-log batch. Owned by one worker thread.
class AccessLogBuffer {
 public:
  std::string& line() { return buffer_; }  // append one complete line ending in '\n'
  void line_done() {
    if (buffer_.size() >= kFlushBytes) flush();
  }
  void flush() {
    if (buffer_.empty()) return;
    Logger::instance().write_access(buffer_);
    // Handed over: start a new batch. Dropped: the old one was cleared in place.
    if (buffer_.capacity() < kFlushBytes) buffer_.reserve(kFlushBytes + 1024);
  }

 private:
  static constexpr size_t kFlushBytes = 32 * 1024;
  std::string buffer_;
};

}  // namespace lb
