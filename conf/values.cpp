// conf/values.cpp — parsers for durations, addresses, names, key specs, host
// names and file paths (see values.h). Pure functions: no JSON, no pointers,
// no exceptions; the only side effects are getaddrinfo() for host names (unless
// the caller supplies a HostResolver) and
// reading files that the configuration references.
#include "conf/values.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <system_error>

namespace lb::conf::detail {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string q(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
      continue;
    }
    out += c;
  }
  return out + "\"";
}

constexpr int64_t kMaxDurationMs = int64_t{8760} * 3600 * 1000;  // 365 days

}  // namespace

// ---------------------------------------------------------------- durations

namespace {

struct DurationUnit {
  std::string_view name;
  int64_t ms;
};

// Largest first: a compound duration must use them in this order.
constexpr DurationUnit kDurationUnits[] = {{"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}};
constexpr std::size_t kNoUnit = std::size(kDurationUnits);

std::size_t find_duration_unit(std::string_view name) {
  for (std::size_t k = 0; k < kNoUnit; ++k)
    if (kDurationUnits[k].name == name) return k;
  return kNoUnit;
}

}  // namespace

bool parse_duration(std::string_view s, Duration& out, std::string& err) {
  const std::string examples = " (use a number with a unit: ms, s, m or h, e.g. \"2s\", \"250ms\" or \"1m30s\")";
  if (s.empty()) {
    err = "empty duration" + examples;
    return false;
  }
  if (s.find_first_of(" \t\r\n") != std::string_view::npos) {
    err = "duration " + q(s) + " must not contain spaces" + examples;
    return false;
  }
  if (s[0] == '-') {
    err = "duration " + q(s) + " is negative";
    return false;
  }
  int64_t total = 0;
  std::size_t allowed = 0;  // index of the largest unit the next component may use
  std::size_t i = 0;
  // One component per turn: a number (integer or decimal) and its unit.
  while (i < s.size()) {
    const std::size_t int_begin = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    const std::size_t int_end = i;
    std::size_t frac_begin = i, frac_end = i;
    bool bad_number = int_end == int_begin;
    if (i < s.size() && s[i] == '.') {
      frac_begin = ++i;
      while (i < s.size() && is_digit(s[i])) ++i;
      frac_end = i;
      if (frac_end == frac_begin) bad_number = true;
    }
    if (bad_number) {
      err = "invalid duration " + q(s) + examples;
      return false;
    }
    const std::size_t unit_begin = i;
    while (i < s.size() && !is_digit(s[i]) && s[i] != '.') ++i;
    const std::string_view unit = s.substr(unit_begin, i - unit_begin);
    if (unit.empty() && i < s.size()) {  // "1.5.5s": a second '.' where a unit belongs
      err = "invalid duration " + q(s) + examples;
      return false;
    }
    if (unit.empty() && int_begin == 0) {
      err = "duration " + q(s) + " has no unit (use ms, s, m or h, e.g. \"" + std::string(s) + "s\")";
      return false;
    }
    if (unit.empty()) {
      err = "duration " + q(s) + " has no unit after " + q(s.substr(int_begin));
      if (allowed < kNoUnit) err += " (e.g. \"" + std::string(s) + std::string(kDurationUnits[allowed].name) + "\")";
      return false;
    }
    const std::size_t k = find_duration_unit(unit);
    if (k == kNoUnit) {
      err = "unknown unit " + q(unit) + " in duration " + q(s) + " (use ms, s, m or h)";
      return false;
    }
    if (k < allowed) {
      err = "units in duration " + q(s) +
            " must go from largest to smallest, each at most once (h, m, s, ms; e.g. \"1m30s\")";
      return false;
    }
    allowed = k + 1;
    const int64_t unit_ms = kDurationUnits[k].ms;
    // 12 integer digits of hours would already overflow the maximum; bail
    // early so the arithmetic below cannot overflow int64.
    if (int_end - int_begin > 12 || frac_end - frac_begin > 9) {
      err = "duration " + q(s) + " is too large or too precise (max 8760h, whole milliseconds)";
      return false;
    }
    int64_t whole = 0;
    for (std::size_t d = int_begin; d < int_end; ++d) whole = whole * 10 + (s[d] - '0');
    int64_t frac = 0, den = 1;
    for (std::size_t d = frac_begin; d < frac_end; ++d) {
      frac = frac * 10 + (s[d] - '0');
      den *= 10;
    }
    if (whole > kMaxDurationMs / unit_ms) {
      err = "duration " + q(s) + " is too large (max 8760h)";
      return false;
    }
    if ((frac * unit_ms) % den != 0) {
      err = "duration " + q(s) + " is not a whole number of milliseconds";
      return false;
    }
    // total is at most kMaxDurationMs here and this part at most
    // kMaxDurationMs + 1h, so the sum cannot overflow int64.
    total += whole * unit_ms + frac * unit_ms / den;
    if (total > kMaxDurationMs) {
      err = "duration " + q(s) + " is too large (max 8760h)";
      return false;
    }
  }
  out = Duration{total};
  return true;
}

std::string format_duration(Duration d) {
  const int64_t ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// ---------------------------------------------------------------- addresses

namespace {

bool parse_port(std::string_view p, uint16_t& out, std::string& err) {
  if (p.empty()) {
    err = "missing port number";
    return false;
  }
  for (char c : p) {
    if (!is_digit(c)) {
      err = "invalid port " + q(p) + " (expected a number 1..65535)";
      return false;
    }
  }
  if (p.size() > 6) {
    err = "port " + std::string(p) + " out of range (1..65535)";
    return false;
  }
  unsigned long v = std::stoul(std::string(p));
  if (v < 1 || v > 65535) {
    err = "port " + std::to_string(v) + " out of range (1..65535)";
    return false;
  }
  out = static_cast<uint16_t>(v);
  return true;
}

bool looks_like_ipv4(std::string_view h) {
  for (char c : h)
    if (!is_digit(c) && c != '.') return false;
  return true;
}

void set_port(Address& a, uint16_t port) {
  if (a.sockaddr.ss_family == AF_INET)
    reinterpret_cast<sockaddr_in*>(&a.sockaddr)->sin_port = htons(port);
  else
    reinterpret_cast<sockaddr_in6*>(&a.sockaddr)->sin6_port = htons(port);
}

// getaddrinfo() wrapper; `numeric` forbids DNS.
bool resolve(const std::string& host, bool numeric, int family, Address& out, std::string& err) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = numeric ? AI_NUMERICHOST : 0;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    if (numeric) err = "invalid IPv6 address " + q(host);
    else err = "cannot resolve host " + q(host) + ": " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
    return false;
  }
  const addrinfo* pick = nullptr;
  for (const addrinfo* p = res; p; p = p->ai_next)
    if (p->ai_family == AF_INET) { pick = p; break; }
  if (!pick)
    for (const addrinfo* p = res; p; p = p->ai_next)
      if (p->ai_family == AF_INET6) { pick = p; break; }
  if (!pick || pick->ai_addrlen > sizeof(out.sockaddr)) {
    freeaddrinfo(res);
    err = "host " + q(host) + " has no IPv4 or IPv6 address";
    return false;
  }
  std::memcpy(&out.sockaddr, pick->ai_addr, pick->ai_addrlen);
  out.sockaddr_len = static_cast<socklen_t>(pick->ai_addrlen);
  freeaddrinfo(res);
  return true;
}

}  // namespace

bool lookup_host(const std::string& host, Address& out, std::string& err) {
  return resolve(host, false, AF_UNSPEC, out, err);
}

// "unix:/path" (SPEC 3): an AF_UNIX address; `host` holds the path, port 0.
static bool parse_unix_address(std::string_view text, Address& out, std::string& err) {
  std::string_view path = text.substr(5);
  if (path.empty() || path[0] != '/') {
    err = "UNIX socket address " + q(text) + " needs an absolute path, e.g. \"unix:/run/lb/web.sock\"";
    return false;
  }
  sockaddr_un sun{};
  if (path.size() >= sizeof sun.sun_path) {
    err = "UNIX socket path in " + q(text) + " is longer than " + std::to_string(sizeof sun.sun_path - 1) + " bytes";
    return false;
  }
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), path.size());
  Address a;
  a.text = std::string(text);
  a.host = std::string(path);
  std::memcpy(&a.sockaddr, &sun, sizeof sun);
  a.sockaddr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  out = std::move(a);
  return true;
}

