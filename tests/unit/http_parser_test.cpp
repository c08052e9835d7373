// tests/unit/http_parser_test.cpp — lb::http request/response parsers and head
// serializers: valid shapes, pipelining and split feeding, keep-alive rules, a
// table of malformed and smuggling requests with their exact status, response
// framing (HEAD, 1xx, 101, 204/304, close-delimited, trailers) and the writers.
#include <doctest/doctest.h>

#include "lb/http1/http_parser.h"
#include "lb/http1/http_serialize.h"
#include "lb/http/websocket.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace lb::http;

namespace {

// A copy of everything a parser reported, so runs can be compared.
struct Msg {
  std::string method, target, path, query, origin, host, body, upgrade_protocol;
  std::vector<std::pair<std::string, std::string>> headers;
  int status = 0, minor = 1;
  bool keep_alive = false, chunked = false, has_body = false, upgrade = false, expect = false;
  bool interim = false, complete = false;
  std::optional<uint64_t> cl;
  bool operator==(const Msg&) const = default;
};

template <class H>
void copy_headers(Msg& m, const H& h) {
  for (const Header& f : h.headers) m.headers.emplace_back(f.name, f.value);
  m.keep_alive = h.keep_alive, m.chunked = h.chunked, m.has_body = h.has_body, m.upgrade = h.upgrade;
  m.upgrade_protocol = h.upgrade_protocol, m.cl = h.content_length, m.minor = h.http_minor;
}

struct ReqRecorder : RequestHandler {
  std::vector<Msg> msgs;
  Flow flow = Flow::Continue;
  Flow on_request_head(const RequestHead& h) override {
    Msg m;
    m.method = h.method, m.target = h.target, m.path = h.path, m.query = h.query;
    m.origin = h.origin_target, m.host = h.host, m.expect = h.expect_continue;
    copy_headers(m, h);
    msgs.push_back(std::move(m));
    return flow;
  }
  void on_request_body(std::string_view d) override { msgs.back().body.append(d); }
  void on_request_complete() override { msgs.back().complete = true; }
};

struct RespRecorder : ResponseHandler {
  std::vector<Msg> msgs;
  void on_interim_response(const ResponseHead& h) override { add(h).interim = true; }
  void on_response_head(const ResponseHead& h) override { add(h); }
  void on_response_body(std::string_view d) override { msgs.back().body.append(d); }
  void on_response_complete() override { msgs.back().complete = true; }
  Msg& add(const ResponseHead& h) {
    Msg m;
    m.status = h.status, m.target = h.reason;
    copy_headers(m, h);
    msgs.push_back(std::move(m));
    return msgs.back();
  }
};

struct Outcome {
  FeedStatus last = FeedStatus::NeedMore;
  std::vector<size_t> boundaries;  // stream offsets where MessageComplete was returned
  std::string rest;                // bytes never consumed (after Upgrade / Closed / Error)
};

// Plays a connection: bytes arrive `step` at a time into a buffer; whatever the
// parser does not consume stays buffered and is fed again, as the proxy will.
template <class P>
Outcome drive(P& p, std::string_view in, size_t step = 0) {
  if (step == 0) step = in.size() ? in.size() : 1;
  Outcome o;
  std::string pending;
  size_t base = 0;  // stream offset of pending[0]
  for (size_t pos = 0; pos < in.size(); pos += step) {
    pending.append(in.substr(pos, step));
    for (;;) {
      FeedResult r = p.feed(pending.data(), pending.size());
      pending.erase(0, r.consumed);
      base += r.consumed;
      o.last = r.status;
      if (r.status == FeedStatus::MessageComplete) o.boundaries.push_back(base);
      if (r.status == FeedStatus::MessageComplete || r.status == FeedStatus::HeadPaused) continue;
      if (r.status == FeedStatus::NeedMore) {
        CHECK(pending.empty());
        break;
      }
      o.rest = pending + std::string(in.substr(std::min(in.size(), pos + step)));
      return o;
    }
  }
  return o;
}

const Limits kLimits{1024, 20, 1000};

std::vector<Msg> parse_requests(std::string_view in, size_t step, FeedStatus* last = nullptr) {
  ReqRecorder rec;
  RequestParser p(rec, kLimits);
  Outcome o = drive(p, in, step);
  if (last) *last = o.last;
  return rec.msgs;
}

}  // namespace

