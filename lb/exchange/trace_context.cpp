// lb/exchange/trace_context.cpp — see lb/exchange/trace_context.h.
#include "lb/exchange/trace_context.h"

#include <emmintrin.h>
#include <uv.h>

#include <cstring>

#include "algorithms/hash.h"

namespace lb {

namespace {

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// n lower-case hex digits, not all zero.
bool hex_id(std::string_view s) {
  bool nonzero = false;
  for (char c : s) {
    if (hex_value(c) < 0) return false;
    nonzero |= c != '0';
  }
  return nonzero;
}

// 16 lower-case hex digits of v, most significant first, in one SSE2
// register: split each byte into its two nibbles, interleave them, and turn
// every nibble into '0'..'9' or 'a'..'f' at once (no loop, no table).
void put_hex(char* out, uint64_t v) {
  const __m128i bytes = _mm_cvtsi64_si128(static_cast<long long>(__builtin_bswap64(v)));
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low4);
  const __m128i lo = _mm_and_si128(bytes, low4);
  __m128i n = _mm_unpacklo_epi8(hi, lo);
  const __m128i letters = _mm_cmpgt_epi8(n, _mm_set1_epi8(9));
  n = _mm_add_epi8(n, _mm_add_epi8(_mm_set1_epi8('0'), _mm_and_si128(letters, _mm_set1_epi8('a' - '0' - 10))));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), n);
}

algo::SplitMix64& rng() {
  thread_local algo::SplitMix64 r{uv_hrtime() ^ (reinterpret_cast<uintptr_t>(&r) << 20) ^ 0x7261636574ull};
  return r;
}

}  // namespace

bool parse_traceparent(std::string_view v, char trace_id[32], uint8_t& flags) {
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  const int v0 = hex_value(v[0]), v1 = hex_value(v[1]);
  if (v0 < 0 || v1 < 0) return false;
  const int version = v0 * 16 + v1;
  if (version == 0xff) return false;
  if (version == 0 ? v.size() != 55 : v.size() > 55 && v[55] != '-') return false;
  if (!hex_id(v.substr(3, 32)) || !hex_id(v.substr(36, 16))) return false;
  const int f0 = hex_value(v[53]), f1 = hex_value(v[54]);
  if (f0 < 0 || f1 < 0) return false;
  memcpy(trace_id, v.data() + 3, 32);
  flags = static_cast<uint8_t>(f0 * 16 + f1);
  return true;
}

void make_trace_context(std::string_view client, uint32_t sample_percent, TraceContext& out) {
  algo::SplitMix64& r = rng();  // one thread_local look-up for the three ids
  char* p = out.line;
  memcpy(p, "traceparent: 00-", TraceContext::kPrefix + 3);
  p += TraceContext::kPrefix;
  uint8_t flags = 0;
  out.continued = !client.empty() && parse_traceparent(client, p + 3, flags);
  if (out.continued) {
    flags &= 0x01;  // only "sampled" is defined for version 00, which is what lb sends
  } else {
    const uint64_t hi = r.next() | 1, lo = r.next();  // never all zero
    put_hex(p + 3, hi);
    put_hex(p + 19, lo);
    // 32 bits of the id scaled to 0..99 by a multiply (no division).
    flags = ((lo >> 32) * 100) >> 32 < sample_percent ? 0x01 : 0x00;
  }
  p[35] = '-';
  put_hex(p + 36, r.next() | 1);  // lb's own parent id, never all zero
  p[52] = '-';
  p[53] = kHex[flags >> 4];
  p[54] = kHex[flags & 0xf];
  p[55] = '\r';
  p[56] = '\n';
}

}  // namespace lb
