// tests/integration/curl_client.h — requests from a chosen client address
// (curl --interface: 127.0.0.2, 127.0.0.3… are distinct clients on
// loopback), and the backend's own count of the requests it answered, for
// suites that check who lb lets through (access rules, rate limits).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace it {

struct CurlResult {
  int status = 0;
  std::string body;
  std::string headers;  // status line and header fields, CRLF-separated
  std::string err;      // curl's stderr and exit status, for failure messages

  // The first value of header `name` (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

// GET http://127.0.0.1:PORT/PATH with curl bound to `local_ip`; `extra`
// arguments are appended (e.g. {"-H", "X-Team: red"}).
CurlResult curl_from(const std::string& local_ip, uint16_t port, const std::string& path,
                     const std::vector<std::string>& extra = {});

// The requests the backend answered (bench/backend GET /stats), not
// counting the /stats requests made through this counter. nullopt when the
// backend does not answer.
struct BackendCount {
  uint16_t port;
  uint64_t stats_calls = 0;
  std::optional<uint64_t> operator()();
};

}  // namespace it
