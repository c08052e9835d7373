// lb/exchange/header_edit.cpp — expanding header templates and collecting edits.
#include "lb/exchange/header_edit.h"

#include <algorithm>

#include "lb/security/jwt.h"

namespace lb {

void expand_header_template(const conf::HeaderTemplate& t, const HeaderVars& v, std::string& out) {
  using Var = conf::HeaderTemplate::Var;
  for (const auto& piece : t.pieces) {
    switch (piece.var) {
      case Var::literal: out += piece.text; break;
      case Var::client_ip: out += v.client_ip; break;
      case Var::client_port: out += v.client_port; break;
      case Var::request_id: out += v.request_id; break;
      case Var::scheme: out += v.scheme; break;
      case Var::host: out += v.host; break;
      case Var::path: out += v.path; break;
      case Var::listener: out += v.listener; break;
      case Var::route: out += v.route; break;
      case Var::server: out += v.server; break;
      case Var::tls_version: out += v.tls_version; break;
      case Var::tls_sni: out += v.tls_sni; break;
      case Var::jwt_claim:
        // Empty without a token or the claim; never a value with CR/LF.
        if (v.jwt)
          if (std::optional<std::string> c = v.jwt->claim_as_header_value(piece.text)) out += *c;
        break;
    }
  }
}

void HeaderEdits::drop_pending(std::string_view lower_name) {
  std::erase_if(pending_, [&](const Pending& p) { return http::iequals(p.name, lower_name); });
  if (std::find(drop_.begin(), drop_.end(), lower_name) == drop_.end()) drop_.push_back(lower_name);
}

void HeaderEdits::apply(const conf::HeaderRules& rules, const HeaderVars& vars) {
  for (const std::string& name : rules.remove) drop_pending(name);
  auto push = [&](const conf::HeaderRules::Field& f) {
    size_t offset = values_.size();
    expand_header_template(f.value, vars, values_);
    pending_.push_back({f.name, offset, values_.size() - offset});
  };
  for (const auto& f : rules.set) {
    drop_pending(f.lower);
    push(f);
  }
  for (const auto& f : rules.add) push(f);
}

void HeaderEdits::append(std::string_view name, std::string_view value) {
  size_t offset = values_.size();
  values_ += value;
  pending_.push_back({name, offset, value.size()});
}

void HeaderEdits::finish() {
  // values_ no longer grows: the views into it are stable from here.
  fields_.clear();
  for (const Pending& p : pending_) fields_.push_back({p.name, std::string_view(values_).substr(p.offset, p.length)});
}

bool HeaderEdits::drops(std::string_view name) const {
  for (std::string_view d : drop_)
    if (http::iequals(d, name)) return true;
  return false;
}

}  // namespace lb