TEST_CASE("request: simple GET") {
  ReqRecorder rec;
  RequestParser p(rec, kLimits);
  std::string in = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: Example.com:8080\r\nX-Empty:\r\nUser-Agent:  t  1 \r\n\r\n";
  FeedResult r = p.feed(in.data(), in.size());
  CHECK(r.status == FeedStatus::MessageComplete);
  CHECK(r.consumed == in.size());
  REQUIRE(rec.msgs.size() == 1);
  const RequestHead& h = p.head();
  CHECK(h.method == "GET");
  CHECK(h.method_id == HTTP_GET);
  CHECK(h.target == "/a/b?x=1&y=2");
  CHECK(h.path == "/a/b");
  CHECK(h.query == "x=1&y=2");
  CHECK(h.origin_target == "/a/b?x=1&y=2");
  CHECK(h.host == "Example.com:8080");
  CHECK(h.http_minor == 1);
  CHECK(h.keep_alive);
  CHECK_FALSE(h.has_body);
  CHECK_FALSE(h.content_length);
  CHECK(h.head_bytes == in.size());
  REQUIRE(h.headers.size() == 3);
  CHECK(h.headers[1].name == "X-Empty");
  CHECK(h.headers[1].value == "");
  CHECK(h.headers.get("user-agent") == "t  1");  // OWS trimmed, inner space kept
  CHECK(h.headers.find("HOST") == &h.headers[0]);
  CHECK(rec.msgs[0].complete);
  CHECK(p.finish() == FeedStatus::Closed);
}

TEST_CASE("request: POST with Content-Length, body split across feeds") {
  std::string in = "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world";
  for (size_t step : {size_t{0}, size_t{1}, size_t{7}}) {
    FeedStatus last;
    auto m = parse_requests(in, step, &last);
    REQUIRE(m.size() == 1);
    CHECK(m[0].body == "hello world");
    CHECK(m[0].cl == 11u);
    CHECK(m[0].has_body);
    CHECK(m[0].complete);
  }
}

TEST_CASE("request: chunked with extensions and trailers") {
  std::string in =
      "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "5;name=val\r\nhello\r\n6;q=\"x\"\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (size_t step : {size_t{0}, size_t{1}, size_t{3}}) {
    auto m = parse_requests(in, step);
    REQUIRE(m.size() == 1);
    CHECK(m[0].chunked);
    CHECK(m[0].body == "hello world");
    CHECK(m[0].complete);
    CHECK(m[0].headers.size() == 2);  // trailers are not part of the head
  }
}

TEST_CASE("request: three pipelined requests, exact boundaries, any split") {
  std::string a = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string b = "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
  std::string c = "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n";
  std::string in = a + b + c;
  ReqRecorder rec;
  RequestParser p(rec, kLimits);
  Outcome o = drive(p, in);
  REQUIRE(rec.msgs.size() == 3);
  CHECK(o.boundaries == std::vector<size_t>{a.size(), a.size() + b.size(), in.size()});
  CHECK(rec.msgs[0].path == "/1");
  CHECK(rec.msgs[1].body == "abc");
  CHECK(rec.msgs[2].body == "xy");
  for (size_t step = 1; step < 9; ++step) {
    ReqRecorder r2;
    RequestParser p2(r2, kLimits);
    Outcome o2 = drive(p2, in, step);
    CHECK(r2.msgs == rec.msgs);
    CHECK(o2.boundaries == o.boundaries);
  }
}

TEST_CASE("request: one MessageComplete per call; leading CRLF between requests") {
  ReqRecorder rec;
  RequestParser p(rec, kLimits);
  std::string in = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
  FeedResult r = p.feed(in.data(), in.size());
  CHECK(r.status == FeedStatus::MessageComplete);
  CHECK(rec.msgs.size() == 1);  // the second is not even started
  const RequestHead& first = p.head();
  std::string_view first_path = first.path;
  // Half of the next head: the previous head's views must still be intact.
  FeedResult r2 = p.feed(in.data() + r.consumed, 10);
  CHECK(r2.status == FeedStatus::NeedMore);
  CHECK(first_path == "/1");
  FeedResult r3 = p.feed(in.data() + r.consumed + 10, in.size() - r.consumed - 10);
  CHECK(r3.status == FeedStatus::MessageComplete);
  CHECK(p.head().path == "/2");
}

