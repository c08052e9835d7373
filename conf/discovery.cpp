// conf/discovery.cpp — SPEC 13: the top-level "dns" object (resolvers,
// timeout) and a pool's "discovery" (dns, type, interval, weight).
#include <string_view>

#include "conf/enums.h"
#include "conf/schema.h"
#include "conf/values.h"

namespace lb::conf::detail {

namespace {

// Leaves a host name unresolved: discovery names are looked up at run time.
class DeferLookup final : public HostResolver {
 public:
  bool resolve(const std::string&, Address&, std::string&) override { return true; }
};

// A resolver must be an IP address (it is what resolves names), port 53
// unless given: "10.0.0.2", "10.0.0.2:5353", "[fd00::2]:53".
void load_resolver(Ctx& ctx, const json& v, const Pointer& at, std::vector<std::string>& out) {
  std::string raw;
  if (!read_string(ctx, v, at, raw)) return;
  std::string text = raw;
  if (text.find(':') == std::string::npos) text += ":53";
  else if (text.front() != '[' && text.find(':') != text.rfind(':')) text = "[" + text + "]:53";
  Address a;
  std::string err;
  DeferLookup defer;
  if (!parse_address(text, a, err, &defer)) {
    ctx.error(at, err);
    return;
  }
  if (a.sockaddr_len == 0 || a.sockaddr.ss_family == AF_UNIX) {
    ctx.error(at, "a resolver must be an IP address (optionally with :port), got " + quote(raw));
    return;
  }
  out.push_back(numeric_address(a));
}

// SRV names are service names ("_http._tcp.app.internal"): no port.
void load_dns_name(Ctx& ctx, const json& v, const Pointer& at, DiscoveryConfig& d) {
  if (!read_string(ctx, v, at, d.text)) return;
  std::string err;
  if (d.type == DiscoveryType::srv) {
    if (!valid_hostname(d.text, err)) {
      ctx.error(at, "invalid SRV name " + quote(d.text) + ": " + err + " (expected e.g. \"_http._tcp.app.internal\")");
      return;
    }
    d.name = d.text;
    return;
  }
  Address a;
  DeferLookup defer;
  if (!parse_address(d.text, a, err, &defer)) {
    ctx.error(at, err + " (type " + std::string(to_string(d.type)) + " needs \"name:port\")");
    return;
  }
  if (a.sockaddr_len != 0) {
    ctx.error(at, "discovery needs a host name to resolve, got the address " + quote(d.text) +
                      " (list it in \"servers\" instead)");
    return;
  }
  if (a.port == 0) {
    ctx.error(at, "port 0 is not allowed in " + quote(d.text));
    return;
  }
  d.name = a.host;
  d.port = a.port;
}

}  // namespace

void load_dns(Ctx& ctx, const json& v, const Pointer& at, DnsConfig& dns) {
  Obj o(ctx, v, at, {"resolvers", "timeout"});
  if (!o.ok()) return;
  o.with("resolvers", [&](const json& x, const Pointer& p) {
    if (!check_array(ctx, x, p)) return;
    for (std::size_t i = 0; i < x.size(); ++i) load_resolver(ctx, x[i], p / i, dns.resolvers);
  });
  o.with("timeout", [&](const json& x, const Pointer& p) {
    if (!read_duration(ctx, x, p, dns.timeout)) return;
    if (dns.timeout > std::chrono::seconds(60)) ctx.error(p, "dns timeout longer than 60s is not allowed");
  });
}

void load_discovery(Ctx& ctx, const json& v, const Pointer& at, DiscoveryConfig& d) {
  Obj o(ctx, v, at, {"dns", "type", "interval", "weight"});
  if (!o.ok()) return;
  o.with("type", [&](const json& x, const Pointer& p) { read_enum(ctx, x, p, kDiscoveryTypeNames, "discovery type", d.type); });
  if (const json* x = o.require("dns")) load_dns_name(ctx, *x, o.at("dns"), d);
  o.with("interval", [&](const json& x, const Pointer& p) {
    if (!read_duration(ctx, x, p, d.interval)) return;
    if (d.interval < std::chrono::seconds(1))
      ctx.error(p, "interval " + format_duration(d.interval) + " is too short: DNS is asked at most once a second");
  });
  o.with("weight", [&](const json& x, const Pointer& p) {
    if (d.type == DiscoveryType::srv) {
      ctx.error(p, "\"weight\" is for A and AAAA discovery; SRV records carry their own weights");
      return;
    }
    read_uint(ctx, x, p, 1, 1000, d.weight);
  });
}

}  // namespace lb::conf::detail
