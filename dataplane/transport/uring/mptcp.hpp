// dataplane/transport/uring/mptcp.hpp — Multipath TCP as the running kernel offers it.
//
// A socket made with IPPROTO_MPTCP runs MPTCP when the peer does too, and plain TCP (a
// "fallback", invisible to the application) when the peer or a middlebox does not: stock
// peers cost nothing. What a kernel offers varies: MPTCP may be missing or switched off
// (net.mptcp.enabled = 0), and MPTCP sockets refuse some options plain TCP sockets take
// (kernel 6.18 refuses TCP_USER_TIMEOUT, TCP_QUICKACK and SO_ZEROCOPY; Debian 12's 6.1
// refuses more). So it is probed once, at start-up, and the transport uses what it found:
// plain TCP when MPTCP is unavailable, copying sends on MPTCP sockets without SO_ZEROCOPY.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/transport/transport.hpp"

namespace relay::dp {

struct MptcpSupport {
  bool available = false;  // MPTCP sockets can be made
  std::string why_not;     // when not: what the kernel said
  // Socket options (by name) an MPTCP socket refused: the ones the dataplane sets
  // (TCP_NODELAY, SO_RCVLOWAT, SO_ZEROCOPY for zero-copy sends) and the ones it might
  // want (TCP_USER_TIMEOUT, TCP_QUICKACK, TCP_NOTSENT_LOWAT).
  std::vector<std::string> refused;
  bool zerocopy = false;   // SO_ZEROCOPY taken: zero-copy sends work on MPTCP sockets

  // describe: one line for the log ("available; MPTCP sockets refuse ...", or why not).
  std::string describe() const;
};

// probe_mptcp: make an MPTCP socket and try each option on it. Reads
// /proc/sys/net/mptcp/enabled to explain a refusal: run it before a sandbox forbids that.
MptcpSupport probe_mptcp();

// path_state: what socket `fd` runs now. `asked`: it was made as an MPTCP socket, or
// accepted on an MPTCP listener. An MPTCP socket is kMptcp with its subflows, or
// kFallback when it runs as plain TCP; a listener hands a plain TCP peer a plain TCP
// socket, which is kFallback too when MPTCP was asked for, else kTcp.
PathState path_state(int fd, bool asked) noexcept;

}  // namespace relay::dp
