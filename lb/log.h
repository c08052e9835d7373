// lb/log.h — the error log and the access log (SPEC section 8).
//
// Both are JSON lines. Lines are handed to one writer thread so that no worker
// loop ever blocks on a file write: workers batch access-log lines in their own
// buffer (AccessLogBuffer) and hand over a whole batch at a time, so the
// writer's mutex is taken once per batch, not once per request. Error-log lines
// are rare (start, stop, reload, up/down) and go through the same queue.
// SIGUSR1 → Logger::reopen() re-opens both files (log rotation).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "conf/config.h"

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
  void stop();    // flush everything and join the writer thread

  bool enabled(conf::LogLevel level) const { return level >= level_; }
  bool access_enabled() const { return access_enabled_; }

  // One error-log line: {"ts":..., "level":..., "msg":..., fields...}.
  void log(conf::LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
  // A batch of complete access-log lines ("...\n" each).
  void write_access(std::string&& batch);

 private:
  Logger();
  void writer_loop();
  void enqueue(bool access, std::string&& text);

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::pair<bool, std::string>> queue_;  // (is_access, text)
  bool stopping_ = false;
  bool reopen_requested_ = false;
  std::thread writer_;

  // Owned by the writer thread after configure(), guarded by mutex_ for swaps.
  std::string error_path_ = "-";
  std::optional<std::string> access_path_;
  int error_fd_ = 2;
  int access_fd_ = -1;

  conf::LogLevel level_ = conf::LogLevel::info;
  bool access_enabled_ = false;
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
    if (!buffer_.empty()) {
      Logger::instance().write_access(std::move(buffer_));
      buffer_ = std::string();
      buffer_.reserve(kFlushBytes + 1024);
    }
  }

 private:
  static constexpr size_t kFlushBytes = 32 * 1024;
  std::string buffer_;
};

}  // namespace lb
