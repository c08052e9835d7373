// conf/runtime_server.cpp — see conf/runtime_server.h.
#include "conf/runtime_server.h"

#include "conf/schema.h"
#include "conf/values.h"

namespace lb::conf {

namespace {

// Refuses every host name: runtime servers are numeric.
class NumericOnly final : public detail::HostResolver {
 public:
  bool resolve(const std::string& host, Address&, std::string& err) override {
    err = "\"" + host + "\" is a host name; a server added at run time needs an IP address";
    return false;
  }
};

}  // namespace

std::optional<ServerConfig> parse_runtime_server(const nlohmann::json& body, std::string& error) {
  detail::Ctx ctx("request body", "/");
  NumericOnly numeric;
  ctx.set_resolver(&numeric);
  ServerConfig s;
  detail::load_server(ctx, body, detail::Pointer{}, s);
  std::vector<std::string> errors = ctx.take_errors();
  if (!errors.empty()) {
    error = errors.front();
    // "request body: /weight: …" → "/weight: …"
    if (error.starts_with("request body: ")) error.erase(0, 14);
    return std::nullopt;
  }
  return s;
}

nlohmann::json runtime_server_json(const ServerConfig& s) {
  return {{"address", s.address.text},
          {"weight", s.weight},
          {"backup", s.backup},
          {"max_connections", s.max_connections},
          {"state", to_string(s.state)}};
}

}  // namespace lb::conf
