// tests/integration/harness.cpp — see harness.h.
#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace it {

namespace {

// The test process writes to sockets that peers may have closed; never die of
// SIGPIPE (every send also uses MSG_NOSIGNAL). Children get SIG_DFL back.
const bool kSigpipeIgnored = [] {
  ::signal(SIGPIPE, SIG_IGN);
  return true;
}();

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<ms>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(left);
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) --e;
  return std::string(s.substr(b, e - b));
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

std::optional<uint16_t> port_of(const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  try {
    unsigned long p = std::stoul(addr.substr(colon + 1));
    if (p > 65535) return std::nullopt;
    return static_cast<uint16_t>(p);
  } catch (...) {
    return std::nullopt;
  }
}

std::string host_of(const std::string& addr) {
  auto colon = addr.rfind(':');
  return colon == std::string::npos ? addr : addr.substr(0, colon);
}

std::string tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

}  // namespace

// ---- environment ---------------------------------------------------------------
std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::string(fallback);
}
std::string lb_bin() { return env_or("LB_BIN", "build/lb"); }
std::string backend_bin() { return env_or("BACKEND_BIN", "build/backend"); }

// ---- waiting ---------------------------------------------------------------------
bool wait_until(const std::function<bool()>& pred, ms timeout, ms interval) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::min<ms>(interval, ms(remaining_ms(deadline) + 1)));
  }
}

double elapsed_ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

// ---- files -----------------------------------------------------------------------
std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  auto content = read_file(path);
  if (!content) return lines;
  size_t start = 0;
  for (;;) {
    size_t nl = content->find('\n', start);
    if (nl == std::string::npos) break;
    lines.push_back(content->substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

void write_file(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

TempDir::TempDir() {
  std::string base = env_or("TMPDIR", "/tmp");
  std::string tmpl = base + "/lb-it-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed: " + std::string(strerror(errno)));
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  if (env_or("IT_KEEP_TMP", "0") == "1") return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// ---- ports -----------------------------------------------------------------------
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error("bind: " + std::string(strerror(e)));
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool port_accepts(uint16_t port, ms timeout) {
  Socket s = Socket::connect(port, timeout);
  return s.valid();
}

namespace {
// Inodes of LISTEN sockets on `port` in the network namespace seen by `pid`.
std::vector<std::string> listen_inodes(pid_t pid, uint16_t port) {
  std::vector<std::string> inodes;
  for (const char* file : {"tcp", "tcp6"}) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/net/" + file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string sl, local, remote, st, txrx, trtm, retr, uid, timeout, inode;
      if (!(ls >> sl >> local >> remote >> st >> txrx >> trtm >> retr >> uid >> timeout >> inode)) continue;
      if (st != "0A") continue;
      auto colon = local.rfind(':');
      if (colon == std::string::npos) continue;
      unsigned long p = std::strtoul(local.c_str() + colon + 1, nullptr, 16);
      if (p == port) inodes.push_back(inode);
    }
  }
  return inodes;
}
}  // namespace

bool pid_listens_on(pid_t pid, uint16_t port) {
  auto inodes = listen_inodes(pid, port);
  if (inodes.empty()) return false;
  std::string fddir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(fddir.c_str());
  if (!d) return false;
  bool found = false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[256];
    ssize_t n = readlink((fddir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    std::string t(target);
    for (const auto& ino : inodes) {
      if (t == "socket:[" + ino + "]") {
        found = true;
        break;
      }
    }
    if (found) break;
  }
  closedir(d);
  return found;
}

HeldListener::HeldListener(const char* ip, bool reuseport, uint16_t want) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (reuseport && fd_ >= 0) {
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(want);
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1 || fd_ < 0 ||
      ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
    release();
    throw std::runtime_error(std::string("cannot listen on ") + ip);
  }
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
}

void HeldListener::release() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// ---- child processes -------------------------------------------------------------
Child::Child(const std::vector<std::string>& args, std::string stdout_path, std::string stderr_path,
             const std::vector<std::pair<std::string, std::string>>& env)
    : out_path_(std::move(stdout_path)), err_path_(std::move(stderr_path)) {
  if (args.empty()) throw std::runtime_error("Child: no command");
  // Everything the child needs is prepared before fork (async-signal-safety).
  std::vector<std::string> argv_store = args;
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string_view var(*e);
    bool replaced = false;
    for (const auto& [name, value] : env) replaced = replaced || var.starts_with(name + "=");
    if (!replaced) env_store.emplace_back(var);
  }
  for (const auto& [name, value] : env) env_store.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  const char* outp = out_path_.c_str();
  const char* errp = err_path_.c_str();
  const char* exe = argv_store[0].c_str();
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string(strerror(errno)));
  if (pid == 0) {
    // Die with the test process.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    int in = open("/dev/null", O_RDONLY);
    int out = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(125);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    // No inherited descriptors (sockets of other tests) beyond stdio.
    syscall(SYS_close_range, 3U, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD}) sigaction(sig, &dfl, nullptr);
    execve(exe, argv.data(), envp.data());
    const char msg[] = "exec failed\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
  }
  pid_ = pid;
}