bool parse_address(std::string_view text, Address& out, std::string& err, HostResolver* resolver) {
  if (text.substr(0, 5) == "unix:") return parse_unix_address(text, out, err);
  Address a;
  a.text = std::string(text);
  std::string_view host, port;
  bool bracketed = false;
  if (!text.empty() && text[0] == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      err = "invalid address " + q(text) + ": missing ']'";
      return false;
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest[0] != ':') {
      err = "missing port in address " + q(text) + " (expected \"[v6]:port\")";
      return false;
    }
    port = rest.substr(1);
    bracketed = true;
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      err = "missing port in address " + q(text) + " (expected \"host:port\")";
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      err = "IPv6 address in " + q(text) + " must be in brackets, e.g. \"[::1]:8080\"";
      return false;
    }
  }
  if (host.empty()) {
    err = "missing host in address " + q(text) + " (use 0.0.0.0 or [::] for all interfaces)";
    return false;
  }
  if (!parse_port(port, a.port, err)) {
    if (err == "missing port number") err = "missing port in address " + q(text);
    return false;
  }
  a.host = std::string(host);

  if (bracketed) {
    if (host.find(':') == std::string_view::npos) {
      err = "brackets are only for IPv6 addresses, got " + q(text);
      return false;
    }
    if (!resolve(a.host, true, AF_INET6, a, err)) return false;
  } else if (looks_like_ipv4(host)) {
    sockaddr_in sin{};
    if (inet_pton(AF_INET, a.host.c_str(), &sin.sin_addr) != 1) {
      err = "invalid IPv4 address " + q(host);
      return false;
    }
    sin.sin_family = AF_INET;
    std::memcpy(&a.sockaddr, &sin, sizeof sin);
    a.sockaddr_len = sizeof sin;
  } else {
    std::string herr;
    if (!valid_hostname(host, herr)) {
      err = "invalid host " + q(host) + ": " + herr;
      return false;
    }
    if (!(resolver ? resolver->resolve(a.host, a, err) : lookup_host(a.host, a, err))) return false;
    // A deferred lookup leaves the address unresolved (sockaddr_len 0).
    if (a.sockaddr_len == 0) {
      out = std::move(a);
      return true;
    }
  }
  set_port(a, a.port);
  out = std::move(a);
  return true;
}

