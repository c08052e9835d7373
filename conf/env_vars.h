// conf/env_vars.h — internal to conf/: environment variables in the
// configuration file (SPEC section 3, second edition).
//
// In every JSON string value (never in object keys) `${NAME}` is replaced by
// the environment variable NAME, `$${` stands for a literal `${`, and any
// other `$` (including `$$` not followed by `{`) is literal. The text is
// scanned once from left to right and substituted values are not scanned
// again, so a variable holding `${X}` yields exactly `${X}`.
//
// load.cpp runs substitute_env on the parsed DOM before the schema walk, so
// every reader sees the final strings and every error keeps its pointer.
// to_json runs escape_env_refs on its output so GET /config loads back into
// the same configuration.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "conf/walk.h"

namespace lb::conf::detail {

// The value of environment variable `name`, or nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// getenv(3): lb's own environment, as it was when lb started.
std::optional<std::string> process_env(const std::string& name);

// Substitutes every string value under `root` in place. Each unset variable
// ("environment variable NAME is not set") and each malformed reference
// (unterminated, empty or invalid name) is reported at its value's pointer;
// returns false when there was any, leaving those values unsubstituted.
bool substitute_env(Ctx& ctx, json& root, const EnvLookup& lookup = process_env);

// The inverse for output: every "${" becomes "$${", so substituting the
// result gives `s` back.
std::string escape_env_refs(std::string_view s);
// escape_env_refs on every string value under `v` (keys are left alone).
void escape_env_refs(json& v);

}  // namespace lb::conf::detail
