// lb/http/http_syntax.h — internal building blocks of the HTTP parsers: character
// classes, field-value checks, the strict raw-byte scanners that sit in front
// of llhttp, and the reusable buffer a head is collected into.
//
// Why our own scanners: the packaged llhttp is 8.1.0 (the Makefile compiles it
// with LLHTTP_STRICT_MODE=1), and what llhttp tolerates differs between its
// versions and build modes: loose builds accept bare LF, bare CR and other
// line-ending shapes that let a front end and a back end disagree on where a
// message ends (request smuggling). Rather than depend on the llhttp a
// distribution ships, every byte of a request head and of chunked framing
// passes through a scanner *before* anything derived from it reaches the
// caller.
// Not part of the public API; only lb/http_*.cpp include it.
#pragma once

#include "lb/http/http_message.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lb::http::detail {

// A byte class as a 256-entry table: ALPHA, DIGIT and `extras`. One load per
// byte where a chain of range tests costs about 20 instructions.
constexpr std::array<bool, 256> alnum_table(std::string_view extras) {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 32] = true;
  for (char c : extras) t[static_cast<unsigned char>(c)] = true;
  return t;
}
// RFC 9110 tchar: it runs once per header-name byte, so it must inline.
inline constexpr auto kTcharTable = alnum_table("!#$%&'*+-.^_`|~");
inline bool is_tchar(unsigned char c) noexcept { return kTcharTable[c]; }
bool is_token(std::string_view s) noexcept;
// CTL other than HTAB: never allowed in a head or in chunk framing.
inline bool is_bad_ctl(unsigned char c) noexcept { return (c < 0x20 && c != '\t') || c == 0x7f; }
std::string_view trim_ows(std::string_view s) noexcept;
// Content-Length: 1*DIGIT without sign, space, comma or overflow.
std::optional<uint64_t> parse_content_length(std::string_view v) noexcept;
// uri-host [":" port] characters (reg-name, IP literal, pct-encoding).
bool is_valid_host(std::string_view v) noexcept;

// Scans a request head byte by byte, strictly: CRLF line endings only, no
// CTLs, no line starting with whitespace (obs-fold, or whitespace between the
// request line and the first field), total size within a limit. Blank lines
// before the request line are skipped (RFC 9112 2.2) but still counted.
class HeadScanner {
 public:
  enum class Result { More, End, Error };
  explicit HeadScanner(uint64_t max_bytes = 0) : max_bytes_(max_bytes) {}
  void reset() noexcept;
  // Examines at most `len` bytes and stops right after the LF that ends the
  // head (End). `*used` is the number of bytes examined; on Error the bytes up
  // to the offending one. Resumable across calls.
  Result scan(const char* p, size_t len, size_t* used) noexcept;
  bool done() const noexcept { return done_; }
  uint64_t bytes() const noexcept { return total_; }
  ParseError error() const noexcept { return error_; }

 private:
  uint64_t max_bytes_;
  uint64_t total_ = 0;
  bool cr_ = false;          // previous byte was CR; the next must be LF
  bool line_empty_ = true;   // no byte yet on the current line
  bool seen_line_ = false;   // the request line has been seen
  bool done_ = false;
  ParseError error_;
};

// Scans chunked framing (size lines, extensions, CRLF after data, trailers):
// the bytes llhttp consumes between body spans. Same CRLF and CTL rules as the
// head; a run of framing bytes longer than the head limit is refused so chunk
// extensions and trailers cannot grow without bound.
class FramingScanner {
 public:
  explicit FramingScanner(uint64_t max_run = 0) : max_run_(max_run) {}
  void reset() noexcept { cr_ = false; run_ = 0; }
  // Scans [b, e); false on a violation (see error()).
  bool scan(const char* b, const char* e) noexcept;
  // A body byte arrived: the framing run restarts. A CR must not be pending
  // (a chunk's data cannot sit between CR and LF).
  bool body_seen() noexcept;
  ParseError error() const noexcept { return error_; }

 private:
  uint64_t max_run_;
  uint64_t run_ = 0;
  bool cr_ = false;
  ParseError error_;
};

// Collects the pieces of one head (start-line part and fields) that llhttp
// hands over in fragments, into one std::string whose capacity is reused from
// message to message. Offsets, not pointers, are kept while it grows.
class HeadBuffer {
 public:
  void clear() noexcept;
  void reserve(size_t bytes, size_t fields);
  void append_start(const char* p, size_t n) { bytes_.append(p, n); start_len_ += n; }
  void append_name(const char* p, size_t n);
  void end_name() noexcept;
  void append_value(const char* p, size_t n) { bytes_.append(p, n); }
  void end_value();
  size_t field_count() const noexcept { return spans_.size() + (in_field_ ? 1 : 0); }
  // Copies `s` into the buffer; the view is valid until clear(). Call only
  // before views from fill() are taken (it may reallocate).
  std::string_view store(std::string_view s);
  std::string_view start() const noexcept { return {bytes_.data(), start_len_}; }
  // Fills `out` with views into this buffer (valid until clear()).
  void fill(Headers& out) const;
  size_t capacity_bytes() const noexcept { return bytes_.capacity() + spans_.capacity() * sizeof(Span); }

 private:
  struct Span { size_t name_off, name_len, value_off, value_len; };
  std::string bytes_;
  std::vector<Span> spans_;
  size_t start_len_ = 0;
  Span cur_{};
  bool in_field_ = false;  // a name has started and its value has not ended
  bool in_name_ = false;
};

// Two head slots: the head last reported to the caller stays intact while the
// next one is being collected, so views handed out remain valid until the
// next head is reported.
template <class HeadT>
class HeadSlots {
 public:
  void begin() { building_ = 1 - published_; buf_[building_].clear(); }
  HeadBuffer& buffer() noexcept { return buf_[building_]; }
  HeadT& building() noexcept { return head_[building_]; }
  const HeadT& building() const noexcept { return head_[building_]; }
  void publish() noexcept { published_ = building_; }
  const HeadT& published() const noexcept { return head_[published_]; }
  size_t capacity_bytes() const noexcept {
    size_t n = 0;
    for (const auto& b : buf_) n += b.capacity_bytes();
    for (const auto& h : head_) n += h.headers.fields.capacity() * sizeof(h.headers.fields[0]);
    return n;
  }
  void reserve(size_t bytes, size_t fields) {
    for (auto& b : buf_) b.reserve(bytes, fields);
    for (auto& h : head_) h.headers.fields.reserve(fields);
  }

 private:
  HeadBuffer buf_[2];
  HeadT head_[2];
  int published_ = 0;
  int building_ = 1;
};

// Outcome of checking Content-Length / Transfer-Encoding on a finished head.
struct FramingInfo {
  std::optional<uint64_t> content_length;
  bool chunked = false;
  const char* error = nullptr;  // non-null: the message framing is unusable
};
// Applies the RFC 9112 6 rules both directions share: at most one
// Content-Length, valid digits; at most one Transfer-Encoding, exactly
// "chunked"; not both; no Transfer-Encoding in HTTP/1.0.
FramingInfo check_framing(const Headers& h, uint8_t http_minor);

}  // namespace lb::http::detail
