// bench/idle_conns.cpp — holds N idle HTTP/1.1 keep-alive client connections
// open against a proxy, for the memory-per-connection measurement in
// bench/bench.sh.
//
// Usage:
//   idle_conns --port PORT [--host ADDR] [--count N] [--concurrency C]
//              [--path PATH] [--timeout-ms MS]
//
//   --host ADDR        IPv4 address to connect to (default 127.0.0.1)
//   --port PORT        port to connect to (required)
//   --count N          connections to open (default 10000)
//   --concurrency C    requests in flight at once (default 50), so the proxy
//                      never needs more than about C backend connections
//   --path PATH        request path (default /)
//   --timeout-ms MS    deadline for connecting and getting every response
//                      (default 60000)
//
// What it does:
//   1. connects N sockets (blocking connect, one after the other);
//   2. sends "GET PATH HTTP/1.1\r\nHost: x\r\n\r\n" on each, at most C at a
//      time, and reads each response fully (status line, headers, then
//      Content-Length body bytes; a response without Content-Length, with a
//      status other than 2xx, or with "Connection: close" is an error);
//   3. prints "ready" on stdout (flushed) and holds every connection open and
//      idle until SIGTERM/SIGINT, or until stdin reaches EOF when stdin is a
//      pipe, FIFO or terminal (stdin that cannot be polled, e.g. /dev/null,
//      is ignored);
//   4. on the way out prints "closed_by_peer K" (connections the server
//      closed while they were idle) and exits 0.
// Any failure in steps 1–2 prints a message on stderr and exits 1 (usage
// errors exit 2). The process needs `ulimit -n` above N.
//
// Build: g++ -O2 -std=c++20 bench/idle_conns.cpp -o build/idle_conns
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

enum class State { idle_new, waiting, done, closed };

struct Conn {
  int fd = -1;
  State state = State::idle_new;
  std::string buf;
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr, "idle_conns: %s\n", msg);
  std::fprintf(stderr,
               "usage: idle_conns --port PORT [--host ADDR] [--count N] [--concurrency C] "
               "[--path PATH] [--timeout-ms MS]\n");
  std::exit(2);
}

[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stderr, "idle_conns: %s\n", msg.c_str());
  std::exit(1);
}

long number(const char* s, long lo, long hi, const char* what) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    usage((std::string("bad ") + what + ": " + s).c_str());
  return v;
}

// Lower-case copy for header name matching.
std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

