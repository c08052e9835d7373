// conf/log_files.cpp — check_log_files() (see log_files.h).
#include "conf/log_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace lb::conf {

namespace {

// Empty when `path` can be appended to (or created), else the reason.
std::string check_appendable(const std::string& path) {
  // O_NONBLOCK: a FIFO without a reader must not hang --check.
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd >= 0) {
    struct stat st{};
    const bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    ::close(fd);
    return dir ? "is a directory" : "";
  }
  if (errno != ENOENT) return std::strerror(errno);
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0)
    return "directory " + dir + " does not exist (" + std::string(std::strerror(errno)) + ")";
  if (!S_ISDIR(st.st_mode)) return dir + " is not a directory";
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return "cannot create the file in " + dir + " (" + std::string(std::strerror(errno)) + ")";
  return "";
}

}  // namespace

std::vector<std::string> check_log_files(const Config& config) {
  std::vector<std::string> errors;
  auto check = [&](const char* key, const std::string& path) {
    if (path == "-") return;
    const std::string why = check_appendable(path);
    if (!why.empty())
      errors.push_back(config.path + ": /logging/" + key + ": cannot open " + path + " for appending: " + why);
  };
  check("error_log", config.logging.error_log);
  if (config.logging.access_log) check("access_log", *config.logging.access_log);
  return errors;
}

}  // namespace lb::conf
