// tests/unit/path_normalize_test.cpp — lb::http::normalize_path (SPEC 10
// "Normalized path"): a table of paths with their normal form or 400, the RFC
// 3986 5.4 examples as merged paths, escaped-dot bypasses, escapes that must
// stay byte for byte, long paths, and the hot path leaving `out` alone.
#include <doctest/doctest.h>

#include "lb/http/path_normalize.h"

#include <string>

using lb::http::normalize_path;
using lb::http::PathResult;

namespace {

// `want` of a path answered 400.
constexpr const char* kAboveRoot = nullptr;

struct Case {
  std::string in;
  const char* want;  // == in: unchanged; kAboveRoot: above_root; else the normal form
};

// Checks one case, and that the result is a fixed point (normalizing it again
// changes nothing).
void check_case(const std::string& in, const char* want) {
  CAPTURE(in);
  std::string out = "sentinel";
  PathResult r = normalize_path(in, out);
  if (want == kAboveRoot) {
    CHECK(r == PathResult::above_root);
    CHECK(out.empty());
    return;
  }
  if (in == want) {
    CHECK(r == PathResult::unchanged);
    CHECK(out == "sentinel");  // not written
    return;
  }
  REQUIRE(r == PathResult::normalized);
  CHECK(out == std::string(want));
  CHECK(out.size() < in.size());
  std::string again;
  CHECK(normalize_path(out, again) == PathResult::unchanged);
}

}  // namespace

TEST_CASE("normalize_path: table") {
  const Case cases[] = {
      // Already normal.
      {"/", "/"},
      {"/a", "/a"},
      {"/a/", "/a/"},
      {"/a/b/c.html", "/a/b/c.html"},
      {"/.well-known/acme-challenge/x", "/.well-known/acme-challenge/x"},
      {"/...", "/..."},
      {"/a/.../b", "/a/.../b"},
      {"/a.b/..c/c../.d.", "/a.b/..c/c../.d."},
      {"/caf\xc3\xa9", "/caf\xc3\xa9"},
      {"/a;p=1,2/b", "/a;p=1,2/b"},

      // RFC 3986 5.4.1 normal examples, relative to base path /b/c/d;p and
      // written as the merged path 5.2.3 makes ("./g" → "/b/c/./g").
      {"/b/c/g", "/b/c/g"},              // "g" and "./g"
      {"/b/c/./g", "/b/c/g"},            // "./g"
      {"/b/c/g/", "/b/c/g/"},            // "g/"
      {"/b/c/;x", "/b/c/;x"},            // ";x"
      {"/b/c/g;x", "/b/c/g;x"},          // "g;x"
      {"/b/c/.", "/b/c/"},               // "."
      {"/b/c/./", "/b/c/"},              // "./"
      {"/b/c/..", "/b/"},                // ".."
      {"/b/c/../", "/b/"},               // "../"
      {"/b/c/../g", "/b/g"},             // "../g"
      {"/b/c/../..", "/"},               // "../.."
      {"/b/c/../../", "/"},              // "../../"
      {"/b/c/../../g", "/g"},            // "../../g"

      // RFC 3986 5.4.2 abnormal examples. The RFC clamps ".." at the root
      // ("../../../g" → "/g", "/../g" → "/g"); SPEC 10 answers 400 instead,
      // so that no path reaches the server meaning something else than asked.
      {"/b/c/../../../g", kAboveRoot},   // "../../../g": RFC "/g"
      {"/b/c/../../../../g", kAboveRoot},  // "../../../../g": RFC "/g"
      {"/./g", "/g"},                    // "/./g"
      {"/../g", kAboveRoot},             // "/../g": RFC "/g"
      {"/b/c/g.", "/b/c/g."},            // "g."
      {"/b/c/.g", "/b/c/.g"},            // ".g"
      {"/b/c/g..", "/b/c/g.."},          // "g.."
      {"/b/c/..g", "/b/c/..g"},          // "..g"
      {"/b/c/./../g", "/b/g"},           // "./../g"
      {"/b/c/./g/.", "/b/c/g/"},         // "./g/."
      {"/b/c/g/./h", "/b/c/g/h"},        // "g/./h"
      {"/b/c/g/../h", "/b/c/h"},         // "g/../h"
      {"/b/c/g;x=1/./y", "/b/c/g;x=1/y"},  // "g;x=1/./y"
      {"/b/c/g;x=1/../y", "/b/c/y"},     // "g;x=1/../y"
      // RFC 3986 5.2.4's own walk-through.
      {"/a/b/c/./../../g", "/a/g"},

      // Dot segments at the root and at the end.
      {"/.", "/"},
      {"/./", "/"},
      {"/..", kAboveRoot},
      {"/../", kAboveRoot},
      {"/../x", kAboveRoot},
      {"/./../a", kAboveRoot},
      {"/a/..", "/"},
      {"/a/../", "/"},
      {"/a/../..", kAboveRoot},
      {"/a/b/..", "/a/"},
      {"/a/.", "/a/"},
      {"/a/./b/../../c", "/c"},
      {"/a/b/../../../c", kAboveRoot},
      {"/public/../admin", "/admin"},

      // Repeated slashes, merged before dot segments are removed (RFC 3986
      // alone would let "/a//../b" pop the empty segment: "/a/b").
      {"//", "/"},
      {"//a", "/a"},
      {"/a//", "/a/"},
      {"///a///b//", "/a/b/"},
      {"/a//../b", "/b"},
      {"/a/.//./b", "/a/b"},
      {"//..", kAboveRoot},

      // Escaped dots: decoded first, then removed like literal ones.
      {"/public/%2e%2e/admin", "/admin"},
      {"/public/%2E%2E/admin", "/admin"},
      {"/public/.%2e/admin", "/admin"},
      {"/public/%2e./admin", "/admin"},
      {"/public/%2E/admin", "/public/admin"},
      {"/public/%2e%2e", "/"},
      {"/public/%2e", "/public/"},
      {"/%2e%2e/admin", kAboveRoot},
      {"/%2e%2e", kAboveRoot},
      {"/public/%2e%2e/%2e%2e/admin", kAboveRoot},
      {"//%2e%2e//a", kAboveRoot},
      {"/a/%2e%2e%2fb", "/a/..%2fb"},  // ".." with an escaped slash is not a dot segment
      {"/a/%2e%2e%5Cb", "/a/..%5Cb"},

      // Other unreserved characters, hex digits of either case.
      {"/%41%42%43", "/ABC"},
      {"/%61%62%63", "/abc"},
      {"/%5a%7A", "/Zz"},
      {"/%7E", "/~"},
      {"/%7euser/x", "/~user/x"},
      {"/%2D%5f%2e%30%39", "/-_.09"},
      {"/a%2Db%5Fc", "/a-b_c"},

      // Reserved and other escapes stay byte for byte, hex case included.
      {"/a%2Fb", "/a%2Fb"},
      {"/a%2fb", "/a%2fb"},
      {"/a%5Cb", "/a%5Cb"},
      {"/a%5cb", "/a%5cb"},
      {"/a%20b", "/a%20b"},
      {"/%3A%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%3F%23", "/%3A%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%3F%23"},
      {"/%00%7F%80%ff", "/%00%7F%80%ff"},
      {"/%3a%41%2f%61", "/%3aA%2fa"},
      {"/%252e%252e/admin", "/%252e%252e/admin"},  // decoded once only: "%25" stays

      // Backslashes are not separators here.
      {"/a\\..\\b", "/a\\..\\b"},
      {"/public/..\\admin", "/public/..\\admin"},
      {"/a\\b/../c", "/c"},

      // Malformed escapes stay as they are.
      {"/%zz", "/%zz"},
      {"/%4", "/%4"},
      {"/%", "/%"},
      {"/a%", "/a%"},
      {"/%g1/%1g", "/%g1/%1g"},
      {"/%zz%41", "/%zzA"},
      {"/%%2e", "/%."},
      {"/%2%2e", "/%2."},
      {"/%%47", "/%G"},  // "G" is no hex digit: no new escape
      {"/%4/%31", "/%4/1"},
      // ... and never become escapes by decoding what follows them: "%2%65"
      // into "%2e" would reach a server that decodes it as ".".
      {"/%2%65", "/%2%65"},
      {"/%%32e", "/%%32e"},
      {"/%%41", "/%%41"},
      {"/%4%31", "/%4%31"},
      {"/public/%2%65%2%65/admin", "/public/%2%65%2%65/admin"},
      {"/public/%%32%65%%32%65/admin", "/public/%%32e%%32e/admin"},  // "%32" kept, "%65" decoded
      {"/%2%65/../a", "/a"},

      // Not origin-form: the caller's; returned as is.
      {"", ""},
      {"*", "*"},
      {"a/../b", "a/../b"},
      {"http://h/a/../b", "http://h/a/../b"},
      {"%2F..", "%2F.."},
  };
  for (const Case& c : cases) check_case(c.in, c.want);
  CHECK(sizeof(cases) / sizeof(cases[0]) >= 40);
}

