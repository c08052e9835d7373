// tests/unit/trace_context_test.cpp — lb/exchange/trace_context.h: W3C
// traceparent parsing (valid, every invalid shape) and the context lb makes:
// continued (trace id and sampled flag kept, a new parent id) or started
// (fresh ids, sampled per sample_percent).
#include <doctest/doctest.h>

#include <string>

#include "lb/exchange/trace_context.h"

using namespace lb;

TEST_CASE("parse_traceparent: valid and invalid values") {
  char id[32];
  uint8_t flags = 0;
  CHECK(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", id, flags));
  CHECK(std::string(id, 32) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(flags == 1);
  // A later version may append fields after a '-'.
  CHECK(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-more", id, flags));
  CHECK(flags == 3);
  for (const char* bad : {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
                          "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"})
    CHECK_MESSAGE(!parse_traceparent(bad, id, flags), bad);
}

TEST_CASE("make_trace_context: continued or started") {
  TraceContext t;
  make_trace_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0, t);
  CHECK(t.continued);
  CHECK(t.id() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(t.header().substr(0, 36) == "00-4bf92f3577b34da6a3ce929d0e0e4736-");
  CHECK(t.header().substr(36, 16) != "00f067aa0ba902b7");
  CHECK(t.header().substr(52) == "-01");
  make_trace_context("02-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", 0, t);
  CHECK(t.header().substr(52) == "-01");  // only the sampled bit of an unknown flag set is passed on
  CHECK(t.header().substr(0, 3) == "00-");

  TraceContext a, b;
  make_trace_context("", 100, a);
  make_trace_context("garbage", 100, b);
  CHECK(!a.continued);
  CHECK(a.id() != b.id());
  CHECK(a.header().substr(52) == "-01");
  char id[32];
  uint8_t flags = 0;
  CHECK(parse_traceparent(a.header(), id, flags));
  make_trace_context("", 0, a);
  CHECK(a.header().substr(52) == "-00");
}
