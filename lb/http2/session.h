// lb/http2/session.h — placeholder, replaced by the HTTP/2 codec.
#pragma once
#include <cstddef>
namespace lb::http2 {
class Session {
 public:
  void on_input(const char*, size_t) {}
  void on_output_drained() {}
  void on_idle_timeout() {}
  void on_stopping() {}
  void on_connection_closing() {}
};
}  // namespace lb::http2
