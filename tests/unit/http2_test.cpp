// tests/unit/http2_test.cpp — the HTTP/2 pieces that need no socket: the
// request head built from decoded fields (SPEC 9 rules lb adds on top of
// nghttp2) and the abuse guard's thresholds.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "lb/http2/abuse_guard.h"
#include "lb/http2/request_head.h"

using lb::Http2CloseReason;
using lb::http2::AbuseGuard;
using lb::http2::RequestHeadBuilder;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

Fields basic(std::string method = "GET", std::string path = "/a?b=1") {
  return {{":method", method}, {":scheme", "https"}, {":authority", "example.com"}, {":path", path}};
}

struct Built {
  int status = 0;
  std::string_view reason;
  lb::http::RequestHead head;
};

// The builder must outlive the head's views: keep it in the caller's scope.
Built build(RequestHeadBuilder& b, const Fields& fields, bool end_stream = true) {
  for (auto& [n, v] : fields) b.add(n, v);
  Built r;
  r.status = b.build(end_stream, r.head, r.reason);
  return r;
}

lb::http::Limits limits(uint64_t header_bytes = 32768, uint32_t headers = 100) { return {header_bytes, headers, 0}; }

}  // namespace

TEST_SUITE("http2") {
  TEST_CASE("a GET becomes the HTTP/1.1 request the exchange forwards") {
    RequestHeadBuilder b(limits());
    Fields f = basic();
    f.push_back({"user-agent", "t"});
    Built r = build(b, f);
    REQUIRE(r.status == 0);
    CHECK(r.head.method == "GET");
    CHECK(r.head.method_id == HTTP_GET);
    CHECK(r.head.path == "/a");
    CHECK(r.head.query == "b=1");
    CHECK(r.head.origin_target == "/a?b=1");
    CHECK(r.head.host == "example.com");
    CHECK(r.head.http_major == 2);
    CHECK_FALSE(r.head.has_body);
    CHECK_FALSE(r.head.chunked);
    REQUIRE(r.head.headers.size() == 1);
    CHECK(r.head.headers[0].name == "user-agent");
  }

  TEST_CASE("a body without content-length goes chunked; with one, by length") {
    {
      RequestHeadBuilder b(limits());
      Built r = build(b, basic("POST", "/p"), false);
      REQUIRE(r.status == 0);
      CHECK(r.head.has_body);
      CHECK(r.head.chunked);
    }
    {
      RequestHeadBuilder b(limits());
      Fields f = basic("POST", "/p");
      f.push_back({"content-length", "12"});
      Built r = build(b, f, false);
      REQUIRE(r.status == 0);
      CHECK(r.head.has_body);
      CHECK_FALSE(r.head.chunked);
      CHECK(r.head.content_length == 12u);
    }
    {
      RequestHeadBuilder b(limits());
      Fields f = basic("POST", "/p");
      f.push_back({"content-length", "12"});
      CHECK(build(b, f, true).status == 400);  // a length announced, no DATA allowed
    }
  }

  TEST_CASE("cookie crumbs are joined for HTTP/1.1 (RFC 9113 8.2.3)") {
    RequestHeadBuilder b(limits());
    Fields f = basic();
    f.push_back({"cookie", "a=1"});
    f.push_back({"accept", "*/*"});
    f.push_back({"cookie", "b=2"});
    Built r = build(b, f);
    REQUIRE(r.status == 0);
    CHECK(r.head.headers.count("cookie") == 1);
    CHECK(r.head.headers.get("cookie") == "a=1; b=2");
    CHECK(r.head.headers.get("accept") == "*/*");
  }

  TEST_CASE("requests lb refuses before any server sees them") {
    struct Case {
      const char* what;
      Fields fields;
      int status;
    };
    std::vector<Case> cases = {
        {"no :method", {{":scheme", "https"}, {":authority", "h"}, {":path", "/"}}, 400},
        {"no :path", {{":method", "GET"}, {":scheme", "https"}, {":authority", "h"}}, 400},
        {"empty :path", basic("GET", ""), 400},
        {"relative :path", basic("GET", "a/b"), 400},
        {"* for GET", basic("GET", "*"), 400},
        {"unknown method", basic("FETCHALL", "/"), 400},
        {"plain CONNECT", {{":method", "CONNECT"}, {":authority", "h:443"}}, 400},
        {"no authority", {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}}, 400},
    };
    Fields disagree = basic();
    disagree.push_back({"host", "other.example"});
    cases.push_back({":authority and host disagree", disagree, 400});
    Fields two_hosts = {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"host", "a"}, {"host", "a"}};
    cases.push_back({"two host fields", two_hosts, 400});
    // What lb's own HTTP/1.1 parser refuses never reaches a server through
    // HTTP/2 either (nghttp2 lets these through; found by fuzz_h2_request_head).
    cases.push_back({"fragment in :path", basic("GET", "/a#f"), 400});
    cases.push_back({"non-ASCII in :path", basic("GET", "/caf\xc3\xa9"), 400});
    cases.push_back({"DEL in :path", basic("GET", "/a\x7f"), 400});
    Fields userinfo = basic();
    userinfo[2].second = "user@example.com";
    cases.push_back({"userinfo in :authority (RFC 9113 8.3.1)", userinfo, 400});
    Fields bad_host = {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"host", "a@b"}};
    cases.push_back({"invalid host field", bad_host, 400});
    Fields bad_length = basic("POST", "/");
    bad_length.push_back({"content-length", "12x"});
    cases.push_back({"bad content-length", bad_length, 400});
    for (auto& c : cases) {
      CAPTURE(c.what);
      RequestHeadBuilder b(limits());
      Built r = build(b, c.fields, false);
      CHECK(r.status == c.status);
      CHECK_FALSE(r.reason.empty());
    }
    RequestHeadBuilder options(limits());
    CHECK(build(options, basic("OPTIONS", "*")).status == 0);
    RequestHeadBuilder host_only(limits());
    Built r = build(host_only, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "h.example"}});
    CHECK(r.status == 0);
    CHECK(r.head.host == "h.example");
    RequestHeadBuilder port_and_ip(limits());
    Fields v6 = basic("GET", "/%7Euser?q=a/b");
    v6[2].second = "[::1]:8080";
    Built r6 = build(port_and_ip, v6);
    CHECK(r6.status == 0);
    CHECK(r6.head.host == "[::1]:8080");
  }

  TEST_CASE("the header list is bounded as RFC 9113 6.5.2 counts it → 431") {
    // 4 pseudo-headers: (7+3+32) + (7+5+32) + (10+11+32) + (5+6+32) = 182 bytes.
    RequestHeadBuilder fits(limits(182 + 32 + 1 + 1));
    Fields f = basic();
    f.push_back({"x", "y"});
    CHECK(build(fits, f).status == 0);
    RequestHeadBuilder over(limits(182 + 32 + 1));
    Built r = build(over, f);
    CHECK(r.status == 431);
    RequestHeadBuilder many(limits(32768, 3));
    Fields g = basic();
    for (int i = 0; i < 4; ++i) g.push_back({"x-" + std::to_string(i), "v"});
    CHECK(build(many, g).status == 431);
    // An HPACK bomb decodes to far more than max_header_bytes: refused, and
    // nothing past the limit is kept.
    RequestHeadBuilder bomb(limits(8192));
    Fields h = basic();
    const std::string big(4000, 'a');
    for (int i = 0; i < 1000; ++i) h.push_back({"x-big", big});
    Built rb = build(bomb, h);
    CHECK(rb.status == 431);
    CHECK(bomb.partial().path == "/a?b=1");  // the access line still has the path
  }

  TEST_CASE("extended CONNECT (RFC 8441) becomes an HTTP/1.1 WebSocket upgrade") {
    RequestHeadBuilder b(limits());
    Built r = build(b, {{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "https"},
                        {":authority", "ws.example"}, {":path", "/chat"}, {"sec-websocket-version", "13"}},
                    false);
    REQUIRE(r.status == 0);
    CHECK(r.head.method == "GET");
    CHECK(r.head.upgrade);
    CHECK(r.head.upgrade_protocol == "websocket");
    CHECK(r.head.headers.get("sec-websocket-key").size() == 24);
    CHECK_FALSE(r.head.has_body);
    RequestHeadBuilder other(limits());
    CHECK(build(other, {{":method", "CONNECT"}, {":protocol", "h3"}, {":scheme", "https"}, {":authority", "x"},
                        {":path", "/"}},
                false)
              .status == 400);
  }

  TEST_CASE("rapid reset: 100 premature resets that are half the streams") {
    AbuseGuard g(32768);
    for (int i = 0; i < 300; ++i) g.on_stream_opened();
    for (int i = 0; i < 149; ++i) CHECK_FALSE(g.on_premature_reset());
    CHECK(g.on_premature_reset() == Http2CloseReason::rapid_reset);  // 150 of 300
    AbuseGuard few(32768);
    few.on_stream_opened();
    for (int i = 0; i < 99; ++i) CHECK_FALSE(few.on_premature_reset());
    CHECK(few.on_premature_reset() == Http2CloseReason::rapid_reset);
    AbuseGuard browser(32768);  // many streams, an occasional cancel
    for (int i = 0; i < 10000; ++i) browser.on_stream_opened();
    for (int i = 0; i < 1000; ++i) CHECK_FALSE(browser.on_premature_reset());
  }

  TEST_CASE("continuation flood: bytes past max_header_bytes, or 33 CONTINUATIONs, before END_HEADERS") {
    AbuseGuard g(1000);
    CHECK_FALSE(g.on_header_block_frame(true, 600, false));
    CHECK(g.on_header_block_frame(false, 600, false) == Http2CloseReason::continuation_flood);
    AbuseGuard complete(1000);
    CHECK_FALSE(complete.on_header_block_frame(true, 600, false));
    CHECK_FALSE(complete.on_header_block_frame(false, 600, true));  // complete: answered 431 instead
    AbuseGuard tiny(32768);
    CHECK(tiny.max_continuations() == 32);
    CHECK_FALSE(tiny.on_header_block_frame(true, 1, false));
    for (int i = 0; i < 32; ++i) CHECK_FALSE(tiny.on_header_block_frame(false, 1, false));
    CHECK(tiny.on_header_block_frame(false, 1, false) == Http2CloseReason::continuation_flood);
    AbuseGuard large(16 << 20);  // 16 MiB of headers may take 1,024 full 16 KiB frames
    CHECK(large.max_continuations() == 16384);
  }

  TEST_CASE("control floods: SETTINGS/PING per second, PRIORITY per stream, WINDOW_UPDATE per DATA sent") {
    AbuseGuard g(32768);
    for (int i = 0; i < 50; ++i) CHECK_FALSE(g.on_settings(5000));
    for (int i = 0; i < 50; ++i) CHECK_FALSE(g.on_ping(5000));
    CHECK(g.on_ping(5999) == Http2CloseReason::control_flood);
    AbuseGuard paced(32768);
    for (uint64_t t = 0; t < 100; ++t)
      for (int i = 0; i < 50; ++i) CHECK_FALSE(paced.on_ping(1000 + t * 1000));
    // gRPC's bandwidth probes: a PING per round trip while DATA flows.
    AbuseGuard grpc(32768);
    for (int i = 0; i < 10000; ++i) {
      grpc.on_data_frame_sent();
      CHECK_FALSE(grpc.on_ping(5000));
    }
    AbuseGuard p(32768);
    for (int i = 0; i < 100; ++i) CHECK_FALSE(p.on_priority());
    CHECK(p.on_priority() == Http2CloseReason::control_flood);
    AbuseGuard ps(32768);
    ps.on_stream_opened();
    for (int i = 0; i < 200; ++i) CHECK_FALSE(ps.on_priority());
    AbuseGuard w(32768);
    for (int i = 0; i < 50; ++i) w.on_data_frame_sent();
    for (int i = 0; i < 600; ++i) CHECK_FALSE(w.on_window_update());
    CHECK(w.on_window_update() == Http2CloseReason::control_flood);
  }

  TEST_CASE("empty frames and refused streams") {
    AbuseGuard g(32768);
    for (int i = 0; i < 16; ++i) CHECK_FALSE(g.on_frame(true));
    CHECK_FALSE(g.on_frame(false));  // a useful frame breaks the run
    for (int i = 0; i < 16; ++i) CHECK_FALSE(g.on_frame(true));
    CHECK(g.on_frame(true) == Http2CloseReason::empty_frames);
    AbuseGuard r(32768);
    for (int i = 0; i < 9; ++i) CHECK_FALSE(r.on_stream_refused());
    CHECK(r.on_stream_refused() == Http2CloseReason::stream_limit);
  }
}
