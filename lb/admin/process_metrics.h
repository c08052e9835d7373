// lb/admin/process_metrics.h — the standard Prometheus process metrics
// (process_cpu_seconds_total, process_resident_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds; SPEC 15),
// read from the kernel when /metrics is scraped (rendered by
// lb/admin/stats_observe.cpp). Linux only (/proc).
#pragma once

#include <cstdint>
#include <string>

namespace lb {

struct ProcessMetrics {
  double cpu_seconds = 0;          // user + system
  uint64_t resident_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;            // RLIMIT_NOFILE soft limit
  double start_time_seconds = 0;   // Unix time
};

// `uptime_s` is the process's own uptime, from which the start time follows.
ProcessMetrics read_process_metrics(double uptime_s);

}  // namespace lb