TEST_CASE("normalize_path: long paths") {
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "/seg";
  check_case(deep, deep.c_str());

  std::string climb = deep;
  for (int i = 0; i < 5000; ++i) climb += "/..";
  check_case(climb, "/");
  check_case(climb + "/x", "/x");
  check_case(climb + "/..", kAboveRoot);

  std::string escaped = deep;
  for (int i = 0; i < 4999; ++i) escaped += "/%2e%2E";
  check_case(escaped, "/seg/");

  std::string slashes = "/a" + std::string(10000, '/') + "b";
  check_case(slashes, "/a/b");

  std::string letters;
  std::string want = "/";
  letters += "/";
  for (int i = 0; i < 3000; ++i) {
    letters += "%61";
    want += "a";
  }
  check_case(letters, want.c_str());
}

TEST_CASE("normalize_path: the buffer is reused, not reallocated") {
  std::string out;
  out.reserve(256);
  const auto* data = out.data();
  const size_t capacity = out.capacity();
  // A normal path never touches it, so it keeps what the last request left.
  out = "left over";
  CHECK(normalize_path("/api/v1/items", out) == PathResult::unchanged);
  CHECK(out == "left over");
  // A path that changes clears it first, and fits in the same storage.
  CHECK(normalize_path("/api//v1/./items/%7Ex", out) == PathResult::normalized);
  CHECK(out == "/api/v1/items/~x");
  CHECK(normalize_path("/x/..", out) == PathResult::normalized);
  CHECK(out == "/");
  CHECK(out.data() == data);
  CHECK(out.capacity() == capacity);
}
