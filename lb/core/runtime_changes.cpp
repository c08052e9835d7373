// lb/core/runtime_changes.cpp — see lb/core/runtime_changes.h.
#include "lb/core/runtime_changes.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "conf/runtime_server.h"
#include "conf/values.h"

namespace lb {

namespace {

using json = nlohmann::json;

conf::ServerConfig* find_server(std::vector<conf::ServerConfig>& servers, const std::string& address) {
  for (auto& s : servers)
    if (s.address.text == address) return &s;
  return nullptr;
}

bool parse_state(const std::string& word, conf::ServerState& out) {
  if (word == "ready") out = conf::ServerState::ready;
  else if (word == "drain") out = conf::ServerState::drain;
  else if (word == "maint") out = conf::ServerState::maint;
  else return false;
  return true;
}

}  // namespace

void RuntimeChanges::add_server(const std::string& pool_name, const conf::ServerConfig& server) {
  PoolChanges& p = pool(pool_name);
  std::erase(p.removed, server.address.text);
  p.state.erase(server.address.text);
  p.weight.erase(server.address.text);
  if (conf::ServerConfig* s = find_server(p.added, server.address.text)) *s = server;
  else p.added.push_back(server);
}

void RuntimeChanges::remove_server(const std::string& pool_name, const std::string& address) {
  PoolChanges& p = pool(pool_name);
  p.state.erase(address);
  p.weight.erase(address);
  auto added = std::find_if(p.added.begin(), p.added.end(), [&](const auto& s) { return s.address.text == address; });
  if (added != p.added.end()) p.added.erase(added);  // added at run time: forgetting it removes it
  else if (std::find(p.removed.begin(), p.removed.end(), address) == p.removed.end()) p.removed.push_back(address);
}

void RuntimeChanges::set_state(const std::string& pool_name, const std::string& address, conf::ServerState state) {
  PoolChanges& p = pool(pool_name);
  if (conf::ServerConfig* s = find_server(p.added, address)) s->state = state;
  else p.state[address] = state;
}

void RuntimeChanges::set_weight(const std::string& pool_name, const std::string& address, uint32_t weight) {
  PoolChanges& p = pool(pool_name);
  if (conf::ServerConfig* s = find_server(p.added, address)) s->weight = weight;
  else p.weight[address] = weight;
}

std::shared_ptr<const conf::Config> RuntimeChanges::apply(const std::shared_ptr<const conf::Config>& base,
                                                          std::vector<std::string>& dropped) {
  if (pools_.empty()) return base;
  auto cfg = std::make_shared<conf::Config>(*base);
  for (auto it = pools_.begin(); it != pools_.end();) {
    const std::string& name = it->first;
    PoolChanges& changes = it->second;
    auto pool = std::find_if(cfg->pools.begin(), cfg->pools.end(), [&](const auto& p) { return p.name == name; });
    if (pool == cfg->pools.end()) {
      dropped.push_back("pool \"" + name + "\" is no longer configured: its runtime changes are dropped");
      it = pools_.erase(it);
      continue;
    }
    std::vector<conf::ServerConfig>& servers = pool->servers;
    std::erase_if(changes.added, [&](const conf::ServerConfig& s) {
      if (!find_server(servers, s.address.text)) return false;
      dropped.push_back("server " + s.address.text + " of pool \"" + name +
                        "\" is now in the configuration file: the file's entry wins");
      return true;
    });
    for (const auto& s : changes.added) servers.push_back(s);
    std::erase_if(changes.removed, [&](const std::string& address) {
      auto s = std::find_if(servers.begin(), servers.end(), [&](const auto& x) { return x.address.text == address; });
      if (s == servers.end()) {
        if (pool->discovery) return false;  // may come back in a DNS answer: kept
        dropped.push_back("removed server " + address + " of pool \"" + name + "\" is no longer configured");
        return true;
      }
      if (servers.size() == 1) {
        dropped.push_back("server " + address + " of pool \"" + name + "\" is the pool's only server: kept");
        return true;
      }
      servers.erase(s);
      return false;
    });
    auto drop_missing = [&](auto& by_address, const char* what) {
      std::erase_if(by_address, [&](const auto& entry) {
        conf::ServerConfig* s = find_server(servers, entry.first);
        // Servers found by DNS come and go: their changes wait for them.
        if (s || pool->discovery) return false;
        dropped.push_back(std::string(what) + " of server " + entry.first + " of pool \"" + name +
                          "\" dropped: the server is no longer configured");
        return true;
      });
    };
    drop_missing(changes.state, "state");
    drop_missing(changes.weight, "weight");
    for (const auto& [address, state] : changes.state) {
      conf::ServerConfig* s = find_server(servers, address);
      // A server that left the DNS answer stays draining whatever was set.
      if (s && !(s->discovered && s->state == conf::ServerState::drain)) s->state = state;
    }
    for (const auto& [address, weight] : changes.weight)
      if (conf::ServerConfig* s = find_server(servers, address)) s->weight = weight;
    if (changes.added.empty() && changes.removed.empty() && changes.state.empty() && changes.weight.empty())
      it = pools_.erase(it);
    else
      ++it;
  }
  return cfg;
}

json RuntimeChanges::to_json() const {
  json pools = json::object();
  for (const auto& [name, p] : pools_) {
    json added = json::array();
    for (const auto& s : p.added) added.push_back(conf::runtime_server_json(s));
    json state = json::object();
    for (const auto& [address, st] : p.state) state[address] = conf::to_string(st);
    json weight = json::object();
    for (const auto& [address, w] : p.weight) weight[address] = w;
    pools[name] = {{"added", added}, {"removed", p.removed}, {"state", state}, {"weight", weight}};
  }
  return {{"version", 1}, {"pools", pools}};
}

std::optional<RuntimeChanges> RuntimeChanges::from_json(const json& j, std::string& error) {
  RuntimeChanges out;
  if (!j.is_object() || j.value("version", 0) != 1 || !j.contains("pools") || !j["pools"].is_object()) {
    error = "expected {\"version\": 1, \"pools\": {…}}";
    return std::nullopt;
  }
  for (const auto& [name, p] : j["pools"].items()) {
    const std::string at = "/pools/" + name;
    if (!p.is_object()) {
      error = at + ": expected an object";
      return std::nullopt;
    }
    PoolChanges& changes = out.pool(name);
    for (const auto& s : p.value("added", json::array())) {
      std::string err;
      auto server = conf::parse_runtime_server(s, err);
      if (!server) {
        error = at + "/added: " + err;
        return std::nullopt;
      }
      changes.added.push_back(*server);
    }
    for (const auto& a : p.value("removed", json::array())) {
      if (!a.is_string()) {
        error = at + "/removed: expected addresses";
        return std::nullopt;
      }
      changes.removed.push_back(a.get<std::string>());
    }
    // Named, not temporaries: items() views the object it is called on.
    const json states = p.value("state", json::object()), weights = p.value("weight", json::object());
    for (const auto& [address, st] : states.items()) {
      conf::ServerState state;
      if (!st.is_string() || !parse_state(st.get<std::string>(), state)) {
        error = at + "/state/" + address + ": expected ready, drain or maint";
        return std::nullopt;
      }
      changes.state[address] = state;
    }
    for (const auto& [address, w] : weights.items()) {
      const double n = w.is_number() ? w.get<double>() : 0;
      if (n < 1 || n > 1000 || n != static_cast<double>(static_cast<uint32_t>(n))) {
        error = at + "/weight/" + address + ": expected an integer in 1..1000";
        return std::nullopt;
      }
      changes.weight[address] = static_cast<uint32_t>(n);
    }
  }
  return out;
}

bool write_file_atomically(const std::string& path, const std::string& content, std::string& error) {
  const std::string tmp = path + ".tmp";
  const std::string dir = path.substr(0, path.find_last_of('/') + 1);
  auto fail = [&](const std::string& what) {
    error = what + ": " + std::strerror(errno);
    return false;
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return fail("cannot create " + tmp);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return fail("cannot write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return fail("cannot fsync " + tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename " + tmp + " to " + path);
  // The rename itself is durable only once the directory is synced.
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return fail("cannot open directory " + dir);
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return fail("cannot fsync directory " + dir);
  return true;
}

}  // namespace lb
