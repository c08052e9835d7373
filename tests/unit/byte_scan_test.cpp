// tests/unit/byte_scan_test.cpp — the 16-bytes-a-step control-byte search
// (lb/http/byte_scan.h) and the request-head scanner built on it, each against
// a byte-by-byte reference: every length up to 70 (below, at and across the
// 16-byte steps and the overlapping last step), every position of one special
// byte, random mixes, and random heads fed in random pieces; and iequals
// against a lower-case-both-then-compare reference.
#include "lb/http/byte_scan.h"
#include "lb/http/http_message.h"
#include "lb/http/http_syntax.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <iterator>
#include <random>
#include <string>

using lb::http::detail::find_ctl;
using lb::http::detail::find_ctl_words;
using lb::http::detail::has_bad_ctl;

namespace {

size_t reference_find(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return i;
  }
  return s.size();
}

bool reference_bad(const std::string& s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("find_ctl: every length and position of one special byte") {
  // 0x80..0xff are not control bytes: a signed compare would call them so.
  const unsigned char specials[] = {0x00, 0x09, 0x0a, 0x0d, 0x1f, 0x7f};
  const unsigned char plain[] = {0x20, 'a', 0x7e, 0x80, 0xff};
  for (size_t len = 0; len <= 70; ++len) {
    for (unsigned char fill : plain) {
      std::string s(len, static_cast<char>(fill));
      CAPTURE(len);
      CHECK(find_ctl(s.data(), s.size()) == len);
      CHECK(find_ctl_words(s.data(), s.size()) == len);
      CHECK_FALSE(has_bad_ctl(s.data(), s.size()));
      for (size_t at = 0; at < len; ++at) {
        for (unsigned char c : specials) {
          std::string t = s;
          t[at] = static_cast<char>(c);
          CAPTURE(at);
          CAPTURE(int(c));
          CHECK(find_ctl(t.data(), t.size()) == at);
          CHECK(find_ctl_words(t.data(), t.size()) == at);
          CHECK(has_bad_ctl(t.data(), t.size()) == (c != '\t'));
        }
      }
    }
  }
}

TEST_CASE("find_ctl and has_bad_ctl agree with the reference on random bytes") {
  std::mt19937 rng(12345);
  for (int round = 0; round < 20000; ++round) {
    const size_t len = rng() % 80;
    std::string s(len, 'x');
    // Mostly printable, a few tabs, now and then any byte.
    for (char& c : s) {
      const unsigned r = rng() % 100;
      c = static_cast<char>(r < 90 ? 0x20 + rng() % 95 : r < 96 ? '\t' : rng() % 256);
    }
    CAPTURE(s);
    CHECK(find_ctl(s.data(), s.size()) == reference_find(s));
    CHECK(find_ctl_words(s.data(), s.size()) == reference_find(s));
    CHECK(has_bad_ctl(s.data(), s.size()) == reference_bad(s));
  }
}

// ---- HeadScanner's fast paths against a byte-at-a-time reference ----
//
// The reference is the rule set of http_syntax.h spelled out one byte per
// step, with no skipping: CRLF only, no CTL, no line starting with SP/HTAB,
// blank lines before the request line skipped, a size limit. The scanner
// skips printable runs 16 bytes at a time and takes CRLF in one step; both
// must give the same verdict, error and byte count for every split of the
// input into feeds.
namespace {

using lb::http::detail::HeadScanner;

struct RefScanner {
  uint64_t max_bytes;
  uint64_t total = 0;
  bool cr = false, line_empty = true, seen_line = false;
  // 0 more, 1 end, 2.. error status; `used` as HeadScanner reports it.
  std::pair<int, size_t> scan(const char* p, size_t len) {
    for (size_t i = 0; i < len; ++i) {
      const unsigned char c = static_cast<unsigned char>(p[i]);
      if (max_bytes != 0 && total >= max_bytes) return {431, i};
      ++total;
      if (cr) {
        if (c != '\n') return {400, i};
        cr = false;
        if (line_empty && seen_line) return {1, i + 1};
        if (!line_empty) seen_line = true;
        line_empty = true;
        continue;
      }
      if (c == '\r') {
        cr = true;
        continue;
      }
      if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f) return {400, i};
      if (line_empty && (c == ' ' || c == '\t')) return {400, i};
      line_empty = false;
    }
    return {0, len};
  }
};

std::string random_head(std::mt19937& rng) {
  static const char* const pieces[] = {"GET / HTTP/1.1", "\r\n", "Host: a.example", "X-Long: ",
                                       "0123456789abcdefghijklmnopqrstuvwxyz", " ", "\t", "\r",
                                       "\n", "\x01", "\x7f", "\xc3\xa9", "\r\n\r\n", "v"};
  std::string s;
  const size_t n = rng() % 14;
  for (size_t k = 0; k < n; ++k) s += pieces[rng() % std::size(pieces)];
  if (rng() % 2) s += "\r\n\r\n";
  return s;
}

}  // namespace

