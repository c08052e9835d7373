// tests/integration/policy_util.h — what the L7 policy suites (SPEC 10:
// policy_routes_test.cpp, policy_headers_test.cpp) share: a server that
// records every request head lb sends it, byte for byte, and answers as the
// test says; reading a recorded head; curl as a real HTTP/1.1 and HTTP/2
// client; `lb --check` on a configuration written by the test.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/integration/script_server.h"

namespace it::policy {

// A keep-alive HTTP/1.1 server that records each request head it receives
// ("GET /x HTTP/1.1\r\n...\r\n\r\n", exactly as lb sent it), reads and drops a
// Content-Length body, and answers with `answer(head, n)` (n counts requests
// from 0 over all connections). The default answer is 200 with body `name`.
// An empty answer closes the connection without a response.
class RecordingServer {
 public:
  using Answer = std::function<std::string(const std::string& head, int n)>;
  explicit RecordingServer(std::string name = "server", Answer answer = nullptr);
  RecordingServer(const RecordingServer&) = delete;
  RecordingServer& operator=(const RecordingServer&) = delete;

  uint16_t port() const { return server_->port(); }
  std::string address() const { return Backend::addr(port()); }
  const std::string& name() const { return name_; }
  std::vector<std::string> heads() const;
  size_t count() const;
  std::string last() const;  // the last head, or "" when none came
  std::optional<Clock::time_point> last_arrival() const;  // when the last head was complete

  // 200 OK with `body` and `extra` header lines ("Name: value\r\n" each).
  static std::string ok(const std::string& body, const std::string& extra = "");
  static std::string status(int code, const std::string& body, const std::string& extra = "");

 private:
  void serve(Socket& conn);

  std::string name_;
  Answer answer_;
  mutable std::mutex mu_;
  std::vector<std::string> heads_;
  std::vector<Clock::time_point> arrivals_;
  std::optional<ScriptServer> server_;  // last: its threads use the members above
};

// One RecordingServer per name, each alone in a pool of that name; each
// answers 200 with its own name as the body, so the client sees who answered.
class Servers {
 public:
  Servers(std::initializer_list<std::string> names);
  RecordingServer& operator[](const std::string& name) { return *by_name_.at(name); }
  std::vector<json> pools() const;  // one round_robin pool per server, named as it
  size_t total() const;             // requests received by all of them

 private:
  std::map<std::string, std::unique_ptr<RecordingServer>> by_name_;
};

// ---- a recorded request head --------------------------------------------------
std::string request_line(const std::string& head);  // "GET /x HTTP/1.1"
// Every field of a head (request or response), in order, values trimmed.
std::vector<std::pair<std::string, std::string>> fields(const std::string& head);
// Values of every field named `name` (case-insensitive), in order.
std::vector<std::string> values(const std::string& head, std::string_view name);
// The only value of `name`; "<absent>" or "<N values>" otherwise, so a CHECK shows what came.
std::string value(const std::string& head, std::string_view name);

// ---- an answer a client got --------------------------------------------------------
struct Expected {
  const char* target;
  int status;
  const char* body;
  const char* content_type;  // a prefix of the Content-Type; nullptr: none at all
};
// CHECKs the status, the exact body and its Content-Length, and the Content-Type.
void check_answer(const std::optional<HttpResponse>& r, const Expected& want);

// ---- clients --------------------------------------------------------------------
// One request on a new connection ("Connection: close" added), the target
// sent exactly as given.
std::optional<HttpResponse> send(uint16_t port, const std::string& method, const std::string& target,
                                 std::vector<std::pair<std::string, std::string>> headers = {},
                                 ms timeout = 5s);
std::optional<HttpResponse> get(uint16_t port, const std::string& target,
                                std::vector<std::pair<std::string, std::string>> headers = {}, ms timeout = 5s);

// Sends `req` on a kept-alive connection and reads one response.
std::optional<HttpResponse> roundtrip(Socket& s, const HttpRequest& req, ms timeout = 5s);

std::string base_url(uint16_t port);  // "http://127.0.0.1:PORT"

// curl -sS -i ARGS... URL, its output parsed into a response (status 0 when
// curl failed; `error` then says why). The version is "HTTP/1.1" or "HTTP/2".
struct CurlResult {
  HttpResponse response;
  std::string error;
};
CurlResult curl(const std::vector<std::string>& args, const std::string& url, ms timeout = 10s);

// ---- configuration ----------------------------------------------------------------
// An http listener "web" on 127.0.0.1:0 with default pool `pool` ("" for none).
json web_listener(const std::string& pool, json extra = json::object());
// A round_robin pool of `servers` (addresses "127.0.0.1:P").
json pool_of(const std::string& name, const std::vector<const RecordingServer*>& servers,
             json extra = json::object());
// `lb -c FILE --check` on `config` written as FILE in `dir` (listen ports
// ":0" made 8080); exit status, stdout and stderr.
RunResult check_config(const TempDir& dir, const json& config);

}  // namespace it::policy
