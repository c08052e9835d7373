// lb/exchange/trace_context.h — W3C Trace Context (SPEC 15 "Tracing") for a
// listener with "tracing": a valid `traceparent` from the client is
// continued (same trace id and sampled flag, a new parent id of lb's own,
// `tracestate` kept); otherwise lb starts a trace, sampled with probability
// sample_percent / 100, and drops any `tracestate` (it belonged to no valid
// trace). The ids come from a per-thread splitmix64 sequence: no syscall, no
// lock, no allocation.
#pragma once

#include <cstdint>
#include <string_view>

namespace lb {

struct TraceContext {
  // "traceparent: 00-<trace id>-<parent id>-<flags>\r\n", ready to append to
  // the request head in one go. No initializer: an exchange carries one
  // whether or not its listener traces; make_trace_context() fills it.
  static constexpr size_t kPrefix = 13;  // "traceparent: "
  char line[kPrefix + 55 + 2];
  bool continued;      // the client's trace (keep its tracestate)
  bool client_fields;  // the request has a traceparent, or a tracestate to drop

  std::string_view id() const { return {line + kPrefix + 3, 32}; }
  std::string_view header() const { return {line + kPrefix, 55}; }  // the field's value
  std::string_view field_line() const { return {line, sizeof line}; }
};

// Parses a traceparent value per W3C Trace Context level 1: version 00 is
// exactly 55 characters; a higher version (not ff) may carry more after a
// '-'. Lower-case hex only; all-zero trace or parent ids are invalid. On
// success writes the trace id (32 chars) and the flags.
bool parse_traceparent(std::string_view value, char trace_id[32], uint8_t& flags);

// `client` is the request's traceparent value (empty when absent).
void make_trace_context(std::string_view client, uint32_t sample_percent, TraceContext& out);

}  // namespace lb
