// lb/core/sd_notify.h — the systemd notification protocol (sd_notify(3)),
// spoken directly: one AF_UNIX datagram per message to $NOTIFY_SOCKET.
//
// Why not libsystemd: the protocol is one sendto() of "KEY=value" lines, and
// linking libsystemd would add a run-time dependency (and its own threads'
// worth of code) to every install, systemd or not. Sends are non-blocking
// (MSG_DONTWAIT): the main loop never waits on the service manager; a
// message the manager cannot take at once is dropped and logged at debug.
#pragma once

#include <cstdint>
#include <string>

namespace lb {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET ("/path" or "@abstract"); without it every call is a no-op.
  SystemdNotifier();
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  bool enabled() const { return fd_ >= 0; }

  void ready() { send("READY=1"); }
  // RELOADING=1 with the CLOCK_MONOTONIC time, as Type=notify-reload expects.
  void reloading();
  void stopping() { send("STOPPING=1"); }
  void status(const std::string& text) { send("STATUS=" + text); }

 private:
  void send(const std::string& message);

  int fd_ = -1;
  std::string path_;  // sockaddr_un path bytes (leading '\0' for abstract)
};

}  // namespace lb
