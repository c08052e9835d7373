// tests/integration/daemon_test.cpp — lb as a system daemon (SPEC 16): the
// sd_notify messages a Type=notify unit relies on, each seen at its moment
// on a datagram socket the test binds as $NOTIFY_SOCKET; and "user"/"group":
// started as root, every thread of lb runs as the user afterwards (read from
// /proc/PID/task/*/status) while a reload can still bind a port below 1024.
#include <doctest/doctest.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <sstream>

#include "tests/integration/harness.h"

using namespace it;

namespace {

// The service manager's end: a datagram socket that records each message
// and the pid that sent it (SCM_CREDENTIALS, as systemd checks NotifyAccess=main).
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~NotifySocket() { ::close(fd_); }

  struct Message {
    std::string text;
    pid_t pid = 0;
  };
  // The next datagram, or nullopt after `timeout`.
  std::optional<Message> next(ms timeout) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf, sizeof buf};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_, &m, 0);
    if (n < 0) return std::nullopt;
    Message out{std::string(buf, static_cast<size_t>(n)), 0};
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
        out.pid = reinterpret_cast<ucred*>(CMSG_DATA(c))->pid;
    return out;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

json one_listener_config(uint16_t backend_port) {
  return make_config({http_listener_on("p")}, {make_pool("p", "round_robin", {server(backend_port)})});
}

// "Uid:\tR\tE\tS\tF" of every thread of `pid`, one entry per task.
std::vector<std::string> task_status_lines(pid_t pid, const std::string& key) {
  std::vector<std::string> lines;
  for (auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    for (auto& line : read_lines(task.path().string() + "/status"))
      if (line.rfind(key + ":", 0) == 0) lines.push_back(line);
  }
  return lines;
}

