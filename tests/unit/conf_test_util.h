// tests/unit/conf_test_util.h — helpers shared by the conf/ unit tests: a
// temporary directory for the files a configuration names, loading a JSON
// value as if read from a path, printing an error list, finding one error by
// pointer and message, and the check behind the "table of patches" tests
// (an RFC 6902 patch of a valid configuration → exactly one error).
#pragma once

#include <doctest/doctest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "conf/load.h"

namespace conf_test {

// A temporary directory removed on destruction, with files written into it.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& prefix = "conf_test") {
    std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
    const char* p = mkdtemp(tmpl.data());
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  void write(const std::string& name, const std::string& text) const {
    const std::filesystem::path f = path + "/" + name;
    std::filesystem::create_directories(f.parent_path());
    std::ofstream(f, std::ios::binary) << text;
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
  std::string config() const { return file("lb.json"); }
};

inline lb::conf::LoadResult load(const nlohmann::json& j, const std::string& path) {
  return lb::conf::load_string(j.dump(2), path);
}

inline std::string all(const std::vector<std::string>& errors) {
  std::string s;
  for (const auto& e : errors) s += "  " + e + "\n";
  return s;
}

// Some error reads "FILE: POINTER: …MSG…" ("FILE: …MSG…" for the root pointer).
inline bool has_error(const lb::conf::LoadResult& r, const std::string& file, const std::string& pointer,
                      const std::string& msg) {
  const std::string prefix = file + ": " + (pointer.empty() ? "" : pointer + ": ");
  for (const auto& e : r.errors)
    if (e.rfind(prefix, 0) == 0 && e.find(msg, prefix.size()) != std::string::npos) return true;
  return false;
}

struct Invalid {
  const char* patch;    // RFC 6902 JSON patch applied to a valid configuration
  const char* pointer;  // expected JSON pointer ("" = the root)
  const char* message;  // expected substring of the message
};

// `base` patched by c.patch fails to load with exactly one error, at c.pointer,
// containing c.message: one mistake, one message, no cascades.
inline void check_invalid(const nlohmann::json& base, const Invalid& c, const std::string& config_path) {
  lb::conf::LoadResult r = load(base.patch(nlohmann::json::parse(c.patch)), config_path);
  const std::string expected = config_path + ": " + (*c.pointer ? std::string(c.pointer) + ": " : "") + c.message;
  INFO("patch: " << std::string(c.patch));
  INFO("expected: " << expected);
  INFO("got:\n" << all(r.errors));
  CHECK_FALSE(r.ok());
  CHECK(r.config == nullptr);
  CHECK(r.errors.size() == 1);
  CHECK(has_error(r, config_path, c.pointer, c.message));
}

}  // namespace conf_test
