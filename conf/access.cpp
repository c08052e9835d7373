// conf/access.cpp — schema walk for "access" (listeners and routes) and
// "trusted_proxies" (listeners): CIDR lists checked with the same parser the
// data path compiles them with (lb/security/cidr_set.h).
#include "conf/schema.h"
#include "conf/values.h"
#include "lb/security/cidr_set.h"

namespace lb::conf::detail {

void load_cidr_list(Ctx& ctx, const json& v, const Pointer& at, std::vector<std::string>& out) {
  if (!check_array(ctx, v, at)) return;
  lb::CidrSet check;
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::string cidr, err;
    if (!read_string(ctx, v[i], at / i, cidr)) continue;
    if (!check.add(cidr, err)) ctx.error(at / i, err);
    else out.push_back(std::move(cidr));
  }
}

void load_access(Ctx& ctx, const json& v, const Pointer& at, AccessRules& out) {
  Obj o(ctx, v, at, {"allow", "deny"});
  if (!o.ok()) return;
  o.with_nonnull("allow", [&](const json& x, const Pointer& p) { load_cidr_list(ctx, x, p, out.allow); });
  o.with_nonnull("deny", [&](const json& x, const Pointer& p) { load_cidr_list(ctx, x, p, out.deny); });
}

}  // namespace lb::conf::detail
