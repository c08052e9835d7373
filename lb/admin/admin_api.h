// lb/admin/admin_api.h — the admin API's routes (SPEC section 6): one parsed
// request in, one response out. No sockets here: lb/admin/admin_server.h owns the
// listener and the connections and calls AdminApi::handle() per request.
//
// Routes: GET / (the dashboard page), /healthz, /ready, /stats, /metrics,
// /config (HEAD too);
// POST /reload, /pools/{pool}/servers/{address}/state and .../weight;
// POST /pools/{pool}/servers and DELETE /pools/{pool}/servers/{address}
// (SPEC 14: servers added and removed at run time, see Process).
// Every POST and DELETE needs "Authorization: Bearer <token>": missing or not Bearer →
// 401 (+ WWW-Authenticate), wrong → 403, no token configured → 403. Path
// segments are percent-decoded, so "127.0.0.1%3A9001" names 127.0.0.1:9001.
// Errors are JSON {"error":"…"}; unknown path 404, wrong method 405 (+ Allow).
// POST bodies are strict JSON (conf::parse_strict_json): trailing bytes,
// duplicate keys or NUL in a string are 400.
//
// Threading: main thread only (it reads the Process and calls reload()).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lb/admin/stats_history.h"

namespace lb {

class Process;

struct AdminRequest {
  std::string method;                        // "GET", "POST", ...
  std::string path;                          // raw path, without the query
  std::optional<std::string> authorization;  // the Authorization header, if sent
  std::string body;
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields
};

class AdminApi {
 public:
  explicit AdminApi(Process& process) : process_(process) {}

  using Respond = std::function<void(AdminResponse)>;

  void set_token(std::optional<std::string> token) { token_ = std::move(token); }
  void clear_token() { token_.reset(); }
  // Answers through `respond`, exactly once: at once, or — POST /reload
  // waiting for host-name lookups — later, from the main loop.
  void handle(const AdminRequest& request, Respond respond);
  // Every StatsHistory::kTickMs (the admin server's timer): advances the
  // latency and SLO windows of /stats.
  void tick();

 private:
  // The response, or nullopt when `respond` will be called later.
  std::optional<AdminResponse> route(const AdminRequest& request, Respond& respond);
  AdminResponse get_stats(bool metrics);
  void post_reload(Respond respond);
  AdminResponse post_server(std::string_view pool, std::string_view address, std::string_view action,
                            const std::string& body);
  AdminResponse add_server(const std::string& pool, const std::string& body);
  AdminResponse remove_server(const std::string& pool, const std::string& address);

  Process& process_;
  std::optional<std::string> token_;
  StatsHistory history_;
};

// ---- helpers (exposed for unit tests) ----

// RFC 3986 percent-decoding of one path segment; nullopt on a malformed
// escape or an encoded NUL. '+' stays '+'.
std::optional<std::string> percent_decode(std::string_view s);

// Equality that takes the same time whatever the inputs' contents (both are
// hashed with SHA-256 and the digests compared with CRYPTO_memcmp), so the
// token cannot be found byte by byte from response timings.
bool tokens_equal(std::string_view a, std::string_view b);

enum class AuthResult { ok, missing, wrong, no_token };
// `configured` is the admin token; `header` the Authorization value.
AuthResult check_bearer(const std::optional<std::string>& configured, const std::optional<std::string>& header);

// {"error":"<message>"} with JSON escaping.
std::string json_error(std::string_view message);

}  // namespace lb
