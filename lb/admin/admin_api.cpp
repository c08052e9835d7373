// lb/admin/admin_api.cpp — admin API routing, authentication and the operator
// actions (reload, server state, server weight). See lb/admin/admin_api.h.
#include "lb/admin/admin_api.h"
#include "lb/dns/discovery.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <uv.h>

#include <nlohmann/json.hpp>

#include "conf/load.h"
#include "conf/runtime_server.h"
#include "lb/http/http_message.h"
#include "lb/io/log.h"
#include "lb/core/process.h"
#include "lb/admin/dashboard_page.h"
#include "lb/admin/stats.h"
#include "lb/core/version.h"

namespace lb {

namespace {

using json = nlohmann::ordered_json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

AdminResponse json_response(int status, const json& body) { return {status, "application/json", dump(body) + "\n", {}}; }
AdminResponse error_response(int status, std::string_view message) {
  return {status, "application/json", json_error(message), {}};
}
AdminResponse text_response(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body), {}};
}
AdminResponse method_not_allowed(const char* allow) {
  AdminResponse r = error_response(405, "method not allowed");
  r.headers.emplace_back("Allow", allow);
  return r;
}

bool is_get(const AdminRequest& r) { return r.method == "GET" || r.method == "HEAD"; }


// Splits "/a/b/c" into {"a","b","c"}; empty segments are kept ("/a//b").
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path[0] != '/') return out;
  size_t start = 1;
  while (true) {
    size_t slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

}  // namespace

// ---- helpers ----

std::string json_error(std::string_view message) {
  return dump(json{{"error", std::string(message)}}) + "\n";
}

std::optional<std::string> percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    int hi = i + 1 < s.size() ? hex(s[i + 1]) : -1;
    int lo = i + 2 < s.size() ? hex(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) return std::nullopt;
    char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return std::nullopt;
    out.push_back(c);
    i += 2;
  }
  return out;
}

bool tokens_equal(std::string_view a, std::string_view b) {
  unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
  unsigned int la = 0, lb = 0;
  if (EVP_Digest(a.data(), a.size(), da, &la, EVP_sha256(), nullptr) != 1 ||
      EVP_Digest(b.data(), b.size(), db, &lb, EVP_sha256(), nullptr) != 1 || la != lb) {
    return false;  // fail closed
  }
  return CRYPTO_memcmp(da, db, la) == 0;
}

AuthResult check_bearer(const std::optional<std::string>& configured, const std::optional<std::string>& header) {
  if (!configured || configured->empty()) return AuthResult::no_token;
  if (!header) return AuthResult::missing;
  std::string_view v = *header;
  // The auth scheme is case-insensitive (RFC 9110 11.1); a different scheme
  // is the same as no credentials for us.
  if (v.size() < 7 || !http::iequals(v.substr(0, 7), "Bearer ")) return AuthResult::missing;
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return AuthResult::missing;
  return tokens_equal(v, *configured) ? AuthResult::ok : AuthResult::wrong;
}

// ---- routing ----

void AdminApi::handle(const AdminRequest& req, Respond respond) {
  if (auto now = route(req, respond)) respond(std::move(*now));
}

