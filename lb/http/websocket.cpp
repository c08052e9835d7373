// lb/http/websocket.cpp — Sec-WebSocket-Accept with OpenSSL's SHA-1 and base64.
#include "lb/http/websocket.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace lb {

namespace {
constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

std::string websocket_accept(std::string_view key) {
  std::string input(trim(key));
  input += kGuid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_len, EVP_sha1(), nullptr) != 1) return {};
  unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(digest_len));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(n));
}

std::string websocket_new_key() {
  unsigned char nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return {};
  unsigned char encoded[4 * ((sizeof nonce + 2) / 3) + 1];
  int n = EVP_EncodeBlock(encoded, nonce, static_cast<int>(sizeof nonce));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(n));
}

bool websocket_accept_matches(std::string_view key, std::string_view accept) {
  if (trim(key).empty()) return false;
  std::string expected = websocket_accept(key);
  return !expected.empty() && trim(accept) == expected;
}

}  // namespace lb
