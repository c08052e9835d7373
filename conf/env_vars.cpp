// conf/env_vars.cpp — `${NAME}` substitution in the configuration's string
// values, and its inverse for to_json (see env_vars.h).
#include "conf/env_vars.h"

#include <cstdlib>

namespace lb::conf::detail {

namespace {

constexpr std::string_view kSyntax = " (a reference is ${NAME}; write $${ for a literal \"${\")";

bool valid_env_name(std::string_view name) {
  if (name.empty()) return false;
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!letter(name[0])) return false;
  for (char c : name)
    if (!letter(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

// Substitutes one string; reports each problem at `at`. On any problem `s`
// is left as it was: a half-substituted value would only cause a second,
// misleading error.
bool substitute_string(Ctx& ctx, const Pointer& at, std::string& s, const EnvLookup& lookup) {
  if (s.find('$') == std::string::npos) return true;  // the common case: nothing to do, no copy
  std::string out;
  out.reserve(s.size());
  bool ok = true;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (s.compare(i, 2, "${") != 0) {
      out += s[i++];
      continue;
    }
    const std::size_t close = s.find('}', i + 2);
    if (close == std::string::npos) {
      ctx.error(at, "\"${\" without a closing \"}\" in " + quote(s.substr(i)) + std::string(kSyntax));
      return false;  // the rest of the string is the broken reference
    }
    const std::string name = s.substr(i + 2, close - i - 2);
    i = close + 1;
    if (name.empty()) {
      ctx.error(at, "empty environment variable name in \"${}\"" + std::string(kSyntax));
      ok = false;
    } else if (!valid_env_name(name)) {
      ctx.error(at, "invalid environment variable name " + quote(name) +
                        " (names are letters, digits and '_', not starting with a digit)" + std::string(kSyntax));
      ok = false;
    } else if (std::optional<std::string> value = lookup(name)) {
      out += *value;
    } else {
      ctx.error(at, "environment variable " + name + " is not set");
      ok = false;
    }
  }
  if (ok) s = std::move(out);
  return ok;
}

bool substitute_value(Ctx& ctx, const Pointer& at, json& v, const EnvLookup& lookup) {
  // Recursion is bounded: parse_json refuses nesting deeper than kMaxJsonDepth.
  bool ok = true;
  if (v.is_string()) {
    ok = substitute_string(ctx, at, v.get_ref<std::string&>(), lookup);
  } else if (v.is_object()) {
    for (auto& [key, member] : v.items()) ok = substitute_value(ctx, at / key, member, lookup) && ok;
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i) ok = substitute_value(ctx, at / i, v[i], lookup) && ok;
  }
  return ok;
}

}  // namespace

std::optional<std::string> process_env(const std::string& name) {
  // Loading runs on the main thread only and lb never calls setenv, so
  // getenv's lack of thread safety does not matter here.
  if (const char* v = std::getenv(name.c_str())) return std::string(v);
  return std::nullopt;
}

bool substitute_env(Ctx& ctx, json& root, const EnvLookup& lookup) {
  return substitute_value(ctx, Pointer{}, root, lookup);
}

std::string escape_env_refs(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    // One more '$' in front of each "${": the parser reads "$${" first, so
    // that is always a literal, and every other '$' already was one.
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') out += '$';
    out += s[i];
  }
  return out;
}

void escape_env_refs(json& v) {
  if (v.is_string()) {
    std::string& s = v.get_ref<std::string&>();
    if (s.find("${") != std::string::npos) s = escape_env_refs(s);
  } else if (v.is_structured()) {
    for (json& member : v) escape_env_refs(member);
  }
}

}  // namespace lb::conf::detail
