// tests/integration/unix_socket_test.cpp — "unix:/path" listeners (SPEC 3,
// second edition): requests through the socket file reach the pool and log
// client "unix"; the file has mode 0660; a stale file is replaced, a live
// one (another process listens) and a non-socket file are refused; the file
// goes away when a reload removes the listener and when lb stops.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "tests/integration/harness.h"

using namespace it;

namespace {

sockaddr_un unix_addr(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  return a;
}

// A connected client socket, or an invalid Socket.
Socket unix_connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a = unix_addr(path);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return Socket();
  }
  return Socket(fd);
}

// A listening socket file at `path`; closed (file left behind) when listen = false.
int make_socket_file(const std::string& path, bool listen) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a = unix_addr(path);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  if (listen) {
    REQUIRE(::listen(fd, 8) == 0);
    return fd;
  }
  ::close(fd);
  return -1;
}

bool exists(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0;
}

json config_with_unix(uint16_t backend_port, const std::string& sock) {
  json unix_listener = http_listener_on("p");
  unix_listener["name"] = "u";
  unix_listener["listen"] = "unix:" + sock;
  return make_config({http_listener_on("p"), unix_listener},
                     {make_pool("p", "round_robin", {server(backend_port)})});
}

}  // namespace

TEST_CASE("unix listener: requests, mode 0660, client \"unix\", stale file replaced, removed on reload and stop") {
  auto backend = Backend::http(1);
  TempDir dir;
  const std::string sock = dir.file("web.sock");
  make_socket_file(sock, false);  // stale: nobody listens
  REQUIRE(exists(sock));
  json config = config_with_unix(backend.http_port(), sock);
  config["logging"] = {{"access_log", dir.file("access.log")}, {"error_log", dir.file("error.log")}};
  Lb lb(config);

  struct stat st{};
  REQUIRE(::stat(sock.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0660);

  Socket c = unix_connect(sock);
  REQUIRE_MESSAGE(c.valid(), lb.diagnostics());
  REQUIRE(c.send_all("GET /via-unix HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  auto answer = c.recv_until_eof(5s);
  CHECK(answer.data.rfind("HTTP/1.1 200", 0) == 0);
  auto lines = wait_access_lines(lb, 1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["client"] == "unix");
  CHECK(lines[0]["listener"] == "u");

  // A reload without the listener removes its file; one with it back recreates it.
  json tcp_only = config;
  tcp_only["listeners"].erase(1);
  lb.rewrite_config(tcp_only);
  REQUIRE(lb.signal(SIGHUP));
  CHECK_MESSAGE(wait_until([&] { return !exists(sock); }, 5s), lb.diagnostics());
  lb.rewrite_config(config);
  REQUIRE(lb.signal(SIGHUP));
  CHECK_MESSAGE(wait_until([&] { return exists(sock); }, 5s), lb.diagnostics());
  CHECK(wait_until([&] { return unix_connect(sock).valid(); }, 5s));

  CHECK(lb.stop() == 0);
  CHECK_FALSE(exists(sock));
}

TEST_CASE("unix listener: a live socket file and a non-socket file are refused") {
  auto backend = Backend::http(1);
  TempDir dir;
  const std::string sock = dir.file("live.sock");
  int held = make_socket_file(sock, true);
  json config = config_with_unix(backend.http_port(), sock);
  config["listeners"][0]["listen"] = "127.0.0.1:" + std::to_string(free_port());
  write_file(dir.file("lb.json"), config.dump());
  auto r = run_command({lb_bin(), "-c", dir.file("lb.json")}, 10s);
  CHECK(r.status == 1);
  CHECK_MESSAGE(r.err.find("listener \"u\"") != std::string::npos, r.err);
  CHECK(r.err.find("already in use by another process") != std::string::npos);
  CHECK(exists(sock));  // the other process's file is left alone
  ::close(held);

  const std::string plain = dir.file("plain");
  write_file(plain, "not a socket");
  config["listeners"][1]["listen"] = "unix:" + plain;
  write_file(dir.file("lb.json"), config.dump());
  r = run_command({lb_bin(), "-c", dir.file("lb.json")}, 10s);
  CHECK(r.status == 1);
  CHECK_MESSAGE(r.err.find("exists and is not a socket") != std::string::npos, r.err);
  CHECK(read_file(plain) == "not a socket");
}

TEST_CASE("unix addresses: relative paths, servers and the admin API are configuration errors") {
  auto backend = Backend::http(1);
  TempDir dir;
  json config = config_with_unix(backend.http_port(), "relative.sock");
  config["listeners"][0]["listen"] = "127.0.0.1:1";
  config["pools"][0]["servers"].push_back({{"address", "unix:/run/app.sock"}});
  config["admin"] = {{"listen", "unix:/run/lb-admin.sock"}};
  write_file(dir.file("lb.json"), config.dump());
  auto r = run_command({lb_bin(), "-c", dir.file("lb.json"), "--check"});
  CHECK(r.status == 1);
  CHECK_MESSAGE(r.err.find("/listeners/1/listen: UNIX socket address \"unix:relative.sock\" needs an absolute path") !=
                    std::string::npos, r.err);
  CHECK(r.err.find("/pools/0/servers/1/address: UNIX-socket servers") != std::string::npos);
  CHECK(r.err.find("/admin/listen: the admin API listens on") != std::string::npos);
}
