// tests/integration/harness.h — black-box integration test harness.
//
// The integration tests never link lb's own code: they start the real `lb`
// binary (env LB_BIN, default build/lb) and the real test backend (env
// BACKEND_BIN, default build/backend) as child processes and talk to them over
// real sockets on 127.0.0.1 with ephemeral ports.
//
// What is here:
//   - Child: fork/exec with stdout/stderr captured to files, signal, wait with a
//     timeout, SIGKILL on destruction.
//   - Backend: spawns the backend with echo/http port specs and parses the real
//     ports it prints ("listening echo P", "listening http P", "ready").
//   - Lb: writes a JSON config into a temp dir (filling in free ports for
//     listen addresses ending in ":0"), starts lb, waits until every listener
//     is in LISTEN state (checked in /proc, so no probe connection is made),
//     exposes pid/ports/tmpdir/log paths, RSS, and stop() → exit status.
//   - Socket: blocking-style TCP client with deadlines (poll based) and a read
//     buffer shared by all the receive helpers.
//   - A minimal HTTP/1.1 client over Socket (Content-Length, chunked, or until
//     close), reusable by HTTP tests.
//   - free_port(), wait_until(), read_lines(), temp dirs.
//
// Every wait is "poll a condition until a deadline"; nothing synchronises with
// a fixed sleep.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace it {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;
using json = nlohmann::json;

// ---- environment -------------------------------------------------------------
std::string env_or(const char* name, const char* fallback);
std::string lb_bin();       // $LB_BIN or build/lb
std::string backend_bin();  // $BACKEND_BIN or build/backend

// ---- waiting -----------------------------------------------------------------
// Polls `pred` every `interval` until it returns true (→ true) or `timeout`
// passes (→ false; pred is evaluated one last time at the deadline).
bool wait_until(const std::function<bool()>& pred, ms timeout, ms interval = 5ms);

double elapsed_ms(Clock::time_point since);

// ---- files -------------------------------------------------------------------
std::optional<std::string> read_file(const std::string& path);
// Lines of the file without their '\n'; a trailing partial line (no '\n' yet)
// is left out, so a line being written is never returned half-done. Missing
// file → empty.
std::vector<std::string> read_lines(const std::string& path);
void write_file(const std::string& path, std::string_view content);

// A fresh directory under $TMPDIR (or /tmp); removed recursively on
// destruction unless the environment has IT_KEEP_TMP=1.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// ---- ports -------------------------------------------------------------------
// A port that was free a moment ago: bind 127.0.0.1:0, read it, close.
uint16_t free_port();
// True if something on 127.0.0.1 accepts a TCP connection on `port`.
bool port_accepts(uint16_t port, ms timeout = 200ms);
// True if `pid` owns a TCP socket in LISTEN state on `port` (via /proc).
bool pid_listens_on(pid_t pid, uint16_t port);

// A plain listening socket held by the test on IPv4 `ip`:`want` (0: an
// ephemeral port). reuseport = false: nobody else can bind the port while it
// is held; true: SO_REUSEADDR + SO_REUSEPORT, as another lb would set them.
// Throws std::runtime_error if it cannot listen.
class HeldListener {
 public:
  explicit HeldListener(const char* ip = "127.0.0.1", bool reuseport = false, uint16_t want = 0);
  ~HeldListener() { release(); }
  HeldListener(const HeldListener&) = delete;
  HeldListener& operator=(const HeldListener&) = delete;
  uint16_t port() const { return port_; }
  void release();

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// ---- child processes ---------------------------------------------------------
// Exit status convention: normal exit → its code; killed by a signal → 128+sig.
class Child {
 public:
  Child() = default;
  // Starts args[0] with args; stdout/stderr go to the given files (truncated).
  // The child gets the test's environment plus `env` (NAME, value; replacing
  // a variable of the same name). Throws std::runtime_error if fork fails. An
  // exec failure shows up as exit status 127 with a message in the stderr file.
  Child(const std::vector<std::string>& args, std::string stdout_path, std::string stderr_path,
        const std::vector<std::pair<std::string, std::string>>& env = {});
  ~Child();  // SIGKILL + reap if still running
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }
  bool running();                       // not yet exited (reaps if it has)
  bool signal(int sig);                 // false if not running
  // Waits up to `timeout` for exit; returns the exit status or nullopt on timeout.
  std::optional<int> wait(ms timeout);
  std::optional<int> exit_status() const { return status_; }
  void kill_and_wait();                 // SIGKILL, reap

