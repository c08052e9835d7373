// conf/resolve.cpp — concurrent host-name resolution (see resolve.h): a
// shared work index and up to kMaxConcurrentLookups threads, each taking the
// next name until none are left.
#include "conf/resolve.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#include "conf/values.h"

namespace lb::conf {

namespace {

HostAnswer lookup(const std::string& host) {
  HostAnswer answer;
  Address a;
  if (detail::lookup_host(host, a, answer.error)) {
    answer.addr = a.sockaddr;
    answer.len = a.sockaddr_len;
  }
  return answer;
}

}  // namespace

HostAnswers resolve_hosts(const std::vector<std::string>& hosts) {
  HostAnswers out;
  std::vector<std::string> unique;
  for (const auto& h : hosts)
    if (out.emplace(h, HostAnswer{}).second) unique.push_back(h);
  if (unique.empty()) return out;

  std::vector<HostAnswer> answers(unique.size());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < unique.size();) answers[i] = lookup(unique[i]);
  };
  std::vector<std::thread> threads;
  const std::size_t n = std::min(unique.size(), kMaxConcurrentLookups) - 1;  // this thread works too
  for (std::size_t i = 0; i < n; ++i) {
    try {
      threads.emplace_back(work);
    } catch (const std::exception&) {
      break;  // no more threads: the ones we have (and this one) share the rest
    }
  }
  work();
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < unique.size(); ++i) out[unique[i]] = std::move(answers[i]);
  return out;
}

}  // namespace lb::conf