Child::~Child() {
  if (pid_ > 0 && !status_) kill_and_wait();
}

Child::Child(Child&& o) noexcept
    : pid_(o.pid_), status_(o.status_), out_path_(std::move(o.out_path_)), err_path_(std::move(o.err_path_)) {
  o.pid_ = -1;
  o.status_.reset();
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0 && !status_) kill_and_wait();
    pid_ = o.pid_;
    status_ = o.status_;
    out_path_ = std::move(o.out_path_);
    err_path_ = std::move(o.err_path_);
    o.pid_ = -1;
    o.status_.reset();
  }
  return *this;
}

bool Child::reap(bool block) {
  if (pid_ <= 0) return true;
  if (status_) return true;
  int st = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &st, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    if (WIFEXITED(st)) status_ = WEXITSTATUS(st);
    else if (WIFSIGNALED(st)) status_ = 128 + WTERMSIG(st);
    else status_ = -1;
    return true;
  }
  if (r < 0) {  // not our child any more (should not happen)
    status_ = -1;
    return true;
  }
  return false;
}

bool Child::running() {
  if (pid_ <= 0) return false;
  return !reap(false);
}

bool Child::signal(int sig) {
  if (!running()) return false;
  return ::kill(pid_, sig) == 0;
}

std::optional<int> Child::wait(ms timeout) {
  if (pid_ <= 0) return std::nullopt;
  wait_until([&] { return reap(false); }, timeout, 2ms);
  return status_;
}

void Child::kill_and_wait() {
  if (pid_ <= 0 || status_) return;
  ::kill(pid_, SIGKILL);
  reap(true);
}

std::string Child::out() const { return read_file(out_path_).value_or(""); }
std::string Child::err() const { return read_file(err_path_).value_or(""); }

RunResult run_command(const std::vector<std::string>& args, ms timeout) {
  TempDir dir;
  Child c(args, dir.file("stdout"), dir.file("stderr"));
  RunResult r;
  r.status = c.wait(timeout);
  if (!r.status) c.kill_and_wait();
  r.out = c.out();
  r.err = c.err();
  return r;
}

// ---- backend ---------------------------------------------------------------------
Backend::Backend(std::vector<std::string> echo_specs, std::vector<std::string> http_specs, ms ready_timeout) {
  std::vector<std::string> args{backend_bin(), "--host", "127.0.0.1"};
  if (!echo_specs.empty()) {
    args.push_back("--echo");
    args.push_back(join(echo_specs, ","));
  }
  if (!http_specs.empty()) {
    args.push_back("--http");
    args.push_back(join(http_specs, ","));
  }
  child_ = Child(args, dir_.file("stdout"), dir_.file("stderr"));
  bool ready = wait_until(
      [&] {
        for (const auto& l : read_lines(child_.out_path()))
          if (l == "ready") return true;
        return !child_.running();
      },
      ready_timeout);
  auto lines = read_lines(child_.out_path());
  if (!ready || std::find(lines.begin(), lines.end(), "ready") == lines.end())
    throw std::runtime_error("backend did not become ready: " + join(args, " ") + "\nstdout: " + child_.out() +
                             "\nstderr: " + child_.err());
  for (const auto& l : lines) {
    std::istringstream ls(l);
    std::string word, mode;
    unsigned port = 0;
    if (!(ls >> word >> mode >> port) || word != "listening") continue;
    if (mode == "echo") echo_ports_.push_back(static_cast<uint16_t>(port));
    else if (mode == "http") http_ports_.push_back(static_cast<uint16_t>(port));
  }
  if (echo_ports_.size() != echo_specs.size() || http_ports_.size() != http_specs.size())
    throw std::runtime_error("backend printed unexpected ports:\n" + child_.out());
}

