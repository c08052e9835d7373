// conf/load.h — JSON file → validated Config, or every problem found.
//
// Loading runs on the main thread only (it reads files and resolves host
// names, both blocking); workers only ever see the finished Config.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "conf/config.h"

namespace lb::conf {

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is non-empty
  // Every problem, formatted "FILE: /json/pointer: message" (pointer "" → "FILE: message").
  std::vector<std::string> errors;

  bool ok() const { return errors.empty(); }
};

// Reads and validates `path`. Never throws.
LoadResult load_file(const std::string& path);

// Validates `text` as if it had been read from `path` (used by tests and by load_file).
// Relative file references (certificates, token_file) resolve against dirname(path).
LoadResult load_string(std::string_view text, const std::string& path);

// The running configuration as JSON for GET /config: the same schema as the
// file, every default filled in, secrets (admin token) replaced by "***".
nlohmann::json to_json(const Config& config);

}  // namespace lb::conf
