// conf/load.cpp — the entry points load_file / load_string and the top level
// of the schema walk (SPEC section 3): workers, shutdown_timeout, admin,
// logging, and the "listeners" / "pools" lists, followed by the checks that
// span objects: unique listener and pool names, listen addresses that would
// clash when bound, and listener/route references to pools that do not exist.
// The per-listener and per-pool walks live in listener.cpp and pool.cpp;
// ${NAME} substitution, done before the walk, in env_vars.cpp.
#include "conf/load.h"
#include "lb/dns/host_lookups.h"

#include <cerrno>
#include <cstring>
#include <exception>
#include <new>
#include <set>
#include <string_view>
#include <unordered_map>

#include <sys/stat.h>

#include "conf/env_vars.h"
#include "conf/schema.h"
#include "conf/values.h"

namespace lb::conf {

namespace detail {

namespace {

constexpr const char* kDefaultAdminListen = "127.0.0.1:9901";
constexpr std::size_t kMaxTokenFileBytes = 64 * 1024;
constexpr std::size_t kMaxConfigBytes = 16 * 1024 * 1024;

bool check_token(Ctx& ctx, const Pointer& at, const std::string& token, const std::string& what) {
  if (token.empty()) {
    ctx.error(at, what + " is empty");
    return false;
  }
  if (!is_visible_ascii(token)) {
    ctx.error(at, what + " must be printable ASCII without spaces (it is sent as \"Authorization: Bearer <token>\")");
    return false;
  }
  return true;
}

void load_admin(Ctx& ctx, const json& v, const Pointer& at, AdminConfig& a) {
  Obj o(ctx, v, at, {"listen", "token", "token_file"});
  if (!o.ok()) return;
  bool listen_ok = true;
  if (const json* x = o.get("listen")) {
    listen_ok = read_address(ctx, *x, o.at("listen"), a.listen);
    if (listen_ok && a.listen.sockaddr.ss_family == AF_UNIX) {
      ctx.error(o.at("listen"), "the admin API listens on \"host:port\", not on a UNIX socket");
      listen_ok = false;
    }
  } else {
    std::string err;
    listen_ok = parse_address(kDefaultAdminListen, a.listen, err);
  }
  const json* token = o.value("token");
  const json* token_file = o.value("token_file");
  bool token_problem = false;
  if (token && token_file) {
    ctx.error(at, "\"token\" and \"token_file\" are mutually exclusive; set only one");
    token_problem = true;
  } else if (token) {
    std::string t;
    if (!read_string(ctx, *token, o.at("token"), t, true) || !check_token(ctx, o.at("token"), t, "token"))
      token_problem = true;
    else
      a.token = t;
  } else if (token_file) {
    const Pointer p = o.at("token_file");
    std::string raw, contents, err;
    if (!read_string(ctx, *token_file, p, raw)) {
      token_problem = true;
    } else {
      const std::string path = resolve_path(ctx.base_dir(), raw);
      if (!read_file(path, contents, err, kMaxTokenFileBytes)) {
        ctx.error(p, "cannot read " + quote(raw) + (path != raw ? " (resolved to " + path + ")" : "") + ": " + err);
        token_problem = true;
      } else {
        std::string t = trim(contents);
        if (!check_token(ctx, p, t, "token in " + quote(raw))) {
          token_problem = true;
        } else {
          a.token = std::move(t);
          a.token_file = raw;
        }
      }
    }
  }
  if (listen_ok && !token_problem && !a.token && !is_loopback(a.listen)) {
    const Pointer p = o.has("listen") ? o.at("listen") : at;
    ctx.error(p, "admin API on non-loopback address " + quote(a.listen.text) +
                     " requires \"token\" or \"token_file\" (anyone who can reach it could change the configuration)");
  }
}

void load_logging(Ctx& ctx, const json& v, const Pointer& at, LoggingConfig& l) {
  Obj o(ctx, v, at, {"level", "error_log", "access_log"});
  o.with("level", [&](const json& x, const Pointer& p) { read_enum(ctx, x, p, kLogLevelNames, "log level", l.level); });
  o.with("error_log", [&](const json& x, const Pointer& p) { read_log_path(ctx, x, p, l.error_log); });
  o.with_nonnull("access_log", [&](const json& x, const Pointer& p) {
    std::string s;
    if (read_log_path(ctx, x, p, s)) l.access_log = s;
  });
}

// A name that appears twice in a list: reported at the second occurrence.
// Hashed, so a list of 100k entries is checked in linear time.
void check_unique_names(Ctx& ctx, const json& list, const Pointer& at, const char* what) {
  std::unordered_map<std::string_view, std::size_t> first;
  first.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& a = list[i];
    if (!a.is_object() || !a.contains("name") || !a["name"].is_string()) continue;
    const std::string& name = a["name"].get_ref<const std::string&>();
    auto [it, inserted] = first.emplace(name, i);
    if (inserted) continue;
    ctx.error(at / i / "name", std::string("duplicate ") + what + " name " + quote(name) + " (also at " +
                                   (at / it->second / "name").str() + ")");
  }
}

void check_listen_clashes(Ctx& ctx, const Config& cfg, const json* admin_json) {
  const Pointer root;
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const Address& a = cfg.listeners[i].listen;
    for (std::size_t j = 0; j < i; ++j) {
      const Address& b = cfg.listeners[j].listen;
      if (!listen_conflict(a, b)) continue;
      const std::string other = (root / "listeners" / j / "listen").str();
      const bool same = a.text == b.text || numeric_address(a) == numeric_address(b);
      ctx.error(root / "listeners" / i / "listen",
                same ? "duplicate listen address " + quote(a.text) + " (also at " + other + ")"
                     : "listen address " + quote(a.text) + " overlaps " + quote(b.text) + " at " + other +
                           " (same port, and one of them binds all addresses)");
      break;
    }
  }
  if (!cfg.admin || cfg.admin->listen.sockaddr_len == 0) return;
  for (std::size_t j = 0; j < cfg.listeners.size(); ++j) {
    if (!listen_conflict(cfg.admin->listen, cfg.listeners[j].listen)) continue;
    const Pointer p = admin_json && admin_json->contains("listen") ? root / "admin" / "listen" : root / "admin";
    ctx.error(p, "admin address " + quote(cfg.admin->listen.text) + " clashes with listener address " +
                     quote(cfg.listeners[j].listen.text) + " at " + (root / "listeners" / j / "listen").str());
    break;
  }
}

void check_pool_refs(Ctx& ctx, const json* pools, const std::vector<PoolRef>& refs) {
  std::set<std::string> names;
  if (!pools->is_array()) return;
  for (const json& p : *pools) {
    // A pool whose name is missing or malformed may be the one a reference
    // means; that pool's own error is enough until it is fixed.
    std::string err;
    if (!p.is_object() || !p.contains("name") || !p["name"].is_string() ||
        !valid_name(p["name"].get_ref<const std::string&>(), err))
      return;
    names.insert(p["name"].get<std::string>());
  }
  std::vector<std::string_view> candidates(names.begin(), names.end());
  for (const PoolRef& r : refs) {
    if (names.count(r.name)) continue;
    std::string msg = "unknown pool " + quote(r.name);
    const std::string s = suggest(r.name, candidates);
    if (!s.empty()) msg += " (did you mean " + quote(s) + "?)";
    else if (!names.empty() && names.size() <= 8) {
      msg += " (pools are:";
      for (const auto& n : names) msg += " " + quote(n);
      msg += ")";
    }
    ctx.error(r.at, msg);
  }
}

// A route's "retries" / "timeouts" start from its pool's values (defaults
// when the pool is unknown: that error is reported already) and replace the
// keys the route sets.
void apply_route_overrides(Ctx& ctx, const Config& cfg, const std::vector<RouteOverrides>& overrides) {
  for (const RouteOverrides& ov : overrides) {
    const PoolConfig* pool = cfg.find_pool(ov.route->pool);
    if (ov.retries) {
      auto r = std::make_shared<RetriesConfig>(pool ? pool->retries : RetriesConfig{});
      load_retries(ctx, *ov.retries, ov.retries_at, *r);
      ov.route->retries = std::move(r);
    }
    if (ov.timeouts) {
      auto t = std::make_shared<PoolTimeouts>(pool ? pool->timeouts : PoolTimeouts{});
      load_pool_timeouts(ctx, *ov.timeouts, ov.timeouts_at, *t);
      ov.route->timeouts = std::move(t);
    }
  }
}

// The state file need not exist (lb creates it), but its directory must.
void load_state_file(Ctx& ctx, const json& v, const Pointer& at, std::optional<std::string>& out) {
  std::string raw;
  if (!read_string(ctx, v, at, raw)) return;
  if (raw.empty()) {
    ctx.error(at, "state_file must name a file");
    return;
  }
  const std::string path = resolve_path(ctx.base_dir(), raw);
  const std::string dir = path.substr(0, path.find_last_of('/') + 1);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    ctx.error(at, "directory " + quote(dir) + " of the state file does not exist");
    return;
  }
  out = path;
}

