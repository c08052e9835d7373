// tests/fuzz/fuzz_request_parser.cpp — libFuzzer target for lb::http::RequestParser
// (llhttp + lb's smuggling checks), driven the way HttpSession drives it:
// unconsumed bytes are kept and fed again, heads may pause, EOF calls finish().
//
// Input: byte 0 = options (split step, head pausing, tight limits), the rest
// is the client's byte stream. Invariants checked, beyond "no crash":
//  * the same stream parsed in one piece and split into small slices gives the
//    same messages, boundaries and outcome (no state leaks across feeds); when
//    both refuse it, the status may differ if the input has two problems and
//    a partly streamed body may be cut at a different point;
//  * a completed message's body agrees with its framing: Content-Length bytes
//    exactly, or an independent strict chunked decode of the raw bytes between
//    the head and the message boundary; no framing → no body;
//  * a reported head is CRLF-only raw bytes ending in an empty line, within
//    the limits, never with both Content-Length and Transfer-Encoding, exactly
//    one Host on HTTP/1.1, token names and no CTLs in values;
//  * NeedMore consumes everything; errors are 400/413/431 and final.
#include "lb/http1/http_parser.h"
#include "lb/http/http_syntax.h"
#include "tests/fuzz/fuzz_util.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

using namespace lb::http;