std::optional<AdminResponse> AdminApi::route(const AdminRequest& req, Respond& respond) {
  const std::string& path = req.path;
  if (path == "/healthz") {
    if (!is_get(req)) return method_not_allowed("GET, HEAD");
    return text_response(200, "ok");
  }
  if (path == "/ready") {
    if (!is_get(req)) return method_not_allowed("GET, HEAD");
    return process_.ready() ? text_response(200, "ready") : text_response(503, "not ready");
  }
  if (path == "/") {  // the dashboard (SPEC 15); no token needed to view
    if (!is_get(req)) return method_not_allowed("GET, HEAD");
    return AdminResponse{200, "text/html; charset=utf-8", std::string(dashboard_page()),
                         {{"Content-Security-Policy", std::string(kDashboardCsp)}, {"Cache-Control", "no-store"}}};
  }
  if (path == "/stats" || path == "/metrics") {
    if (!is_get(req)) return method_not_allowed("GET, HEAD");
    return get_stats(path == "/metrics");
  }
  if (path == "/config") {
    if (!is_get(req)) return method_not_allowed("GET, HEAD");
    auto rt = process_.runtime();
    if (!rt) return error_response(503, "no configuration loaded");
    return AdminResponse{200, "application/json",
                         conf::to_json(*rt->config).dump(2, ' ', false, json::error_handler_t::replace) + "\n", {}};
  }

  // Mutating routes: match the shape first (404/405), then authenticate,
  // then look at the target and the body.
  std::vector<std::string_view> seg = split_path(path);
  bool reload = path == "/reload";
  bool server_op = seg.size() == 5 && seg[0] == "pools" && seg[2] == "servers" &&
                   (seg[4] == "state" || seg[4] == "weight") && !seg[1].empty() && !seg[3].empty();
  // SPEC 14: POST /pools/{pool}/servers, DELETE /pools/{pool}/servers/{address}.
  bool server_add = seg.size() == 3 && seg[0] == "pools" && seg[2] == "servers" && !seg[1].empty();
  bool server_remove = seg.size() == 4 && seg[0] == "pools" && seg[2] == "servers" && !seg[1].empty() && !seg[3].empty();
  if (!reload && !server_op && !server_add && !server_remove) return error_response(404, "not found");
  if (server_remove) {
    if (req.method != "DELETE") return method_not_allowed("DELETE");
  } else if (req.method != "POST") {
    return method_not_allowed("POST");
  }

  switch (check_bearer(token_, req.authorization)) {
    case AuthResult::ok: break;
    case AuthResult::missing: {
      AdminResponse r = error_response(401, "missing bearer token");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"lb\"");
      return r;
    }
    case AuthResult::wrong: return error_response(403, "invalid token");
    case AuthResult::no_token: return error_response(403, "no admin token configured; mutating calls are disabled");
  }

  if (reload) {
    post_reload(std::move(respond));
    return std::nullopt;
  }
  auto pool = percent_decode(seg[1]);
  auto address = server_add ? std::optional<std::string>("") : percent_decode(seg[3]);
  if (!pool || !address) return error_response(400, "invalid percent-encoding in path");
  if (server_add) return add_server(*pool, req.body);
  if (server_remove) return remove_server(*pool, *address);
  return post_server(*pool, *address, seg[4], req.body);
}

AdminResponse AdminApi::add_server(const std::string& pool, const std::string& body) {
  if (!process_.runtime()) return error_response(503, "no configuration loaded");
  nlohmann::json in;
  std::string error;
  if (!conf::parse_strict_json(body, in, error)) return error_response(400, "invalid JSON body: " + error);
  std::optional<conf::ServerConfig> server = conf::parse_runtime_server(in, error);
  if (!server) return error_response(422, error);
  if (auto refused = process_.add_server(pool, *server)) return error_response(refused->status, refused->message);
  nlohmann::json out = conf::runtime_server_json(*server);
  out["pool"] = pool;
  return json_response(201, out);
}

AdminResponse AdminApi::remove_server(const std::string& pool, const std::string& address) {
  if (!process_.runtime()) return error_response(503, "no configuration loaded");
  if (auto refused = process_.remove_server(pool, address)) return error_response(refused->status, refused->message);
  return json_response(200, {{"pool", pool}, {"server", address}, {"removed", true}});
}

AdminResponse AdminApi::get_stats(bool metrics) {
  auto rt = process_.runtime();
  if (!rt) return error_response(503, "no configuration loaded");
  StatsFacts f;
  f.version = LB_VERSION;
  f.now_ns = uv_hrtime();
  f.uptime_s = f.now_ns > process_.started_ns() ? static_cast<double>(f.now_ns - process_.started_ns()) / 1e9 : 0;
  f.generation = process_.generation();
  const ReloadStatus& last = process_.last_reload();
  f.last_reload_ok = last.ok;
  f.last_reload_at = last.at;
  f.last_reload_error = last.error;
  f.reloads_ok = process_.reloads_ok();
  f.reloads_failed = process_.reloads_failed();
  if (const Discovery* d = process_.discovery())
    for (const auto& c : d->resolution_counts()) f.dns_resolutions.push_back({c.pool, c.result, c.value});
  f.log_lines_dropped = Logger::instance().lines_dropped();
  if (metrics) f.process = read_process_metrics(f.uptime_s);
  StatsSnapshot snap = take_snapshot(*rt, f, &history_);
  if (metrics) return {200, std::string(kMetricsContentType), render_metrics(snap), {}};
  return {200, "application/json", render_stats_json(snap), {}};
}

