// lb/core/process.h — the main thread: loads the configuration, starts the workers,
// and runs the control loop (signals, reload, graceful stop, admin API, health
// checks). Everything here runs on the main thread's libuv loop; workers are
// reached only through Worker::publish()/request_stop().
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/load.h"
#include "lb/core/runtime.h"
#include "lb/core/sd_notify.h"
#include "lb/core/runtime_changes.h"
#include "lb/core/worker.h"

namespace lb {

class HealthMonitor;
class AdminServer;
class Discovery;
namespace dns { class HostLookups; }
namespace tls { class TicketKeys; }

struct ReloadStatus {
  bool ok = true;
  std::string at;     // RFC 3339
  std::string error;  // empty when ok
};

class Process {
 public:
  explicit Process(std::string config_path);
  ~Process();

  // Runs until stopped; returns the process exit status.
  int run();

  // Called once a reload finished: nullopt on success, else the error
  // message (the running configuration is untouched then).
  using ReloadDone = std::function<void(std::optional<std::string>)>;

  // Re-reads the configuration file (SIGHUP, POST /reload). Host names are
  // resolved asynchronously (c-ares on this loop), so the main loop (admin API, health checks)
  // keeps running meanwhile; `done` runs when the reload is over — at once
  // when the file names no host names. A reload requested while one is
  // waiting for DNS is queued: every request made meanwhile is served by ONE
  // further reload that starts when the current one ends (so it reads the
  // file as it is then), and all of them get that reload's result.
  void reload(ReloadDone done = {});
  void begin_stop();

  // For the admin API and stats.
  std::shared_ptr<const Runtime> runtime() const { return runtime_; }
  uint64_t generation() const { return generation_; }
  const ReloadStatus& last_reload() const { return last_reload_; }
  uint64_t reloads_ok() const { return reloads_ok_; }
  uint64_t reloads_failed() const { return reloads_failed_; }
  uint64_t started_ns() const { return started_ns_; }
  bool stopping() const { return stopping_; }
  bool ready() const;
  uv_loop_t* loop() { return &loop_; }
  const Discovery* discovery() const { return discovery_.get(); }

  // ---- servers changed at run time (SPEC 14; lb/core/process_servers.cpp)
  struct ChangeRefused {
    int status;           // the admin API's answer: 404, 409, 422 or 500
    std::string message;
  };
  // Adds `server` to `pool` without a reload. With a state file the change
  // is on disk when this returns.
  std::optional<ChangeRefused> add_server(const std::string& pool, const conf::ServerConfig& server);
  // Drains the server at once and removes it once its in-flight requests are
  // done (it leaves /stats then).
  std::optional<ChangeRefused> remove_server(const std::string& pool, const std::string& address);
  // A state or weight the admin API set on the live server: kept across
  // rebuilds, and with a state file across reloads and restarts.
  std::optional<ChangeRefused> note_server_state(const std::string& pool, const std::string& address,
                                                 conf::ServerState state);
  std::optional<ChangeRefused> note_server_weight(const std::string& pool, const std::string& address,
                                                  uint32_t weight);

 private:
  static void on_signal(uv_signal_t* handle, int signum);
  static void on_stop_poll(uv_timer_t* timer);
  void publish(std::shared_ptr<Runtime> runtime);
  void size_ejection_budgets(const Runtime& runtime);
  void finish();
  void start_reload();
  void finish_reload(const conf::LoadResult& loaded);
  std::optional<std::string> apply_reload(const conf::LoadResult& loaded);
  void notify_status();
  // process_servers.cpp
  std::shared_ptr<const conf::Config> effective_config(const std::shared_ptr<const conf::Config>& file_config);
  void read_state_file(const conf::Config& file_config);
  std::optional<ChangeRefused> save_changes(const RuntimeChanges& before);
  std::optional<ChangeRefused> rebuild_runtime();
  static void on_removal_poll(uv_timer_t* timer);
  void on_discovery_changed();

  std::string config_path_;
  SystemdNotifier systemd_;  // Type=notify: READY, RELOADING, STOPPING, STATUS
  uv_loop_t loop_{};
  uv_signal_t sighup_{}, sigterm_{}, sigint_{}, sigusr1_{};
  uv_timer_t stop_poll_{};
  std::vector<std::unique_ptr<Worker>> workers_;
  LiveRegistry live_;
  std::shared_ptr<tls::TicketKeys> ticket_keys_;  // one per process: tickets resume across workers and reloads
  SocketRegistry sockets_;
  std::shared_ptr<const Runtime> runtime_;
  std::shared_ptr<const conf::Config> file_config_;  // as the file says, before runtime changes
  RuntimeChanges changes_;
  // Servers removed at run time that still have requests in flight.
  struct PendingRemoval {
    std::shared_ptr<ServerLive> live;
  };
  std::vector<PendingRemoval> removals_;
  uv_timer_t removal_poll_{};
  std::unique_ptr<HealthMonitor> health_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<dns::HostLookups> resolving_;  // set while a reload waits for DNS
  std::unique_ptr<Discovery> discovery_;         // SPEC 13; null before the loop runs and once stopping
  std::vector<ReloadDone> reload_waiters_;      // callers of the reload in progress
  std::vector<ReloadDone> queued_waiters_;      // callers of the queued next reload
  bool reload_queued_ = false;
  uint64_t generation_ = 0;
  uint32_t worker_count_ = 1;
  ReloadStatus last_reload_;
  uint64_t reloads_ok_ = 0;      // SIGHUP and POST /reload alike
  uint64_t reloads_failed_ = 0;
  uint64_t started_ns_ = 0;
  uint64_t stop_deadline_ns_ = 0;
  bool stopping_ = false;
  int exit_status_ = 0;
};

}  // namespace lb