void load_root(Ctx& ctx, const json& root, Config& cfg) {
  Obj o(ctx, root, Pointer{}, {"workers", "shutdown_timeout", "user", "group", "admin", "logging", "listeners", "pools",
                              "state_file", "dns", "redis"});
  if (!o.ok()) return;
  o.with("workers", [&](const json& x, const Pointer& p) { read_uint(ctx, x, p, 0, 256, cfg.workers); });
  o.with("shutdown_timeout", [&](const json& x, const Pointer& p) {
    read_duration(ctx, x, p, cfg.shutdown_timeout, true);
  });
  // Existence is checked by lb itself (lb/core/privileges.h): --check and start.
  o.with_nonnull("user", [&](const json& x, const Pointer& p) { read_string(ctx, x, p, cfg.user.emplace()); });
  o.with_nonnull("group", [&](const json& x, const Pointer& p) { read_string(ctx, x, p, cfg.group.emplace()); });
  o.with_nonnull("admin", [&](const json& x, const Pointer& p) { load_admin(ctx, x, p, cfg.admin.emplace()); });
  o.with("logging", [&](const json& x, const Pointer& p) { load_logging(ctx, x, p, cfg.logging); });
  o.with_nonnull("state_file", [&](const json& x, const Pointer& p) { load_state_file(ctx, x, p, cfg.state_file); });
  o.with("dns", [&](const json& x, const Pointer& p) { load_dns(ctx, x, p, cfg.dns); });
  o.with_nonnull("redis", [&](const json& x, const Pointer& p) { load_redis(ctx, x, p, cfg.redis.emplace()); });

  ListenerRefs refs;
  if (const json* x = o.require("listeners")) {
    const Pointer p = o.at("listeners");
    if (check_array(ctx, *x, p)) {
      if (x->empty()) ctx.error(p, "at least one listener is required");
      cfg.listeners.reserve(x->size());  // RouteOverrides keep pointers into the listeners' routes
      for (std::size_t i = 0; i < x->size(); ++i) load_listener(ctx, (*x)[i], p / i, cfg.listeners.emplace_back(), refs);
      check_unique_names(ctx, *x, p, "listener");
    }
  }
  const json* pools = o.require("pools");
  if (pools) {
    const Pointer p = o.at("pools");
    if (check_array(ctx, *pools, p)) {
      if (pools->empty()) ctx.error(p, "at least one pool is required");
      for (std::size_t i = 0; i < pools->size(); ++i) load_pool(ctx, (*pools)[i], p / i, cfg.pools.emplace_back());
      check_unique_names(ctx, *pools, p, "pool");
    }
  }
  check_listen_clashes(ctx, cfg, o.value("admin"));
  // Without a "pools" list every reference would dangle; the missing key is the one error.
  if (pools) check_pool_refs(ctx, pools, refs.pools);
  apply_route_overrides(ctx, cfg, refs.overrides);
  check_redis_stores(ctx, cfg, o.value("redis") != nullptr);
}

}  // namespace

}  // namespace detail