// Returns 1 when buf holds one complete response, 0 when more bytes are
// needed, -1 (with *err set) when the response is unacceptable.
int response_complete(const std::string& buf, std::string* err) {
  size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    if (buf.size() > 64 * 1024) { *err = "response head over 64 KiB"; return -1; }
    return 0;
  }
  std::string head = lower(std::string_view(buf).substr(0, head_end));
  if (head.rfind("http/1.1 2", 0) != 0 && head.rfind("http/1.0 2", 0) != 0) {
    *err = "non-2xx response: " + buf.substr(0, std::min<size_t>(buf.find("\r\n"), 80));
    return -1;
  }
  if (head.find("\r\nconnection: close") != std::string::npos) {
    *err = "server answered Connection: close";
    return -1;
  }
  size_t cl = head.find("\r\ncontent-length:");
  if (cl == std::string::npos) { *err = "response without Content-Length"; return -1; }
  size_t len = std::strtoull(head.c_str() + cl + 17, nullptr, 10);
  size_t total = head_end + 4 + len;
  if (buf.size() < total) return 0;
  if (buf.size() > total) { *err = "extra bytes after the response"; return -1; }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", path = "/";
  long port = -1, count = 10000, concurrency = 50, timeout_ms = 60000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    const char* v = argv[++i];
    if (a == "--host") host = v;
    else if (a == "--port") port = number(v, 1, 65535, "port");
    else if (a == "--count") count = number(v, 1, 1000000, "count");
    else if (a == "--concurrency") concurrency = number(v, 1, 1000000, "concurrency");
    else if (a == "--path") path = v;
    else if (a == "--timeout-ms") timeout_ms = number(v, 1, 3600000, "timeout");
    else usage(("unknown option " + a).c_str());
  }
  if (port < 0) usage("--port is required");

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) usage(("bad host " + host).c_str());

  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
  auto past_deadline = [&] { return clock::now() >= deadline; };

  // 1. Connect every socket (blocking; a send timeout bounds a stuck connect).
  std::vector<Conn> conns(static_cast<size_t>(count));
  for (long i = 0; i < count; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket() after " + std::to_string(i) + " connections: " + std::strerror(errno));
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      fail("connect #" + std::to_string(i) + ": " + std::strerror(errno));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    conns[static_cast<size_t>(i)].fd = fd;
    if (past_deadline()) fail("deadline passed after " + std::to_string(i + 1) + " connections");
  }

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fail(std::string("epoll_create1: ") + std::strerror(errno));
  for (size_t i = 0; i < conns.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = i;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) != 0)
      fail(std::string("epoll_ctl: ") + std::strerror(errno));
  }
  // stdin: EOF ends the hold, when it can be polled at all.
  bool watch_stdin = false;
  {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = UINT64_MAX;
    watch_stdin = epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) == 0;
  }

  // 2. Requests, at most `concurrency` in flight.
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  size_t next = 0, in_flight = 0, done = 0;
  auto send_more = [&] {
    while (in_flight < static_cast<size_t>(concurrency) && next < conns.size()) {
      Conn& c = conns[next++];
      ssize_t n = send(c.fd, request.data(), request.size(), MSG_NOSIGNAL);
      if (n != static_cast<ssize_t>(request.size()))
        fail("send on connection #" + std::to_string(next - 1) + ": " +
             (n < 0 ? std::strerror(errno) : "short write"));
      c.state = State::waiting;
      ++in_flight;
    }
  };
  send_more();
  std::vector<epoll_event> events(1024);
  char rbuf[16384];
  size_t closed_idle = 0;
  bool stdin_eof = false;

  auto on_readable = [&](size_t i) {
    Conn& c = conns[i];
    for (;;) {
      ssize_t n = recv(c.fd, rbuf, sizeof rbuf, 0);
      if (n > 0) {
        if (c.state != State::waiting)
          fail("unexpected bytes on idle connection #" + std::to_string(i));
        c.buf.append(rbuf, static_cast<size_t>(n));
        std::string err;
        int r = response_complete(c.buf, &err);
        if (r < 0) fail("connection #" + std::to_string(i) + ": " + err);
        if (r == 1) {
          c.state = State::done;
          std::string().swap(c.buf);
          --in_flight;
          ++done;
          send_more();
        }
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        if (c.state == State::waiting)
          fail("connection #" + std::to_string(i) + " closed before its response completed" +
               (n < 0 ? std::string(": ") + std::strerror(errno) : std::string()));
        if (c.state != State::closed) {
          c.state = State::closed;
          ++closed_idle;
          epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        }
        return;
      }
      if (errno == EINTR) continue;
      return;
    }
  };

  auto handle = [&](int n) {
    for (int k = 0; k < n; ++k) {
      uint64_t id = events[static_cast<size_t>(k)].data.u64;
      if (id == UINT64_MAX) {
        char b[256];
        ssize_t r = read(0, b, sizeof b);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          stdin_eof = true;
          epoll_ctl(ep, EPOLL_CTL_DEL, 0, nullptr);
        }
        continue;
      }
      on_readable(static_cast<size_t>(id));
    }
  };

  while (done < conns.size()) {
    if (g_stop) fail("interrupted");
    if (closed_idle > 0) fail(std::to_string(closed_idle) + " connections closed by the server during the requests");
    if (past_deadline())
      fail("deadline passed: " + std::to_string(done) + " of " + std::to_string(conns.size()) + " responses");
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    if (n < 0 && errno != EINTR) fail(std::string("epoll_wait: ") + std::strerror(errno));
    if (n > 0) handle(n);
  }

  // 3. Hold.
  std::printf("ready\n");
  std::fflush(stdout);
  while (!g_stop && !(watch_stdin && stdin_eof)) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 200);
    if (n < 0 && errno != EINTR) fail(std::string("epoll_wait: ") + std::strerror(errno));
    if (n > 0) handle(n);
  }

  // 4. Report and close.
  std::printf("closed_by_peer %zu\n", closed_idle);
  std::fflush(stdout);
  for (Conn& c : conns)
    if (c.fd >= 0) close(c.fd);
  return 0;
}
