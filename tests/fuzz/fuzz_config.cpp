// tests/fuzz/fuzz_config.cpp — libFuzzer target for the configuration loader
// (conf::prepare_string + finish_load: JSON parse, schema walk, value checks, cross-references).
// Invariants: load never throws and either gives a config or at least one
// error, each naming the file; a config that loads serialises (conf::to_json)
// to JSON that loads again into a config with the same serialisation.
//
// Host names: a fuzzer must not send DNS queries (and a slow resolver
// would make every input time out), so the names the file names are
// answered here, between conf::prepare_string and conf::finish_load: only
// "localhost" resolves (to 127.0.0.1), as if DNS knew nothing else.
// Run with -max_len 4096: deeply nested JSON is slow to parse and walk.
#include "conf/load.h"
#include "tests/fuzz/fuzz_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include <nlohmann/json.hpp>

namespace {

lb::conf::LoadResult load_offline(std::string_view text, const std::string& path) {
  lb::conf::PreparedLoad prepared = lb::conf::prepare_string(text, path);
  lb::conf::HostAnswers answers;
  for (const std::string& host : prepared.hosts) {
    lb::conf::HostAnswer& a = answers[host];
    if (host == "localhost") {
      auto* sin = reinterpret_cast<sockaddr_in*>(&a.addr);
      sin->sin_family = AF_INET;
      sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.len = sizeof *sin;
    } else {
      a.error = "cannot resolve host \"" + host + "\": Domain name not found";
    }
  }
  return lb::conf::finish_load(prepared, answers);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string path = "/nonexistent-fuzz-dir/lb.json";
  lb::conf::LoadResult r = load_offline(text, path);
  FUZZ_CHECK(r.ok() == (r.config != nullptr));
  for (const std::string& e : r.errors) FUZZ_CHECK(e.rfind(path + ": ", 0) == 0);
  if (!r.ok()) return 0;

  nlohmann::json first = lb::conf::to_json(*r.config);
  const std::string dumped = first.dump();
  lb::conf::LoadResult again = load_offline(dumped, path);
  if (!again.ok()) {
    for (const std::string& e : again.errors) std::fprintf(stderr, "reload error: %s\n", e.c_str());
    std::fprintf(stderr, "serialised: %s\n", dumped.c_str());
  }
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(lb::conf::to_json(*again.config) == first);
  return 0;
}