Backend Backend::echo(int n) { return Backend(std::vector<std::string>(static_cast<size_t>(n), "0"), {}); }
Backend Backend::http(int n, const std::string& spec) {
  return Backend({}, std::vector<std::string>(static_cast<size_t>(n), spec));
}

std::optional<int> Backend::stop(ms timeout) {
  child_.signal(SIGTERM);
  return child_.wait(timeout);
}

// ---- lb --------------------------------------------------------------------------
std::optional<long> rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      long kb = std::strtol(line.c_str() + 6, nullptr, 10);
      return kb * 1024;
    }
  }
  return std::nullopt;
}

size_t open_fds(pid_t pid) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

namespace {
bool has_zero_port(const json& config) {
  auto zero = [](const json& v) {
    return v.is_string() && port_of(v.get<std::string>()) == uint16_t{0};
  };
  if (config.contains("listeners") && config["listeners"].is_array())
    for (const auto& l : config["listeners"])
      if (l.is_object() && l.contains("listen") && zero(l["listen"])) return true;
  if (config.contains("admin") && config["admin"].is_object() && config["admin"].contains("listen") &&
      zero(config["admin"]["listen"]))
    return true;
  return false;
}
}  // namespace

void Lb::fill_defaults_and_ports(json& config) {
  if (!config.is_object()) return;
  if (opts_.default_workers && !config.contains("workers")) config["workers"] = 1;
  if (opts_.default_shutdown && !config.contains("shutdown_timeout")) config["shutdown_timeout"] = "5s";
  if (opts_.default_logging && !config.contains("logging"))
    config["logging"] = {{"level", "info"}, {"error_log", dir_.file("error.log")}, {"access_log", dir_.file("access.log")}};
  auto fill = [](json& v) {
    if (!v.is_string()) return;
    std::string addr = v.get<std::string>();
    if (port_of(addr) == uint16_t{0}) v = host_of(addr) + ":" + std::to_string(free_port());
  };
  if (config.contains("listeners") && config["listeners"].is_array())
    for (auto& l : config["listeners"])
      if (l.is_object() && l.contains("listen")) fill(l["listen"]);
  if (config.contains("admin") && config["admin"].is_object() && config["admin"].contains("listen"))
    fill(config["admin"]["listen"]);
}

Lb::Lb(json config, LbOptions options) : opts_(options) {
  config_path_ = dir_.file("lb.json");
  const json templ = config;
  int attempts = has_zero_port(templ) ? std::max(1, opts_.bind_retries) : 1;
  std::string last_error;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    config_ = templ;
    fill_defaults_and_ports(config_);
    write_file(config_path_, config_.dump(2));
    child_ = Child({lb_bin(), "-c", config_path_}, dir_.file("lb.stdout"), dir_.file("lb.stderr"), opts_.env);
    if (!opts_.wait_ready) return;
    if (wait_listening(opts_.ready_timeout)) return;
    bool exited = !child_.running();
    last_error = std::string(exited ? "lb exited with status " + std::to_string(child_.exit_status().value_or(-1))
                                    : "lb did not listen in time") +
                 "\nconfig: " + config_.dump() + "\n" + diagnostics();
    child_.kill_and_wait();
    if (!exited) break;  // a hang is not a port race
  }
  throw std::runtime_error(last_error);
}

Lb::~Lb() {
  if (child_.running()) {
    child_.signal(SIGTERM);
    if (!child_.wait(3s)) child_.kill_and_wait();
  }
}

bool Lb::wait_listening(ms timeout) {
  std::vector<uint16_t> ports;
  if (config_.contains("listeners"))
    for (const auto& l : config_["listeners"])
      if (l.contains("listen") && l["listen"].is_string())
        if (auto p = port_of(l["listen"].get<std::string>())) ports.push_back(*p);
  if (auto a = admin_port()) ports.push_back(*a);
  return wait_until(
             [&] {
               if (!child_.running()) return true;
               for (auto p : ports)
                 if (!pid_listens_on(child_.pid(), p)) return false;
               return true;
             },
             timeout) &&
         child_.running();
}

