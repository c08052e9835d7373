// tests/integration/dns_fixture.cpp — see dns_fixture.h.
#include "tests/integration/dns_fixture.h"

#include <cstdio>
#include <stdexcept>

namespace it {

DnsServer::DnsServer(const json& zone) {
  set_zone(zone);
  write_file(dir_.file("queries.log"), "");
  child_ = Child({"/usr/bin/python3", "tests/integration/dns_server.py", dir_.file("zone.json"), dir_.file("queries.log")},
                 dir_.file("out"), dir_.file("err"));
  if (!wait_until([&] { return child_.out().find('\n') != std::string::npos || !child_.running(); }, 10s) ||
      !child_.running())
    throw std::runtime_error("dns_server.py did not start: " + child_.err());
  port_ = static_cast<uint16_t>(std::stoi(child_.out()));
}

void DnsServer::set_zone(const json& zone) {
  write_file(dir_.file("zone.tmp"), zone.dump());
  if (std::rename(dir_.file("zone.tmp").c_str(), dir_.file("zone.json").c_str()) != 0)
    throw std::runtime_error("cannot rename the zone file");
}

std::size_t DnsServer::queries(const std::string& name, const std::string& type) const {
  std::size_t n = 0;
  for (const auto& line : read_lines(dir_.file("queries.log"))) n += line == name + " " + type;
  return n;
}

json dns_settings(const DnsServer& server, const std::string& timeout) {
  return {{"resolvers", {server.address()}}, {"timeout", timeout}};
}

}  // namespace it