  std::string out() const;              // stdout so far
  std::string err() const;              // stderr so far
  const std::string& out_path() const { return out_path_; }
  const std::string& err_path() const { return err_path_; }

 private:
  bool reap(bool block);
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_, err_path_;
};

struct RunResult {
  std::optional<int> status;  // nullopt: timed out (the process was killed)
  std::string out, err;
};
// Runs a command to completion (killing it after `timeout`).
RunResult run_command(const std::vector<std::string>& args, ms timeout = 10s);

// ---- backend fixture ---------------------------------------------------------
// `backend --host 127.0.0.1 --echo ... --http ...`. Specs are the CLI's PORT or
// PORT:opt=val... strings; use "0" for an ephemeral port. Ports come back in
// the order given. Throws std::runtime_error if it does not become ready.
class Backend {
 public:
  Backend(std::vector<std::string> echo_specs, std::vector<std::string> http_specs,
          ms ready_timeout = 10s);
  static Backend echo(int n = 1);
  static Backend http(int n = 1, const std::string& spec = "0");

  const std::vector<uint16_t>& echo_ports() const { return echo_ports_; }
  const std::vector<uint16_t>& http_ports() const { return http_ports_; }
  uint16_t echo_port(size_t i = 0) const { return echo_ports_.at(i); }
  uint16_t http_port(size_t i = 0) const { return http_ports_.at(i); }
  static std::string addr(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

  Child& process() { return child_; }
  pid_t pid() const { return child_.pid(); }
  std::optional<int> stop(ms timeout = 5s);  // SIGTERM, wait

 private:
  TempDir dir_;
  Child child_;
  std::vector<uint16_t> echo_ports_, http_ports_;
};

// ---- lb fixture --------------------------------------------------------------
struct LbOptions {
  bool wait_ready = true;         // wait until every listener (and admin) listens
  ms ready_timeout = 10s;
  int bind_retries = 3;           // re-pick ":0" ports and retry when lb fails to start
  bool default_logging = true;    // add logging to tmpdir files when config has none
  bool default_workers = true;    // "workers": 1 when config has none
  bool default_shutdown = true;   // "shutdown_timeout": "5s" when config has none
  // Environment variables lb gets on top of the test's own (for ${NAME} in
  // the configuration); the test process's environment is left alone.
  std::vector<std::pair<std::string, std::string>> env;
};

class Lb {
 public:
  // Writes `config` (after filling in defaults and ports) to <tmpdir>/lb.json
  // and starts `lb -c <tmpdir>/lb.json`. Listen addresses "HOST:0" (listeners
  // and admin) are replaced by free ports. Throws std::runtime_error (with lb's
  // stderr and error log) if lb exits or does not listen in time.
  explicit Lb(json config, LbOptions options = {});
  ~Lb();  // SIGTERM, wait briefly, then SIGKILL
  Lb(const Lb&) = delete;
  Lb& operator=(const Lb&) = delete;

  pid_t pid() const { return child_.pid(); }
  Child& process() { return child_; }
  const json& config() const { return config_; }
  const std::string& config_path() const { return config_path_; }
  const std::string& tmpdir() const { return dir_.path(); }
  std::string file(std::string_view name) const { return dir_.file(name); }
  std::string error_log_path() const;   // from the config (may be "-")
  std::string access_log_path() const;  // from the config ("" when off)

