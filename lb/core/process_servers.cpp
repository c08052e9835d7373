// lb/core/process_servers.cpp — servers added, removed and re-stated at run
// time (SPEC 14): the changes are laid over the configuration file's content
// and a runtime is built and published the way a reload does it, so live
// state, workers, health checks and the admin API follow without a reload.
// The state file (if configured) is written before the caller answers.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "conf/load.h"
#include "lb/core/process.h"
#include "lb/dns/discovery.h"
#include "lb/io/log.h"

namespace lb {

namespace {

const ServerRuntime* find_server(const Runtime& rt, const std::string& pool, const std::string& address,
                                 const PoolRuntime** pool_out = nullptr) {
  for (const auto& p : rt.pools) {
    if (p.config->name != pool) continue;
    if (pool_out) *pool_out = &p;
    for (const auto& s : p.servers)
      if (s.config->address.text == address) return &s;
  }
  return nullptr;
}

}  // namespace

std::shared_ptr<const conf::Config> Process::effective_config(const std::shared_ptr<const conf::Config>& file_config) {
  std::vector<std::string> dropped;
  std::shared_ptr<const conf::Config> base = file_config;
  if (discovery_) {
    auto with_discovered = std::make_shared<conf::Config>(*file_config);
    discovery_->add_servers(*with_discovered);
    base = std::move(with_discovered);
  }
  auto cfg = changes_.apply(base, dropped);
  for (const auto& d : dropped) log_warn("runtime change dropped", {{"reason", d}});
  // Dropped changes leave the file too (it is rewritten at the next change
  // otherwise, and would be re-read after a restart).
  if (!dropped.empty() && file_config->state_file) {
    std::string err;
    if (!write_file_atomically(*file_config->state_file, changes_.to_json().dump(2) + "\n", err))
      log_error("state file not written", {{"reason", err}});
  }
  return cfg;
}

// Read once at start. A missing file is normal (nothing changed yet); a
// corrupt or unreadable one is reported and ignored, never fatal, and
// rewritten at the next change.
void Process::read_state_file(const conf::Config& file_config) {
  if (!file_config.state_file) return;
  const std::string& path = *file_config.state_file;
  std::ifstream in(path);
  if (!in) {
    if (errno != ENOENT) log_error("state file unreadable, ignored", {{"file", path}, {"reason", std::strerror(errno)}});
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  std::string err;
  std::optional<RuntimeChanges> changes;
  if (conf::parse_strict_json(text.str(), j, err)) changes = RuntimeChanges::from_json(j, err);
  if (!changes) {
    log_error("state file corrupt, ignored", {{"file", path}, {"reason", err}});
    return;
  }
  changes_ = std::move(*changes);
  log_info("state file applied", {{"file", path}});
}

// Writes the changes (when a state file is configured); on failure the
// previous changes are restored and the caller answers 500.
std::optional<Process::ChangeRefused> Process::save_changes(const RuntimeChanges& before) {
  if (!file_config_->state_file) return std::nullopt;
  std::string err;
  if (write_file_atomically(*file_config_->state_file, changes_.to_json().dump(2) + "\n", err)) return std::nullopt;
  changes_ = before;
  log_error("state file not written", {{"reason", err}});
  return ChangeRefused{500, "state file not written: " + err};
}

std::optional<Process::ChangeRefused> Process::rebuild_runtime() {
  std::string error;
  auto runtime = build_runtime(effective_config(file_config_), generation_ + 1, worker_count_, live_, sockets_,
                               ticket_keys_, error);
  if (!runtime) return ChangeRefused{422, error};
  ++generation_;
  publish(runtime);
  return std::nullopt;
}

std::optional<Process::ChangeRefused> Process::add_server(const std::string& pool, const conf::ServerConfig& server) {
  const PoolRuntime* p = nullptr;
  if (find_server(*runtime_, pool, server.address.text, &p)) return ChangeRefused{409, "pool \"" + pool + "\" already has server " + server.address.text};
  if (!p) return ChangeRefused{404, "no pool named \"" + pool + "\""};
  RuntimeChanges before = changes_;
  changes_.add_server(pool, server);
  if (auto refused = rebuild_runtime()) {
    changes_ = std::move(before);
    return refused;
  }
  if (auto refused = save_changes(before)) {
    (void)rebuild_runtime();  // back to the state on disk
    return refused;
  }
  log_info("server added", {{"pool", pool}, {"server", server.address.text}, {"reason", "admin API"}});
  return std::nullopt;
}

std::optional<Process::ChangeRefused> Process::remove_server(const std::string& pool, const std::string& address) {
  const PoolRuntime* p = nullptr;
  const ServerRuntime* s = find_server(*runtime_, pool, address, &p);
  if (!p) return ChangeRefused{404, "no pool named \"" + pool + "\""};
  if (!s) return ChangeRefused{404, "pool \"" + pool + "\" has no server \"" + address + "\""};
  if (p->servers.size() == 1) return ChangeRefused{409, "server " + address + " is the only server of pool \"" + pool + "\""};
  RuntimeChanges before = changes_;
  changes_.remove_server(pool, address);
  if (auto refused = save_changes(before)) return refused;
  // No new requests from now on; it leaves the runtime (and /stats) once
  // the requests it is serving are done.
  s->live->admin_state.store(conf::ServerState::drain, std::memory_order_relaxed);
  removals_.push_back({s->live});
  uv_timer_start(&removal_poll_, &Process::on_removal_poll, 0, 50);
  log_info("server removed", {{"pool", pool}, {"server", address}, {"reason", "admin API"}});
  return std::nullopt;
}

// Servers removed through the admin API leave together once none of them
// has a request in flight; servers that left DNS answers, each when idle.
void Process::on_removal_poll(uv_timer_t* timer) {
  auto* self = static_cast<Process*>(timer->data);
  bool rebuild = false;
  const bool removals_busy = std::any_of(self->removals_.begin(), self->removals_.end(), [](const auto& r) {
    return r.live->active.load(std::memory_order_relaxed) != 0;
  });
  if (!removals_busy && !self->removals_.empty()) {
    self->removals_.clear();
    rebuild = true;
  }
  if (self->discovery_ && self->discovery_->forget_drained(*self->runtime_)) rebuild = true;
  if (self->removals_.empty() && !(self->discovery_ && self->discovery_->has_leaving())) uv_timer_stop(timer);
  if (!rebuild || self->stopping_) return;
  if (auto refused = self->rebuild_runtime()) log_error("runtime change not applied", {{"reason", refused->message}});
}

void Process::on_discovery_changed() {
  if (stopping_) return;
  if (auto refused = rebuild_runtime()) log_error("servers found by DNS not applied", {{"reason", refused->message}});
  if (discovery_->has_leaving()) uv_timer_start(&removal_poll_, &Process::on_removal_poll, 50, 50);
}

std::optional<Process::ChangeRefused> Process::note_server_state(const std::string& pool, const std::string& address,
                                                                 conf::ServerState state) {
  RuntimeChanges before = changes_;
  changes_.set_state(pool, address, state);
  return save_changes(before);
}

std::optional<Process::ChangeRefused> Process::note_server_weight(const std::string& pool, const std::string& address,
                                                                  uint32_t weight) {
  RuntimeChanges before = changes_;
  changes_.set_weight(pool, address, weight);
  return save_changes(before);
}

}  // namespace lb
