#include "control/netio/blocking_conn.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace relay::netio {

BlockingConn::~BlockingConn() {
  if (fd_ >= 0) ::close(fd_);
}

bool BlockingConn::connect(const net::PeerAddress& to, std::string& why) {
  const auto sa = net::to_sockaddr(to);
  if (!sa) {
    why = "not an IP address: " + to.to_string();
    return false;
  }
  fd_ = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    why = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  int zero = 0;
  ::setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&*sa), sizeof *sa) != 0) {
    why = std::string("cannot connect: ") + std::strerror(errno);
    return false;
  }
  return true;
}

bool BlockingConn::send_all(std::string_view bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

int BlockingConn::read_some(std::string& into, std::uint32_t ms, const std::function<bool()>& stop) {
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    if (stop && stop()) return 0;
    const auto spent = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
    if (spent >= ms) return 0;
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<std::uint64_t>(ms - spent, 200)));
    if (ready <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return -1;
    into.append(buf, static_cast<std::size_t>(n));
    return 1;
  }
}

std::optional<std::string> BlockingConn::read_line(std::string& buf, std::uint32_t ms, const std::function<bool()>& stop,
                                                    std::size_t max) {
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    if (const std::size_t nl = buf.find('\n'); nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    if (buf.size() > max) return std::nullopt;
    const auto spent = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
    if (spent >= ms || read_some(buf, static_cast<std::uint32_t>(ms - spent), stop) != 1) return std::nullopt;
  }
}

}  // namespace relay::netio
