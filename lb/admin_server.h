// lb/admin_server.h — the admin endpoint's sockets: one listening socket on
// `admin.listen` and its HTTP/1.1 keep-alive connections, served on the main
// thread's libuv loop. Requests are parsed with lb::http::RequestParser
// (strict, the same checks as the data path), buffered whole (head ≤ 16 KiB,
// body ≤ 64 KiB) and answered by lb::AdminApi (lb/admin_api.h), one at a time
// and in order, so pipelined requests get their answers in sequence.
//
// Limits: at most kMaxConnections connections (more are accepted and closed);
// a request must arrive completely within kIdleTimeoutMs of the connection
// becoming idle (accept or previous response), else the connection is closed;
// reading pauses while more than kMaxQueuedBytes of answers wait to be sent.
//
// Ownership: each connection (and the listener) is a heap object owned by its
// libuv handles and freed in their close callbacks; AdminServer only tracks
// them. stop() (or the destructor) closes the listener and every connection;
// close callbacks that run after the AdminServer is gone never touch it.
// Threading: every method runs on the loop's thread (the main thread).
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "conf/config.h"
#include "lb/admin_api.h"

namespace lb {

class Process;

class AdminServer {
 public:
  static constexpr size_t kMaxConnections = 128;
  static constexpr uint64_t kIdleTimeoutMs = 60'000;
  static constexpr size_t kMaxQueuedBytes = 1 << 20;
  static constexpr uint64_t kMaxHeadBytes = 16 * 1024;
  static constexpr uint64_t kMaxBodyBytes = 64 * 1024;

  AdminServer(uv_loop_t* loop, Process& process);
  ~AdminServer();  // stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens on cfg.listen and takes cfg.token. When already
  // listening on another address, the new socket replaces the old one only if
  // it binds (existing connections stay). Returns the error text on failure,
  // e.g. "admin: bind 127.0.0.1:9901: address already in use".
  std::optional<std::string> start(const conf::AdminConfig& cfg);
  // After a reload: stop when the section is gone, rebind when the address
  // changed, else just take the (possibly new) token.
  std::optional<std::string> reconfigure(const std::optional<conf::AdminConfig>& cfg);
  // Closes the listener and every connection (idempotent).
  void stop();
  void set_token(std::optional<std::string> token) { api_.set_token(std::move(token)); }

  bool listening() const { return listener_ != nullptr; }
  uint16_t port() const;  // the bound port (0 when not listening)
  size_t connections() const { return connections_.size(); }

 private:
  struct Listener;
  struct Connection;
  friend struct Connection;

  static void on_connection(uv_stream_t* server, int status);
  void close_listener();

  uv_loop_t* loop_;
  AdminApi api_;
  Listener* listener_ = nullptr;    // owned by its handle
  std::string listen_text_;         // address currently bound
  std::unordered_set<Connection*> connections_;  // each owned by its handles
};

}  // namespace lb