namespace {

// Phase 1: every host name is "resolved" to nothing and remembered.
class CollectHosts final : public detail::HostResolver {
 public:
  bool resolve(const std::string& host, Address&, std::string&) override {
    if (seen_.insert(host).second) hosts_.push_back(host);
    return true;  // sockaddr_len stays 0: deferred
  }
  std::vector<std::string> take() { return std::move(hosts_); }

 private:
  std::set<std::string> seen_;
  std::vector<std::string> hosts_;
};

// Phase 2: answers from the concurrent lookups.
class AnswerHosts final : public detail::HostResolver {
 public:
  explicit AnswerHosts(const HostAnswers& answers) : answers_(answers) {}
  bool resolve(const std::string& host, Address& out, std::string& err) override {
    auto it = answers_.find(host);
    if (it == answers_.end()) {
      err = "cannot resolve host " + detail::quote(host) + ": not looked up";
      return false;
    }
    if (it->second.len == 0) {
      err = it->second.error;
      return false;
    }
    out.sockaddr = it->second.addr;
    out.sockaddr_len = it->second.len;
    return true;
  }

 private:
  const HostAnswers& answers_;
};

LoadResult run_load(std::string_view text, const std::string& path, detail::HostResolver* resolver) {
  LoadResult result;
  try {
    detail::Ctx ctx(path, detail::config_base_dir(path));
    ctx.set_resolver(resolver);
    detail::json root;
    // ${NAME} is substituted before the walk, so every reader sees the final
    // value. An unset variable ends the load: walking the raw "${NAME}"
    // would add a misleading second error at the same pointer.
    if (detail::parse_json(ctx, text, root) && detail::substitute_env(ctx, root)) {
      auto cfg = std::make_shared<Config>();
      cfg->path = path;
      detail::load_root(ctx, root, *cfg);
      if (ctx.error_count() == 0) result.config = std::move(cfg);
    }
    result.errors = ctx.take_errors();
  } catch (const std::bad_alloc&) {
    result.config.reset();
    result.errors.push_back(path + ": out of memory while loading");
  } catch (const std::exception& e) {
    result.config.reset();
    result.errors.push_back(path + ": internal error while loading: " + e.what());
  } catch (...) {
    result.config.reset();
    result.errors.push_back(path + ": internal error while loading");
  }
  if (!result.errors.empty()) result.config.reset();
  return result;
}

}  // namespace

