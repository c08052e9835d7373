// tests/fuzz/fuzz_config.cpp — libFuzzer target for the configuration loader
// (conf::load_string: JSON parse, schema walk, value checks, cross-references).
// Invariants: load never throws and either gives a config or at least one
// error, each naming the file; a config that loads serialises (conf::to_json)
// to JSON that loads again into a config with the same serialisation.
//
// Host names: this binary replaces getaddrinfo() so that only numeric
// addresses and "localhost" resolve — a fuzzer must not send DNS queries
// (and a slow resolver would make every input time out).
// Run with -max_len 4096: deeply nested JSON is slow to parse and walk.
#include "conf/load.h"
#include "tests/fuzz/fuzz_util.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include <nlohmann/json.hpp>

extern "C" int getaddrinfo(const char* node, const char*, const addrinfo* hints, addrinfo** res) {
  struct Block { addrinfo ai; sockaddr_storage ss; };
  Block b{};
  int family = hints ? hints->ai_family : AF_UNSPEC;
  if (node == nullptr) return EAI_NONAME;
  std::string name = std::strcmp(node, "localhost") == 0 ? "127.0.0.1" : node;
  auto* sin = reinterpret_cast<sockaddr_in*>(&b.ss);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&b.ss);
  if (family != AF_INET6 && inet_pton(AF_INET, name.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    b.ai.ai_addrlen = sizeof *sin;
  } else if (family != AF_INET && inet_pton(AF_INET6, name.c_str(), &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    b.ai.ai_addrlen = sizeof *sin6;
  } else {
    return EAI_NONAME;
  }
  auto* out = static_cast<Block*>(std::malloc(sizeof(Block)));
  if (!out) return EAI_MEMORY;
  *out = b;
  out->ai.ai_family = out->ss.ss_family;
  out->ai.ai_socktype = SOCK_STREAM;
  out->ai.ai_addr = reinterpret_cast<sockaddr*>(&out->ss);
  *res = &out->ai;
  return 0;
}

extern "C" void freeaddrinfo(addrinfo* ai) { std::free(ai); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string path = "/nonexistent-fuzz-dir/lb.json";
  lb::conf::LoadResult r = lb::conf::load_string(text, path);
  FUZZ_CHECK(r.ok() == (r.config != nullptr));
  for (const std::string& e : r.errors) FUZZ_CHECK(e.rfind(path + ": ", 0) == 0);
  if (!r.ok()) return 0;

  nlohmann::json first = lb::conf::to_json(*r.config);
  const std::string dumped = first.dump();
  lb::conf::LoadResult again = lb::conf::load_string(dumped, path);
  if (!again.ok()) {
    for (const std::string& e : again.errors) std::fprintf(stderr, "reload error: %s\n", e.c_str());
    std::fprintf(stderr, "serialised: %s\n", dumped.c_str());
  }
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(lb::conf::to_json(*again.config) == first);
  return 0;
}