std::string Lb::error_log_path() const {
  if (config_.contains("logging") && config_["logging"].contains("error_log") &&
      config_["logging"]["error_log"].is_string())
    return config_["logging"]["error_log"].get<std::string>();
  return "-";
}

std::string Lb::access_log_path() const {
  if (config_.contains("logging") && config_["logging"].contains("access_log") &&
      config_["logging"]["access_log"].is_string())
    return config_["logging"]["access_log"].get<std::string>();
  return "";
}

uint16_t Lb::port(const std::string& name) const {
  for (const auto& l : config_["listeners"])
    if (l.value("name", "") == name)
      if (auto p = port_of(l.value("listen", ""))) return *p;
  throw std::runtime_error("no listener named " + name);
}

uint16_t Lb::port(size_t index) const {
  auto p = port_of(config_["listeners"].at(index).value("listen", ""));
  if (!p) throw std::runtime_error("listener has no port");
  return *p;
}

std::optional<uint16_t> Lb::admin_port() const {
  if (config_.contains("admin") && config_["admin"].is_object() && config_["admin"].contains("listen") &&
      config_["admin"]["listen"].is_string())
    return port_of(config_["admin"]["listen"].get<std::string>());
  return std::nullopt;
}

void Lb::rewrite_config(json config) {
  fill_defaults_and_ports(config);
  config_ = config;
  write_file(config_path_, config_.dump(2));
}

std::optional<long> Lb::rss_bytes() const { return it::rss_bytes(child_.pid()); }

std::optional<int> Lb::stop(ms timeout) {
  child_.signal(SIGTERM);
  return child_.wait(timeout);
}

namespace {
std::vector<json> parse_json_lines(const std::string& path) {
  std::vector<json> out;
  if (path.empty() || path == "-") return out;
  for (const auto& l : read_lines(path)) {
    try {
      out.push_back(json::parse(l));
    } catch (...) {
    }
  }
  return out;
}
}  // namespace

std::vector<json> Lb::error_log() const { return parse_json_lines(error_log_path()); }
std::vector<json> Lb::access_log() const { return parse_json_lines(access_log_path()); }

std::string Lb::diagnostics() const {
  std::string d = "lb stderr: " + tail(child_.err(), 4000);
  std::string el = error_log_path();
  if (el != "-" && !el.empty()) d += "\nlb error log: " + tail(read_file(el).value_or("(none)"), 4000);
  return d;
}

// ---- Socket ----------------------------------------------------------------------
const char* to_string(Io io) {
  switch (io) {
    case Io::ok: return "ok";
    case Io::eof: return "eof";
    case Io::timeout: return "timeout";
    case Io::error: return "error";
  }
  return "?";
}

Socket::~Socket() { close(); }

Socket::Socket(Socket&& o) noexcept : fd_(o.fd_), err_(o.err_), last_io_(o.last_io_), buf_(std::move(o.buf_)) {
  o.fd_ = -1;
}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    err_ = o.err_;
    last_io_ = o.last_io_;
    buf_ = std::move(o.buf_);
    o.fd_ = -1;
  }
  return *this;
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Socket Socket::connect(uint16_t port, ms timeout, const std::string& host, const std::string& local) {
  Socket s;
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    s.err_ = EINVAL;
    return s;
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    s.err_ = errno;
    return s;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!local.empty()) {
    sockaddr_storage from{};
    from.ss_family = static_cast<sa_family_t>(family);
    void* at = family == AF_INET ? static_cast<void*>(&reinterpret_cast<sockaddr_in*>(&from)->sin_addr)
                                 : static_cast<void*>(&reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr);
    if (inet_pton(family, local.c_str(), at) != 1 || ::bind(fd, reinterpret_cast<sockaddr*>(&from), len) != 0) {
      s.err_ = errno ? errno : EINVAL;
      ::close(fd);
      return s;
    }
  }
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (r != 0 && errno != EINPROGRESS) {
    s.err_ = errno;
    ::close(fd);
    return s;
  }
  if (r != 0) {
    pollfd p{fd, POLLOUT, 0};
    int pr;
    do {
      pr = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (pr < 0 && errno == EINTR);
    if (pr == 0) {
      s.err_ = ETIMEDOUT;
      ::close(fd);
      return s;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr != 0) {
      s.err_ = soerr;
      ::close(fd);
      return s;
    }
  }
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  s.fd_ = fd;
  return s;
}

