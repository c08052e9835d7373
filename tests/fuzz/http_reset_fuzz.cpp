// tests/fuzz/http_reset_fuzz.cpp — mutational HTTP/1.1 traffic with abrupt
// client endings, against a running lb (normally the sanitizer build in front
// of bench/backend; see run_http_campaign.sh).
//
//   http_reset_fuzz --port P [--host 127.0.0.1] [--seconds N] [--seed S] [--conns C]
//   http_reset_fuzz --free-port      prints a free TCP port on 127.0.0.1
//
// Each connection takes a seed stream (http_reset_seeds.h), maybe mutates it
// (byte flips, insertions of tokens, deletions, truncation, duplication,
// splicing another seed), sends it in random-sized pieces, and ends with a
// clean close, a half-close (shutdown(SHUT_WR), read to EOF, close) or a
// RESET (SO_LINGER {1,0}, close) at a random point: right after connecting,
// part-way through sending, 0-3 ms after the first response bytes arrive,
// or after the responses went quiet. After a 101 it sends a few tunnel bytes
// first. C connections run at once on one poll() loop.
//
// The generated sequence depends only on --seed (timing does not), so a seed
// that finds a crash is worth re-running. At the end it checks that lb still
// answers a plain GET / with 200 and the backend's body ("hello from").
// Exit: 0 pass, 1 lb stopped answering (crashed or hung), 2 usage.
#include "tests/fuzz/http_reset_seeds.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;

enum class Ending { close, half_close, reset };
enum class Trigger { at_connect, mid_send, after_first_bytes, after_quiet };
const char* const kEndingNames[] = {"close", "half-close", "reset"};
const char* const kTriggerNames[] = {"at-connect", "mid-send", "0-3ms-after-first-bytes", "after-quiet"};

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int seconds = 60;
  uint64_t seed = 1;
  int conns = 64;
};

struct Stats {
  uint64_t connections = 0, established = 0, mutated = 0, connect_failures = 0, bytes_sent = 0, bytes_received = 0;
  uint64_t upgrades = 0;
  uint64_t endings[3][4] = {};
  std::map<int, uint64_t> statuses;  // status of the first response on a connection
};

struct Conn {
  int fd = -1;
  std::string out;
  size_t sent = 0;
  size_t cut = 0;                 // mid_send: end after this many bytes
  Ending ending = Ending::close;
  Trigger trigger = Trigger::after_quiet;
  bool connected = false, got_bytes = false, upgraded = false, tunnel_sent = false;
  bool half_closed = false;       // waiting for EOF after shutdown(SHUT_WR)
  std::string head;               // first response bytes (status line)
  Clock::time_point deadline;     // when the trigger fires (or the connection gives up)
  Clock::time_point started;
};

