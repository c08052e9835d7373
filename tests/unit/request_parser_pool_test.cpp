// tests/unit/request_parser_pool_test.cpp — RequestParser::reset (a used
// parser made new again for another connection: new handler, new limits,
// nothing of the old message or error left) and lb::RequestParserPool (reuse
// of the same object, and what it refuses to keep).
#include <doctest/doctest.h>

#include "lb/http1/http_parser.h"
#include "lb/http1/request_parser_pool.h"

#include <memory>
#include <string>
#include <vector>

using namespace lb::http;

namespace {

// What a handler saw, one entry per request head.
struct Seen {
  std::string method, path, host, body;
  size_t headers = 0;
  bool complete = false;
};

struct Recorder : RequestHandler {
  std::vector<Seen> msgs;
  Flow flow = Flow::Continue;
  Flow on_request_head(const RequestHead& h) override {
    msgs.push_back({std::string(h.method), std::string(h.path), std::string(h.host), {}, h.headers.size(), false});
    return flow;
  }
  void on_request_body(std::string_view d) override { msgs.back().body.append(d); }
  void on_request_complete() override { msgs.back().complete = true; }
};

// Feeds `in` in one buffer, continuing past pauses; returns the last status.
// Whatever the parser leaves unconsumed after MessageComplete is fed again.
FeedStatus feed_all(RequestParser& p, std::string_view in) {
  FeedStatus last = FeedStatus::NeedMore;
  for (;;) {
    FeedResult r = p.feed(in.data(), in.size());
    in.remove_prefix(r.consumed);
    last = r.status;
    if (r.status == FeedStatus::HeadPaused) continue;
    if (r.status == FeedStatus::MessageComplete && !in.empty()) continue;
    return last;
  }
}

const Limits kWide{4096, 20, 1000};

std::string get(const std::string& path, const std::string& host = "a", int extra_headers = 0) {
  std::string s = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n";
  for (int i = 0; i < extra_headers; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
  return s + "\r\n";
}

}  // namespace

TEST_CASE("RequestParser::reset: the next request goes to the new handler under the new limits") {
  Recorder old_rec, new_rec;
  RequestParser p(old_rec, kWide);
  REQUIRE(feed_all(p, get("/first", "old.test", 5)) == FeedStatus::MessageComplete);
  REQUIRE(old_rec.msgs.size() == 1);

  SUBCASE("a request parses in full and only the new handler hears of it") {
    p.reset(new_rec, Limits{4096, 3, 10});
    std::string post = "POST /second?q=1 HTTP/1.1\r\nHost: new.test\r\nContent-Length: 3\r\n\r\nabc";
    FeedResult r = p.feed(post.data(), post.size());
    CHECK(r.status == FeedStatus::MessageComplete);
    CHECK(r.consumed == post.size());
    REQUIRE(new_rec.msgs.size() == 1);
    CHECK(new_rec.msgs[0].method == "POST");
    CHECK(new_rec.msgs[0].path == "/second");
    CHECK(new_rec.msgs[0].host == "new.test");
    CHECK(new_rec.msgs[0].body == "abc");
    CHECK(new_rec.msgs[0].complete);
    CHECK(p.head().path == "/second");
    CHECK(old_rec.msgs.size() == 1);  // nothing more for the old connection
    // Keep-alive carries on with the new handler.
    CHECK(feed_all(p, get("/third", "new.test")) == FeedStatus::MessageComplete);
    CHECK(new_rec.msgs.size() == 2);
    CHECK(old_rec.msgs.size() == 1);
  }
  SUBCASE("a lower max_headers → 431, a head the old limits allowed") {
    p.reset(new_rec, Limits{4096, 3, 1000});
    CHECK(feed_all(p, get("/many", "a", 5)) == FeedStatus::Error);
    CHECK(p.error().status == 431);
    CHECK(new_rec.msgs.empty());
    CHECK(old_rec.msgs.size() == 1);
  }
  SUBCASE("a lower max_header_bytes → 431") {
    p.reset(new_rec, Limits{40, 20, 1000});
    CHECK(feed_all(p, get("/a-path-long-enough-to-pass-forty-bytes")) == FeedStatus::Error);
    CHECK(p.error().status == 431);
    CHECK(new_rec.msgs.empty());
  }
  SUBCASE("a lower max_header_bytes also bounds chunk framing → 431") {
    p.reset(new_rec, Limits{80, 20, 1000});
    std::string chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=" +
                          std::string(100, 'e') + "\r\nx\r\n0\r\n\r\n";
    CHECK(feed_all(p, chunked) == FeedStatus::Error);
    CHECK(p.error().status == 431);
  }
  SUBCASE("a lower max_body_bytes → 413") {
    p.reset(new_rec, Limits{4096, 20, 2});
    std::string post = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    CHECK(feed_all(p, post) == FeedStatus::Error);
    CHECK(p.error().status == 413);
  }
  SUBCASE("higher limits than before are honoured too") {
    Recorder tight_rec;
    RequestParser tight(tight_rec, Limits{64, 2, 1000});
    CHECK(feed_all(tight, get("/x", "a", 4)) == FeedStatus::Error);
    CHECK(tight.error().status == 431);
    tight.reset(new_rec, kWide);
    CHECK(feed_all(tight, get("/x-with-a-much-longer-path-than-sixty-four-bytes-allow/", "a", 4)) ==
          FeedStatus::MessageComplete);
    REQUIRE(new_rec.msgs.size() == 1);
    CHECK(new_rec.msgs[0].headers == 5);
    CHECK(tight_rec.msgs.empty());
  }
}

TEST_CASE("RequestParser::reset after a parse error: the dead parser is usable again") {
  Recorder old_rec, new_rec;
  RequestParser p(old_rec, kWide);
  std::string bad = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
  REQUIRE(feed_all(p, bad) == FeedStatus::Error);
  REQUIRE(p.error().status == 400);
  std::string good = get("/good", "b");
  REQUIRE(p.feed(good.data(), good.size()).status == FeedStatus::Error);  // dead until reset

  p.reset(new_rec, kWide);
  CHECK(p.error().status == 0);
  CHECK(p.error().reason.empty());
  FeedResult r = p.feed(good.data(), good.size());
  CHECK(r.status == FeedStatus::MessageComplete);
  CHECK(r.consumed == good.size());
  REQUIRE(new_rec.msgs.size() == 1);
  CHECK(new_rec.msgs[0].path == "/good");
  CHECK(new_rec.msgs[0].complete);
  CHECK(old_rec.msgs.empty());  // the bad request never surfaced
  CHECK(p.finish() == FeedStatus::Closed);

  SUBCASE("also after a limit error raised in a callback") {
    Recorder r3;
    RequestParser q(r3, Limits{4096, 20, 2});
    std::string big = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n";
    REQUIRE(feed_all(q, big) == FeedStatus::Error);
    REQUIRE(q.error().status == 413);
    Recorder r4;
    q.reset(r4, kWide);
    std::string ok = "POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n123456789";
    CHECK(feed_all(q, ok) == FeedStatus::MessageComplete);
    REQUIRE(r4.msgs.size() == 1);
    CHECK(r4.msgs[0].body == "123456789");
    // A later llhttp-detected error reports itself, not the forgotten 413.
    CHECK(feed_all(q, "FOO / HTTP/1.1\r\nHost: a\r\n\r\n") == FeedStatus::Error);
    CHECK(q.error().status == 400);
    CHECK_FALSE(q.error().reason.empty());
  }
}

TEST_CASE("RequestParser::reset mid-message discards the partial message") {
  Recorder old_rec, new_rec;
  RequestParser p(old_rec, kWide);
  const std::string next = "GET /whole?x=1 HTTP/1.1\r\nHost: next.test\r\n\r\n";

  auto expect_exactly_next = [&] {
    CHECK_FALSE(p.in_message());
    FeedResult r = p.feed(next.data(), next.size());
    CHECK(r.status == FeedStatus::MessageComplete);
    CHECK(r.consumed == next.size());
    REQUIRE(new_rec.msgs.size() == 1);
    CHECK(new_rec.msgs[0].method == "GET");
    CHECK(new_rec.msgs[0].path == "/whole");
    CHECK(new_rec.msgs[0].host == "next.test");
    CHECK(new_rec.msgs[0].headers == 1);  // nothing of the abandoned head
    CHECK(new_rec.msgs[0].body.empty());
    CHECK(new_rec.msgs[0].complete);
    CHECK(p.head().headers.size() == 1);
    CHECK(p.head().headers.get("x-half") == "");
  };

  SUBCASE("half a head") {
    std::string half = "POST /partial HTTP/1.1\r\nHost: old.test\r\nX-Half: 1\r\nContent-Le";
    REQUIRE(p.feed(half.data(), half.size()).status == FeedStatus::NeedMore);
    REQUIRE(p.in_message());
    p.reset(new_rec, kWide);
    expect_exactly_next();
    CHECK(old_rec.msgs.empty());
  }
  SUBCASE("half a request line") {
    std::string half = "DELETE /parti";
    REQUIRE(p.feed(half.data(), half.size()).status == FeedStatus::NeedMore);
    p.reset(new_rec, kWide);
    expect_exactly_next();
  }
  SUBCASE("half a Content-Length body") {
    std::string half = "POST /p HTTP/1.1\r\nHost: a\r\nX-Half: 1\r\nContent-Length: 10\r\n\r\nabc";
    REQUIRE(feed_all(p, half) == FeedStatus::NeedMore);
    REQUIRE(old_rec.msgs.size() == 1);
    p.reset(new_rec, kWide);
    expect_exactly_next();
    CHECK(old_rec.msgs[0].body == "abc");
    CHECK_FALSE(old_rec.msgs[0].complete);
  }
  SUBCASE("inside a chunk") {
    std::string half = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe";
    REQUIRE(feed_all(p, half) == FeedStatus::NeedMore);
    p.reset(new_rec, kWide);
    expect_exactly_next();
    CHECK_FALSE(old_rec.msgs.at(0).complete);
  }
  SUBCASE("half a field name; an empty name in the next request is still refused") {
    std::string half = "GET /p HTTP/1.1\r\nHost: a\r\nX-Half-Na";
    REQUIRE(p.feed(half.data(), half.size()).status == FeedStatus::NeedMore);
    p.reset(new_rec, kWide);
    CHECK(feed_all(p, "GET / HTTP/1.1\r\n: b\r\nHost: a\r\n\r\n") == FeedStatus::Error);
    CHECK(p.error().status == 400);
    CHECK(new_rec.msgs.empty());
  }
  SUBCASE("paused after the head") {
    old_rec.flow = Flow::Pause;
    std::string head = "POST /paused HTTP/1.1\r\nHost: a\r\nX-Half: 1\r\nContent-Length: 4\r\n\r\n";
    REQUIRE(p.feed(head.data(), head.size()).status == FeedStatus::HeadPaused);
    p.reset(new_rec, kWide);
    expect_exactly_next();
  }
  SUBCASE("after a Connection: close request (no further message was accepted)") {
    std::string last = "GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    REQUIRE(feed_all(p, last) == FeedStatus::MessageComplete);
    REQUIRE(p.feed(next.data(), next.size()).status == FeedStatus::Closed);
    p.reset(new_rec, kWide);
    expect_exactly_next();
  }
}

TEST_CASE("RequestParserPool: reuses released parsers, reset for the new handler; drops oversized ones") {
  lb::RequestParserPool pool;
  Recorder a, b;

  SUBCASE("acquire on an empty pool creates; release then acquire returns the same object") {
    CHECK(pool.idle() == 0);
    std::unique_ptr<RequestParser> p = pool.acquire(a, kWide);
    REQUIRE(p);
    CHECK(pool.idle() == 0);
    REQUIRE(feed_all(*p, get("/for-a")) == FeedStatus::MessageComplete);
    RequestParser* raw = p.get();
    pool.release(std::move(p));
    CHECK(pool.idle() == 1);

    std::unique_ptr<RequestParser> q = pool.acquire(b, Limits{4096, 2, 1000});
    CHECK(q.get() == raw);
    CHECK(pool.idle() == 0);
    CHECK(feed_all(*q, get("/for-b")) == FeedStatus::MessageComplete);
    REQUIRE(b.msgs.size() == 1);
    CHECK(b.msgs[0].path == "/for-b");
    CHECK(a.msgs.size() == 1);
    // The limits given to acquire() apply to the reused parser.
    CHECK(feed_all(*q, get("/many", "a", 3)) == FeedStatus::Error);
    CHECK(q->error().status == 431);

    // A second acquire while the first is out creates another.
    std::unique_ptr<RequestParser> other = pool.acquire(a, kWide);
    CHECK(other.get() != q.get());
  }
  SUBCASE("a parser released dead or mid-message comes back fresh") {
    std::unique_ptr<RequestParser> p = pool.acquire(a, kWide);
    std::string half = "GET /half HTTP/1.1\r\nHo";
    REQUIRE(p->feed(half.data(), half.size()).status == FeedStatus::NeedMore);
    RequestParser* raw = p.get();
    pool.release(std::move(p));
    p = pool.acquire(b, kWide);
    REQUIRE(p.get() == raw);
    CHECK(feed_all(*p, get("/fresh")) == FeedStatus::MessageComplete);
    REQUIRE(b.msgs.size() == 1);
    CHECK(b.msgs[0].path == "/fresh");

    REQUIRE(feed_all(*p, "GET / HTTP/1.1\r\nHost : a\r\n\r\n") == FeedStatus::Error);
    pool.release(std::move(p));
    Recorder c;
    p = pool.acquire(c, kWide);
    REQUIRE(p.get() == raw);
    CHECK(feed_all(*p, get("/after-error")) == FeedStatus::MessageComplete);
    REQUIRE(c.msgs.size() == 1);
    CHECK(c.msgs[0].path == "/after-error");
  }
  SUBCASE("a parser holding more than 16 KiB of buffers is not kept") {
    const Limits roomy{64 * 1024, 100, 1000};
    std::unique_ptr<RequestParser> big = pool.acquire(a, roomy);
    std::string req = "GET /big HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(20 * 1024, 'b') + "\r\n\r\n";
    REQUIRE(feed_all(*big, req) == FeedStatus::MessageComplete);
    REQUIRE(a.msgs.size() == 1);
    CHECK(big->retained_bytes() > 16 * 1024);
    pool.release(std::move(big));
    CHECK(pool.idle() == 0);

    // An ordinary one next to it is kept.
    std::unique_ptr<RequestParser> small = pool.acquire(a, roomy);
    REQUIRE(feed_all(*small, get("/small")) == FeedStatus::MessageComplete);
    CHECK(small->retained_bytes() > 0);
    CHECK(small->retained_bytes() <= 16 * 1024);
    RequestParser* raw_small = small.get();
    pool.release(std::move(small));
    CHECK(pool.idle() == 1);
    std::unique_ptr<RequestParser> again = pool.acquire(b, roomy);
    CHECK(again.get() == raw_small);
  }
  SUBCASE("at most 1024 free parsers; a null release is ignored") {
    std::vector<std::unique_ptr<RequestParser>> out;
    for (int i = 0; i < 1030; ++i) out.push_back(pool.acquire(a, kWide));
    for (auto& p : out) pool.release(std::move(p));
    CHECK(pool.idle() == 1024);
    pool.release(nullptr);
    CHECK(pool.idle() == 1024);
  }
}