std::string Socket::error_text() const { return err_ ? std::string(strerror(err_)) : std::string("no error"); }

uint16_t Socket::local_port() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

uint16_t Socket::peer_port() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

bool Socket::send_all(std::string_view data, ms timeout) {
  auto deadline = Clock::now() + timeout;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int left = remaining_ms(deadline);
      if (left == 0) {
        err_ = ETIMEDOUT;
        return false;
      }
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, left);
      continue;
    }
    err_ = errno;
    return false;
  }
  return true;
}

bool Socket::shutdown_write() { return ::shutdown(fd_, SHUT_WR) == 0; }

void Socket::set_recv_timeout(ms timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

void Socket::set_rcvbuf(int bytes) { setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes); }

void Socket::set_nonblocking(bool on) {
  int fl = fcntl(fd_, F_GETFL);
  fcntl(fd_, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK));
}

Io Socket::fill(Clock::time_point deadline, size_t max) {
  if (fd_ < 0) {
    err_ = EBADF;
    return last_io_ = Io::error;
  }
  char tmp[65536];
  size_t want = std::min(max, sizeof tmp);
  if (want == 0) want = 1;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int pr = ::poll(&p, 1, remaining_ms(deadline));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) return last_io_ = Io::timeout;
    ssize_t n = ::recv(fd_, tmp, want, MSG_DONTWAIT);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return last_io_ = Io::ok;
    }
    if (n == 0) return last_io_ = Io::eof;
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
      if (remaining_ms(deadline) == 0) return last_io_ = Io::timeout;
      continue;
    }
    err_ = errno;
    return last_io_ = Io::error;
  }
}

Io Socket::recv_some(std::string& out, ms timeout, size_t max) {
  if (buf_.empty()) {
    Io io = fill(Clock::now() + timeout, max);
    if (io != Io::ok) return io;
  }
  size_t n = std::min(max, buf_.size());
  out.append(buf_, 0, n);
  buf_.erase(0, n);
  return last_io_ = Io::ok;
}

std::optional<std::string> Socket::recv_exact(size_t n, ms timeout) {
  auto deadline = Clock::now() + timeout;
  while (buf_.size() < n) {
    if (fill(deadline, n - buf_.size()) != Io::ok) return std::nullopt;
  }
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  last_io_ = Io::ok;
  return out;
}

std::optional<std::string> Socket::recv_until(std::string_view delim, ms timeout, size_t max) {
  auto deadline = Clock::now() + timeout;
  size_t scanned = 0;
  for (;;) {
    size_t from = scanned >= delim.size() ? scanned - delim.size() + 1 : 0;
    size_t pos = buf_.find(delim, from);
    if (pos != std::string::npos) {
      std::string out = buf_.substr(0, pos + delim.size());
      buf_.erase(0, pos + delim.size());
      last_io_ = Io::ok;
      return out;
    }
    scanned = buf_.size();
    if (buf_.size() >= max) {
      last_io_ = Io::error;
      err_ = EMSGSIZE;
      return std::nullopt;
    }
    if (fill(deadline) != Io::ok) return std::nullopt;
  }
}

Socket::Drain Socket::recv_until_eof(ms timeout, size_t max) {
  auto deadline = Clock::now() + timeout;
  Drain d;
  for (;;) {
    if (buf_.size() >= max) {
      d.io = Io::ok;
      break;
    }
    Io io = fill(deadline);
    if (io != Io::ok) {
      d.io = io;
      d.err = io == Io::error ? err_ : 0;
      break;
    }
  }
  d.data = std::move(buf_);
  buf_.clear();
  return d;
}

Socket::Drain Socket::drain_count(ms timeout, uint64_t& count,
                                  const std::function<void(const char*, size_t)>& sink) {
  auto deadline = Clock::now() + timeout;
  Drain d;
  if (!buf_.empty()) {
    count += buf_.size();
    if (sink) sink(buf_.data(), buf_.size());
    buf_.clear();
  }
  std::vector<char> big(1 << 20);
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int pr = ::poll(&p, 1, remaining_ms(deadline));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      d.io = Io::timeout;
      break;
    }
    ssize_t n = ::recv(fd_, big.data(), big.size(), MSG_DONTWAIT);
    if (n > 0) {
      count += static_cast<uint64_t>(n);
      if (sink) sink(big.data(), static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      d.io = Io::eof;
      break;
    }
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    d.io = Io::error;
    d.err = err_ = errno;
    break;
  }
  last_io_ = d.io;
  return d;
}

