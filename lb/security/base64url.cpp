// lb/security/base64url.cpp — see base64url.h.
#include "lb/security/base64url.h"

#include <array>
#include <cstdint>

namespace lb::security {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kInvalid = 0xff;

// Decoding table built at compile time from the alphabet: every byte not in
// it (including '+', '/', '=' of plain base64, whitespace and NUL) is invalid.
constexpr std::array<uint8_t, 256> make_table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = i;
  return t;
}
constexpr std::array<uint8_t, 256> kTable = make_table();

}  // namespace

bool base64url_decode(std::string_view in, std::string& out) {
  out.clear();
  const size_t rem = in.size() % 4;
  if (rem == 1) return false;  // 6 bits cannot make a byte
  out.reserve(in.size() / 4 * 3 + (rem ? rem - 1 : 0));
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    const uint8_t v = kTable[static_cast<uint8_t>(ch)];
    if (v == kInvalid) return false;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits (2 after "xx", 4 after "xxx"... i.e. 2 or 4) belong to no
  // byte; a canonical encoder writes them as zero.
  return (acc & ((1u << bits) - 1)) == 0;
}

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    acc = (acc << 8) | static_cast<uint8_t>(ch);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

}  // namespace lb::security
