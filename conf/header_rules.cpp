// conf/header_rules.cpp — schema walk for "request_headers" /
// "response_headers" (SPEC 10, on listeners and routes) and the %{variable}
// templates their values use. Values are checked here, once, so the data
// path can write them without looking: no CR, LF or NUL (header injection),
// names are tokens, variables are known and allowed in that direction.
#include "conf/schema.h"
#include "conf/values.h"

namespace lb::conf::detail {

namespace {

using Var = HeaderTemplate::Var;

struct VarName {
  std::string_view name;
  Var var;
};
constexpr VarName kVars[] = {
    {"client_ip", Var::client_ip}, {"client_port", Var::client_port}, {"request_id", Var::request_id},
    {"scheme", Var::scheme},       {"host", Var::host},               {"path", Var::path},
    {"listener", Var::listener},   {"route", Var::route},             {"server", Var::server},
    {"tls_version", Var::tls_version}, {"tls_sni", Var::tls_sni},
};

bool has_forbidden_byte(std::string_view s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return true;
  return false;
}

bool parse_var(Ctx& ctx, const Pointer& at, std::string_view name, HeaderDirection dir, HeaderTemplate::Piece& out) {
  if (name.starts_with("jwt.") && name.size() > 4) {
    out.var = Var::jwt_claim;
    out.text = std::string(name.substr(4));
    return true;
  }
  for (const auto& v : kVars) {
    if (v.name != name) continue;
    if (v.var == Var::server && dir == HeaderDirection::request) {
      ctx.error(at, "%{server} is only known for response headers (the server is chosen after the request headers are set)");
      return false;
    }
    out.var = v.var;
    return true;
  }
  std::vector<std::string_view> names;
  for (const auto& v : kVars) names.push_back(v.name);
  names.push_back("jwt.CLAIM");
  ctx.error(at, enum_error("header variable", name, names));
  return false;
}

}  // namespace

bool parse_header_template(Ctx& ctx, const Pointer& at, std::string_view text, HeaderDirection dir,
                           HeaderTemplate& out) {
  if (has_forbidden_byte(text)) {
    ctx.error(at, "header value must not contain CR, LF or NUL");
    return false;
  }
  HeaderTemplate t;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) t.pieces.push_back({Var::literal, std::move(literal)});
    literal.clear();
  };
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '%' && i + 1 < text.size() && text[i + 1] == '{') {
      size_t end = text.find('}', i + 2);
      if (end == std::string_view::npos) {
        ctx.error(at, "unterminated %{ in header value " + quote(text));
        return false;
      }
      HeaderTemplate::Piece piece;
      if (!parse_var(ctx, at, text.substr(i + 2, end - i - 2), dir, piece)) return false;
      flush();
      t.pieces.push_back(std::move(piece));
      i = end + 1;
    } else {
      literal += text[i++];
    }
  }
  flush();
  out = std::move(t);
  return true;
}

void load_header_rules(Ctx& ctx, const json& v, const Pointer& at, HeaderDirection dir, HeaderRules& rules) {
  Obj o(ctx, v, at, {"set", "add", "remove"});
  if (!o.ok()) return;
  auto fields = [&](std::string_view key, std::vector<HeaderRules::Field>& out) {
    o.with_nonnull(key, [&](const json& x, const Pointer& p) {
      for_each_header_entry(ctx, x, p, [&](const std::string& name, const Pointer& hp, std::string text) {
        HeaderRules::Field f{name, to_lower(name), {}};
        if (parse_header_template(ctx, hp, text, dir, f.value)) out.push_back(std::move(f));
      });
    });
  };
  fields("set", rules.set);
  fields("add", rules.add);
  o.with_nonnull("remove", [&](const json& x, const Pointer& p) {
    if (!check_array(ctx, x, p)) return;
    for (std::size_t i = 0; i < x.size(); ++i) {
      std::string name;
      if (!read_string(ctx, x[i], p / i, name)) continue;
      if (!is_http_token(name)) ctx.error(p / i, "invalid header name " + quote(name));
      else rules.remove.push_back(to_lower(name));
    }
  });
}

}  // namespace lb::conf::detail
