// lb/http1/request_parser_pool.h — a worker's spare HTTP request parsers.
//
// A parser (llhttp state, two head slots and their buffers: about 1 KiB plus
// the buffers' capacity) is needed only while a request is being read and
// answered. An idle keep-alive connection gives its parser back here and
// takes one again when its next request starts, so 10,000 idle connections
// hold 10,000 sessions but only as many parsers as there are requests in
// flight. Pooled parsers keep their warm buffers, so the steady path does not
// allocate. Worker thread only.
#pragma once

#include <memory>
#include <vector>

#include "lb/http1/http_parser.h"

namespace lb {

class RequestParserPool {
 public:
  std::unique_ptr<http::RequestParser> acquire(http::RequestHandler& handler, const http::Limits& limits) {
    if (free_.empty()) return std::make_unique<http::RequestParser>(handler, limits);
    std::unique_ptr<http::RequestParser> p = std::move(free_.back());
    free_.pop_back();
    p->reset(handler, limits);
    return p;
  }

  void release(std::unique_ptr<http::RequestParser> p) {
    // A parser that grew for an unusually large head is freed rather than
    // kept, so the pool never hoards the worst case.
    if (!p || free_.size() >= kMaxFree || p->retained_bytes() > kMaxRetainedBytes) return;
    free_.push_back(std::move(p));
  }

  size_t idle() const noexcept { return free_.size(); }

 private:
  static constexpr size_t kMaxFree = 1024;
  static constexpr size_t kMaxRetainedBytes = 16 * 1024;
  std::vector<std::unique_ptr<http::RequestParser>> free_;
};

}  // namespace lb