TEST_CASE("HeadScanner: same verdict, status and position as a byte-at-a-time reference") {
  std::mt19937 rng(777);
  for (int round = 0; round < 20000; ++round) {
    const std::string head = random_head(rng);
    const uint64_t limit = rng() % 3 == 0 ? 1 + rng() % 60 : 0;
    CAPTURE(head);
    CAPTURE(limit);
    HeadScanner scanner(limit);
    RefScanner ref{limit};
    size_t at = 0;  // feeds of random size, as reads arrive
    while (true) {
      const size_t n = std::min(head.size() - at, size_t{1} + rng() % 24);
      size_t used = 0;
      const HeadScanner::Result got = scanner.scan(head.data() + at, n, &used);
      const auto [want, want_used] = ref.scan(head.data() + at, n);
      CAPTURE(at);
      REQUIRE(used == want_used);
      if (want == 0) {
        REQUIRE(got == HeadScanner::Result::More);
      } else if (want == 1) {
        REQUIRE(got == HeadScanner::Result::End);
        break;
      } else {
        REQUIRE(got == HeadScanner::Result::Error);
        REQUIRE(scanner.error().status == want);
        break;
      }
      at += n;
      if (at == head.size()) break;
    }
  }
}

// ---- iequals ----

TEST_CASE("iequals agrees with a byte-at-a-time reference") {
  using lb::http::iequals;
  auto reference = [](const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
      auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c | 0x20) : c; };
      if (lower(x) != lower(y)) return false;
    }
    return true;
  };
  // Every byte value against every other, at the start, middle and end of a
  // 9-byte name: letters of both cases, '@'/'`' and '['/'{' (one case bit
  // apart but not letters), bytes >= 0x80.
  for (int x = 0; x < 256; ++x) {
    for (int y = 0; y < 256; ++y) {
      for (size_t at : {0u, 7u, 8u}) {
        std::string a = "content-l", b = a;
        a[at] = static_cast<char>(x);
        b[at] = static_cast<char>(y);
        if (iequals(a, b) != reference(a, b)) {
          CAPTURE(x);
          CAPTURE(y);
          CAPTURE(at);
          FAIL("iequals differs from the reference");
        }
      }
    }
  }
  std::mt19937 rng(99);
  const std::string alphabet = "aAzZ-_@`[{09\x80\xff";
  for (int round = 0; round < 50000; ++round) {
    const size_t len = rng() % 40;
    std::string a(len, 'x');
    for (char& c : a) c = alphabet[rng() % alphabet.size()];
    std::string b = a;
    for (char& c : b) {
      if (rng() % 4 == 0) c = static_cast<char>(c ^ 0x20);  // flip case bits
      if (rng() % 40 == 0) c = alphabet[rng() % alphabet.size()];
    }
    CAPTURE(a);
    CAPTURE(b);
    CHECK(iequals(a, b) == reference(a, b));
  }
  CHECK(iequals("Content-Length", "content-length"));
  CHECK(iequals("TRANSFER-ENCODING", "transfer-encoding"));
  CHECK_FALSE(iequals("content-lengtH ", "content-length"));
  CHECK_FALSE(iequals("content-length", "content_length"));
}
