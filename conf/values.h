// conf/values.h — parsers for the scalar value syntaxes of the file format:
// durations ("250ms", "2s", "1m", "1h", "1m30s"), addresses ("host:port", "[v6]:port",
// resolved with getaddrinfo), names ([A-Za-z0-9_.-]+), key specs
// (client_ip | header:NAME | cookie:NAME | path | uri), host names, HTTP
// tokens, and file paths (resolution against the config's directory and
// readability checks).
//
// These functions know nothing about JSON or pointers: each returns true on
// success, or false with a human-readable reason in `err` (no file, no
// pointer — the caller adds those). They never throw.
#pragma once

#include <string>
#include <string_view>

#include "conf/config.h"

namespace lb::conf::detail {

// Durations. Integer or decimal number followed by ms|s|m|h, e.g. "250ms",
// "1.5s", or several such in decreasing unit order, each unit at most once:
// "1m30s", "1h15m", "1s500ms". Every part must come out as a whole number of
// milliseconds; max 8760h in all.
bool parse_duration(std::string_view text, Duration& out, std::string& err);
// Canonical spelling using the largest exact unit: 0 → "0s", 1500 → "1500ms",
// 90000 → "90s", 120000 → "2m" (one unit: every lb version parses it).
std::string format_duration(Duration d);

// Where parse_address gets host names' addresses (conf/load.cpp: collect the
// names first, resolve them all concurrently, then answer from the results).
class HostResolver {
 public:
  virtual ~HostResolver() = default;
  // Sets out.sockaddr/sockaddr_len (port not needed) and returns true, or
  // returns false with `err`. Returning true with sockaddr_len 0 defers the
  // lookup: parse_address then succeeds with an unresolved address.
  virtual bool resolve(const std::string& host, Address& out, std::string& err) = 0;
};

// Addresses. Fills every field of `out`. Numeric hosts never touch DNS; host
// names go to `resolver`, or without one are resolved at once (blocking
// getaddrinfo, see lookup_host).
bool parse_address(std::string_view text, Address& out, std::string& err, HostResolver* resolver = nullptr);
// Blocking getaddrinfo for one host name: the first IPv4 result is preferred,
// else the first IPv6 result. Sets out.sockaddr/sockaddr_len (port 0), or
// err = "cannot resolve host \"x\": ...".
bool lookup_host(const std::string& host, Address& out, std::string& err);
// "127.0.0.1:9001" / "[::1]:9001" from the resolved sockaddr (for messages).
std::string numeric_address(const Address& a);
// 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104.
bool is_loopback(const Address& a);
// True when binding both would clash: same port and same IP, or one of them
// is the wildcard of its family ([::] is dual-stack, so it clashes with all).
bool listen_conflict(const Address& a, const Address& b);

// Names: [A-Za-z0-9_.-]+.
bool valid_name(std::string_view text, std::string& err);

// client_ip | header:NAME | cookie:NAME | path | uri. Header names are lower-cased.
bool parse_key_spec(std::string_view text, KeySpec& out, std::string& err);

// RFC 7230 token (header names, cookie names).
bool is_http_token(std::string_view text);
// DNS host name: labels of [A-Za-z0-9_-], 1..63 chars, total <= 253, optional trailing dot.
bool valid_hostname(std::string_view text, std::string& err);
// Visible ASCII only (0x21..0x7e), non-empty; for tokens and header values.
bool is_visible_ascii(std::string_view text);

// Files. `base_dir` is absolute (or empty = current directory).
std::string resolve_path(std::string_view base_dir, std::string_view path);
// The directory relative paths in `config_path` resolve against, made absolute.
std::string config_base_dir(const std::string& config_path);
// A regular, readable file? err is e.g. "No such file or directory" or "is a directory".
bool check_readable(const std::string& path, std::string& err);
// Reads the whole file (at most max_bytes); err as for check_readable.
bool read_file(const std::string& path, std::string& out, std::string& err, std::size_t max_bytes);

std::string to_lower(std::string_view s);
std::string trim(std::string_view s);

}  // namespace lb::conf::detail