// A port below 1024 that nobody listens on (the test runs as root).
uint16_t free_privileged_port(uint16_t from) {
  for (uint16_t p = from; p < 1024; ++p) {
    try {
      HeldListener probe("127.0.0.1", false, p);
      return p;
    } catch (const std::exception&) {
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("sd_notify: READY once listening, RELOADING…READY around every reload, STATUS, STOPPING") {
  auto backend = Backend::http(1);
  TempDir dir;
  NotifySocket manager(dir.file("notify"));
  LbOptions opts;
  opts.env = {{"NOTIFY_SOCKET", dir.file("notify")}};
  json config = one_listener_config(backend.http_port());
  Lb lb(config, opts);

  auto expect = [&](const std::string& want_prefix) {
    auto m = manager.next(5s);
    REQUIRE_MESSAGE(m.has_value(), "no datagram, wanted " << want_prefix << "\n" << lb.diagnostics());
    CHECK_MESSAGE(m->text.rfind(want_prefix, 0) == 0, "got \"" << m->text << "\", wanted " << want_prefix);
    CHECK(m->pid == lb.pid());  // from the main process
    return m->text;
  };
  // Lb(...) returned once lb listened; READY=1 was sent after the bind.
  expect("READY=1");
  CHECK(port_accepts(lb.port()));
  CHECK(expect("STATUS=").find("generation 1") != std::string::npos);

  // A successful reload that adds a listener: READY=1 comes when it listens.
  json two = config;
  json second = http_listener_on("p");
  second["name"] = "h2nd";
  two["listeners"].push_back(second);
  lb.rewrite_config(two);
  REQUIRE(lb.signal(SIGHUP));
  std::string reloading = expect("RELOADING=1\nMONOTONIC_USEC=");
  auto usec = std::stoull(reloading.substr(reloading.find('=', 12) + 1));
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  CHECK(usec <= static_cast<uint64_t>(now.tv_sec) * 1'000'000ULL + now.tv_nsec / 1000);
  CHECK(usec > 0);
  expect("READY=1");
  CHECK(pid_listens_on(lb.pid(), lb.port("h2nd")));
  CHECK(expect("STATUS=").find("generation 2") != std::string::npos);

  // A failed reload is bracketed the same way; the generation stays.
  write_file(lb.config_path(), "{ not json");
  REQUIRE(lb.signal(SIGHUP));
  expect("RELOADING=1");
  expect("READY=1");
  std::string status = expect("STATUS=");
  CHECK(status.find("generation 2") != std::string::npos);
  CHECK(status.find("reload failed") != std::string::npos);

  REQUIRE(lb.signal(SIGTERM));
  expect("STOPPING=1");
  CHECK(expect("STATUS=").find("stopping") != std::string::npos);
  CHECK(lb.wait(10s) == 0);
  CHECK_FALSE(manager.next(100ms).has_value());  // nothing after STOPPING
}

TEST_CASE("user: started as root, every thread runs as the user; a reload still binds below 1024") {
  if (geteuid() != 0) {
    MESSAGE("skipped: not root (the privilege drop needs a root start)");
    return;
  }
  const passwd* nobody = getpwnam("nobody");
  REQUIRE(nobody != nullptr);
  auto backend = Backend::http(1);
  uint16_t low = free_privileged_port(700);
  REQUIRE(low != 0);
  json config = one_listener_config(backend.http_port());
  config["user"] = "nobody";
  config["group"] = "nogroup";
  config["workers"] = 2;
  config["listeners"][0]["listen"] = "127.0.0.1:" + std::to_string(low);
  // A UNIX listener's file belongs to "group" (mode 0660), in a directory
  // the unprivileged process may remove it from at stop.
  TempDir sock_dir;
  chmod(sock_dir.path().c_str(), 0777);
  const std::string sock = sock_dir.file("web.sock");
  json unix_listener = http_listener_on("p");
  unix_listener["name"] = "u";
  unix_listener["listen"] = "unix:" + sock;
  config["listeners"].push_back(unix_listener);
  Lb lb(config);
  const group* nogroup = getgrnam("nogroup");
  REQUIRE(nogroup != nullptr);
  struct stat st{};
  REQUIRE(::stat(sock.c_str(), &st) == 0);
  CHECK(st.st_gid == nogroup->gr_gid);
  CHECK((st.st_mode & 0777) == 0660);
  // The unprivileged process re-reads its files on reload.
  chmod(lb.tmpdir().c_str(), 0755);
  chmod(lb.config_path().c_str(), 0644);

  const std::string uid = std::to_string(nobody->pw_uid);
  auto uids = task_status_lines(lb.pid(), "Uid");
  CHECK(uids.size() >= 4);  // main, logger, 2 workers
  for (auto& line : uids) CHECK(line == "Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid);
  for (auto& line : task_status_lines(lb.pid(), "Groups"))
    CHECK(line.find_first_not_of(" \t", 7) == std::string::npos);  // "Groups:" and no group
  for (auto& line : task_status_lines(lb.pid(), "CapEff"))
    CHECK((line == "CapEff:\t0000000000000400" || line == "CapEff:\t0000000000000000"));
  for (auto& line : task_status_lines(lb.pid(), "CapPrm"))
    CHECK((line == "CapPrm:\t0000000000000400" || line == "CapPrm:\t0000000000000000"));
  auto r = http_get(lb.port(), "/");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);

  // The kept CAP_NET_BIND_SERVICE: a reload binds another privileged port.
  uint16_t low2 = free_privileged_port(static_cast<uint16_t>(low + 1));
  json two = config;
  json second = http_listener_on("p");
  second["name"] = "low2";
  second["listen"] = "127.0.0.1:" + std::to_string(low2);
  two["listeners"].push_back(second);
  lb.rewrite_config(two);
  chmod(lb.config_path().c_str(), 0644);
  REQUIRE(lb.signal(SIGHUP));
  CHECK_MESSAGE(wait_until([&] { return pid_listens_on(lb.pid(), low2); }, 5s), lb.diagnostics());
  auto r2 = http_get(low2, "/");
  REQUIRE(r2.has_value());
  CHECK(r2->status == 200);
  for (auto& line : task_status_lines(lb.pid(), "Uid")) CHECK(line == "Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid);
  CHECK(lb.stop() == 0);
  CHECK(::stat(sock.c_str(), &st) != 0);  // removed on stop by the unprivileged process
}

TEST_CASE("--check: user and group must exist") {
  auto backend = Backend::http(1);
  TempDir dir;
  json config = one_listener_config(backend.http_port());
  config["listeners"][0]["listen"] = "127.0.0.1:1";
  config["user"] = "no-such-user-lb";
  config["group"] = "no-such-group-lb";
  write_file(dir.file("lb.json"), config.dump());
  auto r = run_command({lb_bin(), "-c", dir.file("lb.json"), "--check"});
  CHECK(r.status == 1);
  CHECK(r.err.find("/user: no such user \"no-such-user-lb\"") != std::string::npos);
  CHECK(r.err.find("/group: no such group \"no-such-group-lb\"") != std::string::npos);
  config["user"] = "nobody";
  config["group"] = "nogroup";
  write_file(dir.file("lb.json"), config.dump());
  r = run_command({lb_bin(), "-c", dir.file("lb.json"), "--check"});
  CHECK_MESSAGE(r.status == 0, r.err);
}
