// lb/http/path_normalize.cpp — SPEC 10's path normalization: a scan that
// proves most paths already normal, and a single pass over the rest that
// decodes, merges slashes and removes dot segments segment by segment.
#include "lb/http/path_normalize.h"

namespace lb::http {

namespace {

int hex_value(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 2.3 unreserved.
bool is_unreserved(unsigned char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// True when appending hex digit `c` to `written` would complete an escape
// that was not in the input: `written` ends with a '%' that is not followed
// by two hex digits in the input (so it is malformed there), alone or with
// one hex digit after it. Every '%' in `written` is a literal input byte:
// decoded characters are unreserved and valid escapes are copied whole.
bool completes_escape(std::string_view written, unsigned char c) noexcept {
  if (hex_value(c) < 0 || written.empty()) return false;
  if (written.back() == '%') return true;
  return written.size() >= 2 && written[written.size() - 2] == '%' &&
         hex_value(static_cast<unsigned char>(written.back())) >= 0;
}

// The character the escape at s[i] (s[i] == '%') decodes to, or -1 when it
// stays as sent: not two hex digits, not unreserved, or it would complete a
// new escape after what is `written` so far.
int decoded_escape(std::string_view s, size_t i, std::string_view written) noexcept {
  if (s.size() - i < 3) return -1;
  int hi = hex_value(static_cast<unsigned char>(s[i + 1]));
  int lo = hex_value(static_cast<unsigned char>(s[i + 2]));
  if (hi < 0 || lo < 0) return -1;
  auto c = static_cast<unsigned char>(hi * 16 + lo);
  if (!is_unreserved(c) || completes_escape(written, c)) return -1;
  return c;
}

// True when normalizing changes `s` (which starts with '/'): a decodable
// escape, "//", or a "." or ".." segment. Exact, so that the slow path's
// result always differs from `s` (each change shortens it). Up to the first
// hit nothing changes, so the input before an escape is exactly what the
// slow path would have written before it.
bool needs_work(std::string_view s) noexcept {
  const size_t n = s.size();
  for (size_t i = 0; i < n; ++i) {
    char c = s[i];
    if (c == '/') {
      if (i + 1 == n) return false;
      char next = s[i + 1];
      if (next == '/') return true;
      if (next != '.') continue;
      if (i + 2 == n || s[i + 2] == '/') return true;                             // "/."
      if (s[i + 2] == '.' && (i + 3 == n || s[i + 3] == '/')) return true;        // "/.."
    } else if (c == '%' && decoded_escape(s, i, s.substr(0, i)) >= 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

PathResult normalize_path(std::string_view path, std::string& out) {
  if (path.empty() || path.front() != '/' || !needs_work(path)) return PathResult::unchanged;

  // Steps 1–3 in one pass: decoding never creates a '/', so merging slashes
  // while decoding is the same as merging after; and a segment, once decoded
  // and without empty segments before it, is removed or kept exactly as
  // RFC 3986 5.2.4 would on the merged path.
  out.clear();
  const size_t n = path.size();
  size_t i = 0;
  bool dot_last = false;
  while (i < n) {
    while (i < n && path[i] == '/') ++i;  // path[i] was '/': merge the run
    const size_t seg = out.size();
    out.push_back('/');
    while (i < n && path[i] != '/') {
      if (path[i] == '%') {
        int d = decoded_escape(path, i, out);
        if (d >= 0) {
          out.push_back(static_cast<char>(d));
          i += 3;
          continue;
        }
      }
      out.push_back(path[i++]);
    }
    std::string_view name(out.data() + seg + 1, out.size() - seg - 1);
    dot_last = name == "." || name == "..";
    if (name == "..") {
      if (seg == 0) {  // nothing above: RFC 3986 would clamp, SPEC 10 answers 400
        out.clear();
        return PathResult::above_root;
      }
      out.resize(out.rfind('/', seg - 1));  // drop this segment and the one before
    } else if (name == ".") {
      out.resize(seg);
    }
  }
  // A dot segment at the end leaves its directory: "/a/b/.." → "/a/", "/." → "/".
  if (dot_last) out.push_back('/');
  return PathResult::normalized;
}

}  // namespace lb::http