void AdminApi::tick() {
  if (auto rt = process_.runtime()) history_.tick(*rt);
}

void AdminApi::post_reload(Respond respond) {
  if (process_.stopping()) return respond(json_response(503, {{"ok", false}, {"error", "stopping"}}));
  log_info("reload requested", {{"reason", "admin API"}});
  // Captures only the Process (which outlives every admin connection): the
  // answer may come after this AdminApi's server has stopped.
  Process& process = process_;
  process_.reload([respond = std::move(respond), &process](std::optional<std::string> error) {
    if (error) respond(json_response(422, {{"ok", false}, {"error", *error}}));
    else respond(json_response(200, {{"ok", true}, {"generation", process.generation()}}));
  });
}

AdminResponse AdminApi::post_server(std::string_view pool_name, std::string_view address, std::string_view action,
                                    const std::string& body) {
  auto rt = process_.runtime();
  if (!rt) return error_response(503, "no configuration loaded");
  const PoolRuntime* pool = nullptr;
  for (const auto& p : rt->pools)
    if (p.config->name == pool_name) pool = &p;
  if (!pool) return error_response(404, "no pool named \"" + std::string(pool_name) + "\"");
  const ServerRuntime* server = nullptr;
  for (const auto& s : pool->servers)
    if (s.config->address.text == address) server = &s;
  if (!server) {
    return error_response(404, "pool \"" + std::string(pool_name) + "\" has no server \"" + std::string(address) + "\"");
  }

  // Strict: '{"state":"drain"} x' or '{"state":"drain","state":"ready"}'
  // is a client bug, not something to guess about.
  nlohmann::json in;
  std::string parse_error;
  if (!conf::parse_strict_json(body, in, parse_error)) return error_response(400, "invalid JSON body: " + parse_error);
  const std::string pool_s(pool_name), address_s(address);
  if (action == "state") {
    static constexpr const char* kUsage = "body must be {\"state\": \"ready\" | \"drain\" | \"maint\"}";
    if (!in.is_object() || in.size() != 1 || !in.contains("state") || !in["state"].is_string())
      return error_response(400, kUsage);
    std::string word = in["state"].get<std::string>();
    conf::ServerState state;
    if (word == "ready") state = conf::ServerState::ready;
    else if (word == "drain") state = conf::ServerState::drain;
    else if (word == "maint") state = conf::ServerState::maint;
    else return error_response(400, kUsage);
    if (auto refused = process_.note_server_state(pool_s, address_s, state))
      return error_response(refused->status, refused->message);
    conf::ServerState before = server->live->admin_state.exchange(state, std::memory_order_relaxed);
    log_info("server state set", {{"pool", pool_s}, {"server", address_s}, {"state", word},
                                  {"previous", conf::to_string(before)}, {"reason", "admin API"}});
    return json_response(200, {{"pool", pool_s}, {"server", address_s}, {"state", word}});
  }

  static constexpr const char* kUsage = "body must be {\"weight\": N} with N an integer in 1..1000";
  if (!in.is_object() || in.size() != 1 || !in.contains("weight")) {
    return error_response(400, kUsage);
  }
  const nlohmann::json& w = in["weight"];
  if (!w.is_number_integer()) return error_response(400, kUsage);  // unsigned counts as integer too
  int64_t n = w.is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(w.get<uint64_t>(), 1u << 30))
                                     : w.get<int64_t>();
  if (n < 1 || n > 1000) return error_response(400, kUsage);
  if (auto refused = process_.note_server_weight(pool_s, address_s, static_cast<uint32_t>(n)))
    return error_response(refused->status, refused->message);
  uint32_t before = server->live->weight.exchange(static_cast<uint32_t>(n), std::memory_order_relaxed);
  log_info("server weight set", {{"pool", pool_s}, {"server", address_s}, num("weight", static_cast<double>(n)),
                                 num("previous", before), {"reason", "admin API"}});
  return json_response(200, {{"pool", pool_s}, {"server", address_s}, {"weight", n}});
}

}  // namespace lb