  uint16_t port(const std::string& listener_name) const;  // throws if unknown
  uint16_t port(size_t listener_index = 0) const;
  std::optional<uint16_t> admin_port() const;

  // Rewrites the config file (for reload tests); ":0" ports are filled in.
  void rewrite_config(json config);

  std::optional<long> rss_bytes() const;  // VmRSS of lb
  bool signal(int sig) { return child_.signal(sig); }
  // SIGTERM, then waits up to `timeout`; returns the exit status, or nullopt.
  std::optional<int> stop(ms timeout = 10s);
  std::optional<int> wait(ms timeout) { return child_.wait(timeout); }
  bool running() { return child_.running(); }

  std::vector<json> error_log() const;   // parsed lines (unparsable lines skipped)
  std::vector<json> access_log() const;
  std::string diagnostics() const;       // stderr + error log, for failure messages

 private:
  void fill_defaults_and_ports(json& config);
  bool wait_listening(ms timeout);

  LbOptions opts_;
  TempDir dir_;
  json config_;
  std::string config_path_;
  Child child_;
};

// VmRSS of any process in bytes.
std::optional<long> rss_bytes(pid_t pid);
// Open file descriptors of any process (entries of /proc/PID/fd; 0 if gone).
size_t open_fds(pid_t pid);

// ---- TCP client --------------------------------------------------------------
enum class Io { ok, eof, timeout, error };
const char* to_string(Io io);

// A connected TCP socket (CLOEXEC) with deadline-based helpers. All receive
// helpers consume from one internal buffer first, so they can be mixed.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket();
  Socket(Socket&& o) noexcept;
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // Connects to host:port within `timeout`, from the address `local` when
  // given (another client address on loopback: "127.0.0.2"). On failure the
  // Socket is invalid and error() holds the errno (ECONNREFUSED, ETIMEDOUT, ...).
  static Socket connect(uint16_t port, ms timeout = 2s, const std::string& host = "127.0.0.1",
                        const std::string& local = "");

  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  int fd() const { return fd_; }
  int error() const { return err_; }
  std::string error_text() const;
  uint16_t local_port() const;
  uint16_t peer_port() const;

  // Writes everything (MSG_NOSIGNAL) within `timeout`; false on error/timeout.
  bool send_all(std::string_view data, ms timeout = 5s);
  bool shutdown_write();
  void close();
  // Sets SO_RCVTIMEO (for code that calls ::recv on fd() directly).
  void set_recv_timeout(ms timeout);
  void set_rcvbuf(int bytes);
  void set_nonblocking(bool on);

  // Appends whatever arrives (at most `max` bytes, one read) to `out`.
  // Buffered bytes count as data. ok = data appended.
  Io recv_some(std::string& out, ms timeout, size_t max = 65536);
  // Exactly n bytes or nullopt (EOF, error or timeout first; see last_io()).
  std::optional<std::string> recv_exact(size_t n, ms timeout);
  // Bytes up to and including `delim`, or nullopt.
  std::optional<std::string> recv_until(std::string_view delim, ms timeout, size_t max = 1 << 20);
  // Everything until EOF (io == eof) or the deadline/error/max.
  struct Drain {
    std::string data;
    Io io = Io::ok;  // eof when the peer closed cleanly
    int err = 0;     // errno for Io::error (ECONNRESET, ...)
  };
  Drain recv_until_eof(ms timeout, size_t max = size_t(1) << 30);
  // Reads and discards until EOF, counting bytes; `sink` sees every chunk.
  Drain drain_count(ms timeout, uint64_t& count,
                    const std::function<void(const char*, size_t)>& sink = nullptr);
  // Waits for the peer to close. Returns eof (FIN), error (RST etc.), timeout,
  // or ok if data arrived instead (the data stays buffered).
  Io wait_closed(ms timeout);

  Io last_io() const { return last_io_; }
  std::string& buffer() { return buf_; }

 private:
  // Reads once into buf_. ok: bytes added; eof; timeout; error (err_ set).
  Io fill(Clock::time_point deadline, size_t max = 65536);
  int fd_ = -1;
  int err_ = 0;
  Io last_io_ = Io::ok;
  std::string buf_;
};

