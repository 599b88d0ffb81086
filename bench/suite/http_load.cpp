#include "bench/suite/http_load.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "relay/shm/cnc.hpp"

namespace relay::bench {

namespace {

struct Conn {
  int fd = -1;
  bool connected = false;
  std::string head;          // response headers being read
  std::uint64_t body_left = 0;
  bool in_body = false;
  std::uint64_t sent_ns = 0;
  std::size_t req_off = 0;   // bytes of the request written
};

int open_conn(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

HttpLoad http_load(std::uint16_t port, const std::string& path, std::size_t conns, double seconds,
                   std::uint64_t expect_len) {
  HttpLoad out;
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: stacks-relay-bench\r\n\r\n";
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> cs(conns);
  std::vector<double> lat;
  auto arm = [&](std::size_t i, std::uint32_t ev) {
    epoll_event e{};
    e.events = ev;
    e.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, cs[i].fd, &e);
  };
  auto start_request = [&](std::size_t i) {
    Conn& c = cs[i];
    c.head.clear();
    c.in_body = false;
    c.req_off = 0;
    c.sent_ns = shm::monotonic_ns();
    arm(i, EPOLLOUT);
  };
  auto reopen = [&](std::size_t i) {
    Conn& c = cs[i];
    if (c.fd >= 0) {
      ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
    }
    c = Conn{};
    c.fd = open_conn(port);
    if (c.fd < 0) return false;
    epoll_event e{};
    e.events = EPOLLOUT;
    e.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &e);
    c.sent_ns = shm::monotonic_ns();
    return true;
  };
  for (std::size_t i = 0; i < conns; ++i)
    if (!reopen(i)) ++out.errors;
  static thread_local char buf[1 << 16];
  const std::uint64_t t0 = shm::monotonic_ns();
  const auto end = t0 + static_cast<std::uint64_t>(seconds * 1e9);
  epoll_event evs[256];
  while (shm::monotonic_ns() < end) {
    const int n = ::epoll_wait(ep, evs, 256, 10);
    for (int k = 0; k < n; ++k) {
      const std::size_t i = evs[k].data.u64;
      Conn& c = cs[i];
      if (evs[k].events & (EPOLLERR | EPOLLHUP)) {
        ++out.errors;
        reopen(i);
        continue;
      }
      if (evs[k].events & EPOLLOUT) {
        const ssize_t w = ::send(c.fd, req.data() + c.req_off, req.size() - c.req_off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) {
          ++out.errors;
          reopen(i);
          continue;
        }
        if (w > 0) c.req_off += static_cast<std::size_t>(w);
        if (c.req_off == req.size()) arm(i, EPOLLIN);
        continue;
      }
      for (;;) {
        const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) {
          ++out.errors;
          reopen(i);
          break;
        }
        std::size_t off = 0;
        const auto got = static_cast<std::size_t>(r);
        if (!c.in_body) {
          c.head.append(buf, got);
          const auto eoh = c.head.find("\r\n\r\n");
          if (eoh == std::string::npos) {
            if (c.head.size() > 16384) {
              ++out.errors;
              reopen(i);
              break;
            }
            continue;
          }
          const bool ok = c.head.rfind("HTTP/1.1 200", 0) == 0;
          std::uint64_t len = 0;
          for (const char* key : {"Content-Length: ", "content-length: "})
            if (auto at = c.head.find(key); at != std::string::npos) len = std::strtoull(c.head.c_str() + at + std::strlen(key), nullptr, 10);
          if (!ok || len != expect_len) {
            ++out.errors;
            reopen(i);
            break;
          }
          const std::size_t head_len = eoh + 4;
          const std::size_t already = c.head.size() - head_len;
          c.in_body = true;
          c.body_left = len;
          off = got - already;  // the body bytes of this read start here
        }
        const std::uint64_t body = std::min<std::uint64_t>(c.body_left, got - off);
        c.body_left -= body;
        out.bytes += body;
        if (c.body_left == 0) {
          lat.push_back(static_cast<double>(shm::monotonic_ns() - c.sent_ns) / 1000.0);
          ++out.requests;
          start_request(i);
          break;
        }
      }
    }
  }
  out.seconds = static_cast<double>(shm::monotonic_ns() - t0) / 1e9;
  for (auto& c : cs)
    if (c.fd >= 0) ::close(c.fd);
  ::close(ep);
  out.latency = summarize(std::move(lat));
  return out;
}

}  // namespace relay::bench
