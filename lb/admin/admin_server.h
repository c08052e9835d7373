// lb/admin/admin_server.h — the admin endpoint's sockets: one listening socket on
// `admin.listen` and its HTTP/1.1 keep-alive connections, served on the main
// thread's libuv loop. Requests are parsed with lb::http::RequestParser
// (strict, the same checks as the data path), buffered whole (head ≤ 16 KiB,
// body ≤ 64 KiB) and answered by lb::AdminApi (lb/admin/admin_api.h), one at a time
// and in order, so pipelined requests get their answers in sequence.
//
// Limits, so that an attack cannot take the liveness probe down (issue 11):
//   - a request (head and body) must arrive completely within
//     kRequestTimeoutMs (5 s) of the accept, or of its first byte on a
//     keep-alive connection; an idle keep-alive connection is closed after
//     kIdleTimeoutMs; a slowloris is cut off after 5 s;
//   - at most kMaxConnections connections: a new one closes the connection
//     that was accepted or answered least recently (a partial-head holder has
//     never been answered), so a fresh probe always gets in;
//   - the listening socket has a kBacklog accept queue and is served by an
//     Acceptor (lb/io/acceptor.h) holding kReserveFds spare fds, so the admin
//     still accepts while the workers have used up RLIMIT_NOFILE;
//   - reading pauses while more than kMaxQueuedBytes of answers wait to be sent.
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

#include "conf/config.h"
#include "lb/io/acceptor.h"
#include "lb/admin/admin_api.h"

namespace lb {

class Process;

class AdminServer {
 public:
  static constexpr size_t kMaxConnections = 256;
  static constexpr uint64_t kRequestTimeoutMs = 5'000;
  static constexpr uint64_t kIdleTimeoutMs = 60'000;
  static constexpr int kBacklog = 4096;
  static constexpr uint32_t kReserveFds = 4;
  static constexpr uint64_t kMaxBackoffMs = 50;  // accept retry pace while out of fds
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

  bool listening() const { return acceptor_ != nullptr; }
  uint16_t port() const;  // the bound port (0 when not listening)
  size_t connections() const { return count_; }

 private:
  struct Connection;
  friend struct Connection;

  void on_accepted(int fd);
  void close_listener();
  void link(Connection* c);    // as the newest
  void unlink(Connection* c);
  void touch(Connection* c);   // just answered: now the newest
  void start_ticker();

  uv_loop_t* loop_;
  AdminApi api_;
  Acceptor* acceptor_ = nullptr;    // owns itself (see Acceptor::close)
  std::string listen_text_;         // address currently bound
  // Every open connection (each owned by its handles), least recently
  // accepted or answered first.
  Connection* oldest_ = nullptr;
  Connection* newest_ = nullptr;
  size_t count_ = 0;
  uv_timer_t* ticker_ = nullptr;  // AdminApi::tick every StatsHistory::kTickMs; owned by its handle
};

}  // namespace lb