namespace {

struct Msg {
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<uint64_t> cl;
  bool chunked = false, keep_alive = false, upgrade = false, complete = false;
  size_t head_bytes = 0;
  bool operator==(const Msg&) const = default;
};

struct Recorder : RequestHandler {
  std::vector<Msg> msgs;
  Flow flow = Flow::Continue;
  Limits limits;
  Flow on_request_head(const RequestHead& h) override {
    FUZZ_CHECK(msgs.empty() || msgs.back().complete);
    Msg m;
    m.method = h.method, m.target = h.target, m.cl = h.content_length, m.chunked = h.chunked;
    m.keep_alive = h.keep_alive, m.upgrade = h.upgrade, m.head_bytes = h.head_bytes;
    for (const Header& f : h.headers) m.headers.emplace_back(f.name, f.value);
    // Smuggling rules (SPEC 7) on everything that reaches the proxy.
    FUZZ_CHECK(!(h.content_length && h.chunked));
    FUZZ_CHECK(h.headers.count("Content-Length") <= 1);
    FUZZ_CHECK(h.headers.count("Transfer-Encoding") <= 1);
    FUZZ_CHECK(h.headers.contains("Transfer-Encoding") == h.chunked);
    FUZZ_CHECK(h.has_body == (h.chunked || h.content_length.value_or(0) > 0));
    FUZZ_CHECK(h.http_major == 1 && h.http_minor <= 1);
    if (h.http_minor == 1) FUZZ_CHECK(h.headers.count("Host") == 1);
    FUZZ_CHECK(h.method_id != HTTP_CONNECT);
    for (const Header& f : h.headers) {
      FUZZ_CHECK(lb::http::detail::is_token(f.name));
      for (unsigned char c : f.value) FUZZ_CHECK(!lb::http::detail::is_bad_ctl(c));
    }
    if (limits.max_header_bytes) FUZZ_CHECK(h.head_bytes <= limits.max_header_bytes);
    if (limits.max_headers) FUZZ_CHECK(h.headers.size() <= limits.max_headers);
    if (limits.max_body_bytes && h.content_length) FUZZ_CHECK(*h.content_length <= limits.max_body_bytes);
    msgs.push_back(std::move(m));
    return flow;
  }
  void on_request_body(std::string_view d) override {
    FUZZ_CHECK(!msgs.empty() && !msgs.back().complete);
    msgs.back().body.append(d);
    if (limits.max_body_bytes) FUZZ_CHECK(msgs.back().body.size() <= limits.max_body_bytes);
  }
  void on_request_complete() override {
    FUZZ_CHECK(!msgs.empty() && !msgs.back().complete);
    msgs.back().complete = true;
  }
};

struct Run {
  std::vector<Msg> msgs;
  std::vector<size_t> boundaries;  // stream offsets of MessageComplete
  FeedStatus last = FeedStatus::NeedMore;
  int error_status = 0;
  size_t consumed = 0;
  bool operator==(const Run&) const = default;
};

Run drive(std::string_view in, size_t step, bool pause, const Limits& limits) {
  Recorder rec;
  rec.flow = pause ? Flow::Pause : Flow::Continue;
  rec.limits = limits;
  RequestParser parser(rec, limits);
  Run run;
  run.last = fuzz::feed_stream(parser, in, step, run.consumed, [&](size_t at) {
    FUZZ_CHECK(!rec.msgs.empty() && rec.msgs.back().complete);
    run.boundaries.push_back(at);
  });
  FUZZ_CHECK(run.last == FeedStatus::Closed || run.last == FeedStatus::Error ||
             run.last == FeedStatus::MessageComplete);
  if (run.last == FeedStatus::Error) {
    run.error_status = parser.error().status;
    FUZZ_CHECK(run.error_status == 400 || run.error_status == 413 || run.error_status == 431);
    FUZZ_CHECK(parser.feed("x", 1).status == FeedStatus::Error);  // final
  }
  run.msgs = std::move(rec.msgs);
  // Every completed message: raw head shape and body vs framing.
  size_t start = 0;
  for (size_t i = 0; i < run.boundaries.size(); ++i) {
    const Msg& m = run.msgs[i];
    FUZZ_CHECK(m.complete);
    size_t end = run.boundaries[i];
    FUZZ_CHECK(start + m.head_bytes <= end);
    std::string_view head = in.substr(start, m.head_bytes);
    FUZZ_CHECK(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n");
    FUZZ_CHECK(fuzz::crlf_only(head));
    std::string_view raw_body = in.substr(start + m.head_bytes, end - start - m.head_bytes);
    if (m.chunked) {
      std::optional<std::string> decoded = fuzz::decode_chunked(raw_body);
      FUZZ_CHECK(decoded.has_value());
      FUZZ_CHECK(*decoded == m.body);
    } else {
      FUZZ_CHECK(m.body.size() == m.cl.value_or(0));
      FUZZ_CHECK(raw_body == m.body);
    }
    start = end;
  }
  // Messages after the last boundary never completed.
  for (size_t i = run.boundaries.size(); i < run.msgs.size(); ++i) FUZZ_CHECK(!run.msgs[i].complete);
  return run;
}

// FUZZ_DEBUG=1: what each run saw, to explain a whole != split finding.
void dump(const char* what, const Run& r) {
  if (!std::getenv("FUZZ_DEBUG")) return;
  std::fprintf(stderr, "%s: %zu msgs, %zu boundaries, last=%d consumed=%zu", what, r.msgs.size(),
               r.boundaries.size(), static_cast<int>(r.last), r.consumed);
  std::fprintf(stderr, " err=%d", r.error_status);
  for (const Msg& m : r.msgs) std::fprintf(stderr, " [body %zu%s]", m.body.size(), m.complete ? " complete" : "");
  std::fprintf(stderr, "\n");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t opt = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  Limits limits;
  if (opt & 0x10) limits = {.max_header_bytes = 1024, .max_headers = 4, .max_body_bytes = 16};
  const bool pause = opt & 0x20;
  const size_t step = 1 + (opt & 0x0f);

  Run whole = drive(in, in.size() ? in.size() : 1, pause, limits);
  Run split = drive(in, step, pause, limits);
  // Where an error is reported inside the offending bytes may depend on the
  // slicing; the connection is closed then, so only the verdict must agree.
  // Likewise which of two problems is reported first (e.g. 431 for the fifth
  // field vs 400 for a CTL later in the head: the raw scanner runs ahead of
  // llhttp by as many bytes as have arrived); both refuse the request.
  // And an unfinished body is streamed as it arrives, so before a refusal
  // one run may have passed on more of it than the other: a prefix.
  if (whole.last == FeedStatus::Error && split.last == FeedStatus::Error) {
    whole.consumed = split.consumed = 0;
    whole.error_status = split.error_status = 0;
    if (!whole.msgs.empty() && whole.msgs.size() == split.msgs.size() && !whole.msgs.back().complete) {
      std::string &a = whole.msgs.back().body, &b = split.msgs.back().body;
      FUZZ_CHECK(a.compare(0, b.size(), b, 0, a.size()) == 0);  // one is a prefix of the other
      a.clear(), b.clear();
    }
  }
  dump("whole", whole);
  dump("split", split);
  FUZZ_CHECK(whole == split);
  return 0;
}
