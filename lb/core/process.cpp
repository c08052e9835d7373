// lb/core/process.cpp — start-up, reload, signals and graceful stop on the main thread.
#include "lb/core/process.h"

#include <csignal>
#include <cstdio>
#include <thread>

#include "conf/load.h"
#include "lb/admin/admin_server.h"
#include "lb/dns/discovery.h"
#include "lb/dns/host_lookups.h"
#include "lb/upstream/health_monitor.h"
#include "lb/io/log.h"
#include "lb/io/sharded_counter.h"
#include "lb/io/unix_listen.h"
#include "lb/core/privileges.h"
#include "lb/core/version.h"
#include "tls/ticket_keys.h"

namespace lb {

namespace {
uint32_t resolve_workers(uint32_t configured) {
  if (configured != 0) return configured;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

std::string join_errors(const std::vector<std::string>& errors) {
  std::string s;
  for (const auto& e : errors) {
    if (!s.empty()) s += "; ";
    s += e;
  }
  return s;
}
}  // namespace

Process::Process(std::string config_path) : config_path_(std::move(config_path)) {}

Process::~Process() = default;

int Process::run() {
  auto loaded = conf::load_file(config_path_);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  if (auto err = Logger::instance().configure(loaded.config->logging)) {
    fprintf(stderr, "%s: /logging: %s\n", config_path_.c_str(), err->c_str());
    return 1;
  }
  worker_count_ = resolve_workers(loaded.config->workers);
  ShardedCounter::set_slots(worker_count_);  // before build_runtime creates the live state
  PoolQueueLive::set_workers(worker_count_);
  ticket_keys_ = std::make_shared<tls::TicketKeys>();
  std::string error;
  file_config_ = loaded.config;
  read_state_file(*file_config_);
  auto runtime = build_runtime(effective_config(file_config_), 1, worker_count_, live_, sockets_, ticket_keys_, error);
  if (!runtime) {
    fprintf(stderr, "%s: %s\n", config_path_.c_str(), error.c_str());
    return 1;
  }
  // Listeners are bound: run unprivileged from here on, before any worker
  // thread exists.
  if (auto err = drop_privileges(*loaded.config)) {
    fprintf(stderr, "%s: %s\n", config_path_.c_str(), err->c_str());
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&loop_);
  started_ns_ = uv_hrtime();
  generation_ = 1;
  last_reload_ = {true, rfc3339_now(), ""};
  runtime_ = runtime;
  sockets_.commit(*runtime);
  size_ejection_budgets(*runtime);

  for (uint32_t i = 0; i < worker_count_; ++i) workers_.push_back(std::make_unique<Worker>(i));
  for (auto& w : workers_) w->set_peers(&workers_);  // pool queues hand freed slots across workers
  for (auto& w : workers_) w->start(runtime_);

  auto watch = [this](uv_signal_t& h, int signum) {
    uv_signal_init(&loop_, &h);
    h.data = this;
    uv_signal_start(&h, &Process::on_signal, signum);
  };
  watch(sighup_, SIGHUP);
  watch(sigterm_, SIGTERM);
  watch(sigint_, SIGINT);
  watch(sigusr1_, SIGUSR1);
  uv_timer_init(&loop_, &stop_poll_);
  stop_poll_.data = this;
  uv_timer_init(&loop_, &removal_poll_);
  removal_poll_.data = this;
  health_ = std::make_unique<HealthMonitor>(&loop_);
  health_->update(*runtime_);
  if (runtime_->config->admin) {
    admin_ = std::make_unique<AdminServer>(&loop_, *this);
    if (auto err = admin_->start(*runtime_->config->admin)) {
      fprintf(stderr, "%s: /admin/listen: %s\n", config_path_.c_str(), err->c_str());
      for (auto& w : workers_) w->request_stop();
      for (auto& w : workers_) w->join();
      remove_unix_socket_files();
      return 1;
    }
  }

  // Pools found by DNS start empty and fill at the first answer (GET /ready
  // waits for it).
  discovery_ = std::make_unique<Discovery>(&loop_, [this] { on_discovery_changed(); });
  discovery_->configure(*file_config_);
  log_info("started", {{"version", LB_VERSION}, num("workers", worker_count_), {"config", config_path_},
                       num("listeners", static_cast<double>(runtime_->listeners.size()))});
  systemd_.ready();
  notify_status();
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  return exit_status_;
}

void Process::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<Process*>(handle->data);
  switch (signum) {
    case SIGHUP: self->reload(); break;
    case SIGUSR1:
      Logger::instance().reopen();
      break;
    case SIGTERM:
    case SIGINT:
      if (self->stopping_) {
        // Second signal: the operator wants out now.
        log_warn("second stop signal, exiting immediately");
        remove_unix_socket_files();
        Logger::instance().stop();
        _exit(0);
      }
      self->begin_stop();
      break;
  }
}

void Process::reload(ReloadDone done) {
  if (stopping_) {
    if (done) done(std::string("stopping"));
    return;
  }
  if (resolving_) {
    reload_queued_ = true;
    if (done) queued_waiters_.push_back(std::move(done));
    log_info("reload queued behind the one waiting for host-name lookups");
    return;
  }
  if (done) reload_waiters_.push_back(std::move(done));
  start_reload();
}

// Every reload, queued ones included, is bracketed by RELOADING=1 … READY=1
// (finish_reload), whatever its outcome.
void Process::start_reload() {
  systemd_.reloading();
  conf::PreparedLoad prepared = conf::prepare_file(config_path_);
  if (prepared.hosts.empty()) {
    finish_reload(prepared.result);
    return;
  }
  log_debug("reload: resolving host names", {num("hosts", static_cast<double>(prepared.hosts.size()))});
  std::vector<std::string> hosts = prepared.hosts;
  const conf::DnsConfig dns = prepared.dns;  // before the lambda below moves `prepared`
  resolving_ = std::make_unique<dns::HostLookups>(
      &loop_, dns, std::move(hosts), [this, prepared = std::move(prepared)](conf::HostAnswers answers) {
        auto resolver = std::move(resolving_);  // freed at the end of this callback
        finish_reload(conf::finish_load(prepared, answers));
      });
}

void Process::finish_reload(const conf::LoadResult& loaded) {
  std::optional<std::string> result = stopping_ ? std::optional<std::string>("stopping") : apply_reload(loaded);
  if (!stopping_) {
    systemd_.ready();
    notify_status();
  }
  std::vector<ReloadDone> waiters = std::move(reload_waiters_);
  reload_waiters_.clear();
  for (auto& w : waiters) w(result);
  if (reload_queued_ && !stopping_ && !resolving_) {
    reload_queued_ = false;
    reload_waiters_ = std::move(queued_waiters_);
    queued_waiters_.clear();
    start_reload();
  }
}

std::optional<std::string> Process::apply_reload(const conf::LoadResult& loaded) {
  std::string error;
  std::shared_ptr<Runtime> runtime;
  if (!loaded.ok()) {
    error = join_errors(loaded.errors);
  } else {
    if (loaded.config->workers != 0 && resolve_workers(loaded.config->workers) != worker_count_)
      log_warn("workers changed in the configuration; the new count applies after a restart",
               {num("running", worker_count_), num("configured", loaded.config->workers)});
    if (loaded.config->user != runtime_->config->user || loaded.config->group != runtime_->config->group)
      log_warn("user or group changed in the configuration; the new identity applies after a restart");
    // Runtime changes outlive a reload only with a state file (SPEC 14).
    RuntimeChanges kept = changes_;
    if (!loaded.config->state_file) changes_.clear();
    runtime = build_runtime(effective_config(loaded.config), generation_ + 1, worker_count_, live_, sockets_,
                            ticket_keys_, error);
    if (runtime) {
      error.clear();
      file_config_ = loaded.config;
    } else {
      changes_ = std::move(kept);
      error = config_path_ + ": " + error;
    }
  }
  if (!runtime) {
    last_reload_ = {false, rfc3339_now(), error};
    ++reloads_failed_;
    log_error("reload failed", {{"reason", error}, {"config", config_path_}});
    return error;
  }
  if (auto err = Logger::instance().configure(loaded.config->logging))
    log_error("reload: logging unchanged", {{"reason", *err}});
  ++generation_;
  publish(runtime);
  if (discovery_) discovery_->configure(*file_config_);
  last_reload_ = {true, rfc3339_now(), ""};
  ++reloads_ok_;
  log_info("reloaded", {num("generation", static_cast<double>(generation_)), {"config", config_path_}});
  return std::nullopt;
}

void Process::notify_status() {
  if (!systemd_.enabled()) return;
  std::string s = "generation " + std::to_string(generation_) + ", " +
                  std::to_string(runtime_->listeners.size()) + " listeners";
  if (!last_reload_.ok) s += "; last reload failed: " + last_reload_.error;
  systemd_.status(s);
}

void Process::publish(std::shared_ptr<Runtime> runtime) {
  runtime_ = runtime;
  sockets_.commit(*runtime);
  live_.retain_only(*runtime);
  size_ejection_budgets(*runtime);
  for (auto& w : workers_) w->publish(runtime_);
  health_->update(*runtime_);
  if (!admin_ && runtime_->config->admin) admin_ = std::make_unique<AdminServer>(&loop_, *this);
  if (admin_) {
    if (auto err = admin_->reconfigure(runtime_->config->admin)) log_error("admin listener unchanged", {{"reason", *err}});
  }
}

// Circuit breakers may eject at most max_ejection_percent of each pool's servers.
void Process::size_ejection_budgets(const Runtime& runtime) {
  for (const auto& pool : runtime.pools)
    pool.live->ejection.set_pool_size(static_cast<uint32_t>(pool.servers.size()));
}

bool Process::ready() const {
  return !stopping_ && runtime_ != nullptr && (!health_ || health_->first_round_complete()) &&
         (!discovery_ || discovery_->first_round_complete());
}

void Process::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  systemd_.stopping();
  systemd_.status("stopping, generation " + std::to_string(generation_));
  // A reload waiting for DNS is abandoned, and discovery stops.
  resolving_.reset();
  discovery_.reset();
  auto waiters = std::move(reload_waiters_);
  for (auto& w : queued_waiters_) waiters.push_back(std::move(w));
  reload_waiters_.clear();
  queued_waiters_.clear();
  reload_queued_ = false;
  for (auto& w : waiters) w(std::string("stopping"));
  log_info("stopping", {num("shutdown_timeout_ms", static_cast<double>(runtime_->config->shutdown_timeout.count()))});
  for (auto& w : workers_) w->request_stop();
  health_->stop();
  stop_deadline_ns_ = uv_hrtime() + static_cast<uint64_t>(runtime_->config->shutdown_timeout.count()) * 1'000'000ULL;
  uv_timer_start(&stop_poll_, &Process::on_stop_poll, 10, 10);
}

// Polls the workers: each finishes when its last session ends.
void Process::on_stop_poll(uv_timer_t* timer) {
  auto* self = static_cast<Process*>(timer->data);
  bool all = true;
  for (auto& w : self->workers_) all = all && w->finished();
  if (all) {
    self->finish();
    return;
  }
  if (uv_hrtime() >= self->stop_deadline_ns_) {
    log_warn("shutdown_timeout reached, closing remaining connections");
    remove_unix_socket_files();
    Logger::instance().stop();
    _exit(0);
  }
}

void Process::finish() {
  for (auto& w : workers_) w->join();
  workers_.clear();
  remove_unix_socket_files();
  log_info("stopped");
  if (admin_) admin_->stop();
  uv_timer_stop(&stop_poll_);
  uv_walk(&loop_, [](uv_handle_t* h, void*) { if (!uv_is_closing(h)) uv_close(h, nullptr); }, nullptr);
}

}  // namespace lb
