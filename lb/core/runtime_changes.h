// lb/core/runtime_changes.h — what the admin API changed at run time (SPEC
// 6 and 14): servers added and removed, operator state and weight. The
// configuration file stays the base; these changes are laid over a copy of
// it each time a runtime is built (start, reload, a change), so servers come
// and go through the same path a reload takes — live state (health, circuit,
// counters) is kept by (pool, address) in the LiveRegistry.
//
// With a state file (SPEC 14 "state_file") the changes are written there
// after every change and read back at start; without one they last until
// the next reload, as in the first edition.
//
// Threading: the main thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "conf/config.h"

namespace lb {

class RuntimeChanges {
 public:
  // Each replaces an earlier change of the same server.
  void add_server(const std::string& pool, const conf::ServerConfig& server);
  void remove_server(const std::string& pool, const std::string& address);
  void set_state(const std::string& pool, const std::string& address, conf::ServerState state);
  void set_weight(const std::string& pool, const std::string& address, uint32_t weight);
  void clear() { pools_.clear(); }
  bool empty() const { return pools_.empty(); }

  // `base` with the changes laid over it. Changes the configuration
  // contradicts (their pool is gone, a removed or re-weighted server is no
  // longer listed, an added server is now in the file: the file's entry
  // wins, a removal that would empty the pool) are dropped from this set,
  // one message each in `dropped`.
  std::shared_ptr<const conf::Config> apply(const std::shared_ptr<const conf::Config>& base,
                                            std::vector<std::string>& dropped);

  // The state file's content, and back. from_json fails (nullopt, `error`)
  // on anything malformed: a corrupt file is ignored as a whole.
  nlohmann::json to_json() const;
  static std::optional<RuntimeChanges> from_json(const nlohmann::json& j, std::string& error);

 private:
  struct PoolChanges {
    std::vector<conf::ServerConfig> added;
    std::vector<std::string> removed;               // addresses of the file's servers
    std::map<std::string, conf::ServerState> state;  // by address, the file's servers
    std::map<std::string, uint32_t> weight;
  };
  PoolChanges& pool(const std::string& name) { return pools_[name]; }
  std::map<std::string, PoolChanges> pools_;
};

// Writes `content` to `path` atomically: a temporary file beside it,
// fsync, rename over `path`, fsync of the directory. False with `error`.
bool write_file_atomically(const std::string& path, const std::string& content, std::string& error);

}  // namespace lb
