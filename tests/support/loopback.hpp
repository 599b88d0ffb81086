// tests/support/loopback.hpp — plain blocking TCP clients (127.0.0.1 unless told) for tests that
// talk to a server (the io_uring transport, the HTTP endpoint) from outside it.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace relay::test {

// free_port: a loopback port nobody listens on right now.
inline std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// connect_tcp: a connected socket to `to`:port (IPv4; reads time out after 10 s), from
// the local address `from` when given.
inline int connect_tcp(const char* to, std::uint16_t port, const char* from = nullptr) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (from != nullptr) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    EXPECT_EQ(::inet_pton(AF_INET, from, &src.sin_addr), 1) << from;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src), 0) << "bind " << from;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  EXPECT_EQ(::inet_pton(AF_INET, to, &a.sin_addr), 1) << to;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << "connect to " << to << " port " << port;
  return fd;
}

// connect_loopback: a connected socket to 127.0.0.1:port, from another loopback address
// (`from`, e.g. "127.0.0.2") when given.
inline int connect_loopback(std::uint16_t port, const char* from = nullptr) { return connect_tcp("127.0.0.1", port, from); }

// http_exchange: send one request (which should ask for Connection: close) to `to`:port
// and return everything the server answers until it closes.
inline std::string http_exchange(std::uint16_t port, const std::string& request, const char* to = "127.0.0.1") {
  const int fd = connect_tcp(to, port);
  // (MSG_NOSIGNAL: a server that is not there fails the test, not the test process.)
  EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  std::string got;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return got;
}

}  // namespace relay::test
