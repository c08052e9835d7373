// tests/integration/unix_socket_test.cpp — "unix:/path" listeners (SPEC 3,
// second edition): requests through the socket file reach the pool and log
// client "unix"; the file has mode 0660; a stale file is replaced, a live
// one (another process listens) and a non-socket file are refused; the file
// goes away when a reload removes the listener and when lb stops. Servers
// on UNIX sockets: http and tcp pools and health checks reach them.
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

TEST_CASE("unix servers: http and tcp pools and health checks reach a server on a UNIX socket; a missing one fails") {
  // The "server" is a second lb with a UNIX listener in front of the backend:
  // what the backend counted shows the requests went through the socket.
  auto backend = Backend::http(1);
  TempDir dir;
  const std::string sock = dir.file("app.sock");
  json server_side = config_with_unix(backend.http_port(), sock);
  Lb app(server_side);
  REQUIRE(wait_until([&] { return unix_connect(sock).valid(); }, 5s));

  json front = make_config(
      {http_listener_on("web", {{"name", "web"}}), {{"name", "raw"}, {"listen", "127.0.0.1:0"}, {"protocol", "tcp"}, {"pool", "raw"}}},
      {make_pool("web", "round_robin", {json{{"address", "unix:" + sock}}}),
       make_pool("raw", "round_robin", {json{{"address", "unix:" + sock}}}),
       make_pool("gone", "round_robin", {json{{"address", "unix:" + dir.file("none.sock")}}})});
  front["pools"][0]["health_check"] = {{"type", "http"}, {"path", "/"}, {"interval", "100ms"}};
  front["pools"][2]["health_check"] = {{"type", "tcp"}, {"interval", "100ms"}};
  front["listeners"].push_back(http_listener_on("gone", {{"name", "gone"}}));
  front["admin"] = {{"listen", "127.0.0.1:0"}};
  Lb lb(front);
  const std::string server = "unix:" + sock;
  REQUIRE_MESSAGE(wait_until([&] {
    return find_server(admin_stats(lb), "web", server)["health"].value("status", "") == "passing";
  }, 5s), lb.diagnostics());

  auto backend_count = [&] { return json::parse(http_get(backend.http_port(), "/stats")->body).value("requests_total", 0); };
  const int before = backend_count();
  for (int i = 0; i < 3; ++i) {
    auto r = http_get(lb.port("web"), "/through-unix");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
  }
  Socket raw = Socket::connect(lb.port("raw"));
  REQUIRE(raw.send_all("GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  CHECK(raw.recv_until_eof(5s).data.rfind("HTTP/1.1 200", 0) == 0);
  // 3 + 1 requests, + this /stats read; health checks add more, never fewer.
  CHECK(backend_count() >= before + 5);
  CHECK(find_server(admin_stats(lb), "web", server).value("requests_total", 0) == 3);

  // No socket file: the check fails and a request is a 502 or 503.
  REQUIRE(wait_until([&] {
    return find_server(admin_stats(lb), "gone", "unix:" + dir.file("none.sock"))["health"].value("status", "") == "failing";
  }, 5s));
  auto r = http_get(lb.port("gone"), "/");
  REQUIRE(r.has_value());
  CHECK((r->status == 502 || r->status == 503));
}

TEST_CASE("unix addresses: relative paths and the admin API are configuration errors") {
  auto backend = Backend::http(1);
  TempDir dir;
  json config = config_with_unix(backend.http_port(), "relative.sock");
  config["listeners"][0]["listen"] = "127.0.0.1:1";
  config["admin"] = {{"listen", "unix:/run/lb-admin.sock"}};
  write_file(dir.file("lb.json"), config.dump());
  auto r = run_command({lb_bin(), "-c", dir.file("lb.json"), "--check"});
  CHECK(r.status == 1);
  CHECK_MESSAGE(r.err.find("/listeners/1/listen: UNIX socket address \"unix:relative.sock\" needs an absolute path") !=
                    std::string::npos, r.err);
  CHECK(r.err.find("/admin/listen: the admin API listens on") != std::string::npos);
}
