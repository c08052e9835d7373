// lb/dns/host_lookups.cpp — see host_lookups.h.
#include "lb/dns/host_lookups.h"

namespace lb::dns {

HostLookups::HostLookups(uv_loop_t* loop, const conf::DnsConfig& settings, std::vector<std::string> hosts, Done done)
    : resolver_(loop, settings), done_(std::move(done)) {
  for (const auto& h : hosts)
    if (answers_.emplace(h, conf::HostAnswer{}).second) ++outstanding_;
  for (auto& [host, answer] : answers_) {
    const std::string name = host;
    lookups_.push_back(resolver_.lookup_host(name, [this, name](Answer a) { answered(name, a); }));
  }
}

void HostLookups::answered(const std::string& host, const Answer& answer) {
  conf::HostAnswer& out = answers_[host];
  if (answer.result == Result::ok) {
    out.addr = answer.addresses.front().addr;
    out.len = answer.addresses.front().len;
  } else {
    out.error = "cannot resolve host \"" + host + "\": " + answer.error;
  }
  if (--outstanding_ == 0) done_(std::move(answers_));  // may destroy this
}

conf::HostAnswers resolve_hosts_blocking(const std::vector<std::string>& hosts, const conf::DnsConfig& settings) {
  conf::HostAnswers result;
  if (hosts.empty()) return result;
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    // c-ares keeps its sockets open (polled) after the answers: stop the loop.
    HostLookups lookups(&loop, settings, hosts, [&](conf::HostAnswers answers) {
      result = std::move(answers);
      uv_stop(&loop);
    });
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // the resolver's handles close
  uv_loop_close(&loop);
  return result;
}

}  // namespace lb::dns
