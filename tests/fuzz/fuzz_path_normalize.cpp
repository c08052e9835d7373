// tests/fuzz/fuzz_path_normalize.cpp — libFuzzer target for
// lb::http::normalize_path (SPEC 10 "Normalized path"). The input is a path
// as is, and again with '/' put in front. Invariants:
//  * a path not starting with '/' comes back unchanged;
//  * the result agrees with a reference written separately from the spec's
//    three steps: decode the whole path, merge slashes, then RFC 3986 5.2.4
//    remove_dot_segments rule by rule (rule C with nothing to remove = 400);
//  * unchanged exactly when the reference gives the path back; normalized
//    output is shorter than the input, starts with '/', has no "//" and no
//    "." or ".." segment, and normalizing it again gives unchanged;
//  * a server that decodes the output's unreserved escapes once still sees
//    no dot segment (the escaped-dot bypass cannot come back);
//  * above_root leaves `out` empty.
#include "lb/http/path_normalize.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

using lb::http::normalize_path;
using lb::http::PathResult;

namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

// Step 1 on the whole path, or (server_view) what a server that decodes
// unreserved escapes once makes of it. Unless server_view, an escape of a hex
// digit that would make a new escape with a malformed '%' before it stays.
std::string decode(std::string_view s, bool server_view) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      auto c = static_cast<unsigned char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      size_t n = out.size();
      bool forms = hex(static_cast<char>(c)) >= 0 &&
                   ((n >= 1 && out[n - 1] == '%') || (n >= 2 && out[n - 2] == '%' && hex(out[n - 1]) >= 0));
      if (unreserved(c) && (server_view || !forms)) {
        out.push_back(static_cast<char>(c));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// Step 2.
std::string merge_slashes(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '/' || out.empty() || out.back() != '/') out.push_back(c);
  return out;
}

// Step 3: RFC 3986 5.2.4, rules A–E as written, on an absolute path; nullopt
// where rule C finds no segment to remove from the output (SPEC 10: 400).
std::optional<std::string> remove_dot_segments(std::string in) {
  std::string out;
  auto pop = [&]() -> bool {
    if (out.empty()) return false;
    out.erase(out.rfind('/'));
    return true;
  };
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.erase(0, 3);
    } else if (in.starts_with("./")) {
      in.erase(0, 2);
    } else if (in.starts_with("/./")) {
      in.erase(0, 2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../")) {
      in.erase(0, 3);
      if (!pop()) return std::nullopt;
    } else if (in == "/..") {
      in = "/";
      if (!pop()) return std::nullopt;
    } else if (in == "." || in == "..") {
      in.clear();
    } else {
      size_t end = in.find('/', 1);
      if (end == std::string::npos) end = in.size();
      out.append(in, 0, end);
      in.erase(0, end);
    }
  }
  return out;
}

bool has_dot_segment(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '/') continue;
    size_t end = s.find('/', i + 1);
    std::string_view seg = s.substr(i + 1, end == std::string_view::npos ? std::string_view::npos : end - i - 1);
    if (seg == "." || seg == "..") return true;
  }
  return false;
}

void check(std::string_view path) {
  std::string out = "sentinel";
  PathResult r = normalize_path(path, out);
  if (path.empty() || path.front() != '/') {
    FUZZ_CHECK(r == PathResult::unchanged && out == "sentinel");
    return;
  }
  std::optional<std::string> want = remove_dot_segments(merge_slashes(decode(path, false)));
  if (!want) {
    FUZZ_CHECK(r == PathResult::above_root);
    FUZZ_CHECK(out.empty());
    return;
  }
  if (*want == path) {
    FUZZ_CHECK(r == PathResult::unchanged);
    FUZZ_CHECK(out == "sentinel");  // the hot path never writes
  } else {
    FUZZ_CHECK(r == PathResult::normalized);
    FUZZ_CHECK(out == *want);
    FUZZ_CHECK(out.size() < path.size());
    std::string again = "sentinel";
    FUZZ_CHECK(normalize_path(out, again) == PathResult::unchanged);
    FUZZ_CHECK(again == "sentinel");
  }
  // What routing matches and the server receives.
  std::string_view got = r == PathResult::unchanged ? path : std::string_view(out);
  FUZZ_CHECK(!got.empty() && got.front() == '/');
  FUZZ_CHECK(got.find("//") == std::string_view::npos);
  FUZZ_CHECK(!has_dot_segment(got));
  FUZZ_CHECK(!has_dot_segment(decode(got, true)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check(in);
  check("/" + std::string(in));
  return 0;
}
