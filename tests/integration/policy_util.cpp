// tests/integration/policy_util.cpp — see policy_util.h.
#include "tests/integration/policy_util.h"

#include <doctest/doctest.h>

#include <cstdlib>

namespace it::policy {

RecordingServer::RecordingServer(std::string name, Answer answer)
    : name_(std::move(name)), answer_(std::move(answer)) {
  if (!answer_) answer_ = [body = name_](const std::string&, int) { return ok(body); };
  server_.emplace([this](Socket& conn, int) { serve(conn); });
}

void RecordingServer::serve(Socket& conn) {
  for (;;) {
    // Idle keep-alive connections wait for lb's next request; ~ScriptServer
    // shuts them down at the end of the test.
    auto head = read_request_head(conn, 60s);
    if (!head) return;
    int n = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      n = static_cast<int>(heads_.size());
      heads_.push_back(*head);
      arrivals_.push_back(Clock::now());
    }
    const std::string length = value(*head, "Content-Length");
    if (!length.empty() && length[0] != '<' && !conn.recv_exact(std::strtoull(length.c_str(), nullptr, 10), 10s))
      return;
    const std::string response = answer_(*head, n);
    if (response.empty() || !conn.send_all(response)) return;
  }
}

std::vector<std::string> RecordingServer::heads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return heads_;
}

size_t RecordingServer::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return heads_.size();
}

std::string RecordingServer::last() const {
  std::lock_guard<std::mutex> lock(mu_);
  return heads_.empty() ? std::string() : heads_.back();
}

std::optional<Clock::time_point> RecordingServer::last_arrival() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (arrivals_.empty()) return std::nullopt;
  return arrivals_.back();
}

std::string RecordingServer::status(int code, const std::string& body, const std::string& extra) {
  return "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         extra + "\r\n" + body;
}

std::string RecordingServer::ok(const std::string& body, const std::string& extra) {
  return status(200, body, extra);
}

Servers::Servers(std::initializer_list<std::string> names) {
  for (const auto& n : names) by_name_.emplace(n, std::make_unique<RecordingServer>(n));
}

std::vector<json> Servers::pools() const {
  std::vector<json> out;
  for (const auto& [name, s] : by_name_) out.push_back(pool_of(name, {s.get()}));
  return out;
}

size_t Servers::total() const {
  size_t n = 0;
  for (const auto& [name, s] : by_name_) n += s->count();
  return n;
}

// ---- a recorded request head --------------------------------------------------

std::string request_line(const std::string& head) { return head.substr(0, head.find("\r\n")); }

std::vector<std::pair<std::string, std::string>> fields(const std::string& head) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    pos += 2;
    const size_t end = head.find("\r\n", pos);
    if (end == std::string::npos || end == pos) break;
    const std::string line = head.substr(pos, end - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      size_t b = colon + 1;
      while (b < line.size() && (line[b] == ' ' || line[b] == '\t')) ++b;
      size_t e = line.size();
      while (e > b && (line[e - 1] == ' ' || line[e - 1] == '\t')) --e;
      out.emplace_back(line.substr(0, colon), line.substr(b, e - b));
    }
    pos = end;
  }
  return out;
}

std::vector<std::string> values(const std::string& head, std::string_view name) {
  std::vector<std::string> out;
  const std::string want = lower(name);
  for (auto& [n, v] : fields(head))
    if (lower(n) == want) out.push_back(std::move(v));
  return out;
}

std::string value(const std::string& head, std::string_view name) {
  auto v = values(head, name);
  if (v.empty()) return "<absent>";
  if (v.size() > 1) return "<" + std::to_string(v.size()) + " values>";
  return v[0];
}

