// tests/unit/conf_duration_test.cpp — compound durations (SPEC section 3,
// second edition): "1m30s", "1h15m", "1s500ms"; units in decreasing order,
// each at most once; the errors for parts out of order, a trailing number
// without its unit and overflow; single-unit inputs keep their old messages;
// and format_duration's output (GET /config) parses back to the same value.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "conf/load.h"
#include "conf/values.h"

using lb::conf::Duration;
using lb::conf::detail::format_duration;
using lb::conf::detail::parse_duration;
using nlohmann::json;

namespace {

// parse_duration's error for `text` ("" when it parses).
std::string error_of(const std::string& text) {
  Duration d{};
  std::string err;
  return parse_duration(text, d, err) ? std::string() : err;
}

}  // namespace

TEST_CASE("conf durations: units combine from largest to smallest") {
  const std::pair<const char*, int64_t> cases[] = {
      {"1m30s", 90'000},
      {"1h15m", 4'500'000},
      {"1s500ms", 1500},
      {"1h1m1s1ms", 3'661'001},
      {"2h30s", 7'230'000},  // a unit may be skipped
      {"1m90s", 150'000},    // a part may exceed the next unit up
      {"0h0m0s0ms", 0},
      {"1h0m", 3'600'000},
      {"1.5m30s", 120'000},  // fractions are allowed in any part
      {"1m0.25s", 60'250},
      {"8759h59m59s999ms", int64_t{8760} * 3'600'000 - 1},
      {"8759h60m", int64_t{8760} * 3'600'000},  // exactly the maximum
  };
  for (auto [text, ms] : cases) {
    INFO(text);
    Duration d{-1};
    std::string err;
    CHECK_MESSAGE(parse_duration(text, d, err), err);
    CHECK(d == Duration{ms});
  }
}

TEST_CASE("conf durations: compound errors") {
  const std::string units = "units in duration ";
  CHECK(error_of("30s1m") ==
        "units in duration \"30s1m\" must go from largest to smallest, each at most once (h, m, s, ms; e.g. \"1m30s\")");
  CHECK(error_of("1s1s").rfind(units + "\"1s1s\" must go from largest to smallest", 0) == 0);
  CHECK(error_of("1ms1s").rfind(units, 0) == 0);
  CHECK(error_of("1h2h").rfind(units, 0) == 0);
  CHECK(error_of("1m30") == "duration \"1m30\" has no unit after \"30\" (e.g. \"1m30s\")");
  CHECK(error_of("1h15") == "duration \"1h15\" has no unit after \"15\" (e.g. \"1h15m\")");
  CHECK(error_of("1s500") == "duration \"1s500\" has no unit after \"500\" (e.g. \"1s500ms\")");
  CHECK(error_of("1.5m30.5") == "duration \"1.5m30.5\" has no unit after \"30.5\" (e.g. \"1.5m30.5s\")");
  CHECK(error_of("1s500ms5") == "duration \"1s500ms5\" has no unit after \"5\"");  // nothing is smaller than ms
  CHECK(error_of("1m30sec") == "unknown unit \"sec\" in duration \"1m30sec\" (use ms, s, m or h)");
  CHECK(error_of("1m30d") == "unknown unit \"d\" in duration \"1m30d\" (use ms, s, m or h)");
  CHECK(error_of("1m.5s").rfind("invalid duration \"1m.5s\"", 0) == 0);
  CHECK(error_of("1.5.5s").rfind("invalid duration \"1.5.5s\"", 0) == 0);
  CHECK(error_of("1m 30s").rfind("duration \"1m 30s\" must not contain spaces", 0) == 0);
  CHECK(error_of("1m-30s") == "unknown unit \"m-\" in duration \"1m-30s\" (use ms, s, m or h)");
  CHECK(error_of("1s0.5ms") == "duration \"1s0.5ms\" is not a whole number of milliseconds");
  // Overflow: in one part, in the sum, and in digits that would overflow int64.
  CHECK(error_of("1m8761h").rfind(units, 0) == 0);
  CHECK(error_of("8760h1ms") == "duration \"8760h1ms\" is too large (max 8760h)");
  CHECK(error_of("8759h61m") == "duration \"8759h61m\" is too large (max 8760h)");
  CHECK(error_of("1h525600m") == "duration \"1h525600m\" is too large (max 8760h)");
  CHECK(error_of("1h99999999999999m") ==
        "duration \"1h99999999999999m\" is too large or too precise (max 8760h, whole milliseconds)");
  CHECK(error_of("1h9223372036854s") ==
        "duration \"1h9223372036854s\" is too large or too precise (max 8760h, whole milliseconds)");
  CHECK(error_of("8760h0m0s0ms").empty());
}

TEST_CASE("conf durations: single-unit inputs keep their messages") {
  CHECK(error_of("2") == "duration \"2\" has no unit (use ms, s, m or h, e.g. \"2s\")");
  CHECK(error_of("30sec") == "unknown unit \"sec\" in duration \"30sec\" (use ms, s, m or h)");
  CHECK(error_of("2d") == "unknown unit \"d\" in duration \"2d\" (use ms, s, m or h)");
  CHECK(error_of("-1s") == "duration \"-1s\" is negative");
  CHECK(error_of("1.5ms") == "duration \"1.5ms\" is not a whole number of milliseconds");
  CHECK(error_of("8761h") == "duration \"8761h\" is too large (max 8760h)");
  CHECK(error_of("99999999999999h") ==
        "duration \"99999999999999h\" is too large or too precise (max 8760h, whole milliseconds)");
  CHECK(error_of("").rfind("empty duration (use a number with a unit", 0) == 0);
  CHECK(error_of("s").rfind("invalid duration \"s\" (use a number with a unit", 0) == 0);
}

TEST_CASE("conf durations: format_duration output parses back to the same value") {
  // format_duration uses one unit (90000 ms is "90s"): compound input is read,
  // GET /config prints the plainest spelling that every parser reads.
  CHECK(format_duration(Duration{90'000}) == "90s");
  CHECK(format_duration(Duration{4'500'000}) == "75m");
  CHECK(format_duration(Duration{3'661'001}) == "3661001ms");
  const int64_t samples[] = {0, 1, 999, 1000, 1500, 59'999, 60'000, 90'000, 3'599'999, 3'600'000, 4'500'000,
                             3'661'001, int64_t{8760} * 3'600'000 - 1, int64_t{8760} * 3'600'000};
  for (int64_t ms : samples) {
    INFO(ms);
    Duration d{-1};
    std::string err;
    CHECK_MESSAGE(parse_duration(format_duration(Duration{ms}), d, err), err);
    CHECK(d == Duration{ms});
  }
}

TEST_CASE("conf durations: compound values in the file load, and to_json round-trips them") {
  json c = json::parse(R"({
    "shutdown_timeout": "1m30s",
    "listeners": [{"name": "web", "listen": "127.0.0.1:8080", "pool": "web",
                   "timeouts": {"client_idle": "1h15m", "request_header": "1s500ms"}}],
    "pools": [{"name": "web", "servers": [{"address": "127.0.0.1:9001"}],
               "retries": {"backoff_base": "0s25ms", "backoff_max": "1s250ms"}}]
  })");
  lb::conf::LoadResult r = lb::conf::load_string(c.dump(), "/etc/lb/lb.json");
  INFO((r.errors.empty() ? std::string() : r.errors.front()));
  REQUIRE(r.ok());
  CHECK(r.config->shutdown_timeout == Duration{90'000});
  CHECK(r.config->listeners[0].timeouts.client_idle == Duration{4'500'000});
  CHECK(r.config->listeners[0].timeouts.request_header == Duration{1500});
  CHECK(r.config->pools[0].retries.backoff_base == Duration{25});
  CHECK(r.config->pools[0].retries.backoff_max == Duration{1250});
  json out = lb::conf::to_json(*r.config);
  CHECK(out["shutdown_timeout"] == "90s");
  CHECK(out["listeners"][0]["timeouts"]["client_idle"] == "75m");
  lb::conf::LoadResult again = lb::conf::load_string(out.dump(), "/etc/lb/lb.json");
  REQUIRE(again.ok());
  CHECK(lb::conf::to_json(*again.config) == out);

  c["listeners"][0]["timeouts"]["client_idle"] = "15m1h";
  r = lb::conf::load_string(c.dump(), "/etc/lb/lb.json");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].rfind("/etc/lb/lb.json: /listeners/0/timeouts/client_idle: units in duration \"15m1h\"", 0) == 0);
}
