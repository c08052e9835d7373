// tests/integration/http_smuggling_test.cpp — strict request parsing on an
// http listener of the real lb binary: a corpus of malformed and
// request-smuggling shapes, each answered by lb itself (400, or 413/431/505
// where that is the right answer) with Connection: close and a JSON body, the
// connection closed afterwards, and — read directly from the backend's /stats —
// nothing (in particular no smuggled second request) reaching the backend.
// Also: the request_header deadline against a slow-drip head (408) and the
// header/body limits (431, 413).
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <set>
#include <thread>

#include "tests/integration/harness.h"

using namespace it;

namespace {

json config_for(uint16_t backend_port, json listener_extra = json::object()) {
  json l = {{"name", "h"}, {"listen", "127.0.0.1:0"}, {"protocol", "http"}, {"pool", "p"}};
  for (auto& [k, v] : listener_extra.items()) l[k] = v;
  return {{"listeners", {l}},
          {"pools", {{{"name", "p"}, {"algorithm", "round_robin"}, {"servers", {server(backend_port)}}}}}};
}

// The backend's request counter, read directly from the backend port. Each
// call is itself one request.
uint64_t backend_requests(uint16_t port) {
  auto r = http_get(port, "/stats", 3s);
  if (!r || r->status != 200) return ~uint64_t(0);
  try {
    return json::parse(r->body).value("requests_total", ~uint64_t(0));
  } catch (...) {
    return ~uint64_t(0);
  }
}

std::string printable(std::string_view s) {
  std::string o;
  for (unsigned char c : s) {
    if (c == '\r') o += "\\r";
    else if (c == '\n') o += "\\n";
    else if (c == '\t') o += "\\t";
    else if (c < 0x20 || c >= 0x7f) {
      char b[8];
      snprintf(b, sizeof b, "\\x%02x", c);
      o += b;
    } else o += static_cast<char>(c);
  }
  return o;
}

// A request lb must reject, followed by a smuggling attempt.
const std::string kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

struct BadCase {
  std::string name;
  std::string bytes;          // sent as is, then kSmuggled
  std::set<int> statuses;     // acceptable answers
  bool body_phase = false;    // the head is valid; the error is in the chunked body
};

std::vector<BadCase> corpus() {
  const std::set<int> bad{400};
  const std::set<int> version{400, 505};
  auto post = [](std::string headers, std::string body) {
    return "POST /echo HTTP/1.1\r\nHost: a\r\n" + headers + "\r\n" + body;
  };
  auto get = [](std::string headers) { return "GET / HTTP/1.1\r\nHost: a\r\n" + headers + "\r\n"; };
  auto chunked = [&](std::string body) { return post("Transfer-Encoding: chunked\r\n", body); };
  return {
      // Content-Length / Transfer-Encoding ambiguity.
      {"CL then TE", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), bad},
      {"TE then CL", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"), bad},
      {"two different CL", post("Content-Length: 0\r\nContent-Length: 5\r\n", "hello"), bad},
      {"two identical CL", post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), bad},
      {"CL with plus sign", post("Content-Length: +5\r\n", "hello"), bad},
      {"CL negative", post("Content-Length: -1\r\n", "hello"), bad},
      {"CL list 1, 1", post("Content-Length: 1, 1\r\n", "x"), bad},
      {"CL not a number", post("Content-Length: abc\r\n", "hello"), bad},
      {"CL hex", post("Content-Length: 0x5\r\n", "hello"), bad},
      {"CL empty", post("Content-Length: \r\n", "hello"), bad},
      {"CL overflows 64 bits", post("Content-Length: 99999999999999999999999\r\n", "hello"), {400, 413}},
      {"TE chunked, identity", post("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"), bad},
      {"TE identity", post("Transfer-Encoding: identity\r\n", "0\r\n\r\n"), bad},
      {"TE xchunked", post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"), bad},
      {"TE gzip, chunked", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), bad},
      {"TE twice", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), bad},
      {"TE value with VT", post("Transfer-Encoding: chunked\x0b\r\n", "0\r\n\r\n"), bad},
      {"TE name with space before colon + CL", post("Transfer-Encoding : chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"),
       bad},
      {"TE obs-folded", post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"), bad},
      // Line endings.
      {"bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", bad},
      {"bare LF after one header", "GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n", bad},
      {"bare LF after the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", bad},
      {"bare CR inside the head", "GET / HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n", bad},
      {"bare CR in a value", get("X-A: one\rtwo\r\n"), bad},
      // Header syntax.
      {"space before colon", get("X-A : 1\r\n"), bad},
      {"CL with space before colon", post("Content-Length : 5\r\n", "hello"), bad},
      {"tab before colon", get("X-A\t: 1\r\n"), bad},
      {"obs-fold", get("X-A: one\r\n two\r\n"), bad},
      {"obs-fold with tab", get("X-A: one\r\n\ttwo\r\n"), bad},
      {"NUL in a value", get(std::string("X-A: a\0b\r\n", 11)), bad},
      {"control char in a value", get("X-A: a\x01" "b\r\n"), bad},
      {"DEL in a name", get("X-\x7f" "A: 1\r\n"), bad},
      {"non-token name", get("X@A: 1\r\n"), bad},
      {"space inside a name", get("X A: 1\r\n"), bad},
      {"empty name", get(": x\r\n"), bad},
      {"header line without colon", get("X-A\r\n"), bad},
      // Request line.
      {"invalid method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", bad},
      {"lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", bad},
      {"target without leading slash", "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", bad},
      {"space inside the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", bad},
      {"control char in the target", "GET /a\x01" "b HTTP/1.1\r\nHost: a\r\n\r\n", bad},
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", version},
      {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", version},
      {"HTTP/0.9 style, missing version", "GET /\r\nHost: a\r\n\r\n", bad},
      {"lowercase protocol name", "GET / http/1.1\r\nHost: a\r\n\r\n", bad},
      {"trailing space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", bad},
      // Host.
      {"missing Host in HTTP/1.1", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", bad},
      {"two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", bad},
      // Chunked body errors (the head itself is valid).
      {"bad chunk size", chunked("zz\r\nhello\r\n0\r\n\r\n"), bad, true},
      {"chunk size overflow", chunked("fffffffffffffffffff1\r\nhello\r\n0\r\n\r\n"), {400, 413}, true},
      {"chunk data without CRLF", chunked("5\r\nhelloXX0\r\n\r\n"), bad, true},
      {"chunk size with bare LF", chunked("5\nhello\r\n0\r\n\r\n"), bad, true},
      {"negative chunk size", chunked("-5\r\nhello\r\n0\r\n\r\n"), bad, true},
  };
}

}  // namespace

TEST_SUITE("http_smuggling") {

TEST_CASE("control: a valid request followed by a pipelined one reaches the backend twice") {
  // Proves the method below can see a forwarded second request.
  Backend be = Backend::http(1);
  Lb lb(config_for(be.http_port()));
  uint64_t before = backend_requests(be.http_port());
  Socket s = Socket::connect(lb.port("h"));
  REQUIRE(s.valid());
  REQUIRE(s.send_all("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + kSmuggled));
  auto r1 = read_http_response(s, 5s);
  auto r2 = read_http_response(s, 5s);
  REQUIRE(r1.has_value());
  REQUIRE(r2.has_value());
  CHECK(r1->body == "hello");
  CHECK(r2->status == 200);
  uint64_t after = backend_requests(be.http_port());
  CHECK(after - before == 3);  // two through lb + the second /stats
}

TEST_CASE("malformed and smuggling requests: 400 + Connection: close, nothing reaches the backend") {
  Backend be = Backend::http(1);
  const uint16_t bport = be.http_port();
  Lb lb(config_for(bport));
  auto cases = corpus();
  REQUIRE(cases.size() >= 25);
  uint64_t first = backend_requests(bport);
  uint64_t stats_calls = 1, allowed_extra = 0;
  int passed = 0;
  for (const auto& c : cases) {
    INFO("case: " << c.name << "\nsent: " << printable(c.bytes + kSmuggled));
    uint64_t before = backend_requests(bport);
    ++stats_calls;
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    s.send_all(c.bytes + kSmuggled, 2s);  // lb may close before reading everything
    auto r = read_http_response(s, 5s);
    if (!r) {
      FAIL_CHECK("no complete response: " << std::string(to_string(s.last_io())) << " " << s.error_text()
                                          << "; buffered: " << printable(s.buffer()));
      continue;
    }
    INFO("answer: " << r->status << " " << r->reason << " body " << printable(r->body));
    bool status_ok = c.statuses.count(r->status) == 1;
    CHECK(status_ok);
    CHECK(has_token(r->header("Connection"), "close"));
    CHECK(is_json_error(*r));
    CHECK_FALSE(r->has_header("X-Backend-Port"));
    // Exactly one response, then the connection ends.
    Io io = s.wait_closed(3s);
    INFO("after the response: " << std::string(to_string(io)) << ", buffered: " << printable(s.buffer()));
    CHECK((io == Io::eof || io == Io::error));
    uint64_t after = backend_requests(bport);
    ++stats_calls;
    uint64_t reached = after - before - 1;
    INFO("requests that reached the backend: " << reached);
    // A head-phase error must not reach the backend at all; a chunked-body
    // error may have had its (valid) head forwarded, but never the smuggled one.
    if (c.body_phase) {
      CHECK(reached <= 1);
      allowed_extra += reached;
    } else {
      CHECK(reached == 0);
    }
    if (status_ok && reached == 0) ++passed;
  }
  MESSAGE(passed << " of " << cases.size() << " cases rejected cleanly");
  // Nothing trickled in late either.
  uint64_t last = backend_requests(bport);
  ++stats_calls;
  CHECK(last - first == stats_calls - 1 + allowed_extra);
}

TEST_CASE("request_header: a head dripping one byte per 100 ms gets 408 at the deadline") {
  Backend be = Backend::http(1);
  Lb lb(config_for(be.http_port(), {{"timeouts", {{"request_header", "1s"}}}}));

  SUBCASE("never-ending drip → 408 after ~1 s although bytes keep arriving") {
    uint64_t before = backend_requests(be.http_port());
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + std::string(200, 's') + "\r\n\r\n";
    std::atomic<bool> stop{false};
    std::atomic<int> sent{0};
    auto t0 = Clock::now();
    std::thread dripper([&] {
      for (char ch : head) {
        if (stop) return;
        if (::send(s.fd(), &ch, 1, MSG_NOSIGNAL) != 1) return;
        ++sent;
        std::this_thread::sleep_for(100ms);  // pacing of the slow client
      }
    });
    auto r = read_http_response(s, 5s);
    double took = elapsed_ms(t0);
    int bytes_at_answer = sent.load();
    stop = true;
    dripper.join();
    INFO("answer after " << took << " ms, " << bytes_at_answer << " bytes dripped");
    REQUIRE(r.has_value());
    CHECK(r->status == 408);
    CHECK(is_json_error(*r));
    CHECK(has_token(r->header("Connection"), "close"));
    CHECK(took >= 900);
    CHECK(took < 3000);
    CHECK(bytes_at_answer >= 8);  // bytes really were arriving up to the deadline
    Io io = s.wait_closed(3s);
    CHECK((io == Io::eof || io == Io::error));
    CHECK(backend_requests(be.http_port()) - before == 1);  // just our /stats
  }
  SUBCASE("a slow head that completes within the deadline is served") {
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    std::string head = "GET /status/201 HTTP/1.1\r\nHost: a\r\n\r\n";  // 37 bytes
    for (char ch : head) {
      REQUIRE(s.send_all(std::string(1, ch)));
      std::this_thread::sleep_for(15ms);  // pacing: ~0.55 s in all
    }
    auto r = read_http_response(s, 3s);
    REQUIRE(r.has_value());
    CHECK(r->status == 201);
    // The deadline is per head: a second, fast request on the connection is fine.
    REQUIRE(s.send_all("GET /status/202 HTTP/1.1\r\nHost: a\r\n\r\n"));
    auto r2 = read_http_response(s, 3s);
    REQUIRE(r2.has_value());
    CHECK(r2->status == 202);
  }
}

TEST_CASE("limits: max_header_bytes and max_headers → 431, max_body_bytes → 413") {
  Backend be = Backend::http(1);
  const uint16_t bport = be.http_port();
  Lb lb(config_for(bport, {{"limits", {{"max_header_bytes", 4096}, {"max_headers", 10}, {"max_body_bytes", 1000}}}}));

  auto expect_reject = [&](const std::string& bytes, int status, const std::string& what) {
    INFO(what);
    uint64_t before = backend_requests(bport);
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    s.send_all(bytes, 2s);
    auto r = read_http_response(s, 5s);
    REQUIRE_MESSAGE(r.has_value(), "no response: " << std::string(to_string(s.last_io())) << " " << s.error_text());
    CHECK(r->status == status);
    CHECK(is_json_error(*r));
    CHECK(has_token(r->header("Connection"), "close"));
    Io io = s.wait_closed(3s);
    CHECK((io == Io::eof || io == Io::error));
    uint64_t reached = backend_requests(bport) - before - 1;
    return reached;
  };
  auto expect_ok = [&](const std::string& bytes, const std::string& body, const std::string& what) {
    INFO(what);
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all(bytes));
    auto r = read_http_response(s, 5s);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == body);
  };

  SUBCASE("header bytes") {
    CHECK(expect_reject("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(5000, 'b') + "\r\n\r\n", 431,
                        "one 5000-byte header") == 0);
    CHECK(expect_reject("GET / HTTP/1.1\r\nHost: a\r\n" + [] {
      std::string h;
      for (int i = 0; i < 9; ++i) h += "X-H" + std::to_string(i) + ": " + std::string(500, 'h') + "\r\n";
      return h;
    }() + "\r\n", 431, "nine 500-byte headers") == 0);
    CHECK(expect_reject("GET /" + std::string(5000, 'p') + " HTTP/1.1\r\nHost: a\r\n\r\n", 431,
                        "5000-byte target") == 0);
    expect_ok("POST /echo HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(3000, 'b') + "\r\nContent-Length: 2\r\n\r\nok",
              "ok", "3000-byte header is under the limit");
  }
  SUBCASE("header count") {
    std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 20; ++i) many += "X-N" + std::to_string(i) + ": " + std::to_string(i) + "\r\n";
    CHECK(expect_reject(many + "\r\n", 431, "21 headers") == 0);
    std::string few = "POST /echo HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 5; ++i) few += "X-N" + std::to_string(i) + ": " + std::to_string(i) + "\r\n";
    expect_ok(few + "Content-Length: 3\r\n\r\nabc", "abc", "7 headers are under the limit");
  }
  SUBCASE("body size") {
    CHECK(expect_reject("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'x'), 413,
                        "Content-Length 2000") == 0);
    // Chunked: the size is only known while streaming, so the head may already
    // have been forwarded; the client still gets 413.
    std::string chunks;
    for (int i = 0; i < 4; ++i) chunks += "1f4\r\n" + std::string(500, 'c') + "\r\n";
    chunks += "0\r\n\r\n";
    CHECK(expect_reject("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks, 413,
                        "chunked body of 2000") <= 1);
    expect_ok("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'y'),
              std::string(1000, 'y'), "exactly max_body_bytes");
    expect_ok("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" + std::string(1000, 'z') +
                  "\r\n0\r\n\r\n",
              std::string(1000, 'z'), "chunked, exactly max_body_bytes");
  }
  SUBCASE("Expect: 100-continue with a body over the limit gets 413 instead of 100") {
    Socket s = Socket::connect(lb.port("h"));
    REQUIRE(s.valid());
    REQUIRE(s.send_all("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"));
    auto first = read_http_head(s, 3s);
    REQUIRE(first.has_value());
    WARN_MESSAGE(first->status != 100, "lb sent 100 Continue for a body it will reject");
    if (first->status == 100) {
      s.send_all(std::string(5000, 'x'));
      auto r = read_http_response(s, 3s);
      REQUIRE(r.has_value());
      CHECK(r->status == 413);
    } else {
      CHECK(first->status == 413);
    }
  }
}

}  // TEST_SUITE