class Campaign {
 public:
  explicit Campaign(const Options& o) : opt_(o), rng_(o.seed) {
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<uint16_t>(o.port));
    inet_pton(AF_INET, o.host.c_str(), &addr_.sin_addr);
  }

  // Returns false when no connection could be established for 2 s (lb died
  // or stopped accepting).
  bool run() {
    std::vector<Conn> conns(static_cast<size_t>(opt_.conns));
    const auto end = Clock::now() + std::chrono::seconds(opt_.seconds);
    last_connected_ = Clock::now();
    while (Clock::now() < end) {
      for (Conn& c : conns)
        if (c.fd < 0) open(c);
      step(conns);
      if (Clock::now() - last_connected_ > std::chrono::seconds(2)) {
        for (Conn& c : conns) finish(c, Ending::close);
        return false;
      }
    }
    for (Conn& c : conns) finish(c, Ending::close);
    return true;
  }

  void report() const {
    std::printf("connections %llu established of %llu attempted (mutated streams %llu), connect failures %llu, upgrades (101) %llu\n",
                ull(s_.established), ull(s_.connections), ull(s_.mutated), ull(s_.connect_failures), ull(s_.upgrades));
    std::printf("bytes sent %llu, received %llu\n", ull(s_.bytes_sent), ull(s_.bytes_received));
    for (int e = 0; e < 3; ++e)
      for (int t = 0; t < 4; ++t)
        if (s_.endings[e][t]) std::printf("  %-10s %-26s %llu\n", kEndingNames[e], kTriggerNames[t], ull(s_.endings[e][t]));
    std::printf("first-response status:");
    for (auto& [st, n] : s_.statuses) std::printf(" %d×%llu", st, ull(n));
    std::printf("\n");
  }

 private:
  static unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }

  std::string mutate(std::string s) {
    const int rounds = 1 + static_cast<int>(pick(4));
    for (int i = 0; i < rounds; ++i) {
      switch (pick(6)) {
        case 0:  // flip a byte
          if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << pick(8));
          break;
        case 1: {  // insert a token
          std::string_view t = fuzz::kTokens[pick(std::size(fuzz::kTokens))];
          s.insert(pick(s.size() + 1), t);
          break;
        }
        case 2:  // delete a run
          if (!s.empty()) { size_t at = pick(s.size()); s.erase(at, 1 + pick(8)); }
          break;
        case 3:  // truncate
          if (!s.empty()) s.resize(pick(s.size()));
          break;
        case 4:  // duplicate a slice (more pipelining, repeated headers)
          if (!s.empty()) { size_t at = pick(s.size()); s.insert(at, s.substr(at, 1 + pick(64))); }
          break;
        default:  // splice another seed behind it
          s += fuzz::kSeeds[pick(std::size(fuzz::kSeeds))];
      }
    }
    return s;
  }

  bool open(Conn& c) {
    c = Conn{};
    std::string stream(fuzz::kSeeds[pick(std::size(fuzz::kSeeds))]);
    if (chance(30)) stream += fuzz::kSeeds[pick(std::size(fuzz::kSeeds))];  // pipelined pair
    if (chance(60)) { stream = mutate(std::move(stream)); ++s_.mutated; }
    c.out = std::move(stream);
    c.ending = static_cast<Ending>(pick(3));
    const size_t t = pick(100);
    c.trigger = t < 5 ? Trigger::at_connect : t < 25 ? Trigger::mid_send : t < 75 ? Trigger::after_first_bytes : Trigger::after_quiet;
    c.cut = c.out.empty() ? 0 : pick(c.out.size());
    c.started = Clock::now();
    c.deadline = c.started + milliseconds(2000);  // nothing may take longer than this

    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return false;
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_);
    if (rc != 0 && errno != EINPROGRESS) {
      ++s_.connect_failures;
      ::close(c.fd);
      c.fd = -1;
      return false;
    }
    ++s_.connections;
    return true;
  }

  void finish(Conn& c, Ending e) {
    if (c.fd < 0) return;
    if (e == Ending::reset) {
      linger l{1, 0};
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(c.fd);
    c.fd = -1;
  }

  // The trigger fired: end the connection the planned way.
  void end(Conn& c) {
    ++s_.endings[static_cast<int>(c.ending)][static_cast<int>(c.trigger)];
    if (c.ending == Ending::half_close) {
      ::shutdown(c.fd, SHUT_WR);
      c.half_closed = true;
      c.deadline = Clock::now() + milliseconds(500);
      return;
    }
    finish(c, c.ending);
  }

  void on_readable(Conn& c) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        s_.bytes_received += static_cast<uint64_t>(n);
        if (c.head.size() < 16) c.head.append(buf, std::min<size_t>(static_cast<size_t>(n), 16 - c.head.size()));
        if (!c.got_bytes) {
          c.got_bytes = true;
          if (c.head.size() >= 12 && c.head.compare(0, 5, "HTTP/") == 0) s_.statuses[std::atoi(c.head.c_str() + 9)]++;
          if (c.head.size() >= 12 && c.head.compare(9, 3, "101") == 0) { c.upgraded = true; ++s_.upgrades; }
          if (c.trigger == Trigger::after_first_bytes && !c.half_closed)
            c.deadline = Clock::now() + microseconds(pick(3001));
        }
        if (c.trigger == Trigger::after_quiet && !c.half_closed) c.deadline = Clock::now() + milliseconds(20 + pick(80));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {  // EOF or reset from lb
        finish(c, Ending::close);
        return;
      }
      if (errno == EAGAIN) return;
    }
  }

  void on_writable(Conn& c) {
    if (!c.connected) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) { ++s_.connect_failures; finish(c, Ending::close); return; }
      c.connected = true;
      ++s_.established;
      last_connected_ = Clock::now();
      if (c.trigger == Trigger::at_connect) { end(c); return; }
    }
    size_t limit = c.trigger == Trigger::mid_send ? c.cut : c.out.size();
    if (c.upgraded && !c.tunnel_sent) {  // a few bytes through the tunnel, then the planned end
      c.out += "\x81\x82\x01\x02\x03\x04\x61\x62";
      limit = c.out.size();
      c.tunnel_sent = true;
    }
    while (c.sent < limit) {
      size_t piece = std::min(limit - c.sent, 1 + pick(chance(50) ? 16 : 4096));
      ssize_t n = ::send(c.fd, c.out.data() + c.sent, piece, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN) finish(c, Ending::close);
        return;
      }
      c.sent += static_cast<size_t>(n);
      s_.bytes_sent += static_cast<uint64_t>(n);
    }
    if (c.trigger == Trigger::mid_send && c.sent >= c.cut) end(c);
    else if (c.trigger == Trigger::after_quiet && !c.got_bytes) c.deadline = std::min(c.deadline, Clock::now() + milliseconds(300));
  }

  void step(std::vector<Conn>& conns) {
    std::vector<pollfd> pfds;
    std::vector<Conn*> owners;
    auto now = Clock::now();
    auto next = now + milliseconds(10);
    for (Conn& c : conns) {
      if (c.fd < 0) continue;
      short ev = POLLIN;
      bool want_write = !c.connected || (!c.half_closed && (c.sent < c.out.size() || (c.upgraded && !c.tunnel_sent)));
      if (c.trigger == Trigger::mid_send && c.sent >= c.cut && c.connected) want_write = false;
      if (want_write) ev |= POLLOUT;
      pfds.push_back({c.fd, ev, 0});
      owners.push_back(&c);
      next = std::min(next, c.deadline);
    }
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(next - now).count();
    timespec ts{0, wait > 0 ? static_cast<long>(wait) : 0};
    ppoll(pfds.data(), pfds.size(), &ts, nullptr);
    for (size_t i = 0; i < pfds.size(); ++i) {
      Conn& c = *owners[i];
      if (c.fd >= 0 && (pfds[i].revents & (POLLOUT | POLLERR)) && !c.half_closed) on_writable(c);
      if (c.fd >= 0 && (pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) on_readable(c);
    }
    now = Clock::now();
    for (Conn& c : conns) {
      if (c.fd < 0 || now < c.deadline) continue;
      if (c.half_closed || now - c.started > milliseconds(2000)) finish(c, Ending::close);
      else if (c.trigger == Trigger::after_first_bytes && !c.got_bytes) c.deadline = c.started + milliseconds(2000);
      else end(c);
    }
  }

  Options opt_;
  std::mt19937_64 rng_;
  sockaddr_in addr_{};
  Stats s_;
  Clock::time_point last_connected_;
};

