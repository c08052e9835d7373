// conf/runtime_server.h — a server added at run time (SPEC 14: POST
// /pools/{pool}/servers, and the state file's entries) read with the same
// rules as a "servers" entry of the configuration file.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "conf/config.h"

namespace lb::conf {

// The server `body` describes, or nullopt with `error` ("/weight: weight 0 is
// not allowed …"). The address must be numeric (IP:port, [IPv6]:port) or a
// unix: path: a host name would need a lookup, and runtime changes are
// applied on the main loop without waiting for DNS.
std::optional<ServerConfig> parse_runtime_server(const nlohmann::json& body, std::string& error);

// The entry as the state file and GET /config write it (the keys
// parse_runtime_server reads).
nlohmann::json runtime_server_json(const ServerConfig& s);

}  // namespace lb::conf