std::string numeric_address(const Address& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.sockaddr.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&a.sockaddr);
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(a.port);
  }
  if (a.sockaddr.ss_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&a.sockaddr);
    inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(a.port);
  }
  return a.text;
}

bool is_loopback(const Address& a) {
  if (a.sockaddr.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&a.sockaddr);
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.sockaddr.ss_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&a.sockaddr);
    const in6_addr& ip = sin6->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&ip)) return true;
    return IN6_IS_ADDR_V4MAPPED(&ip) && ip.s6_addr[12] == 127;
  }
  return false;
}

namespace {

bool is_wildcard(const Address& a) {
  if (a.sockaddr.ss_family == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(&a.sockaddr)->sin_addr.s_addr == htonl(INADDR_ANY);
  if (a.sockaddr.ss_family == AF_INET6) {
    const in6_addr& ip = reinterpret_cast<const sockaddr_in6*>(&a.sockaddr)->sin6_addr;
    return IN6_IS_ADDR_UNSPECIFIED(&ip);
  }
  return false;
}

bool same_ip(const Address& a, const Address& b) {
  if (a.sockaddr.ss_family != b.sockaddr.ss_family) return false;
  if (a.sockaddr.ss_family == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(&a.sockaddr)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(&b.sockaddr)->sin_addr.s_addr;
  if (a.sockaddr.ss_family == AF_INET6)
    return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&a.sockaddr)->sin6_addr,
                       &reinterpret_cast<const sockaddr_in6*>(&b.sockaddr)->sin6_addr, sizeof(in6_addr)) == 0;
  return false;
}

}  // namespace

bool listen_conflict(const Address& a, const Address& b) {
  if (a.sockaddr.ss_family == AF_UNIX || b.sockaddr.ss_family == AF_UNIX)
    return a.sockaddr.ss_family == b.sockaddr.ss_family && a.host == b.host;
  if (a.sockaddr_len == 0 || b.sockaddr_len == 0 || a.port != b.port) return false;
  if (same_ip(a, b)) return true;
  auto covers = [](const Address& w, const Address& other) {
    if (!is_wildcard(w)) return false;
    if (w.sockaddr.ss_family == AF_INET6) return true;  // dual-stack [::]
    return other.sockaddr.ss_family == AF_INET;
  };
  return covers(a, b) || covers(b, a);
}

// ---------------------------------------------------------------- names, keys, hosts