TEST_CASE("request: keep-alive rules") {
  struct Case { const char* req; bool keep; } cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
  };
  for (const Case& c : cases) {
    ReqRecorder rec;
    RequestParser p(rec, kLimits);
    std::string in = std::string(c.req) + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    Outcome o = drive(p, in);
    REQUIRE(!rec.msgs.empty());
    CHECK(rec.msgs[0].keep_alive == c.keep);
    CHECK(rec.msgs.size() == (c.keep ? 2u : 1u));  // nothing is parsed after a close
    if (!c.keep) CHECK(o.last == FeedStatus::Closed);
  }
}

TEST_CASE("request: head pause, absolute-form, OPTIONS *, Expect, Upgrade") {
  ReqRecorder rec;
  rec.flow = Flow::Pause;
  RequestParser p(rec, kLimits);
  std::string head = "POST http://Up.example:81?q=1 HTTP/1.1\r\nHost: other\r\nContent-Length: 2\r\n"
                     "Expect: 100-continue\r\n\r\n";
  std::string in = head + "ok";
  FeedResult r = p.feed(in.data(), in.size());
  CHECK(r.status == FeedStatus::HeadPaused);
  CHECK(r.consumed == head.size());
  CHECK(p.head().host == "Up.example:81");
  CHECK(p.head().path == "/");
  CHECK(p.head().origin_target == "/?q=1");
  CHECK(p.head().expect_continue);
  r = p.feed(in.data() + head.size(), 2);
  CHECK(r.status == FeedStatus::MessageComplete);
  CHECK(rec.msgs[0].body == "ok");

  // Paused body-less request: feed(nullptr, 0) completes it.
  std::string get = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
  r = p.feed(get.data(), get.size());
  CHECK(r.status == FeedStatus::HeadPaused);
  CHECK(p.head().path == "*");
  CHECK(p.feed(nullptr, 0).status == FeedStatus::MessageComplete);
  {  // EOF right after a paused body-less head still completes it.
    ReqRecorder r3;
    r3.flow = Flow::Pause;
    RequestParser p3(r3, kLimits);
    CHECK(p3.feed(get.data(), get.size()).status == FeedStatus::HeadPaused);
    CHECK(p3.finish() == FeedStatus::MessageComplete);
    CHECK(r3.msgs.at(0).complete);
  }

  // Upgrade: the parser stops at the end of the request; the caller decides.
  rec.flow = Flow::Continue;
  std::string up = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  std::string next = "GET /after HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string both = up + next;
  r = p.feed(both.data(), both.size());
  CHECK(r.status == FeedStatus::MessageComplete);
  CHECK(r.consumed == up.size());
  CHECK(p.head().upgrade);
  CHECK(p.head().upgrade_protocol == "websocket");
  // No 101 came back: the following bytes are parsed as the next request.
  r = p.feed(next.data(), next.size());
  CHECK(r.status == FeedStatus::MessageComplete);
  CHECK(p.head().path == "/after");
}

// The head's lookups (Host, Upgrade, Expect) are made in one pass over the
// fields: the first field of each name counts, in any letter case.
TEST_CASE("request: the first Host, Upgrade and Expect fields count, any case") {
  std::vector<Msg> m = parse_requests(
      "GET / HTTP/1.1\r\nX-Up: z\r\nhOsT: a.example\r\nEXPECT: \r\nExpect: 100-continue\r\n"
      "upgrade: first\r\nUpgrade: second\r\n\r\n"
      "POST / HTTP/1.1\r\nHost: b\r\nexpect: 100-CONTINUE\r\nContent-Length: 0\r\n\r\n",
      1000);
  REQUIRE(m.size() == 2);
  CHECK(m[0].host == "a.example");
  CHECK_FALSE(m[0].expect);  // the first Expect is empty
  CHECK(m[0].upgrade_protocol == "first");
  CHECK_FALSE(m[0].upgrade);  // no Connection: upgrade
  CHECK(m[1].host == "b");
  CHECK(m[1].expect);
  CHECK(m[1].upgrade_protocol.empty());
}

