// tests/integration/curl_client.cpp — see curl_client.h.
#include "tests/integration/curl_client.h"

namespace it {

std::string CurlResult::header(std::string_view name) const {
  const std::string want = lower(name) + ":";
  size_t at = 0;
  while (at < headers.size()) {
    size_t end = headers.find("\r\n", at);
    if (end == std::string::npos) end = headers.size();
    std::string line = headers.substr(at, end - at);
    if (lower(line).rfind(want, 0) == 0) {
      size_t v = want.size();
      while (v < line.size() && line[v] == ' ') ++v;
      return line.substr(v);
    }
    at = end + 2;
  }
  return "";
}

// -D - puts the head before the body on stdout.
CurlResult curl_from(const std::string& local_ip, uint16_t port, const std::string& path,
                     const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"/usr/bin/curl", "-s", "--interface", local_ip, "-D", "-", "-o", "-",
                                   "http://127.0.0.1:" + std::to_string(port) + path};
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = run_command(args, 10s);
  CurlResult out;
  out.err = r.err + (r.status ? " rc=" + std::to_string(*r.status) : " timeout");
  size_t end = r.out.find("\r\n\r\n");
  out.headers = r.out.substr(0, end);
  if (end != std::string::npos) out.body = r.out.substr(end + 4);
  if (out.headers.size() > 12) out.status = std::atoi(out.headers.c_str() + 9);
  return out;
}

std::optional<uint64_t> BackendCount::operator()() {
  auto r = http_get(port, "/stats");
  if (!r || r->status != 200) return std::nullopt;
  try {
    return json::parse(r->body)["requests_total"].get<uint64_t>() - ++stats_calls;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace it
