// lb/admin/process_metrics.cpp — see lb/admin/process_metrics.h.
#include "lb/admin/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace lb {

namespace {

uint64_t count_open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  uint64_t n = 0;
  while (const dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n > 0 ? n - 1 : 0;  // the directory stream's own descriptor
}

uint64_t resident_bytes() {
  FILE* f = fopen("/proc/self/statm", "re");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  const int got = fscanf(f, "%llu %llu", &size, &resident);
  fclose(f);
  return got == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace

ProcessMetrics read_process_metrics(double uptime_s) {
  ProcessMetrics m;
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    m.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  m.resident_bytes = resident_bytes();
  m.open_fds = count_open_fds();
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) m.max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : rl.rlim_cur;
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  m.start_time_seconds = now - uptime_s;
  return m;
}

}  // namespace lb
