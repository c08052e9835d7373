// conf/resolve.h — the answers to the host names a configuration names.
// conf/ only collects the names (prepare_*) and reads the answers
// (finish_load); lb/dns/host_lookups.h asks DNS for them, through c-ares and
// the file's "dns" settings: the start and lb --check wait for the answers,
// a reload waits on the main loop while it keeps serving.
#pragma once

#include <sys/socket.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace lb::conf {

// One host name's answer: an address (port 0) or the error text.
struct HostAnswer {
  sockaddr_storage addr{};
  socklen_t len = 0;  // 0 when `error` is set
  std::string error;  // e.g. "cannot resolve host \"x\": Name or service not known"
};
using HostAnswers = std::unordered_map<std::string, HostAnswer>;

}  // namespace lb::conf
