// tests/integration/script_server.cpp — see script_server.h.
#include "tests/integration/script_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace it {

ScriptServer::ScriptServer(Handler handler) : handler_(std::move(handler)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket");
  int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 512) != 0)
    throw std::runtime_error(std::string("bind/listen: ") + strerror(errno));
  socklen_t len = sizeof a;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

ScriptServer::~ScriptServer() {
  stop_ = true;
  acceptor_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);  // wakes handlers blocked in poll
  }
  for (auto& t : workers_) t.join();
  ::close(fd_);
}

void ScriptServer::accept_loop() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    int index = accepted_++;
    std::lock_guard<std::mutex> lock(mu_);
    open_fds_.push_back(c);
    workers_.emplace_back([this, c, index] {
      {
        Socket conn(c);
        handler_(conn, index);
        std::lock_guard<std::mutex> lock(mu_);
        std::erase(open_fds_, c);
        // ~Socket closes c only after it left open_fds_, so a shutdown never hits a reused fd.
      }
    });
  }
}

std::optional<std::string> read_request_head(Socket& conn, ms timeout) {
  return conn.recv_until("\r\n\r\n", timeout);
}

std::string request_target(const std::string& head) {
  size_t a = head.find(' ');
  if (a == std::string::npos) return {};
  size_t b = head.find(' ', a + 1);
  if (b == std::string::npos) return {};
  return head.substr(a + 1, b - a - 1);
}

}  // namespace it
