// lb/http/http_syntax.cpp — character classes, header lookup, the strict head and
// chunk-framing scanners, the head buffer and the framing (CL/TE) rules.
// See lb/http/http_syntax.h for why these exist beside llhttp.
#include "lb/http/http_syntax.h"

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
  size_t i = 0;
  while (i < len) {
    if (!cr_ && !line_empty_) {
      // Fast path: the bulk of a head is printable bytes mid-line; skip them
      // in a tight loop (up to the size limit) and fall through on anything else.
      size_t end = len;
      if (max_bytes_ != 0) end = static_cast<size_t>(std::min<uint64_t>(len, i + (max_bytes_ - total_)));
      size_t j = i;
      while (j < end) {
        unsigned char c = static_cast<unsigned char>(p[j]);
        if (c < 0x20 || c == 0x7f) break;
        ++j;
      }
      total_ += j - i;
      i = j;
      if (i == len) break;
    }
    unsigned char c = static_cast<unsigned char>(p[i]);
    *used = i;
    if (max_bytes_ != 0 && total_ >= max_bytes_) {
      error_ = {431, "request header too large"};
      return Result::Error;
    }
    ++total_;
    ++i;
    if (cr_) {
      if (c != '\n') {
        error_ = {400, "bare CR in request head"};
        return Result::Error;
      }
      cr_ = false;
      if (line_empty_ && seen_line_) {  // the blank line that ends the head
        done_ = true;
        *used = i;
        return Result::End;
      }
      if (!line_empty_) seen_line_ = true;
      line_empty_ = true;
      continue;
    }
    if (c == '\r') {
      cr_ = true;
      continue;
    }
    if (c == '\n') {
      error_ = {400, "bare LF in request head"};
      return Result::Error;
    }
    if (is_bad_ctl(c)) {
      error_ = {400, "control character in request head"};
      return Result::Error;
    }
    if (line_empty_ && (c == ' ' || c == '\t')) {
      // After the request line this is obs-fold or whitespace before the
      // first field name; before it, a malformed request line. All are
      // ambiguous between implementations, hence refused.
      error_ = {400, seen_line_ ? "obs-fold or leading whitespace in header line"
                                : "leading whitespace in request line"};
      return Result::Error;
    }
    line_empty_ = false;
  }
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
