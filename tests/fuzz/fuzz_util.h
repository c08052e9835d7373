// tests/fuzz/fuzz_util.h — helpers shared by the libFuzzer targets: an
// invariant check that aborts with a message (so libFuzzer saves the input),
// the loop that feeds a parser the way lb's sessions do, and an independent
// strict decoder of chunked framing used to cross-check reported bodies.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

// Unlike assert(), never compiled out: a broken invariant is a finding.
#define FUZZ_CHECK(cond)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                      \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

namespace fuzz {

// Feeds `in` to an lb::http parser `step` bytes at a time as a session does:
// unconsumed bytes stay pending and are fed again, HeadPaused is resumed at
// once, EOF calls finish(). `on_complete(consumed)` runs at each
// MessageComplete with the stream offset of the boundary. Returns the final
// status (Closed / Error / Upgrade, or what finish() said); `consumed` is the
// total the parser took.
template <class Parser, class OnComplete>
auto feed_stream(Parser& parser, std::string_view in, size_t step, size_t& consumed, OnComplete on_complete) {
  using Status = decltype(parser.finish());
  std::string pending;
  size_t delivered = 0;
  consumed = 0;
  for (;;) {
    size_t n = std::min(step, in.size() - delivered);
    pending.append(in.substr(delivered, n));
    delivered += n;
    for (int guard = 0;; ++guard) {
      FUZZ_CHECK(guard < 1'000'000);
      auto r = parser.feed(pending.data(), pending.size());
      FUZZ_CHECK(r.consumed <= pending.size());
      pending.erase(0, r.consumed);
      consumed += r.consumed;
      if (r.status == Status::NeedMore) {
        FUZZ_CHECK(pending.empty());  // NeedMore means every byte was taken
        break;
      }
      if (r.status == Status::HeadPaused) continue;
      if (r.status == Status::MessageComplete) {
        on_complete(consumed);
        continue;
      }
      if (r.status == Status::Closed) FUZZ_CHECK(r.consumed == 0);
      return r.status;
    }
    if (delivered == in.size()) {
      Status st = parser.finish();
      if (st == Status::MessageComplete) on_complete(consumed);
      return st;
    }
  }
}

// Decodes a complete chunked body (RFC 9112 7.1: size lines with optional
// extensions, CRLF after each chunk, trailer fields, final CRLF) that must
// span `raw` exactly. nullopt when `raw` is not exactly one such body. Written
// from the RFC, deliberately sharing no code with lb's parser.
inline std::optional<std::string> decode_chunked(std::string_view raw) {
  std::string out;
  size_t i = 0;
  auto line_end = [&](size_t from) { return raw.find("\r\n", from); };
  for (;;) {
    size_t eol = line_end(i);
    if (eol == std::string_view::npos) return std::nullopt;
    size_t size = 0, digits = 0, j = i;
    for (; j < eol; ++j, ++digits) {
      char c = raw[j];
      int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (v < 0) break;
      if (size > (SIZE_MAX >> 4)) return std::nullopt;
      size = size * 16 + static_cast<size_t>(v);
    }
    if (digits == 0) return std::nullopt;
    i = eol + 2;
    if (size == 0) break;
    if (raw.size() - i < size + 2) return std::nullopt;
    out.append(raw.substr(i, size));
    i += size;
    if (raw.substr(i, 2) != "\r\n") return std::nullopt;
    i += 2;
  }
  // Trailer section: field lines up to an empty line, which must end `raw`.
  for (;;) {
    size_t eol = line_end(i);
    if (eol == std::string_view::npos) return std::nullopt;
    if (eol == i) return eol + 2 == raw.size() ? std::optional<std::string>(out) : std::nullopt;
    i = eol + 2;
  }
}

// True when every CR in `s` is followed by LF and every LF preceded by CR.
inline bool crlf_only(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return false;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
  }
  return true;
}

}  // namespace fuzz