void check_answer(const std::optional<HttpResponse>& r, const Expected& want) {
  CAPTURE(want.target);
  REQUIRE(r.has_value());
  CHECK(r->status == want.status);
  CHECK(r->body == want.body);
  CHECK(r->header("Content-Length").value_or("<none>") == std::to_string(std::string(want.body).size()));
  if (want.content_type) CHECK(r->header("Content-Type").value_or("<none>").starts_with(want.content_type));
  else CHECK_FALSE(r->has_header("Content-Type"));
}

// ---- clients --------------------------------------------------------------------

std::optional<HttpResponse> send(uint16_t port, const std::string& method, const std::string& target,
                                 std::vector<std::pair<std::string, std::string>> headers, ms timeout) {
  HttpRequest req;
  req.method = method;
  req.target = target;
  req.headers = std::move(headers);
  return http_request(port, req, timeout);
}

std::optional<HttpResponse> get(uint16_t port, const std::string& target,
                                std::vector<std::pair<std::string, std::string>> headers, ms timeout) {
  return send(port, "GET", target, std::move(headers), timeout);
}

std::optional<HttpResponse> roundtrip(Socket& s, const HttpRequest& req, ms timeout) {
  if (!s.send_all(req.serialize(), timeout)) return std::nullopt;
  return read_http_response(s, timeout, req.method);
}

std::string base_url(uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

namespace {

constexpr const char* kCurl = "/usr/bin/curl";

// curl -i output: "HTTP/2 308\r\nname: value\r\n...\r\n\r\nbody".
std::optional<HttpResponse> parse_curl_output(const std::string& out) {
  const size_t end = out.find("\r\n\r\n");
  if (end == std::string::npos) return std::nullopt;
  HttpResponse r;
  const std::string status_line = out.substr(0, out.find("\r\n"));
  const size_t sp = status_line.find(' ');
  if (sp == std::string::npos) return std::nullopt;
  r.version = status_line.substr(0, sp);
  r.status = std::atoi(status_line.c_str() + sp + 1);
  const size_t reason = status_line.find(' ', sp + 1);
  if (reason != std::string::npos) r.reason = status_line.substr(reason + 1);
  r.headers = fields(out.substr(0, end + 4));
  r.head_bytes = end + 4;
  r.body = out.substr(end + 4);
  return r;
}

}  // namespace

CurlResult curl(const std::vector<std::string>& args, const std::string& url, ms timeout) {
  std::vector<std::string> cmd{kCurl, "-sS", "-i", "--max-time", std::to_string(timeout.count() / 1000)};
  cmd.insert(cmd.end(), args.begin(), args.end());
  cmd.push_back(url);
  RunResult run = run_command(cmd, timeout + 2s);
  CurlResult c;
  if (!run.status || *run.status != 0) {
    c.error = "curl exit " + (run.status ? std::to_string(*run.status) : std::string("(timeout)")) + ": " + run.err;
    return c;
  }
  if (auto r = parse_curl_output(run.out)) c.response = std::move(*r);
  else c.error = "unparsable curl output: " + run.out;
  return c;
}

// ---- configuration ----------------------------------------------------------------

json web_listener(const std::string& pool, json extra) {
  json l = {{"name", "web"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}};
  if (!pool.empty()) l["pool"] = pool;
  for (auto& [k, v] : extra.items()) l[k] = v;
  return l;
}

json pool_of(const std::string& name, const std::vector<const RecordingServer*>& servers, json extra) {
  std::vector<json> list;
  for (const RecordingServer* s : servers) list.push_back(server(s->port()));
  return make_pool(name, "round_robin", std::move(list), std::move(extra));
}

RunResult check_config(const TempDir& dir, const json& config) {
  const std::string path = dir.file("lb.json");
  json c = config;
  // --check binds nothing, but a port must be valid: any fixed one will do.
  for (auto& l : c["listeners"])
    if (l.value("listen", "").ends_with(":0")) l["listen"] = "127.0.0.1:8080";
  write_file(path, c.dump(2));
  return run_command({lb_bin(), "-c", path, "--check"});
}

}  // namespace it::policy
