// lb/log.cpp — the writer thread behind the error and access logs.
#include "lb/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <sys/time.h>

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

// Opens a log destination: "-" maps to `std_fd`. Returns -1 with errno set on failure.
static int open_log(const std::string& path, int std_fd) {
  if (path == "-") return std_fd;
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void close_log(int fd) {
  if (fd > 2) ::close(fd);
}

static void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failing log write
    }
    off += static_cast<size_t>(n);
  }
}

Logger& Logger::instance() {
  static Logger logger;
  return logger;
}

Logger::Logger() { writer_ = std::thread([this] { writer_loop(); }); }

std::optional<std::string> Logger::configure(const conf::LoggingConfig& config) {
  int efd = open_log(config.error_log, 2);
  if (efd < 0) return "cannot open error_log " + config.error_log + ": " + strerror(errno);
  int afd = -1;
  if (config.access_log) {
    afd = open_log(*config.access_log, 1);
    if (afd < 0) {
      std::string err = "cannot open access_log " + *config.access_log + ": " + strerror(errno);
      close_log(efd);
      return err;
    }
  }
  std::lock_guard lock(mutex_);
  // Flush anything queued for the old files first? The writer writes in order;
  // swapping under the lock is enough because the writer holds no fd outside it.
  close_log(error_fd_);
  close_log(access_fd_);
  error_fd_ = efd;
  access_fd_ = afd;
  error_path_ = config.error_log;
  access_path_ = config.access_log;
  level_ = config.level;
  access_enabled_ = config.access_log.has_value();
  return std::nullopt;
}

void Logger::reopen() {
  std::lock_guard lock(mutex_);
  reopen_requested_ = true;
  cv_.notify_one();
}

void Logger::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_one();
  }
  if (writer_.joinable()) writer_.join();
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
  enqueue(false, std::move(line));
}

void Logger::write_access(std::string&& batch) { enqueue(true, std::move(batch)); }

void Logger::enqueue(bool access, std::string&& text) {
  std::lock_guard lock(mutex_);
  if (stopping_ && !writer_.joinable()) {
    write_all(access ? access_fd_ : error_fd_, text);
    return;
  }
  queue_.emplace_back(access, std::move(text));
  cv_.notify_one();
}

void Logger::writer_loop() {
  std::vector<std::pair<bool, std::string>> batch;
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || reopen_requested_ || !queue_.empty(); });
    if (reopen_requested_) {
      reopen_requested_ = false;
      // Reopen by path: after `mv access.log access.log.1` we write to a new file.
      int efd = open_log(error_path_, 2);
      if (efd >= 0) { close_log(error_fd_); error_fd_ = efd; }
      if (access_path_) {
        int afd = open_log(*access_path_, 1);
        if (afd >= 0) { close_log(access_fd_); access_fd_ = afd; }
      }
    }
    batch.swap(queue_);
    // Writes happen under the lock so configure()/reopen cannot close an fd
    // mid-write; the lock is only ever contended by log producers, never by
    // the per-request path (workers hand over whole batches).
    for (auto& [access, text] : batch) write_all(access ? access_fd_ : error_fd_, text);
    batch.clear();
    if (stopping_ && queue_.empty()) break;
  }
}

}  // namespace lb