TEST_CASE("request: limits at the edge, finish() mid-message") {
  Limits l{0, 3, 5};
  std::string base = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX: ";
  std::string in = base + "y\r\n\r\n12345";
  l.max_header_bytes = in.size() - 5;  // exactly the head
  {
    ReqRecorder rec;
    RequestParser p(rec, l);
    CHECK(drive(p, in, 1).last == FeedStatus::NeedMore);
    CHECK(rec.msgs.size() == 1);
  }
  l.max_header_bytes -= 1;
  ReqRecorder rec;
  RequestParser p(rec, l);
  CHECK(drive(p, in, 1).last == FeedStatus::Error);
  CHECK(p.error().status == 431);

  ReqRecorder rec2;
  RequestParser p2(rec2, kLimits);
  std::string part = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n12";
  CHECK(p2.feed(part.data(), part.size()).status == FeedStatus::NeedMore);
  CHECK(p2.finish() == FeedStatus::Error);
  CHECK(p2.error().status == 400);
}

// Malformed and smuggling shapes → exact status. Each is followed by a valid
// request that must never surface (nothing past a bad request is parsed).
TEST_CASE("request: malformed and smuggling corpus") {
  const std::string big(1100, 'v');
  std::string many;
  for (int i = 0; i < 21; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  struct Case { std::string name; std::string req; int status; } cases[] = {
      {"CL then TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE then CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
      {"double CL equal", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
      {"double CL different", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
      {"CL plus sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400},
      {"CL minus sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\nabc", 400},
      {"CL space inside", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\nabc", 400},
      {"CL list 1,1", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\na", 400},
      {"CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400},
      {"CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", 400},
      {"CL overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
      {"TE chunked, identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400},
      {"TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400},
      {"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400},
      {"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE chunked, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE header twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE line leading space", "POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE line leading tab", "POST / HTTP/1.1\r\nHost: a\r\n\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE value vertical tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0b" "chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"bare LF request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
      {"bare LF header line", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},
      {"bare LF end of head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
      {"bare CR line end", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400},
      {"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
      {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400},
      {"whitespace before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
      {"NUL in value", std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 34), 400},
      {"DEL in name", "GET / HTTP/1.1\r\nHost: a\r\nX\x7fY: b\r\n\r\n", 400},
      {"non-token name", "GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n", 400},
      {"non-ASCII name", "GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n", 400},
      {"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400},
      {"invalid method", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"CONNECT (not tunnelled)", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 400},
      {"PRI preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
      {"target without slash", "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"'*' on GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"target with fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"target with CTL", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"absolute-form userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400},
      {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400},
      {"HTTP/0.9 no version", "GET /\r\n\r\n", 400},
      {"missing Host in 1.1", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400},
      {"two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"two Host headers, other case", "GET / HTTP/1.1\r\nHost: a\r\nhOST: a\r\n\r\n", 400},
      {"invalid Host value", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
      {"bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk size overflow", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nx\r\n0\r\n\r\n", 400},
      {"chunk missing CRLF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", 400},
      {"chunk size bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400},
      {"chunk data bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400},
      {"last chunk bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n", 400},
      {"final CRLF bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\n", 400},
      {"trailer bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n", 400},
      {"header too big", "GET / HTTP/1.1\r\nHost: a\r\nX: " + big + "\r\n\r\n", 431},
      {"request line too big", "GET /" + big + " HTTP/1.1\r\nHost: a\r\n\r\n", 431},
      {"too many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + many + "\r\n", 431},
      {"body over limit (CL)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413},
      {"body over limit (chunked)", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" +
                                        std::string(1000, 'b') + "\r\n1\r\nc\r\n0\r\n\r\n", 413},
  };
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
  for (const Case& c : cases) {
    for (size_t step : {size_t{0}, size_t{1}}) {
      CAPTURE(c.name);
      CAPTURE(step);
      ReqRecorder rec;
      RequestParser p(rec, kLimits);
      Outcome o = drive(p, c.req + smuggled, step);
      CHECK(o.last == FeedStatus::Error);
      CHECK(p.error().status == c.status);
      CHECK(!p.error().reason.empty());
      for (const Msg& m : rec.msgs) CHECK(m.path != "/smuggled");
      for (const Msg& m : rec.msgs) CHECK_FALSE(m.complete);
      CHECK(p.feed(smuggled.data(), smuggled.size()).status == FeedStatus::Error);  // dead for good
    }
  }
  CHECK(sizeof(cases) / sizeof(cases[0]) >= 35);
}

// ---- responses ----

TEST_CASE("response: HEAD with Content-Length has no body; next response follows") {
  RespRecorder rec;
  ResponseParser p(rec);
  p.expect(HTTP_HEAD);
  std::string a = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
  std::string b = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  std::string in = a + b;
  FeedResult r = p.feed(in.data(), in.size());
  CHECK(r.status == FeedStatus::MessageComplete);
  CHECK(r.consumed == a.size());
  CHECK(p.head().content_length == 10u);
  CHECK_FALSE(p.head().has_body);
  p.expect(HTTP_GET);
  r = p.feed(in.data() + a.size(), b.size());
  CHECK(r.status == FeedStatus::MessageComplete);
  REQUIRE(rec.msgs.size() == 2);
  CHECK(rec.msgs[0].body.empty());
  CHECK(rec.msgs[1].body == "hi");
}

TEST_CASE("response: 204 and 304 have no body even with Content-Length") {
  for (const char* s : {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                        "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nETag: \"x\"\r\n\r\n",
                        "HTTP/1.1 204 No Content\r\n\r\n"}) {
    RespRecorder rec;
    ResponseParser p(rec);
    std::string in = std::string(s) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    Outcome o = drive(p, in);
    REQUIRE(rec.msgs.size() == 2);
    CHECK(o.boundaries[0] == std::string_view(s).size());
    CHECK_FALSE(rec.msgs[0].has_body);
    CHECK(rec.msgs[0].keep_alive);
    CHECK(rec.msgs[1].status == 200);
  }
}

TEST_CASE("response: 100 Continue then 200, in one buffer and byte by byte") {
  std::string in = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
  std::vector<Msg> first;
  for (size_t step : {size_t{0}, size_t{1}}) {
    RespRecorder rec;
    ResponseParser p(rec);
    Outcome o = drive(p, in, step);
    CHECK(o.boundaries == std::vector<size_t>{in.size()});  // interim heads are not completions
    REQUIRE(rec.msgs.size() == 3);
    CHECK(rec.msgs[0].interim);
    CHECK(rec.msgs[0].status == 100);
    CHECK(rec.msgs[1].status == 103);
    CHECK(rec.msgs[2].status == 200);
    CHECK(rec.msgs[2].body == "abc");
    CHECK(rec.msgs[2].complete);
    if (step == 0) first = rec.msgs;
    else CHECK(rec.msgs == first);
  }
}

TEST_CASE("response: 101 stops parsing; the rest is tunnel data") {
  std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  std::string in = head + "\x81\x05hello";
  for (size_t step : {size_t{0}, size_t{1}}) {
    RespRecorder rec;
    ResponseParser p(rec);
    Outcome o = drive(p, in, step);
    CHECK(o.last == FeedStatus::Upgrade);
    CHECK(o.rest == "\x81\x05hello");
    REQUIRE(rec.msgs.size() == 1);
    CHECK(rec.msgs[0].upgrade);
    CHECK(rec.msgs[0].upgrade_protocol == "websocket");
    CHECK_FALSE(rec.msgs[0].complete);
    CHECK(p.feed(in.data(), 2).status == FeedStatus::Upgrade);
  }
}

TEST_CASE("response: close-delimited body ends at finish()") {
  RespRecorder rec;
  ResponseParser p(rec);
  std::string in = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it";
  Outcome o = drive(p, in, 4);
  CHECK(o.last == FeedStatus::NeedMore);
  CHECK(p.head().close_delimited);
  CHECK_FALSE(p.head().keep_alive);
  CHECK(p.finish() == FeedStatus::MessageComplete);
  REQUIRE(rec.msgs.size() == 1);
  CHECK(rec.msgs[0].body == "all of it");
  CHECK(rec.msgs[0].complete);
}

TEST_CASE("response: chunked with trailers; keep-alive; truncation") {
  RespRecorder rec;
  ResponseParser p(rec);
  std::string in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                   "4\r\nWiki\r\n5;e=1\r\npedia\r\n0\r\nX-Sum: 42\r\n\r\n";
  Outcome o = drive(p, in, 1);
  CHECK(o.boundaries == std::vector<size_t>{in.size()});
  REQUIRE(rec.msgs.size() == 1);
  CHECK(rec.msgs[0].body == "Wikipedia");
  CHECK(rec.msgs[0].keep_alive);
  CHECK(rec.msgs[0].headers.size() == 2);
  CHECK(p.finish() == FeedStatus::Closed);

  RespRecorder rec2;
  ResponseParser p2(rec2);
  std::string part = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nab";
  CHECK(p2.feed(part.data(), part.size()).status == FeedStatus::NeedMore);
  CHECK(p2.head().keep_alive);
  CHECK(p2.finish() == FeedStatus::Error);
  CHECK(p2.error().status == 502);
}

TEST_CASE("response: framing errors → 502") {
  for (const char* s : {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
                        "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n",
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                        "HTTP/1.1 200 OK\r\nX: a\x01" "b\r\n\r\n",
                        "HTTP/1.1 200 OK\r\nX y: b\r\n\r\n",
                        "HTTP/2.0 200 OK\r\n\r\n"}) {
    CAPTURE(s);
    RespRecorder rec;
    ResponseParser p(rec);
    CHECK(drive(p, s).last == FeedStatus::Error);
    CHECK(p.error().status == 502);
    CHECK(rec.msgs.empty());
  }
  // Every byte that is not a tchar, in a header name and in a trailer name.
  for (int c = 0; c < 256; ++c) {
    if (lb::http::detail::is_tchar(static_cast<unsigned char>(c)) || c == ':') continue;
    const std::string name = std::string("X") + static_cast<char>(c) + "Y";
    for (const std::string& s : {"HTTP/1.1 200 OK\r\n" + name + ": b\r\nContent-Length: 0\r\n\r\n",
                                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + name + ": b\r\n\r\n"}) {
      CAPTURE(c);
      RespRecorder rec;
      ResponseParser p(rec);
      CHECK(drive(p, s).last == FeedStatus::Error);
      CHECK(p.error().status == 502);
    }
  }
  RespRecorder rec;
  ResponseParser p(rec, ResponseLimits{64, 10});
  std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a') + "\r\n\r\n";
  CHECK(drive(p, big, 5).last == FeedStatus::Error);
  CHECK(p.error().reason == "response head too large");
}

TEST_CASE("response: Connection: close ends the stream") {
  RespRecorder rec;
  ResponseParser p(rec);
  std::string in = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n";
  Outcome o = drive(p, in);
  CHECK(o.last == FeedStatus::Closed);
  CHECK(rec.msgs.size() == 1);
}

// ---- serializers ----

TEST_CASE("hop-by-hop headers") {
  Headers h;
  h.fields = {{"Connection", "close, X-Secret"}, {"X-Secret", "1"}, {"Content-Type", "t"}};
  for (const char* n : {"connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                        "Proxy-Connection", "Proxy-Authenticate", "proxy-authorization", "Proxy", "x-secret"}) {
    CAPTURE(n);
    CHECK(is_hop_by_hop(n, h));
  }
  CHECK_FALSE(is_hop_by_hop("Content-Type", h));
  CHECK_FALSE(is_hop_by_hop("Proxyish", h));
  CHECK(iequals("Content-LENGTH", "content-length"));
  CHECK_FALSE(iequals("content-lengt", "content-length"));
  CHECK(list_has_token(" gzip ,  Close", "close"));
}

TEST_CASE("serialize request head: forwarded headers, framing, round trip") {
  ReqRecorder rec;
  RequestParser p(rec, kLimits);
  std::string in =
      "POST http://api.example/v1?x=1 HTTP/1.1\r\nhost: ignored\r\nConnection: keep-alive, X-Hop\r\n"
      "X-Hop: 1\r\nKeep-Alive: 5\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n"
      "X-Forwarded-Proto: ftp\r\nProxy-Authorization: secret\r\nTransfer-Encoding: chunked\r\n"
      "Accept: */*\r\n\r\n0\r\n\r\n";
  REQUIRE(drive(p, in).last == FeedStatus::NeedMore);
  ForwardedHeaders fwd{"10.0.0.9", "https", "api.example", "req-1", false, {}};
  RequestHeadOptions opt;
  opt.framing = request_framing(p.head());
  opt.forwarded = &fwd;
  std::string out;
  serialize_request_head(p.head(), opt, out);
  CHECK(out ==
        "POST /v1?x=1 HTTP/1.1\r\nhost: api.example\r\nAccept: */*\r\n"
        "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.9\r\nX-Forwarded-Proto: https\r\n"
        "X-Forwarded-Host: api.example\r\nX-Request-Id: req-1\r\n"
        "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n");
  // What we emit parses cleanly under our own strict rules.
  out += std::string(kLastChunk);
  ReqRecorder rec2;
  RequestParser p2(rec2, kLimits);
  CHECK(drive(p2, out).boundaries.size() == 1);
  CHECK(p2.head().headers.get("x-request-id") == "req-1");

  // HTTP/1.0 without Host gains one; an existing X-Request-Id is kept.
  std::string old = "GET /o HTTP/1.0\r\nX-Request-Id: mine\r\n\r\n";
  REQUIRE(drive(p2, old).boundaries.size() == 1);
  opt.framing = request_framing(p2.head());
  opt.connection = ConnectionMode::Close;
  opt.fallback_host = "backend:80";
  out.clear();
  serialize_request_head(p2.head(), opt, out);
  CHECK(out ==
        "GET /o HTTP/1.1\r\nX-Request-Id: mine\r\nHost: backend:80\r\nX-Forwarded-For: 10.0.0.9\r\n"
        "X-Forwarded-Proto: https\r\nX-Forwarded-Host: api.example\r\nConnection: close\r\n\r\n");
}

TEST_CASE("serialize response head and chunk helpers") {
  RespRecorder rec;
  ResponseParser p(rec);
  std::string in = "HTTP/1.1 200\r\nContent-Type: text/plain\r\nKeep-Alive: timeout=5\r\n"
                   "Transfer-Encoding: chunked\r\nUpgrade: h2c\r\n\r\n";
  REQUIRE(drive(p, in).last == FeedStatus::NeedMore);
  ResponseHeadOptions opt;
  opt.framing = response_framing(p.head(), true);
  std::string out;
  serialize_response_head(p.head(), opt, out);
  CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
               "Connection: keep-alive\r\n\r\n");
  opt.framing = response_framing(p.head(), false);  // HTTP/1.0 client: close-delimited
  out.clear();
  serialize_response_head(p.head(), opt, out);
  CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");

  ChunkHeaderBuf buf;
  CHECK(chunk_header(255, buf) == "ff\r\n");
  CHECK(chunk_header(1, buf) == "1\r\n");
  std::string body;
  append_chunk(body, "hello");
  append_chunk(body, "");
  body += kLastChunk;
  CHECK(body == "5\r\nhello\r\n0\r\n\r\n");
  CHECK(default_reason(431) == "Request Header Fields Too Large");
}

// Found by tests/fuzz/fuzz_request_parser: with max_headers reached, a
// malformed next line (no colon) was answered 431 when its bytes arrived in
// pieces (llhttp hands over a partial name) but 400 when they arrived at once.
// The verdict must not depend on TCP segmentation.
TEST_CASE("request: too-many-headers verdict does not depend on how bytes arrive") {
  const Limits limits{0, 2, 0};
  const std::string malformed = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nNoColonHere\r\n\r\n";
  const std::string too_many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
  for (size_t step : {size_t{0}, size_t{1}, size_t{5}}) {
    CAPTURE(step);
    ReqRecorder r1;
    RequestParser p1(r1, limits);
    CHECK(drive(p1, malformed, step).last == FeedStatus::Error);
    CHECK(p1.error().status == 400);
    ReqRecorder r2;
    RequestParser p2(r2, limits);
    CHECK(drive(p2, too_many, step).last == FeedStatus::Error);
    CHECK(p2.error().status == 431);
  }
}


TEST_CASE("websocket: Sec-WebSocket-Accept of RFC 6455's example key") {
  CHECK(lb::websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(lb::websocket_accept_matches("dGhlIHNhbXBsZSBub25jZQ==", " s3pPLMBiTxaQ9kYGzzhZRbK+xOo= "));
  CHECK_FALSE(lb::websocket_accept_matches("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOX="));
  CHECK_FALSE(lb::websocket_accept_matches("", ""));
}

TEST_CASE("same_for_cgi: case-insensitive, '-' and '_' alike, nothing else") {
  using lb::http::same_for_cgi;
  CHECK(same_for_cgi("x-user", "X_User"));
  CHECK(same_for_cgi("x-auth-user", "X_AUTH-user"));
  CHECK(same_for_cgi("authorization", "Authorization"));
  CHECK_FALSE(same_for_cgi("x-user", "x.user"));
  CHECK_FALSE(same_for_cgi("x-user", "x-users"));
  CHECK_FALSE(same_for_cgi("x-user", "x user"));
  CHECK_FALSE(same_for_cgi("a[", "a{"));  // '[' | 0x20 == '{', but neither is a letter
}