Io Socket::wait_closed(ms timeout) {
  if (!buf_.empty()) return last_io_ = Io::ok;
  return fill(Clock::now() + timeout);
}

// ---- HTTP ------------------------------------------------------------------------
std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  std::string n = lower(name);
  for (const auto& [k, v] : headers)
    if (lower(k) == n) return v;
  return std::nullopt;
}

std::vector<std::string> HttpResponse::headers_named(std::string_view name) const {
  std::vector<std::string> out;
  std::string n = lower(name);
  for (const auto& [k, v] : headers)
    if (lower(k) == n) out.push_back(v);
  return out;
}

std::string HttpRequest::serialize() const {
  std::string out = method + " " + target + " " + version + "\r\n";
  bool has_host = false, has_len = false;
  for (const auto& [k, v] : headers) {
    std::string lk = lower(k);
    if (lk == "host") has_host = true;
    if (lk == "content-length" || lk == "transfer-encoding") has_len = true;
  }
  if (!has_host && version == "HTTP/1.1") out += "Host: 127.0.0.1\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  if (!body.empty() && !has_len) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

std::optional<HttpResponse> read_http_head(Socket& s, ms timeout) {
  auto head = s.recv_until("\r\n\r\n", timeout, 1 << 20);
  if (!head) return std::nullopt;
  HttpResponse r;
  r.head_bytes = head->size();
  size_t eol = head->find("\r\n");
  std::string status_line = head->substr(0, eol);
  // "HTTP/1.1 200 OK"
  size_t sp1 = status_line.find(' ');
  if (sp1 == std::string::npos) return std::nullopt;
  r.version = status_line.substr(0, sp1);
  if (r.version.rfind("HTTP/", 0) != 0) return std::nullopt;
  size_t sp2 = status_line.find(' ', sp1 + 1);
  std::string code = status_line.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
  if (code.size() != 3 || !std::all_of(code.begin(), code.end(), ::isdigit)) return std::nullopt;
  r.status = std::stoi(code);
  if (sp2 != std::string::npos) r.reason = status_line.substr(sp2 + 1);
  size_t pos = eol + 2;
  while (pos < head->size()) {
    size_t e = head->find("\r\n", pos);
    if (e == std::string::npos || e == pos) break;
    std::string line = head->substr(pos, e - pos);
    pos = e + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) return std::nullopt;
    r.headers.emplace_back(line.substr(0, colon), trim(std::string_view(line).substr(colon + 1)));
  }
  return r;
}

std::optional<HttpResponse> read_http_response(Socket& s, ms timeout, std::string_view request_method) {
  auto deadline = Clock::now() + timeout;
  auto left = [&] { return ms(remaining_ms(deadline)); };
  std::optional<HttpResponse> r;
  for (;;) {
    r = read_http_head(s, left());
    if (!r) return std::nullopt;
    if (r->status >= 100 && r->status < 200 && r->status != 101) continue;  // interim
    break;
  }
  if (request_method == "HEAD" || r->status == 204 || r->status == 304 || r->status == 101) return r;
  auto te = r->header("Transfer-Encoding");
  if (te && lower(*te).find("chunked") != std::string::npos) {
    r->chunked = true;
    for (;;) {
      auto line = s.recv_until("\r\n", left(), 4096);
      if (!line) return std::nullopt;
      std::string size_str = line->substr(0, line->find_first_of(";\r"));
      char* end = nullptr;
      unsigned long long size = std::strtoull(size_str.c_str(), &end, 16);
      if (size_str.empty() || end == size_str.c_str()) return std::nullopt;
      if (size == 0) {
        for (;;) {  // trailers
          auto t = s.recv_until("\r\n", left(), 1 << 16);
          if (!t) return std::nullopt;
          if (*t == "\r\n") return r;
        }
      }
      auto data = s.recv_exact(size, left());
      if (!data) return std::nullopt;
      r->body += *data;
      auto crlf = s.recv_exact(2, left());
      if (!crlf || *crlf != "\r\n") return std::nullopt;
    }
  }
  if (auto cl = r->header("Content-Length")) {
    unsigned long long n = std::strtoull(cl->c_str(), nullptr, 10);
    auto body = s.recv_exact(n, left());
    if (!body) return std::nullopt;
    r->body = std::move(*body);
    return r;
  }
  auto d = s.recv_until_eof(left());
  if (d.io != Io::eof) return std::nullopt;
  r->body = std::move(d.data);
  return r;
}

