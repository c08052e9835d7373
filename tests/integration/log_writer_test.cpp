// tests/integration/log_writer_test.cpp — the log writer never blocks a worker
// (SPEC section 8, second edition): with the access log on a FIFO that nobody
// reads, lb keeps answering at normal latency, drops access lines and counts
// them (lb_log_lines_dropped_total on /metrics, log.lines_dropped_total on
// /stats); once someone reads the FIFO, new lines arrive again; lb still stops
// cleanly.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "tests/integration/harness.h"
#include "tests/integration/prom_check.h"

using namespace it;

namespace {

// Reads what the FIFO has within `timeout` and appends it to `out`.
void read_fifo(int fd, std::string& out, ms timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;  // EAGAIN: drained for now
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

TEST_SUITE("log") {

TEST_CASE("log writer: an access log FIFO nobody reads never stalls requests; drops are counted; lines resume") {
  TempDir fifo_dir;
  const std::string fifo = fifo_dir.file("access.fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Hold the FIFO open read-write but never read: lb's open succeeds (there is
  // a reader) and its writes fill the 64 KiB pipe, then fail with EAGAIN.
  int fifo_fd = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(fifo_fd >= 0);
  struct CloseFd {
    int fd;
    ~CloseFd() { ::close(fd); }
  } close_fifo{fifo_fd};

  Backend be = Backend::http(1);
  json config = make_config({{{"name", "web"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "p"}}},
                            {make_pool("p", "round_robin", {server(be.http_port())})},
                            {{"admin", {{"listen", "127.0.0.1:0"}}}});
  TempDir logs;
  config["logging"] = {{"level", "info"}, {"error_log", logs.file("error.log")}, {"access_log", fifo}};
  Lb lb(config);

  // 2,000 GETs with a 1.5 KB path: ~4 MB of access lines, far more than the
  // pipe (64 KiB) plus lb's bounded queue (2 MiB) hold.
  constexpr int kRequests = 2000;
  const std::string path = "/stuck-log/" + std::string(1500, 'x');
  Socket s = Socket::connect(lb.port());
  REQUIRE(s);
  double worst_ms = 0;
  int ok = 0;
  for (int i = 0; i < kRequests; ++i) {
    HttpRequest req;
    req.target = path + "?i=" + std::to_string(i);
    auto start = Clock::now();
    REQUIRE_MESSAGE(s.send_all(req.serialize(), 2s), "request " << i);
    auto r = read_http_response(s, 2s);
    REQUIRE_MESSAGE(r, "request " << i << " got no response within 2 s: lb is stalled on its log");
    worst_ms = std::max(worst_ms, elapsed_ms(start));
    ok += r->status == 200;
  }
  CHECK(ok == kRequests);
  INFO("slowest request: " << worst_ms << " ms");
  // Generous for sanitizer builds; today's stall is a timeout.
  CHECK(worst_ms < 1000);

  // The backend got every request.
  json st = admin_stats(lb);
  json srv = find_server(st, "p", Backend::addr(be.http_port()));
  REQUIRE(srv.is_object());
  CHECK(srv["requests_total"].get<uint64_t>() == static_cast<uint64_t>(kRequests));

  // Lines were dropped and counted, on /metrics and /stats alike.
  auto m = http_get(*lb.admin_port(), "/metrics");
  REQUIRE(m);
  REQUIRE(m->status == 200);
  auto prom = promcheck::check(m->body);
  REQUIRE_MESSAGE(prom.ok(), prom.error_text());
  auto dropped = prom.value("lb_log_lines_dropped_total");
  REQUIRE(dropped);
  CHECK(*dropped > 0);
  CHECK(*dropped < kRequests);  // the pipe and the queue did take some
  CHECK(prom.types["lb_log_lines_dropped_total"] == "counter");
  MESSAGE(kRequests << " requests, slowest " << worst_ms << " ms, " << *dropped << " access lines dropped");
  st = admin_stats(lb);
  REQUIRE(st.contains("log"));
  CHECK(st["log"]["lines_dropped_total"].get<double>() >= *dropped);

  // Start reading: the backlog drains and new lines arrive again. Each round
  // sends one marker request and reads for a while, until a marker shows up.
  std::string got;
  int round = 0;
  bool marker_seen = wait_until(
      [&] {
        auto r = http_get(lb.port(), "/after-drain/" + std::to_string(round++));
        if (!r || r->status != 200) return false;
        read_fifo(fifo_fd, got, 200ms);
        return got.find("\"/after-drain/") != std::string::npos;
      },
      20s, 1ms);
  REQUIRE_MESSAGE(marker_seen, "read " << got.size() << " bytes from the FIFO, no marker line");
  // The marker line is whole, valid JSON.
  size_t at = got.find("\"/after-drain/");
  size_t begin = got.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  size_t end = got.find('\n', at);
  if (end == std::string::npos) {
    wait_until([&] { read_fifo(fifo_fd, got, 50ms); return got.find('\n', at) != std::string::npos; }, 5s);
    end = got.find('\n', at);
  }
  REQUIRE(end != std::string::npos);
  json line = json::parse(got.substr(begin, end - begin), nullptr, false);
  REQUIRE_MESSAGE(!line.is_discarded(), got.substr(begin, end - begin));
  CHECK(line["status"] == 200);

  // And lb still stops cleanly (its writer is not stuck).
  auto status = lb.stop(10s);
  REQUIRE(status);
  CHECK(*status == 0);
}

TEST_CASE("log writer: lb does not block at start on an access log FIFO without a reader") {
  TempDir fifo_dir;
  const std::string fifo = fifo_dir.file("access.fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  Backend be = Backend::http(1);
  json config = make_config({{{"name", "web"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "p"}}},
                            {make_pool("p", "round_robin", {server(be.http_port())})});
  TempDir logs;
  config["logging"] = {{"level", "info"}, {"error_log", logs.file("error.log")}, {"access_log", fifo}};
  // open(O_NONBLOCK) of a FIFO without a reader fails at once (ENXIO): lb
  // refuses to start with a clear error instead of hanging in open().
  LbOptions opts;
  opts.wait_ready = false;
  Lb lb(config, opts);
  auto status = lb.wait(5s);
  REQUIRE_MESSAGE(status, "lb hung opening the FIFO");
  CHECK(*status == 1);
  std::string err = lb.process().err();
  CHECK(err.find("/logging") != std::string::npos);
  CHECK(err.find("access.fifo") != std::string::npos);
}

}  // TEST_SUITE
