// conf/config.h — the typed, validated, immutable configuration (SPEC section 3).
//
// Every value here has already been checked by conf::load(); code outside conf/
// never re-validates and never parses durations, addresses or names itself.
// A Config is built once per load/reload and shared read-only
// (std::shared_ptr<const Config>) between threads.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lb::security {
class JwtVerifier;
}

namespace lb::conf {

using Duration = std::chrono::milliseconds;

// "host:port" or "[v6]:port", resolved when the file is loaded.
struct Address {
  std::string text;            // exactly as written in the file, e.g. "127.0.0.1:9001"
  std::string host;            // without brackets
  uint16_t port = 0;
  sockaddr_storage sockaddr{}; // resolved; family AF_INET or AF_INET6
  socklen_t sockaddr_len = 0;
};

enum class Protocol { http, tcp };
enum class LogLevel { debug, info, warn, error };
enum class ServerState { ready, drain, maint };
enum class Algorithm {
  round_robin,
  weighted_round_robin,
  least_connections,
  least_response_time,
  ip_hash,
  consistent_hash,
  maglev,
  random_two_choices,
};
enum class HealthCheckType { http, tcp };
enum class WhenAllDown { fail, panic };
enum class TlsVersion { v1_2, v1_3 };
enum class ProxyProtocolVersion { v1, v2 };

// hash_key: client_ip | header:NAME | cookie:NAME | path | uri
// rate_limit key: client_ip | header:NAME | jwt.CLAIM (jwt_claim is only ever
// produced by the rate-limit loader)
struct KeySpec {
  enum class Kind { client_ip, header, cookie, path, uri, jwt_claim } kind = Kind::client_ip;
  std::string name;            // header, cookie or claim name (header names lower-cased)
  std::string text;            // as written, e.g. "header:X-Api-Key"
  bool operator==(const KeySpec&) const = default;
};

struct AdminConfig {
  Address listen;
  std::optional<std::string> token;       // the effective token (from "token" or read from "token_file")
  std::optional<std::string> token_file;  // path as written, when the token came from a file
};

// The top-level "redis" (SPEC 17): where rate limits with "store": "redis"
// count, shared by every lb instance pointing at it.
struct RedisConfig {
  Address address;                          // host:port, or unix:/path
  std::optional<std::string> password_file; // as written (resolved path read at load)
  std::string password;                     // the file's contents, one trailing newline removed
  uint32_t database = 0;
  Duration timeout{50};                     // per operation; past it on_store_error applies
  std::string key_prefix = "lb:";
  // Whether a worker's connection made for `a` serves `b` unchanged.
  friend bool same_connection(const RedisConfig& a, const RedisConfig& b) {
    return a.address.text == b.address.text && a.password == b.password && a.database == b.database &&
           a.timeout == b.timeout;
  }
};

struct LoggingConfig {
  LogLevel level = LogLevel::info;
  std::string error_log = "-";             // "-" = stderr
  std::optional<std::string> access_log;   // nullopt = off, "-" = stdout
};

// A header value with %{variable} references (SPEC 10 "Headers"), split at
// load time so the data path only concatenates.
struct HeaderTemplate {
  enum class Var : uint8_t {
    literal, client_ip, client_port, request_id, scheme, host, path, listener, route, server,
    tls_version, tls_sni, jwt_claim,
  };
  struct Piece {
    Var var = Var::literal;
    std::string text;  // the literal, or the claim name for jwt_claim
  };
  std::vector<Piece> pieces;
  bool is_literal() const { return pieces.empty() || (pieces.size() == 1 && pieces[0].var == Var::literal); }
};

// set / add / remove for one direction (SPEC 10): names as written for set
// and add (sent in that case), lower-cased for remove and for matching.
struct HeaderRules {
  struct Field {
    std::string name;
    std::string lower;
    HeaderTemplate value;
  };
  std::vector<Field> set;
  std::vector<Field> add;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

struct Redirect {
  std::optional<std::string> scheme;  // "http" | "https"
  std::optional<std::string> host;
  std::optional<uint16_t> port;
  std::optional<std::string> path;    // replaces the whole path
  std::optional<std::string> prefix;  // replaces the matched path_prefix
  int status = 301;                   // 301 | 302 | 303 | 307 | 308
  bool keep_query = true;
};

struct Respond {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain";
};

struct Rewrite {
  std::optional<std::string> prefix;  // replaces the matched path_prefix
  std::string regex;                  // RE2, whole path; used when prefix is unset
  std::string replace;                // \1 … \9 capture groups
};

struct Fault {
  Duration delay{0};
  double delay_percent = 0;  // 0..100
  int abort_status = 0;      // 0 = no abort
  double abort_percent = 0;  // 0..100
};

struct RetriesConfig;
struct PoolTimeouts;

// auth.basic (SPEC 11): an htpasswd file of bcrypt ($2y$/$2b$/$2a$) and
// SHA-crypt ($5$/$6$) entries, read at load and reload.
struct BasicAuthConfig {
  std::string users_file;  // resolved path
  std::string realm = "lb";
  std::vector<std::pair<std::string, std::string>> users;  // user → crypt hash, file order
  // A hash of the first entry's kind and cost that no password is known
  // for: an unknown user is checked against it, so the answer takes as long
  // as a wrong password for a real user (same algorithm, same rounds).
  std::string dummy_hash;
  const std::string* hash_of(std::string_view user) const {
    for (const auto& [u, h] : users)
      if (u == user) return &h;
    return nullptr;
  }
};

// auth.jwt (SPEC 11). The key file is read and the verifier built when the
// configuration is loaded, so a reload re-reads the keys and `lb --check`
// reports a bad key file; requests share the verifier read-only.
struct JwtAuthConfig {
  std::string keys_file;    // resolved JWKS path, or ""
  std::string secret_file;  // resolved HMAC secret path, or "" (exactly one is set)
  std::vector<std::string> algorithms;  // as written, in order
  std::optional<std::string> issuer;
  std::vector<std::string> audiences;
  Duration leeway = std::chrono::seconds(30);
  enum class From { header, cookie, query } from = From::header;
  std::string from_name = "Authorization";  // header (as written), cookie or query parameter name
  bool bearer = true;  // from the Authorization header: "Bearer <token>"
  std::vector<std::pair<std::string, std::string>> forward_claims;  // claim → header name, file order
  bool required = true;
  bool forward_token = false;
  std::shared_ptr<const security::JwtVerifier> verifier;  // never null in a loaded configuration
};

// "auth" on a listener or a route (a route's replaces its listener's).
// Exactly one of the two is set.
struct AuthConfig {
  std::optional<BasicAuthConfig> basic;
  std::optional<JwtAuthConfig> jwt;
};

// access (SPEC 11): CIDR lists, IPv4 and IPv6; deny wins, a non-empty allow
// admits only its ranges. Validated here, compiled by the runtime.
struct AccessRules {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  bool empty() const { return allow.empty() && deny.empty(); }
};

// rate_limit on a listener or a route (SPEC 11). A token bucket holds `burst`
// tokens refilled at `rate` per `per`; a sliding window admits at most `rate`
// (a whole number) in any interval of length `per` and has no burst.
struct RateLimit {
  enum class Algorithm { token_bucket, sliding_window };
  enum class Store { local, redis };
  enum class OnStoreError { allow, deny, local };
  KeySpec key;
  Algorithm algorithm = Algorithm::token_bucket;
  double rate = 0;   // tokens (or admissions) per `per`
  Duration per{1000};
  double burst = 0;  // token_bucket: bucket size, defaults to rate; sliding_window: unused (0)
  Store store = Store::local;                      // redis: counted in the top-level "redis" (SPEC 17)
  OnStoreError on_store_error = OnStoreError::allow;
  bool operator==(const RateLimit&) const = default;
};

// per_client on a listener (SPEC 11): limits per client address on new
// connections. connection_rate is a token bucket keyed by client_ip whose
// burst equals its rate (at least 1).
struct PerClient {
  uint32_t max_connections = 0;              // 0 = unlimited
  std::optional<RateLimit> connection_rate;  // nullopt = unlimited
  bool any() const { return max_connections > 0 || connection_rate.has_value(); }
  bool operator==(const PerClient&) const = default;
};

struct Route {
  enum class Action { pool, redirect, respond };
  std::string name;                        // "route-<index>" when not given
  std::optional<std::string> host;         // lower-cased; exact, or "*.example.com"
  std::optional<std::string> path_prefix;
  std::optional<std::string> path_exact;
  std::optional<std::string> path_regex;   // RE2, anchored at both ends when matched
  std::vector<std::string> methods;        // upper-case as written; empty = any
  std::vector<std::pair<std::string, std::string>> headers;  // name lower-cased, value exact
  AccessRules access;
  std::optional<AuthConfig> auth;
  std::optional<RateLimit> rate_limit;     // SPEC 11: checked after the listener's
  Action action = Action::pool;
  std::string pool;                        // the effective pool (the listener's when the route names none)
  std::optional<Redirect> redirect;
  std::optional<Respond> respond;
  std::optional<Rewrite> rewrite;
  HeaderRules request_headers;
  HeaderRules response_headers;
  // The pool's settings with the route's "retries" / "timeouts" keys applied
  // over them (conf/load.cpp fills these once the pools are known).
  std::shared_ptr<const RetriesConfig> retries;
  std::shared_ptr<const PoolTimeouts> timeouts;
  std::optional<Fault> fault;
};

// error_pages: a body that replaces lb's JSON body for one status or class.
struct ErrorPage {
  int status = 0;        // e.g. 503, or 5 for "5xx"
  bool is_class = false;
  std::string path;      // resolved
  std::string body;      // read at load
  std::string content_type;
};

struct TlsCertificate {
  std::string cert;  // paths, resolved relative to the config file's directory
  std::string key;
  // Listener certificates only (SPEC 11): a DER OCSP response to staple. The
  // loader reads the file (so a reload re-reads it) and has checked that it
  // parses as an OCSP response; whether it fits this certificate and is still
  // fresh is tls::ServerContext's question (it needs the certificate).
  std::optional<std::string> ocsp{};  // path, resolved ("{}": {cert, key} stays warning-free)
  std::string ocsp_der{};            // its bytes, read at load
};

struct ListenerTls {
  std::vector<TlsCertificate> certificates;  // at least one; first is the default
  TlsVersion min_version = TlsVersion::v1_2;
  // Server preference order. http listeners offer HTTP/2 first (SPEC 9);
  // conf/listener.cpp clears this for tcp listeners, which offer none.
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  std::optional<std::string> client_ca;
};

struct ListenerTimeouts {
  Duration request_header{10'000};
  Duration client_idle{60'000};
  Duration tls_handshake{10'000};
  // Slow clients (SPEC 11), http listeners: no request-body byte for this
  // long while lb reads a body → 408; no progress writing to the client for
  // this long while bytes wait towards it → the connection is closed.
  Duration body_idle{30'000};
  Duration send{60'000};
};

struct ListenerLimits {
  uint64_t max_header_bytes = 32768;
  uint32_t max_headers = 100;
  uint64_t max_body_bytes = 0;  // 0 = unlimited
};

// HTTP/2 to clients (SPEC section 9); http listeners only. Whether a TLS
// connection speaks HTTP/2 is ALPN's choice ("h2" in ListenerTls::alpn); on a
// listener without TLS only `cleartext` turns it on (prior knowledge, no
// Upgrade: h2c). The loader has checked every bound below.
struct Http2Config {
  static constexpr uint32_t kMaxConcurrentStreamsLimit = 10'000;  // lb's bound, see docs/configuration.md
  static constexpr uint32_t kMaxWindowSize = 0x7fff'ffff;         // 2^31-1, RFC 9113 6.5.2 / 6.9.1

  bool cleartext = false;                    // h2c with prior knowledge; an error on a TLS listener
  uint32_t max_concurrent_streams = 100;     // SETTINGS_MAX_CONCURRENT_STREAMS, 1..kMaxConcurrentStreamsLimit
  uint32_t initial_window_size = 65535;      // SETTINGS_INITIAL_WINDOW_SIZE (per stream), 0..kMaxWindowSize
  uint32_t max_requests_per_connection = 0;  // streams the client may open, then GOAWAY; 0 = unlimited; 0..2^31-1
};

struct ProxyProtocol {
  bool accept = false;
  std::optional<ProxyProtocolVersion> send;
};

// SPEC 15 "Tracing": W3C traceparent continued or started.
struct Tracing {
  uint32_t sample_percent = 100;  // 0..100: share of the traces lb starts that are sampled
};

// SPEC 15 "SLOs": a request is good when answered below 500 (availability)
// and, for the latency objective, within `latency`.
struct Slo {
  std::optional<double> availability;  // percent, e.g. 99.9
  std::optional<Duration> latency;     // with latency_percent
  double latency_percent = 99;
};

struct ListenerConfig {
  std::string name;
  Address listen;
  Protocol protocol = Protocol::http;
  std::optional<std::string> pool;
  std::vector<Route> routes;
  std::optional<ListenerTls> tls;
  uint32_t max_connections = 0;  // 0 = unlimited
  ListenerTimeouts timeouts;
  ListenerLimits limits;
  Http2Config http2;  // http listeners only (defaults on tcp listeners, unused)
  std::optional<RateLimit> rate_limit;
  bool forwarded_headers = true;
  ProxyProtocol proxy_protocol;
  AccessRules access;                        // SPEC 11; before any route's
  std::optional<AuthConfig> auth;            // unless the matched route has its own
  PerClient per_client;                      // SPEC 11: per client address, on new connections
  std::vector<std::string> trusted_proxies;  // CIDRs whose X-Forwarded-For is believed (http)
  HeaderRules request_headers;   // applied before the route's (SPEC 10)
  HeaderRules response_headers;
  std::vector<ErrorPage> error_pages;
  std::optional<Tracing> tracing;  // SPEC 15, http only
  std::optional<Slo> slo;          // SPEC 15

  // The page for `status`: an exact entry, else its class, else null.
  const ErrorPage* error_page(int status) const {
    const ErrorPage* cls = nullptr;
    for (const auto& p : error_pages) {
      if (!p.is_class && p.status == status) return &p;
      if (p.is_class && p.status == status / 100) cls = &p;
    }
    return cls;
  }
};

struct ServerConfig {
  Address address;
  uint32_t weight = 1;           // 1..1000
  uint32_t max_connections = 0;  // 0 = unlimited
  bool backup = false;
  ServerState state = ServerState::ready;
  bool discovered = false;       // found by DNS (SPEC 13), never written to the file or GET /config
};

struct HealthCheckConfig {
  HealthCheckType type = HealthCheckType::http;
  std::string path = "/health";
  std::optional<std::string> host;
  std::vector<int> expect_status = {200};
  Duration interval{2000};
  Duration timeout{1000};
  uint32_t rise = 2;
  uint32_t fall = 3;
  std::optional<Duration> fast_interval;
  std::optional<Duration> down_interval;
};

struct CircuitBreakerConfig {
  uint32_t failure_threshold = 5;
  Duration recovery_timeout{30'000};
  uint32_t success_threshold = 1;
  uint32_t max_ejection_percent = 50;  // 0..100
};

enum class RetryOn : uint8_t { connect_failure, reset, timeout, status_502, status_503, status_504 };

struct RetriesConfig {
  uint32_t attempts = 2;
  std::vector<RetryOn> on = {RetryOn::connect_failure, RetryOn::reset, RetryOn::timeout,
                             RetryOn::status_502, RetryOn::status_503, RetryOn::status_504};
  Duration backoff_base{25};
  Duration backoff_max{250};
  uint32_t budget_percent = 20;  // 0..100

  bool retries_on(RetryOn r) const {
    for (auto x : on) if (x == r) return true;
    return false;
  }
};

struct PoolTimeouts {
  Duration connect{2000};
  Duration response{30'000};
  Duration idle{60'000};
};

struct KeepaliveConfig {
  uint32_t max_idle = 32;
  Duration idle_timeout{30'000};
};

// Backend TLS (re-encryption); an lb extension documented in README.
struct PoolTls {
  bool verify = true;
  std::optional<std::string> ca;
  std::optional<std::string> sni;
};

// Cookie stickiness (SPEC 10): the cookie names a server by a digest of its
// pool and address, never the address itself.
struct StickyConfig {
  enum class SameSite { none, lax, strict, unset };
  std::string cookie = "lb_srv";
  std::optional<Duration> max_age;  // nullopt: a session cookie
  bool secure = false;
  bool http_only = true;
  SameSite same_site = SameSite::lax;
};

// The pool's waiting room (SPEC 11 "Queue"): when every server that may
// take a request is at its max_connections, up to `max` requests (across the
// whole process) wait in FIFO order for a slot, each at most `timeout`.
// max 0 = no queue: 503 at once.
// SPEC 13 top-level "dns": the servers lb asks (empty: /etc/resolv.conf),
// "ip:port" each, and how long one lookup may take in all.
struct DnsConfig {
  std::vector<std::string> resolvers;
  Duration timeout{2000};
  bool operator==(const DnsConfig&) const = default;
};

enum class DiscoveryType { a, aaaa, srv };

// SPEC 13 pool "discovery": the servers are what DNS answers for `name`.
struct DiscoveryConfig {
  std::string text;         // "dns" as written: "app.internal:8080" or "_http._tcp.app.internal"
  std::string name;         // the name asked for
  uint16_t port = 0;        // A/AAAA only; SRV records carry their ports
  DiscoveryType type = DiscoveryType::a;
  Duration interval{5000};  // re-resolve at least this often (sooner per TTL, at most once a second)
  uint32_t weight = 1;      // A/AAAA servers' weight
  bool operator==(const DiscoveryConfig&) const = default;
};

struct QueueConfig {
  uint32_t max = 0;
  Duration timeout{5000};
};

struct PoolConfig {
  std::string name;
  Algorithm algorithm = Algorithm::round_robin;
  KeySpec hash_key;
  double hash_balance_factor = 0;  // 0 = off, else > 1
  std::vector<ServerConfig> servers;
  std::optional<HealthCheckConfig> health_check;
  CircuitBreakerConfig circuit_breaker;
  RetriesConfig retries;
  PoolTimeouts timeouts;
  KeepaliveConfig keepalive;
  WhenAllDown when_all_down = WhenAllDown::fail;
  Duration slow_start{0};
  std::optional<PoolTls> tls;
  std::optional<StickyConfig> sticky;
  QueueConfig queue;
  std::optional<DiscoveryConfig> discovery;  // SPEC 13: servers found by DNS, beside `servers`
};

struct Config {
  std::string path;                 // the file this came from
  uint32_t workers = 0;             // 0 = one per CPU core (resolved by lb, not here)
  Duration shutdown_timeout{30'000};
  // Started as root: bind, then run as this user / group (SPEC 16).
  std::optional<std::string> user, group;
  std::optional<AdminConfig> admin;
  LoggingConfig logging;
  std::vector<ListenerConfig> listeners;
  std::vector<PoolConfig> pools;
  // SPEC 14: where runtime server changes are kept (absolute; its directory
  // exists). Unset: they last until the next reload.
  std::optional<std::string> state_file;
  DnsConfig dns;  // SPEC 13: discovery and host names in servers
  // SPEC 17: required when a rate limit has "store": "redis".
  std::optional<RedisConfig> redis;

  const PoolConfig* find_pool(std::string_view name) const {
    for (auto& p : pools) if (p.name == name) return &p;
    return nullptr;
  }
};

const char* to_string(Algorithm);
const char* to_string(ServerState);
const char* to_string(Protocol);
const char* to_string(DiscoveryType);

}  // namespace lb::conf
