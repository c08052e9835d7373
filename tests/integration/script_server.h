// tests/integration/script_server.h — a TCP server whose behaviour the test
// writes as code: each accepted connection is handed to a handler on its own
// thread. Used to play servers that misbehave in ways the real backend
// cannot (stray bytes after a response, closing every connection after one
// answer, a 101 nobody asked for, reading a body very slowly) and to record
// exactly what lb sent.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace it {

class ScriptServer {
 public:
  // `index` counts accepted connections from 0.
  using Handler = std::function<void(Socket& conn, int index)>;

  explicit ScriptServer(Handler handler);
  ~ScriptServer();  // stops accepting, shuts every open connection down, joins
  ScriptServer(const ScriptServer&) = delete;
  ScriptServer& operator=(const ScriptServer&) = delete;

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  bool stopping() const { return stop_.load(); }

 private:
  void accept_loop();

  Handler handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<int> open_fds_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

// Reads one request head ("...\r\n\r\n") from `conn`; nullopt on EOF/timeout.
std::optional<std::string> read_request_head(Socket& conn, ms timeout = 5s);
// The request-target of a request head ("GET /x HTTP/1.1" → "/x").
std::string request_target(const std::string& head);

}  // namespace it
