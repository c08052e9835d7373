// lb/http/path_normalize.h — the request-path normalization of SPEC 10
// ("Normalized path"): what routing, access rules and rewrites match, and what
// the server receives. Without it `/public/../admin` or `/public/%2e%2e/admin`
// would match a `/public/` route and still reach `/admin` on the server.
#pragma once

#include <string>
#include <string_view>

namespace lb::http {

enum class PathResult {
  unchanged,   // `path` is already normal; `out` was not touched
  normalized,  // `out` holds the normal form, strictly shorter than `path`
  above_root,  // a ".." climbs above "/": the request is answered 400; `out` is empty
};

// Normalizes an origin-form path (without '?query'), in SPEC 10's order:
//  1. percent-encoded unreserved characters (ALPHA DIGIT - . _ ~, hex digits
//     of either case) are decoded: "%2e" → ".", "%7E" → "~";
//  2. runs of '/' are merged into one;
//  3. dot segments are removed as RFC 3986 5.2.4 does, except that a ".."
//     with nothing left to remove is above_root (the RFC clamps it at "/").
//     A dot segment at the end keeps the slash: "/a/b/.." → "/a/".
// Every other byte stays as sent: escapes of reserved and other characters
// ("%2F", "%5c", "%20") with their hex case, malformed escapes ("%zz", a
// trailing "%4"), backslashes, bytes over 0x7f.
//
// One exception keeps the result stable and unambiguous: an escape is not
// decoded when its character is a hex digit that would complete a new escape
// with a malformed '%' before it. "%2%65" stays as sent rather than becoming
// "%2e", which a server would decode to "." (normalizing must never create
// an escape the input did not have); so normalizing the output again always
// gives `unchanged`.
//
// A path that does not start with '/' (empty, "*", absolute-form) is the
// caller's to handle: it comes back `unchanged`.
//
// Hot path: an already normal path costs one scan and never writes `out`.
// `out` is a caller-owned buffer reused across requests (cleared, then
// appended to; its capacity is kept).
PathResult normalize_path(std::string_view path, std::string& out);

}  // namespace lb::http
