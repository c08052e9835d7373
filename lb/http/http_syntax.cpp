// lb/http/http_syntax.cpp — character classes, header lookup, the strict head and
// chunk-framing scanners, the head buffer and the framing (CL/TE) rules.
// See lb/http/http_syntax.h for why these exist beside llhttp.
#include "lb/http/http_syntax.h"

#include "lb/http/byte_scan.h"

#include <algorithm>
#include <array>
#include <limits>

namespace lb::http {

bool list_has_token(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = detail::trim_ows(list.substr(0, comma));
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

const Header* Headers::find(std::string_view name) const noexcept {
  for (const Header& h : fields) {
    if (iequals(h.name, name)) return &h;
  }
  return nullptr;
}

std::string_view Headers::get(std::string_view name, std::string_view fallback) const noexcept {
  const Header* h = find(name);
  return h ? h->value : fallback;
}

size_t Headers::count(std::string_view name) const noexcept {
  size_t n = 0;
  for (const Header& h : fields) n += iequals(h.name, name) ? 1 : 0;
  return n;
}

bool Headers::has_token(std::string_view name, std::string_view token) const noexcept {
  for (const Header& h : fields) {
    if (iequals(h.name, name) && list_has_token(h.value, token)) return true;
  }
  return false;
}

}  // namespace lb::http

namespace lb::http::detail {


bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<uint64_t> parse_content_length(std::string_view v) noexcept {
  if (v.empty()) return std::nullopt;
  uint64_t n = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (n > (kMax - d) / 10) return std::nullopt;
    n = n * 10 + d;
  }
  return n;
}

namespace {

// uri-host [":" port] bytes (reg-name, IP literal, pct-encoding), checked on
// every request's Host.
constexpr auto kHostTable = alnum_table("-._~!$&'()*+,;=:[]%");

}  // namespace

bool is_valid_host(std::string_view v) noexcept {
  for (char ch : v)
    if (!kHostTable[static_cast<unsigned char>(ch)]) return false;
  return true;
}

// ---- HeadScanner ----

void HeadScanner::reset() noexcept {
  total_ = 0;
  cr_ = false;
  line_empty_ = true;
  seen_line_ = false;
  done_ = false;
  error_ = {};
}

HeadScanner::Result HeadScanner::scan(const char* p, size_t len, size_t* used) noexcept {
  // The state lives in locals while scanning: `used` is a size_t*, which the
  // compiler must assume may alias total_ and max_bytes_, and would reload
  // them after every store through it.
  const uint64_t max_bytes = max_bytes_;
  uint64_t total = total_;
  bool cr = cr_, line_empty = line_empty_, seen_line = seen_line_;
  auto save = [&] {
    total_ = total;
    cr_ = cr;
    line_empty_ = line_empty;
    seen_line_ = seen_line;
  };
  auto fail = [&](size_t at, int status, std::string_view reason) {
    save();
    error_ = {status, reason};
    *used = at;
    return Result::Error;
  };
  size_t i = 0;
  while (i < len) {
    if (!cr && !line_empty) {
      // Fast path: the bulk of a head is printable bytes mid-line; skip them
      // (up to the size limit) and fall through on anything else.
      size_t end = len;
      if (max_bytes != 0) end = static_cast<size_t>(std::min<uint64_t>(len, i + (max_bytes - total)));
      const size_t j = i + find_ctl(p + i, end - i);
      total += j - i;
      i = j;
      if (i == len) break;
    }
    unsigned char c = static_cast<unsigned char>(p[i]);
    if (max_bytes != 0 && total >= max_bytes) return fail(i, 431, "request header too large");
    ++total;
    ++i;
    if (!cr && c == '\r') {
      // Take the LF that should follow in the same step when it is here.
      cr = true;
      if (i == len) break;
      c = static_cast<unsigned char>(p[i]);
      if (max_bytes != 0 && total >= max_bytes) return fail(i, 431, "request header too large");
      ++total;
      ++i;
    }
    if (cr) {
      if (c != '\n') return fail(i - 1, 400, "bare CR in request head");
      cr = false;
      if (line_empty && seen_line) {  // the blank line that ends the head
        save();
        done_ = true;
        *used = i;
        return Result::End;
      }
      if (!line_empty) seen_line = true;
      line_empty = true;
      // A line starting with a printable byte other than SP: straight to the
      // fast path, which counts that byte.
      if (i < len) {
        const unsigned char next = static_cast<unsigned char>(p[i]);
        if (next > 0x20 && next != 0x7f) line_empty = false;
      }
      continue;
    }
    if (c == '\n') return fail(i - 1, 400, "bare LF in request head");
    if (is_bad_ctl(c)) return fail(i - 1, 400, "control character in request head");
    if (line_empty && (c == ' ' || c == '\t')) {
      // After the request line this is obs-fold or whitespace before the
      // first field name; before it, a malformed request line. All are
      // ambiguous between implementations, hence refused.
      return fail(i - 1, 400, seen_line ? "obs-fold or leading whitespace in header line"
                                        : "leading whitespace in request line");
    }
    line_empty = false;
  }
  save();
  *used = len;
  return Result::More;
}

// ---- FramingScanner ----

bool FramingScanner::scan(const char* b, const char* e) noexcept {
  for (; b < e; ++b) {
    unsigned char c = static_cast<unsigned char>(*b);
    if (max_run_ != 0 && ++run_ > max_run_) {
      error_ = {431, "chunk framing or trailers too large"};
      return false;
    }
    if (cr_) {
      if (c != '\n') {
        error_ = {400, "bare CR in chunked framing"};
        return false;
      }
      cr_ = false;
      continue;
    }
    if (c == '\r') {
      cr_ = true;
    } else if (c == '\n') {
      error_ = {400, "bare LF in chunked framing"};
      return false;
    } else if (is_bad_ctl(c)) {
      error_ = {400, "control character in chunked framing"};
      return false;
    }
  }
  return true;
}

bool FramingScanner::body_seen() noexcept {
  run_ = 0;
  if (cr_) {
    error_ = {400, "bare CR in chunked framing"};
    return false;
  }
  return true;
}

// ---- HeadBuffer ----

void HeadBuffer::clear() noexcept {
  bytes_.clear();
  spans_.clear();
  start_len_ = 0;
  cur_ = {};
  in_field_ = false;
  in_name_ = false;
}

void HeadBuffer::reserve(size_t bytes, size_t fields) {
  bytes_.reserve(bytes);
  spans_.reserve(fields);
}

void HeadBuffer::append_name(const char* p, size_t n) {
  if (!in_name_) {  // llhttp may split one name over several callbacks
    in_name_ = true;
    in_field_ = true;
    cur_ = {bytes_.size(), 0, 0, 0};
  }
  bytes_.append(p, n);
}

void HeadBuffer::end_name() noexcept {
  cur_.name_len = bytes_.size() - cur_.name_off;
  cur_.value_off = bytes_.size();
  in_name_ = false;
}

void HeadBuffer::end_value() {
  if (!in_field_) return;
  // Field values exclude surrounding OWS (RFC 9110 5.5); llhttp leaves some.
  std::string_view v(bytes_.data() + cur_.value_off, bytes_.size() - cur_.value_off);
  std::string_view t = trim_ows(v);
  cur_.value_off += static_cast<size_t>(t.data() - v.data());
  cur_.value_len = t.size();
  spans_.push_back(cur_);
  in_field_ = false;
}

std::string_view HeadBuffer::store(std::string_view s) {
  size_t off = bytes_.size();
  bytes_.append(s);
  return {bytes_.data() + off, s.size()};
}

void HeadBuffer::fill(Headers& out) const {
  out.fields.clear();
  const char* base = bytes_.data();
  for (const Span& s : spans_) {
    out.fields.push_back({{base + s.name_off, s.name_len}, {base + s.value_off, s.value_len}});
  }
}

// ---- framing rules ----

FramingInfo check_framing(const Headers& h, uint8_t http_minor) {
  FramingInfo f;
  const Header* cl = nullptr;
  const Header* te = nullptr;
  for (const Header& x : h) {
    if (iequals(x.name, "content-length")) {
      if (cl) return {std::nullopt, false, "repeated Content-Length"};
      cl = &x;
    } else if (iequals(x.name, "transfer-encoding")) {
      if (te) return {std::nullopt, false, "repeated Transfer-Encoding"};
      te = &x;
    }
  }
  if (cl && te) return {std::nullopt, false, "both Content-Length and Transfer-Encoding"};
  if (te) {
    // Only a lone "chunked" has one meaning for every implementation; lists,
    // other codings and 1.0 messages are framing ambiguities (RFC 9112 6.1).
    if (http_minor == 0) return {std::nullopt, false, "Transfer-Encoding in HTTP/1.0"};
    if (!iequals(te->value, "chunked")) return {std::nullopt, false, "unsupported Transfer-Encoding"};
    f.chunked = true;
  }
  if (cl) {
    f.content_length = parse_content_length(cl->value);
    if (!f.content_length) return {std::nullopt, false, "invalid Content-Length"};
  }
  return f;
}

}  // namespace lb::http::detail
