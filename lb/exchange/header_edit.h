// lb/exchange/header_edit.h — the request_headers / response_headers rules
// of a listener and its route (SPEC 10) turned into edits of one message:
// which received fields to drop and which fields to append, with %{…}
// variables expanded. The listener's rules apply first, then the route's, so
// a route can replace or remove what its listener set.
//
// Ownership: a HeaderEdits owns the expanded values; the fields it hands out
// point into it and stay valid until the next reset() or its destruction.
// Threading: the owning worker's thread only.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "lb/http/http_message.h"

namespace lb::security {
struct JwtClaims;
}

namespace lb {

// Values for the %{…} variables; empty where there is none (%{tls_sni} on a
// plain listener, %{server} before one is chosen).
struct HeaderVars {
  std::string_view client_ip, client_port, request_id, scheme, host, path, listener, route, server,
      tls_version, tls_sni;
  const security::JwtClaims* jwt = nullptr;  // the verified token's claims, for %{jwt.CLAIM}
};

// Appends `t` with its variables expanded. Variables never carry CR or LF:
// every source is either validated request data or lb's own.
void expand_header_template(const conf::HeaderTemplate& t, const HeaderVars& vars, std::string& out);

class HeaderEdits {
 public:
  void reset() {
    drop_.clear();
    pending_.clear();
    values_.clear();
    fields_.clear();
  }
  // One rule set: remove, then set (replaces every earlier field of that
  // name), then add.
  void apply(const conf::HeaderRules& rules, const HeaderVars& vars);
  // A received field not to forward (lower-cased name), whatever the rules say.
  void drop(std::string_view lower_name) { drop_pending(lower_name); }
  // Builds added(); call once after the last apply().
  void finish();

  // A received field of this name is not forwarded (removed or replaced).
  bool drops(std::string_view name) const;
  std::span<const http::Header> added() const { return fields_; }
  std::span<const std::string_view> dropped() const { return drop_; }
  bool empty() const { return drop_.empty() && pending_.empty(); }
  // Appends a field to added() after finish() (lb's own, e.g. the verified
  // client certificate); `field` must outlive the edits. Idempotent per name.
  void add_field(const http::Header& field) {
    for (const auto& f : fields_)
      if (f.name == field.name) return;
    fields_.push_back(field);
  }
  // Appends a field after the rules' ones (e.g. lb's Set-Cookie); `value`
  // is copied. Call before finish().
  void append(std::string_view name, std::string_view value);

 private:
  struct Pending {
    std::string_view name;  // as configured (points into the configuration)
    size_t offset = 0, length = 0;  // the value in values_
  };
  void drop_pending(std::string_view lower_name);

  std::vector<std::string_view> drop_;  // lower-cased
  std::vector<Pending> pending_;
  std::string values_;
  std::vector<http::Header> fields_;
};

}  // namespace lb
