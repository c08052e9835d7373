// tests/fuzz/fuzz_response_parser.cpp — libFuzzer target for
// lb::http::ResponseParser, driven as BackendConn drives it: unconsumed bytes
// are fed again, expect() names the request method before each response, EOF
// calls finish().
//
// Input: byte 0 = split step, byte 1 = which responses answer a HEAD (bit i
// for response i), the rest is the server's byte stream. Invariants:
//  * one-piece and sliced feeding give the same heads, bodies, boundaries and
//    outcome;
//  * body vs framing: HEAD/1xx/204/304 → no body; Content-Length → exactly
//    that many bytes, and they are the raw bytes just before the message
//    boundary; close-delimited → the body is the raw tail of the stream and
//    ends only at EOF; never both Content-Length and chunked;
//  * 1xx interim heads are 100..199 except 101; 101 ends parsing (Upgrade) and
//    the bytes after it are left unconsumed for the tunnel;
//  * a close-delimited or 101 response is never keep-alive; errors are 502.
#include "lb/http1/http_parser.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

using namespace lb::http;

namespace {

struct Msg {
  int status = 0;
  bool interim = false, head_request = false, complete = false, close_delimited = false;
  bool chunked = false, keep_alive = false, upgrade = false, has_body = false;
  std::optional<uint64_t> cl;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string reason, body;
  bool operator==(const Msg&) const = default;
};

struct Recorder : ResponseHandler {
  std::vector<Msg> msgs;
  bool head_request = false;
  Msg& add(const ResponseHead& h) {
    FUZZ_CHECK(msgs.empty() || msgs.back().complete || msgs.back().interim);
    Msg m;
    m.status = h.status, m.interim = h.interim, m.head_request = head_request;
    m.close_delimited = h.close_delimited, m.chunked = h.chunked, m.keep_alive = h.keep_alive;
    m.upgrade = h.upgrade, m.has_body = h.has_body, m.cl = h.content_length, m.reason = h.reason;
    for (const Header& f : h.headers) m.headers.emplace_back(f.name, f.value);
    FUZZ_CHECK(!(h.content_length && h.chunked));
    FUZZ_CHECK(h.status >= 100 && h.status <= 599);
    FUZZ_CHECK(!(h.close_delimited && h.keep_alive));
    if (h.status < 200 || h.status == 204 || h.status == 304 || head_request) FUZZ_CHECK(!h.has_body);
    msgs.push_back(std::move(m));
    return msgs.back();
  }
  void on_interim_response(const ResponseHead& h) override {
    FUZZ_CHECK(h.status >= 100 && h.status < 200 && h.status != 101);
    add(h);
  }
  void on_response_head(const ResponseHead& h) override {
    FUZZ_CHECK(!h.interim);
    FUZZ_CHECK(h.upgrade == (h.status == 101));
    if (h.upgrade) FUZZ_CHECK(!h.keep_alive);
    add(h);
  }
  void on_response_body(std::string_view d) override {
    FUZZ_CHECK(!msgs.empty() && !msgs.back().complete && !msgs.back().interim);
    FUZZ_CHECK(msgs.back().has_body);
    msgs.back().body.append(d);
  }
  void on_response_complete() override {
    FUZZ_CHECK(!msgs.empty() && !msgs.back().complete && !msgs.back().interim && !msgs.back().upgrade);
    msgs.back().complete = true;
  }
};

struct Run {
  std::vector<Msg> msgs;
  std::vector<size_t> boundaries;
  FeedStatus last = FeedStatus::NeedMore;
  size_t consumed = 0;
  bool operator==(const Run&) const = default;
};

Run drive(std::string_view in, size_t step, uint8_t head_mask) {
  Recorder rec;
  ResponseParser parser(rec, ResponseLimits{.max_header_bytes = 2048, .max_headers = 16});
  Run run;
  auto expect_next = [&] {
    size_t i = run.boundaries.size();
    rec.head_request = i < 8 && (head_mask >> i) & 1;
    parser.expect(rec.head_request ? HTTP_HEAD : HTTP_GET);
  };
  expect_next();
  run.last = fuzz::feed_stream(parser, in, step, run.consumed, [&](size_t at) {
    FUZZ_CHECK(!rec.msgs.empty() && rec.msgs.back().complete);
    run.boundaries.push_back(at);
    expect_next();
  });
  FUZZ_CHECK(run.last != FeedStatus::NeedMore && run.last != FeedStatus::HeadPaused);
  if (run.last == FeedStatus::Upgrade) FUZZ_CHECK(!rec.msgs.empty() && rec.msgs.back().upgrade);
  if (run.last == FeedStatus::MessageComplete) {  // only finish() completes a close-delimited body
    FUZZ_CHECK(rec.msgs.back().close_delimited);
    FUZZ_CHECK(run.consumed == in.size());
  }
  if (run.last == FeedStatus::Error) FUZZ_CHECK(parser.error().status == 502);
  run.msgs = std::move(rec.msgs);
  size_t b = 0;
  for (const Msg& m : run.msgs) {
    if (m.interim || !m.complete) continue;
    FUZZ_CHECK(b < run.boundaries.size());
    size_t end = run.boundaries[b++];
    if (!m.has_body) {
      FUZZ_CHECK(m.body.empty());
    } else if (m.cl) {
      FUZZ_CHECK(m.body.size() == *m.cl);
      FUZZ_CHECK(end >= m.body.size() && in.substr(end - m.body.size(), m.body.size()) == m.body);
    } else if (m.close_delimited) {
      FUZZ_CHECK(end == in.size() && in.substr(in.size() - m.body.size()) == m.body);
    }
  }
  FUZZ_CHECK(b == run.boundaries.size());
  return run;
}

// FUZZ_DEBUG=1: what each run saw, to explain a whole != split finding.
void dump(const char* what, const Run& r) {
  if (!std::getenv("FUZZ_DEBUG")) return;
  std::fprintf(stderr, "%s: %zu msgs, %zu boundaries, last=%d consumed=%zu", what, r.msgs.size(),
               r.boundaries.size(), static_cast<int>(r.last), r.consumed);
  std::fprintf(stderr, "");
  for (const Msg& m : r.msgs) std::fprintf(stderr, " [body %zu%s]", m.body.size(), m.complete ? " complete" : "");
  std::fprintf(stderr, "\n");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + (data[0] & 0x0f);
  const uint8_t head_mask = data[1];
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  Run whole = drive(in, in.size() ? in.size() : 1, head_mask);
  Run split = drive(in, step, head_mask);
  // Where an error is reported inside the offending bytes may depend on the
  // slicing; the connection is closed then, so only the verdict must agree.
  if (whole.last == FeedStatus::Error) whole.consumed = 0;
  if (split.last == FeedStatus::Error) split.consumed = 0;
  dump("whole", whole);
  dump("split", split);
  FUZZ_CHECK(whole == split);
  return 0;
}