bool valid_name(std::string_view s, std::string& err) {
  if (s.empty()) {
    err = "name must not be empty";
    return false;
  }
  for (char c : s) {
    if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '.' && c != '-') {
      err = "invalid name " + q(s) + ": names may contain only letters, digits, '_', '.' and '-'";
      return false;
    }
  }
  return true;
}

bool is_http_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (is_alpha(c) || is_digit(c)) continue;
    if (std::strchr("!#$%&'*+-.^_`|~", c) && c != '\0') continue;
    return false;
  }
  return true;
}

bool is_visible_ascii(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

bool parse_key_spec(std::string_view s, KeySpec& out, std::string& err) {
  KeySpec k;
  k.text = std::string(s);
  auto named = [&](std::string_view prefix, KeySpec::Kind kind, bool lower) {
    std::string_view name = s.substr(prefix.size());
    if (name.empty()) {
      err = "key " + q(s) + " is missing the " + std::string(prefix.substr(0, prefix.size() - 1)) + " name";
      return false;
    }
    if (!is_http_token(name)) {
      err = "invalid " + std::string(prefix.substr(0, prefix.size() - 1)) + " name " + q(name) + " in key " + q(s);
      return false;
    }
    k.kind = kind;
    k.name = lower ? to_lower(name) : std::string(name);
    return true;
  };
  bool ok = true;
  if (s == "client_ip") k.kind = KeySpec::Kind::client_ip;
  else if (s == "path") k.kind = KeySpec::Kind::path;
  else if (s == "uri") k.kind = KeySpec::Kind::uri;
  else if (s.starts_with("header:")) ok = named("header:", KeySpec::Kind::header, true);
  else if (s.starts_with("cookie:")) ok = named("cookie:", KeySpec::Kind::cookie, false);
  else {
    err = "invalid key " + q(s) + " (expected client_ip, header:NAME, cookie:NAME, path or uri)";
    return false;
  }
  if (!ok) return false;
  out = std::move(k);
  return true;
}

bool valid_hostname(std::string_view s, std::string& err) {
  if (s.empty()) {
    err = "empty host name";
    return false;
  }
  std::string_view body = s;
  if (body.back() == '.') body.remove_suffix(1);
  if (body.empty() || body.size() > 253) {
    err = "host name must be 1..253 characters";
    return false;
  }
  std::size_t label = 0;
  for (char c : body) {
    if (c == '.') {
      if (label == 0) {
        err = "empty label in host name";
        return false;
      }
      label = 0;
      continue;
    }
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') {
      err = std::string("character '") + (static_cast<unsigned char>(c) < 0x20 ? '?' : c) +
            "' is not allowed in a host name";
      return false;
    }
    if (++label > 63) {
      err = "host name label longer than 63 characters";
      return false;
    }
  }
  if (label == 0) {
    err = "empty label in host name";
    return false;
  }
  return true;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// ---------------------------------------------------------------- files

std::string resolve_path(std::string_view base_dir, std::string_view path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return std::string(path);
  return (std::filesystem::path(base_dir) / std::filesystem::path(path)).lexically_normal().string();
}

std::string config_base_dir(const std::string& config_path) {
  std::filesystem::path dir = std::filesystem::path(config_path).parent_path();
  if (dir.is_absolute()) return dir.lexically_normal().string();
  std::error_code ec;
  std::filesystem::path cwd = std::filesystem::current_path(ec);
  if (ec) return dir.string();
  return (cwd / dir).lexically_normal().string();
}

namespace {

// Opens a regular file for reading; -1 with err set otherwise.
int open_regular(const std::string& path, std::string& err) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    err = std::strerror(errno);
    return -1;
  }
  struct stat st{};
  if (fstat(fd, &st) != 0) {
    err = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (S_ISDIR(st.st_mode)) {
    err = "is a directory";
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

bool check_readable(const std::string& path, std::string& err) {
  int fd = open_regular(path, err);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

bool read_file(const std::string& path, std::string& out, std::string& err, std::size_t max_bytes) {
  int fd = open_regular(path, err);
  if (fd < 0) return false;
  // Blocking reads from here on (O_NONBLOCK only guarded the open of FIFOs).
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > max_bytes) {
      err = "file is larger than " + std::to_string(max_bytes) + " bytes";
      ::close(fd);
      return false;
    }
  }
  ::close(fd);
  out = std::move(data);
  return true;
}

}  // namespace lb::conf::detail
