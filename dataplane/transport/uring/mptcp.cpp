#include "dataplane/transport/uring/mptcp.hpp"

#include <linux/mptcp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#ifndef SOL_MPTCP
#define SOL_MPTCP 284
#endif
#ifndef TCP_IS_MPTCP
#define TCP_IS_MPTCP 43  // SOL_TCP: 1 when the socket runs MPTCP (Linux 5.16)
#endif

namespace relay::dp {

std::string MptcpSupport::describe() const {
  if (!available) return "unavailable (" + why_not + "): plain TCP";
  std::string s = "available";
  if (!refused.empty()) {
    s += "; MPTCP sockets refuse";
    for (std::size_t i = 0; i < refused.size(); ++i) s += (i == 0 ? " " : ", ") + refused[i];
    if (!zerocopy) s += " (their sends are copied, not zero-copy)";
  }
  return s;
}

MptcpSupport probe_mptcp() {
  MptcpSupport m;
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
  if (fd < 0) {
    const int err = errno;
    std::string enabled;
    if (std::ifstream f("/proc/sys/net/mptcp/enabled"); f) std::getline(f, enabled);
    if (enabled == "0") m.why_not = "net.mptcp.enabled = 0; sysctl -w net.mptcp.enabled=1 turns it on";
    else if (err == EPROTONOSUPPORT || err == EINVAL) m.why_not = "this kernel has no MPTCP (CONFIG_MPTCP)";
    else m.why_not = std::string("socket(IPPROTO_MPTCP): ") + std::strerror(err);
    return m;
  }
  m.available = true;
  struct Probe {
    const char* name;
    int level, opt, value;
  };
  const Probe probes[] = {
      {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, 1},       {"SO_RCVLOWAT", SOL_SOCKET, SO_RCVLOWAT, 1024},
      {"SO_ZEROCOPY", SOL_SOCKET, SO_ZEROCOPY, 1},        {"TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT, 30000},
      {"TCP_QUICKACK", IPPROTO_TCP, TCP_QUICKACK, 1},     {"TCP_NOTSENT_LOWAT", IPPROTO_TCP, TCP_NOTSENT_LOWAT, 131072},
  };
  for (const Probe& p : probes) {
    if (::setsockopt(fd, p.level, p.opt, &p.value, sizeof p.value) != 0) m.refused.emplace_back(p.name);
    else if (p.opt == SO_ZEROCOPY && p.level == SOL_SOCKET) m.zerocopy = true;
  }
  ::close(fd);
  return m;
}

PathState path_state(int fd, bool asked) noexcept {
  PathState s;
  if (!asked || fd < 0) return s;
  int proto = 0;
  socklen_t len = sizeof proto;
  if (::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0) return s;
  if (proto != IPPROTO_MPTCP) {
    s.kind = PathState::Kind::kFallback;
    return s;
  }
  int is_mptcp = 0;
  len = sizeof is_mptcp;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_IS_MPTCP, &is_mptcp, &len) != 0 || is_mptcp == 0) {
    s.kind = PathState::Kind::kFallback;
    return s;
  }
  s.kind = PathState::Kind::kMptcp;
  // The subflows alive now: MPTCP_TCPINFO's header counts them (no per-subflow data
  // asked for). Older kernels: MPTCP_INFO's count of the path manager's subflows, which
  // leaves out the initial one.
  mptcp_subflow_data d{};
  d.size_subflow_data = sizeof d;
  len = sizeof d;
  if (::getsockopt(fd, SOL_MPTCP, MPTCP_TCPINFO, &d, &len) == 0) {
    s.subflows = static_cast<std::uint8_t>(d.num_subflows > 255 ? 255 : d.num_subflows);
    return s;
  }
  mptcp_info info{};
  len = sizeof info;
  s.subflows = ::getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &info, &len) == 0 ? static_cast<std::uint8_t>(info.mptcpi_subflows + 1) : 1;
  return s;
}

}  // namespace relay::dp