std::optional<HttpResponse> http_request(uint16_t port, const HttpRequest& req, ms timeout) {
  auto deadline = Clock::now() + timeout;
  Socket s = Socket::connect(port, timeout);
  if (!s) return std::nullopt;
  HttpRequest r = req;
  bool has_conn = false;
  for (const auto& [k, v] : r.headers)
    if (lower(k) == "connection") has_conn = true;
  if (!has_conn && r.version == "HTTP/1.1") r.headers.emplace_back("Connection", "close");
  if (!s.send_all(r.serialize(), ms(remaining_ms(deadline)))) return std::nullopt;
  return read_http_response(s, ms(remaining_ms(deadline)), r.method);
}

std::optional<HttpResponse> http_get(uint16_t port, const std::string& target, ms timeout) {
  HttpRequest r;
  r.target = target;
  return http_request(port, r, timeout);
}

// ---- misc ------------------------------------------------------------------------
bool is_pattern(const char* data, size_t len, uint64_t offset) {
  static const std::vector<char> pat = [] {
    std::vector<char> p((1 << 16) + 256);
    for (size_t i = 0; i < p.size(); ++i) p[i] = pattern_byte(i);
    return p;
  }();
  size_t done = 0;
  while (done < len) {
    size_t start = (offset + done) % 256;
    size_t n = std::min(len - done, size_t(1) << 16);
    if (std::memcmp(data + done, pat.data() + start, n) != 0) return false;
    done += n;
  }
  return true;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256::update(const void* data, size_t len) { EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, len); }
std::string Sha256::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &n);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex();
}

json server(uint16_t port, int weight) { return {{"address", Backend::addr(port)}, {"weight", weight}}; }

json make_pool(const std::string& name, const std::string& algorithm, std::vector<json> servers, json extra) {
  json p = {{"name", name}, {"algorithm", algorithm}, {"servers", servers}};
  for (auto& [k, v] : extra.items()) p[k] = v;
  return p;
}

json make_config(std::vector<json> listeners, std::vector<json> pools, json extra) {
  json c = {{"listeners", listeners}, {"pools", pools}};
  for (auto& [k, v] : extra.items()) c[k] = v;
  return c;
}

json http_listener_on(const std::string& pool, json extra) {
  json l = {{"name", "h"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", pool}};
  for (auto& [k, v] : extra.items()) l[k] = v;
  return l;
}

std::vector<json> servers_for(const std::vector<uint16_t>& ports) {
  std::vector<json> s;
  for (auto p : ports) s.push_back(server(p));
  return s;
}

// ---- response checks ---------------------------------------------------------------

bool has_token(const std::optional<std::string>& v, std::string_view token) {
  return v && lower(*v).find(token) != std::string::npos;
}

bool is_json_error(const HttpResponse& r) {
  if (!has_token(r.header("Content-Type"), "application/json")) return false;
  try {
    json j = json::parse(r.body);
    return j.is_object() && j.contains("error") && j["error"].is_string();
  } catch (...) {
    return false;
  }
}

// ---- observing lb ------------------------------------------------------------------

std::vector<json> wait_access_lines(Lb& lb, size_t n, ms timeout) {
  wait_until([&] { return lb.access_log().size() >= n; }, timeout, 20ms);
  return lb.access_log();
}

json admin_stats(Lb& lb, ms timeout) {
  auto port = lb.admin_port();
  if (!port) return json::object();
  auto r = http_get(*port, "/stats", timeout);
  if (!r || r->status != 200) return json::object();
  try {
    return json::parse(r->body);
  } catch (...) {
    return json::object();
  }
}

json find_pool(const json& stats, const std::string& name) {
  if (!stats.is_object() || !stats.contains("pools")) return json();
  for (const auto& p : stats["pools"])
    if (p.value("name", "") == name) return p;
  return json();
}

json find_server(const json& stats, const std::string& pool_name, const std::string& address) {
  json p = find_pool(stats, pool_name);
  if (!p.is_object() || !p.contains("servers")) return json();
  for (const auto& s : p["servers"])
    if (s.value("address", "") == address) return s;
  return json();
}

}  // namespace it
