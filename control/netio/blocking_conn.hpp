// control/netio/blocking_conn.hpp — a TCP connection for the control plane's helper
// threads that talk line protocols to local daemons (Tor's control port, an I2P SAM
// bridge): connect, send, and read with a deadline while watching a stop flag, so a
// daemon that goes silent or away never holds a thread past shutdown.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "relay/net/peer_address.hpp"

namespace relay::netio {

class BlockingConn {
 public:
  BlockingConn() = default;
  ~BlockingConn();
  BlockingConn(const BlockingConn&) = delete;
  BlockingConn& operator=(const BlockingConn&) = delete;

  // connect: to an IP address and port; false with `why` set.
  bool connect(const net::PeerAddress& to, std::string& why);
  bool send_all(std::string_view bytes);
  // read_some: append what arrives to `into`, waiting at most `ms` (and no longer than
  // it takes `stop` to turn true, checked every 200 ms). 1: bytes came; 0: nothing in
  // time (or stop); -1: the connection closed or failed.
  int read_some(std::string& into, std::uint32_t ms, const std::function<bool()>& stop);
  // read_line: the next line (without its end) from `buf` topped up by read_some, within
  // `ms`; nullopt on a timeout, stop, a closed connection, or a line over `max` bytes.
  std::optional<std::string> read_line(std::string& buf, std::uint32_t ms, const std::function<bool()>& stop,
                                       std::size_t max = 16 * 1024);
  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace relay::netio
