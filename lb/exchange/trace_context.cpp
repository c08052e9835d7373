// lb/exchange/trace_context.cpp — see lb/exchange/trace_context.h.
#include "lb/exchange/trace_context.h"

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

void put_hex(char* out, uint64_t v) {
  for (int i = 15; i >= 0; --i, v >>= 4) out[i] = kHex[v & 0xf];
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
  uint8_t flags = 0;
  out.continued = !client.empty() && parse_traceparent(client, out.trace_id, flags);
  if (out.continued) {
    flags &= 0x01;  // only "sampled" is defined for version 00, which is what lb sends
  } else {
    put_hex(out.trace_id, rng().next() | 1);  // never all zero
    put_hex(out.trace_id + 16, rng().next());
    flags = rng().next() % 100 < sample_percent ? 0x01 : 0x00;
  }
  out.trace_id[32] = '\0';
  char* p = out.traceparent;
  memcpy(p, "00-", 3);
  memcpy(p + 3, out.trace_id, 32);
  p[35] = '-';
  put_hex(p + 36, rng().next() | 1);  // lb's own parent id, never all zero
  p[52] = '-';
  p[53] = kHex[flags >> 4];
  p[54] = kHex[flags & 0xf];
  p[55] = '\0';
}

}  // namespace lb
