// lb/http/byte_scan.h — finds the first control byte in a run of head bytes,
// 16 bytes per step.
//
// Every byte of a request head passes the strict scanner (http_syntax.h), and
// every response header value is checked for control bytes. Byte by byte that
// was about 500 instructions of a 79-byte keep-alive request, a tenth of lb's
// own code per request. Nearly all head bytes are printable: the scanners only
// need to know where the next byte that is not is (CR, LF, HTAB, other CTLs,
// DEL). SSE2 is part of x86-64, so no runtime dispatch is needed; other
// targets, and runs of 8 to 15 bytes, take a 64-bit word at a time.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace lb::http::detail {

// Loads 8 bytes as one word (memcpy: any alignment, no aliasing issue).
inline uint64_t load_word(const char* p) noexcept {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// find_ctl's word path, 8 bytes a step: for runs of 8 to 15 bytes on x86-64,
// and for every run on targets without SSE2. Its own function so the unit
// test checks it on x86-64 too.
inline size_t find_ctl_words(const char* p, size_t n) noexcept {
  static_assert(std::endian::native == std::endian::little, "byte order of the word scan");
  // Per byte: below 0x20, or equal to 0x7f. In each test a borrow only runs
  // upwards, so the lowest flagged byte is exact, and the lowest of either
  // test is the first match.
  auto ctl_mask = [](const char* at) {
    constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
    const uint64_t x = load_word(at);
    const uint64_t below_space = (x - kOnes * 0x20) & ~x & kHigh;
    const uint64_t del = x ^ (kOnes * 0x7f);
    return below_space | ((del - kOnes) & ~del & kHigh);
  };
  size_t i = 0;
  if (n >= 8) {
    for (; i + 8 <= n; i += 8) {
      if (const uint64_t m = ctl_mask(p + i)) return i + static_cast<size_t>(__builtin_ctzll(m)) / 8;
    }
    if (i == n) return n;
    // The last 8 bytes, overlapping clean ones (which cannot be flagged:
    // nothing below them matched).
    const size_t last = n - 8;
    if (const uint64_t m = ctl_mask(p + last)) return last + static_cast<size_t>(__builtin_ctzll(m)) / 8;
    return n;
  }
  for (; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 || c == 0x7f) return i;
  }
  return n;
}

// Index of the first byte in [p, p + n) below 0x20 or equal to 0x7f; n when
// there is none.
inline size_t find_ctl(const char* p, size_t n) noexcept {
#if defined(__SSE2__)
  if (n >= 16) {
    const __m128i max_ctl = _mm_set1_epi8(0x1f);
    const __m128i del = _mm_set1_epi8(0x7f);
    // Bit k set when byte k of `v` is a CTL (min(v, 0x1f) == v, unsigned) or DEL.
    auto ctl_mask = [&](const char* at) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
      const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, max_ctl), v);
      return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(v, del))));
    };
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      if (const unsigned m = ctl_mask(p + i)) return i + static_cast<size_t>(__builtin_ctz(m));
    }
    if (i == n) return n;
    // The last 16 bytes, overlapping clean ones: no byte-wise tail.
    const size_t last = n - 16;
    if (const unsigned m = ctl_mask(p + last)) return last + static_cast<size_t>(__builtin_ctz(m));
    return n;
  }
#endif
  return find_ctl_words(p, n);
}

// True when [p, p + n) holds a CTL other than HTAB, or DEL: never allowed in
// a field value.
inline bool has_bad_ctl(const char* p, size_t n) noexcept {
  for (size_t i = find_ctl(p, n); i < n; i += 1 + find_ctl(p + i + 1, n - i - 1)) {
    if (p[i] != '\t') return true;
  }
  return false;
}

}  // namespace lb::http::detail
