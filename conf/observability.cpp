// conf/observability.cpp — schema walk for a listener's "tracing"
// ({"sample_percent": 0..100}) and "slo" ({"availability": percent,
// "latency": duration, "latency_percent": percent}) of SPEC 15.
#include "conf/schema.h"
#include "conf/values.h"

namespace lb::conf::detail {

namespace {

// A target percentage: above 0 and below 100 (100 leaves no error budget,
// so every burn rate would be infinite).
bool read_target(Ctx& ctx, const json& x, const Pointer& p, double& out) {
  double v = 0;
  if (!read_number(ctx, x, p, v)) return false;
  if (!(v > 0 && v < 100)) {
    ctx.error(p, "must be above 0 and below 100 (a percentage; 100 leaves no error budget)");
    return false;
  }
  out = v;
  return true;
}

}  // namespace

void load_tracing(Ctx& ctx, const json& v, const Pointer& at, Tracing& out) {
  Obj o(ctx, v, at, {"sample_percent"});
  if (!o.ok()) return;
  o.with("sample_percent", [&](const json& x, const Pointer& p) { read_uint(ctx, x, p, 0, 100, out.sample_percent); });
}

void load_slo(Ctx& ctx, const json& v, const Pointer& at, Slo& out) {
  Obj o(ctx, v, at, {"availability", "latency", "latency_percent"});
  if (!o.ok()) return;
  o.with("availability", [&](const json& x, const Pointer& p) {
    double t = 0;
    if (read_target(ctx, x, p, t)) out.availability = t;
  });
  o.with("latency", [&](const json& x, const Pointer& p) {
    Duration d{};
    if (read_duration(ctx, x, p, d)) out.latency = d;
  });
  o.with("latency_percent", [&](const json& x, const Pointer& p) {
    if (!o.has("latency")) ctx.error(p, "latency_percent needs \"latency\"");
    else read_target(ctx, x, p, out.latency_percent);
  });
  if (!o.has("availability") && !o.has("latency"))
    ctx.error(at, "an slo needs \"availability\", \"latency\" or both");
}

}  // namespace lb::conf::detail
