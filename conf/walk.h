// conf/walk.h — internal to conf/: the toolkit the schema walk is written in.
//
//   Pointer   an RFC 6901 JSON pointer being built while descending
//   Ctx       collects every error as "FILE: /pointer: message"; knows the
//             config file's directory for relative paths
//   Obj       reads one JSON object: type-checks it, reports unknown keys
//             (with a "did you mean"), missing required keys, and hands out
//             members with their pointers
//   read_*    typed readers: each stores into `out` and returns true, or
//             reports "expected X, got Y" / a range error at the pointer and
//             leaves `out` untouched
//   parse_json  strict JSON text → DOM; syntax errors with line/column,
//             duplicate object keys reported at their pointer
//
// Nothing in here knows the lb schema; that lives in load.cpp, listener.cpp
// and pool.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <span>
#include <unordered_set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "conf/config.h"
#include "conf/enums.h"

namespace lb::conf::detail {

using json = nlohmann::json;

class Pointer {
 public:
  Pointer() = default;
  Pointer operator/(std::string_view key) const;
  Pointer operator/(std::size_t index) const;
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

class HostResolver;

class Ctx {
 public:
  Ctx(std::string file, std::string base_dir) : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  // Records "FILE: POINTER: message" ("FILE: message" for the root pointer).
  void error(const Pointer& at, const std::string& message);
  // Records "FILE: message" verbatim (syntax errors, I/O errors).
  void error_raw(const std::string& message);

  const std::string& file() const { return file_; }
  const std::string& base_dir() const { return base_dir_; }
  // Host-name lookups for read_address (null: blocking getaddrinfo).
  HostResolver* resolver() const { return resolver_; }
  void set_resolver(HostResolver* r) { resolver_ = r; }
  std::size_t error_count() const { return errors_.size(); }
  std::vector<std::string> take_errors() {
    seen_.clear();
    return std::move(errors_);
  }

 private:
  std::string file_;
  std::string base_dir_;
  std::vector<std::string> errors_;
  std::unordered_set<std::string> seen_;
  HostResolver* resolver_ = nullptr;
};

// A short description of a value for "expected X, got Y": null, true,
// number 1.5, string "abc", an array, an object.
std::string describe(const json& v);
// `s` as a JSON string literal (quoted, escaped, long strings shortened).
std::string quote(std::string_view s);
// The candidate closest to `word` when it is a plausible typo, else "".
std::string suggest(std::string_view word, std::span<const std::string_view> candidates);

class Obj {
 public:
  // Reports "expected an object" when `v` is not one; then ok() is false and
  // every getter returns nullptr. Reports every key not in `keys`.
  Obj(Ctx& ctx, const json& v, Pointer at, std::initializer_list<std::string_view> keys);

  bool ok() const { return obj_ != nullptr; }
  // The member, including an explicit null; nullptr when absent.
  const json* get(std::string_view key) const;
  // The member unless absent or null (for keys where null means "not set").
  const json* value(std::string_view key) const;
  // The member; reports `missing required key "KEY"` (+ hint) at the object when absent.
  const json* require(std::string_view key, std::string_view hint = {}) const;
  bool has(std::string_view key) const { return get(key) != nullptr; }

  Pointer at(std::string_view key) const { return at_ / key; }
  const Pointer& ptr() const { return at_; }
  Ctx& ctx() const { return ctx_; }

  // f(member, pointer) when present (null included: the reader rejects it).
  template <class F>
  void with(std::string_view key, F&& f) const {
    if (const json* v = get(key)) f(*v, at(key));
  }
  // f(member, pointer) when present and not null.
  template <class F>
  void with_nonnull(std::string_view key, F&& f) const {
    if (const json* v = value(key)) f(*v, at(key));
  }

 private:
  Ctx& ctx_;
  const json* obj_ = nullptr;
  Pointer at_;
};

// ---- typed readers

bool read_bool(Ctx& ctx, const json& v, const Pointer& at, bool& out);
// Non-empty unless allow_empty.
bool read_string(Ctx& ctx, const json& v, const Pointer& at, std::string& out, bool allow_empty = false);
bool read_int(Ctx& ctx, const json& v, const Pointer& at, int64_t lo, int64_t hi, int64_t& out);
// A finite number (integer or not).
bool read_number(Ctx& ctx, const json& v, const Pointer& at, double& out);
// allow_zero: "0s" accepted (otherwise "must be greater than 0").
bool read_duration(Ctx& ctx, const json& v, const Pointer& at, Duration& out, bool allow_zero = false);
bool read_address(Ctx& ctx, const json& v, const Pointer& at, Address& out);
bool read_name(Ctx& ctx, const json& v, const Pointer& at, std::string& out);
bool read_key_spec(Ctx& ctx, const json& v, const Pointer& at, KeySpec& out);
// A path to a readable regular file, resolved against the config's directory.
bool read_file_path(Ctx& ctx, const json& v, const Pointer& at, std::string& out);
// A path (resolved) that is not checked for existence, or "-".
bool read_log_path(Ctx& ctx, const json& v, const Pointer& at, std::string& out);
// Type check only: reports "expected an array" otherwise.
bool check_array(Ctx& ctx, const json& v, const Pointer& at);
// An object of header name → string value (a route's "headers", header
// rules' "set" and "add"): a non-object, an entry whose name is not an HTTP
// token or whose value is not a string is an error at its pointer; `each`
// gets every other entry, with the entry's pointer for its own checks.
void for_each_header_entry(Ctx& ctx, const json& v, const Pointer& at,
                           const std::function<void(const std::string& name, const Pointer& entry, std::string value)>& each);

template <class T>
bool read_uint(Ctx& ctx, const json& v, const Pointer& at, int64_t lo, int64_t hi, T& out) {
  int64_t x = 0;
  if (!read_int(ctx, v, at, lo, hi, x)) return false;
  out = static_cast<T>(x);
  return true;
}

// "unknown WHAT "x" (expected one of a, b, c; did you mean "a"?)"
std::string enum_error(std::string_view what, std::string_view got, std::span<const std::string_view> names);

template <class E, std::size_t N>
bool read_enum(Ctx& ctx, const json& v, const Pointer& at, const EnumName<E> (&table)[N], std::string_view what,
               E& out) {
  if (!v.is_string()) {
    std::string list;
    for (const auto& e : table) list += (list.empty() ? "\"" : ", \"") + std::string(e.name) + "\"";
    ctx.error(at, "expected a string (one of " + list + "), got " + describe(v));
    return false;
  }
  const std::string& s = v.get_ref<const std::string&>();
  for (const auto& e : table) {
    if (e.name == s) {
      out = e.value;
      return true;
    }
  }
  std::vector<std::string_view> names;
  for (const auto& e : table) names.push_back(e.name);
  ctx.error(at, enum_error(what, s, names));
  return false;
}

// Deepest nesting of arrays/objects parse_json accepts (lb's schema uses 6).
constexpr std::size_t kMaxJsonDepth = 64;

// Strict JSON (no comments, no trailing commas, no duplicate keys). On a
// syntax error reports "FILE: line L, column C: ..." and returns false.
// Duplicate keys are reported at their pointer; the DOM is still returned
// (last value wins) so the rest of the file can be checked. A string or key
// holding NUL ("\u0000") and nesting deeper than kMaxJsonDepth are reported
// at their pointer and make it return false.
bool parse_json(Ctx& ctx, std::string_view text, json& out);

}  // namespace lb::conf::detail
