// lb/l4/proxy_protocol.cpp — PROXY protocol v1/v2 encode and parse
// (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt).
#include "lb/l4/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "lb/io/net_util.h"

namespace lb::proxy_protocol {

namespace {

constexpr char kV2Signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr size_t kV1MaxLength = 107;

uint16_t port_of(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
}

bool same_inet_family(const sockaddr* a, const sockaddr* b) {
  return a->sa_family == b->sa_family && (a->sa_family == AF_INET || a->sa_family == AF_INET6);
}

bool parse_ip_port(const std::string& ip, const std::string& port, int family, sockaddr_storage& out) {
  char* end = nullptr;
  unsigned long p = strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end || p > 65535 || (port.size() > 1 && port[0] == '0')) return false;
  memset(&out, 0, sizeof out);
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(p));
    return inet_pton(AF_INET, ip.c_str(), &sin->sin_addr) == 1;
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(static_cast<uint16_t>(p));
  return inet_pton(AF_INET6, ip.c_str(), &sin6->sin6_addr) == 1;
}

ParseResult parse_v1(const char* data, size_t len) {
  ParseResult r;
  const char* eol = static_cast<const char*>(memchr(data, '\n', len < kV1MaxLength ? len : kV1MaxLength));
  if (!eol) {
    r.status = len >= kV1MaxLength ? ParseResult::Status::invalid : ParseResult::Status::incomplete;
    return r;
  }
  if (eol == data || eol[-1] != '\r') {
    r.status = ParseResult::Status::invalid;
    return r;
  }
  std::string line(data, static_cast<size_t>(eol - 1 - data));
  r.consumed = static_cast<size_t>(eol - data) + 1;
  // "PROXY TCP4 src dst sport dport" | "PROXY UNKNOWN ..."
  std::string parts[6];
  size_t n = 0, pos = 0;
  while (n < 6 && pos <= line.size()) {
    size_t sp = line.find(' ', pos);
    if (sp == std::string::npos) sp = line.size();
    parts[n++] = line.substr(pos, sp - pos);
    pos = sp + 1;
  }
  if (n >= 2 && parts[0] == "PROXY" && parts[1] == "UNKNOWN") {
    r.status = ParseResult::Status::done;
    return r;
  }
  int family = parts[1] == "TCP4" ? AF_INET : parts[1] == "TCP6" ? AF_INET6 : 0;
  if (n != 6 || pos <= line.size() || parts[0] != "PROXY" || family == 0 ||
      !parse_ip_port(parts[2], parts[4], family, r.src) || !parse_ip_port(parts[3], parts[5], family, r.dst)) {
    r.status = ParseResult::Status::invalid;
    return r;
  }
  r.has_addresses = true;
  r.status = ParseResult::Status::done;
  return r;
}

ParseResult parse_v2(const unsigned char* data, size_t len) {
  ParseResult r;
  if (len < 16) return r;
  uint8_t ver_cmd = data[12], fam = data[13];
  size_t body = (static_cast<size_t>(data[14]) << 8) | data[15];
  if ((ver_cmd >> 4) != 2 || (ver_cmd & 0xf) > 1) {
    r.status = ParseResult::Status::invalid;
    return r;
  }
  if (len < 16 + body) return r;
  r.consumed = 16 + body;
  r.status = ParseResult::Status::done;
  if ((ver_cmd & 0xf) == 0) return r;  // LOCAL: health check from the proxy itself
  const unsigned char* p = data + 16;
  if (fam == 0x11 && body >= 12) {  // TCP over IPv4
    auto* s = reinterpret_cast<sockaddr_in*>(&r.src);
    auto* d = reinterpret_cast<sockaddr_in*>(&r.dst);
    s->sin_family = d->sin_family = AF_INET;
    memcpy(&s->sin_addr, p, 4);
    memcpy(&d->sin_addr, p + 4, 4);
    memcpy(&s->sin_port, p + 8, 2);
    memcpy(&d->sin_port, p + 10, 2);
    r.has_addresses = true;
  } else if (fam == 0x21 && body >= 36) {  // TCP over IPv6
    auto* s = reinterpret_cast<sockaddr_in6*>(&r.src);
    auto* d = reinterpret_cast<sockaddr_in6*>(&r.dst);
    s->sin6_family = d->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, p, 16);
    memcpy(&d->sin6_addr, p + 16, 16);
    memcpy(&s->sin6_port, p + 32, 2);
    memcpy(&d->sin6_port, p + 34, 2);
    r.has_addresses = true;
  }
  return r;
}

}  // namespace

std::string encode_v1(const sockaddr* src, const sockaddr* dst) {
  if (!same_inet_family(src, dst)) return "PROXY UNKNOWN\r\n";
  std::string s = src->sa_family == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ";
  s += format_ip(src) + " " + format_ip(dst) + " " + std::to_string(port_of(src)) + " " +
       std::to_string(port_of(dst)) + "\r\n";
  return s;
}

std::string encode_v2(const sockaddr* src, const sockaddr* dst) {
  std::string s(kV2Signature, sizeof kV2Signature);
  if (!same_inet_family(src, dst)) {
    s += '\x20';  // version 2, LOCAL
    s += '\x00';
    s += std::string("\x00\x00", 2);
    return s;
  }
  bool v4 = src->sa_family == AF_INET;
  s += '\x21';  // version 2, PROXY
  s += v4 ? '\x11' : '\x21';
  uint16_t body = v4 ? 12 : 36;
  s += static_cast<char>(body >> 8);
  s += static_cast<char>(body & 0xff);
  std::string_view sip = ip_bytes(src), dip = ip_bytes(dst);
  s.append(sip.data(), sip.size());
  s.append(dip.data(), dip.size());
  uint16_t sp = htons(port_of(src)), dp = htons(port_of(dst));
  s.append(reinterpret_cast<const char*>(&sp), 2);
  s.append(reinterpret_cast<const char*>(&dp), 2);
  return s;
}

ParseResult parse(const char* data, size_t len) {
  size_t cmp = len < sizeof kV2Signature ? len : sizeof kV2Signature;
  if (memcmp(data, kV2Signature, cmp) == 0) {
    if (len < sizeof kV2Signature) return {};
    return parse_v2(reinterpret_cast<const unsigned char*>(data), len);
  }
  cmp = len < 6 ? len : 6;
  if (memcmp(data, "PROXY ", cmp) != 0) {
    ParseResult r;
    r.status = ParseResult::Status::invalid;
    return r;
  }
  return parse_v1(data, len);
}

}  // namespace lb::proxy_protocol