PreparedLoad prepare_string(std::string_view text, const std::string& path) {
  PreparedLoad p;
  p.path = path;
  CollectHosts collect;
  p.result = run_load(text, path, &collect);
  try {
    p.hosts = collect.take();
    // Phase 1 collects the names without failing on them, so its "dns" is the file's.
    if (p.result.config) p.dns = p.result.config->dns;
    // Phase 2 walks the text again; phase 1's result means nothing then
    // (addresses are unresolved, checks that compare them were skipped).
    if (!p.hosts.empty()) {
      p.text = std::string(text);
      p.result = {};
    }
  } catch (...) {
    p.hosts.clear();
    p.result = {};
    p.result.errors.push_back(path + ": out of memory while loading");
  }
  return p;
}

PreparedLoad prepare_file(const std::string& path) {
  PreparedLoad p;
  p.path = path;
  try {
    std::string text, err;
    if (!detail::read_file(path, text, err, detail::kMaxConfigBytes)) {
      p.result.errors.push_back(path + ": cannot read: " + err);
      return p;
    }
    return prepare_string(text, path);
  } catch (...) {
    p.result.config.reset();
    p.result.errors.push_back(path + ": cannot read: out of memory");
  }
  return p;
}

LoadResult finish_load(const PreparedLoad& prepared, const HostAnswers& answers) {
  if (prepared.hosts.empty()) return prepared.result;
  AnswerHosts answer(answers);
  return run_load(prepared.text, prepared.path, &answer);
}

LoadResult load_string(std::string_view text, const std::string& path) {
  PreparedLoad p = prepare_string(text, path);
  return finish_load(p, dns::resolve_hosts_blocking(p.hosts, p.dns));
}

LoadResult load_file(const std::string& path) {
  PreparedLoad p = prepare_file(path);
  return finish_load(p, dns::resolve_hosts_blocking(p.hosts, p.dns));
}

bool parse_strict_json(std::string_view text, nlohmann::json& out, std::string& error) {
  try {
    detail::Ctx ctx("", "");
    const bool ok = detail::parse_json(ctx, text, out) && ctx.error_count() == 0;
    if (!ok) {
      std::vector<std::string> errors = ctx.take_errors();
      error = errors.empty() ? "invalid JSON" : errors.front().substr(2);  // drop the empty file name's ": "
    }
    return ok;
  } catch (...) {
    error = "out of memory";
    return false;
  }
}

}  // namespace lb::conf