// Blocking GET / with deadlines; true on "200" and the backend's default body.
bool plain_get_ok(const Options& o, std::string& got) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(o.port));
  inet_pton(AF_INET, o.host.c_str(), &a.sin_addr);
  got.clear();
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const char req[] = "GET / HTTP/1.1\r\nHost: check\r\nConnection: close\r\n\r\n";
    if (::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof req - 1)) {
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return got.compare(0, 12, "HTTP/1.1 200") == 0 && got.find("\r\n\r\nhello from") != std::string::npos;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 1;
  std::printf("%u\n", ntohs(a.sin_port));
  ::close(fd);
  return 0;
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: http_reset_fuzz --port P [--host ADDR] [--seconds N] [--seed S] [--conns C]\n"
                       "       http_reset_fuzz --free-port\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--free-port") return free_port();
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    if (a == "--port") o.port = std::atoi(v);
    else if (a == "--host") o.host = v;
    else if (a == "--seconds") o.seconds = std::atoi(v);
    else if (a == "--seed") o.seed = std::strtoull(v, nullptr, 10);
    else if (a == "--conns") o.conns = std::atoi(v);
    else usage();
  }
  if (o.port <= 0 || o.port > 65535 || o.conns <= 0 || o.seconds < 0) usage();

  std::printf("http_reset_fuzz: %s:%d for %d s, %d connections, seed %llu\n", o.host.c_str(), o.port,
              o.seconds, o.conns, static_cast<unsigned long long>(o.seed));
  std::fflush(stdout);
  Campaign campaign(o);
  const bool alive = campaign.run();
  campaign.report();
  if (!alive) {
    std::printf("FAIL: no connection to lb succeeded for 2 s (crashed or hung)\n");
    return 1;
  }
  // lb may still be finishing the last exchanges: allow a few tries.
  std::string got;
  const auto until = Clock::now() + std::chrono::seconds(5);
  while (!plain_get_ok(o, got)) {
    if (Clock::now() > until) {
      std::printf("FAIL: plain GET / after the campaign did not get 200 + backend body; got %zu bytes: %.200s\n",
                  got.size(), got.c_str());
      return 1;
    }
    usleep(100 * 1000);
  }
  std::printf("PASS: lb answers GET / with 200 after the campaign\n");
  return 0;
}