// ---- HTTP/1.1 client ---------------------------------------------------------
struct HttpResponse {
  std::string version;  // "HTTP/1.1"
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
  std::string body;
  bool chunked = false;
  size_t head_bytes = 0;  // status line + headers + blank line

  std::optional<std::string> header(std::string_view name) const;  // first, case-insensitive
  std::vector<std::string> headers_named(std::string_view name) const;
  bool has_header(std::string_view name) const { return header(name).has_value(); }
};

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  std::string version = "HTTP/1.1";
  std::vector<std::pair<std::string, std::string>> headers;  // Host added if absent (1.1)
  std::string body;                                          // Content-Length added if non-empty
  std::string serialize() const;
};

// Parses the response head (status line + headers) from the socket.
std::optional<HttpResponse> read_http_head(Socket& s, ms timeout);
// Reads one full response (head + body: Content-Length, chunked, or until
// close). `request_method` "HEAD" means no body. nullopt on timeout/EOF/parse
// error before the response was complete.
std::optional<HttpResponse> read_http_response(Socket& s, ms timeout,
                                               std::string_view request_method = "GET");
// Connects, sends `req` (adding "Connection: close" if no Connection header),
// reads one response.
std::optional<HttpResponse> http_request(uint16_t port, const HttpRequest& req, ms timeout = 5s);
std::optional<HttpResponse> http_get(uint16_t port, const std::string& target, ms timeout = 5s);

// ---- misc --------------------------------------------------------------------
// The backend's pattern byte: (i*31+7) & 0xff.
inline char pattern_byte(uint64_t i) { return static_cast<char>((i * 31 + 7) & 0xff); }
bool is_pattern(const char* data, size_t len, uint64_t offset);

std::string sha256_hex(std::string_view data);
// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len);
  std::string hex();  // finalises

 private:
  void* ctx_;
};

std::string lower(std::string_view s);

// ---- config builders (shared by the suites) -----------------------------------
// One server entry {"address": "127.0.0.1:PORT", "weight": W}.
json server(uint16_t port, int weight = 1);
// A pool; `extra` keys are merged in (health_check, retries, ...).
json make_pool(const std::string& name, const std::string& algorithm, std::vector<json> servers,
               json extra = json::object());
// A whole configuration; `extra` keys are merged in at the top level.
json make_config(std::vector<json> listeners, std::vector<json> pools, json extra = json::object());
// An http listener "h" on 127.0.0.1:0 with default pool `pool`; `extra` keys merged in.
json http_listener_on(const std::string& pool, json extra = json::object());
// server(p) for each of `ports`, weight 1.
std::vector<json> servers_for(const std::vector<uint16_t>& ports);

// ---- response checks (shared by the HTTP suites) --------------------------------
// True when `v` is present and its lower-cased value contains `token`.
bool has_token(const std::optional<std::string>& v, std::string_view token);
// An lb-generated error: Content-Type application/json, body {"error": "..."}.
bool is_json_error(const HttpResponse& r);

// ---- observing lb ------------------------------------------------------------------
// Waits for an access log with at least n lines; returns the parsed lines.
std::vector<json> wait_access_lines(Lb& lb, size_t n, ms timeout = 5s);
// lb's admin GET /stats, parsed; an empty object when there is no admin
// listener, the request fails, the status is not 200 or the body is not JSON.
json admin_stats(Lb& lb, ms timeout = 3s);
// The pool named `name` in a /stats document, or null.
json find_pool(const json& stats, const std::string& name);
// The server `address` of pool `pool_name` in a /stats document, or null.
json find_server(const json& stats, const std::string& pool_name, const std::string& address);

// A small deterministic PRNG (xorshift64) for reproducible test data.
struct XorShift {
  uint64_t s;
  explicit XorShift(uint64_t seed) : s(seed) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

}  // namespace it
