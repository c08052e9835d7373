// conf/load.h — JSON file → validated Config, or every problem found.
//
// Loading runs on the main thread only (it reads files); workers only ever
// see the finished Config. Host names are resolved between two phases so a
// reload can wait for DNS without blocking the main loop: prepare_*() parses
// and collects the names, lb/dns/host_lookups.h answers them — all
// concurrently, through the file's "dns" settings — and finish_load() walks
// the file again with the answers. load_file()/load_string() do all three,
// blocking.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "conf/config.h"
#include "conf/resolve.h"

namespace lb::conf {

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is non-empty
  // Every problem, formatted "FILE: /json/pointer: message" (pointer "" → "FILE: message").
  std::vector<std::string> errors;

  bool ok() const { return errors.empty(); }
};

// A file parsed and checked once, with the host names it names.
struct PreparedLoad {
  std::string path;
  std::string text;
  // Unique host names to resolve. Empty: `result` is final (no DNS needed, or
  // the file could not be read); otherwise call finish_load().
  std::vector<std::string> hosts;
  // The file's "dns" settings (SPEC 13), for looking the hosts up.
  DnsConfig dns;
  LoadResult result;
};

// Reads and validates `path` up to host-name resolution. Never throws.
PreparedLoad prepare_file(const std::string& path);
PreparedLoad prepare_string(std::string_view text, const std::string& path);
// The final result: `answers` must hold every name in prepared.hosts (a
// missing one is reported as unresolved). Never throws.
LoadResult finish_load(const PreparedLoad& prepared, const HostAnswers& answers);

// Reads and validates `path`, resolving host names concurrently (blocking). Never throws.
LoadResult load_file(const std::string& path);

// Validates `text` as if it had been read from `path` (used by tests).
// Relative file references (certificates, token_file) resolve against dirname(path).
LoadResult load_string(std::string_view text, const std::string& path);

// Strict JSON for other inputs (admin request bodies): the same rules as the
// configuration file — nothing after the value, no duplicate keys, no NUL in
// strings, nesting limited. On failure `error` names the first problem, e.g.
// "line 1, column 18: syntax error ..." or "/state: duplicate key \"state\"".
bool parse_strict_json(std::string_view text, nlohmann::json& out, std::string& error);

// The running configuration as JSON for GET /config: the same schema as the
// file, every default filled in, secrets (admin token) replaced by "***",
// and a literal "${" in a string written "$${" (it loads back unchanged).
nlohmann::json to_json(const Config& config);

}  // namespace lb::conf
