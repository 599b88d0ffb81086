// The DPDK backend against the Linux TCP stack (issue 19): the transport (lwIP on
// net_af_packet or net_af_xdp, --no-huge) on one end of a veth pair in a namespace of its
// own, kernel sockets on the other end in a second namespace. One process runs every case
// (DPDK's EAL is set up once per process); each case makes its own transport on a fresh
// veth pair. Needs root (namespaces, raw sockets); skipped, saying so, without it.
//
// The kernel end has its TX checksum offload off: a veth hands partial checksums to the
// other end, which a user-space stack must reject (MACHINE.md P2.7).
#include "dataplane/transport/dpdk/dpdk_transport.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <thread>

#include "tests/support/launch/netns.hpp"

namespace relay::dp {
namespace {

using Clock = std::chrono::steady_clock;
using launch::Namespace;
using launch::run_quiet;

constexpr const char* kRelayIp = "198.18.20.2";
constexpr const char* kKernelIp = "198.18.20.1";

std::uint32_t ip4(const char* s) {
  in_addr a{};
  ::inet_pton(AF_INET, s, &a);
  return a.s_addr;
}

net::PeerAddress peer(const char* ip, std::uint16_t port) {
  std::string err;
  return *net::PeerAddress::parse(std::string(ip) + ":" + std::to_string(port), err);
}

// One veth pair: `d` holds the DPDK end (no address: the kernel there stays out of the
// way), `k` the kernel end with kKernelIp.
struct Link {
  Namespace d{"dpd" + std::to_string(serial())}, k{"dpk" + std::to_string(serial())};
  std::string dev = "vd" + std::to_string(::getpid() % 100000) + "x" + std::to_string(serial());
  std::string kdev = "vk" + std::to_string(::getpid() % 100000) + "x" + std::to_string(serial());
  bool ok = false;
  Link() {
    ++serial();
    ok = d.ok && k.ok &&
         run_quiet("ip link add " + dev + " netns " + d.name + " type veth peer name " + kdev + " netns " + k.name) &&
         d.sh("link set " + dev + " up") && k.sh("addr add " + std::string(kKernelIp) + "/24 dev " + kdev) &&
         k.sh("link set " + kdev + " up") &&
         run_quiet("ip netns exec " + k.name + " ethtool -K " + kdev + " tx off tso off gso off gro off") &&
         run_quiet("ip netns exec " + d.name + " ethtool -K " + dev + " tx off tso off gso off gro off");
  }
  static int& serial() {
    static int n = 0;
    return n;
  }
};

DpdkConfig base_config(const std::string& port) {
  DpdkConfig c;
  c.eal_args = {"--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level=*:warning"};
  c.port = port;
  c.ipv4 = ip4(kRelayIp);
  c.prefix_len = 24;
  c.max_conns = 512;
  c.mbufs = 32768;
  c.idle_spin_us = 50;
  c.max_queued_sends = 8192;  // the echo sends each received frame back as it is
  return c;
}

// A kernel socket made inside the kernel namespace (it stays there).
int kernel_socket(const Namespace& k) {
  int fd = -1;
  k.in([&] { fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
  return fd;
}

sockaddr_in v4addr(const char* ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 131 + seed) ^ (i >> 9));
  return b;
}

// The relay side under test, with what it saw.
struct Side {
  std::unique_ptr<DpdkTransport> t;
  std::map<ConnId, Bytes> got;
  std::map<ConnId, int> closed;     // conn → err
  std::map<ConnId, int> failed;     // connect failures
  std::vector<ConnId> accepted, connected;
  std::uint64_t sent = 0;
  std::uint64_t send_refused = 0;
  bool echo = false;                // send every byte received back
  bool hold_all = false;            // hold instead of release
  std::vector<Event> held;

  void on(const Event& e) {
    switch (e.kind) {
      case EventKind::kAccepted: accepted.push_back(e.conn); break;
      case EventKind::kConnected: connected.push_back(e.conn); break;
      case EventKind::kConnectFailed: failed[e.conn] = e.err; break;
      case EventKind::kClosed: closed[e.conn] = e.err; break;
      case EventKind::kSent: ++sent; break;
      case EventKind::kData:
        if (hold_all) {
          t->hold(e, 0);
          held.push_back(e);
          break;
        }
        got[e.conn].insert(got[e.conn].end(), e.data.begin(), e.data.end());
        if (echo) {
          SharedBuf* b = t->alloc(e.data.size());
          std::memcpy(b->fill().data(), e.data.data(), e.data.size());
          if (!t->send(e.conn, b, 0).ok()) ++send_refused;
          b->unref();
        }
        t->release(e);
        break;
    }
  }
  // run: poll (and `also`, e.g. kernel-side I/O) until `done` or `secs` pass.
  bool run(const std::function<bool()>& done, int secs = 10, const std::function<void()>& also = {}) {
    const auto deadline = Clock::now() + std::chrono::seconds(secs);
    Event evs[64];
    while (!done()) {
      if (Clock::now() > deadline) return false;
      const std::size_t n = t->poll(evs, 1);
      for (std::size_t i = 0; i < n; ++i) on(evs[i]);
      if (also) also();
    }
    return true;
  }
  Status send(ConnId c, const Bytes& b) {
    SharedBuf* s = t->alloc(b.size());
    std::memcpy(s->fill().data(), b.data(), b.size());
    Status r = t->send(c, s, 0);
    s->unref();
    return r;
  }
};

class DpdkTcp : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces and raw sockets";
    link_ = std::make_unique<Link>();
    ASSERT_TRUE(link_->ok) << "could not set up the veth pair and namespaces";
    ASSERT_TRUE(inside_.enter(link_->d));  // the device's socket is made in the DPDK namespace
    auto t = DpdkTransport::create(base_config(std::string(GetParam()) + "0,iface=" + link_->dev));
    ASSERT_TRUE(t.ok()) << t.error().reason << " (" << std::strerror(static_cast<int>(t.error().offset)) << ")";
    s_.t = std::move(*t);
    auto port = s_.t->listen(0);
    ASSERT_TRUE(port.ok());
    port_ = *port;
  }
  void TearDown() override {
    s_.t.reset();
    link_.reset();
  }
  // kernel_connect: a kernel client to the relay's listener, connected (non-blocking
  // connect driven while the transport polls).
  int kernel_connect() {
    const int fd = kernel_socket(link_->k);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_nonblocking(fd);
    const sockaddr_in a = v4addr(kRelayIp, port_);
    ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    bool up = s_.run([&] {
      pollfd p{fd, POLLOUT, 0};
      return ::poll(&p, 1, 0) == 1;
    });
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    EXPECT_TRUE(up && err == 0) << std::strerror(err);
    return fd;
  }
  static void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

  std::unique_ptr<Link> link_;
  launch::InsideNamespace inside_;
  Side s_;
  std::uint16_t port_ = 0;
};

// ARP and ICMP for the relay's address are answered by the stack on the DPDK port.
TEST_P(DpdkTcp, AnswersArpAndPing) {
  bool done = false;
  int rc = -1;
  std::thread ping([&] {
    rc = std::system(("ip netns exec " + link_->k.name + " ping -c 3 -i 0.2 -W 2 " + kRelayIp + " >/dev/null 2>&1").c_str());
    done = true;
  });
  s_.run([&] { return done; }, 15);
  ping.join();
  const DpdkStats st = s_.t->stats();
  EXPECT_EQ(rc, 0) << "ping from the kernel side got no answer; " << s_.t->describe() << ": rx " << st.rx_packets
                   << " tx " << st.tx_packets << " rx dropped " << st.rx_dropped << " tx dropped " << st.tx_dropped
                   << " ip drops " << st.ip_drops;
  EXPECT_GE(s_.t->stats().icmp_echo_answered, 3u);
}

// A kernel client connects; 1 MiB each way (past the 64 KiB of a first window, so
// window scaling is in play), echoed byte for byte.
TEST_P(DpdkTcp, KernelClientBulkBothWays) {
  s_.echo = true;
  const int fd = kernel_connect();
  const DpdkStats st = s_.t->stats();
  ASSERT_TRUE(s_.run([&] { return !s_.accepted.empty(); })) << "rx " << st.rx_packets << " tx " << st.tx_packets
      << " tcp drops " << st.tcp_drops << " checksum errors " << st.tcp_checksum_errors << " ip drops " << st.ip_drops;
  const Bytes out = pattern(1 << 20, 7);
  Bytes back;
  std::size_t off = 0;
  const bool ok = s_.run([&] { return back.size() == out.size(); }, 20, [&] {
    if (off < out.size()) {
      const ssize_t w = ::send(fd, out.data() + off, out.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) off += static_cast<std::size_t>(w);
    }
    std::uint8_t buf[65536];
    const ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) back.insert(back.end(), buf, buf + r);
  });
  EXPECT_TRUE(ok) << "echoed " << back.size() << " of " << out.size();
  EXPECT_EQ(s_.send_refused, 0u);
  EXPECT_EQ(back, out);
  tcp_info ti{};
  socklen_t len = sizeof ti;
  ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
  EXPECT_GT(ti.tcpi_snd_wscale, 0) << "the relay's SYN-ACK offered no window scaling";
  ::close(fd);
  EXPECT_TRUE(s_.run([&] { return s_.closed.count(s_.accepted[0]) == 1; }));
  EXPECT_EQ(s_.closed[s_.accepted[0]], 0);
}

// The relay dials a kernel listener and sends 2 MiB (a block) from one shared buffer;
// the kernel reads every byte, then closes; the relay sees an orderly close.
TEST_P(DpdkTcp, RelayDialsAndSendsABlock) {
  const int lfd = kernel_socket(link_->k);
  const int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = v4addr(kKernelIp, 0);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lfd, 16), 0);
  socklen_t alen = sizeof a;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen);
  set_nonblocking(lfd);
  auto c = s_.t->connect(peer(kKernelIp, ntohs(a.sin_port)));
  ASSERT_TRUE(c.ok()) << c.error().reason << ": " << std::strerror(static_cast<int>(c.error().offset));
  ASSERT_TRUE(s_.run([&] { return !s_.connected.empty(); }));
  EXPECT_EQ(s_.t->remote(*c), peer(kKernelIp, ntohs(a.sin_port)));
  const Bytes block = pattern(2 << 20, 3);
  ASSERT_TRUE(s_.send(*c, block).ok());
  int fd = -1;
  Bytes in;
  const bool ok = s_.run([&] { return in.size() == block.size() && s_.sent == 1; }, 20, [&] {
    if (fd < 0) fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) return;
    std::uint8_t buf[65536];
    const ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) in.insert(in.end(), buf, buf + r);
  });
  EXPECT_TRUE(ok) << "kernel got " << in.size() << " of " << block.size() << ", kSent " << s_.sent;
  EXPECT_EQ(in, block);
  ::close(fd);
  EXPECT_TRUE(s_.run([&] { return s_.closed.count(*c) == 1; }));
  EXPECT_EQ(s_.closed[*c], 0);
  ::close(lfd);
}

// A connection to a port nobody listens on fails with ECONNREFUSED (the kernel's RST).
TEST_P(DpdkTcp, RefusedConnectFails) {
  auto c = s_.t->connect(peer(kKernelIp, 9));
  ASSERT_TRUE(c.ok()) << c.error().reason << ": " << std::strerror(static_cast<int>(c.error().offset));
  ASSERT_TRUE(s_.run([&] { return s_.failed.count(*c) == 1; }));
  EXPECT_EQ(s_.failed[*c], ECONNREFUSED);
}

INSTANTIATE_TEST_SUITE_P(Vdev, DpdkTcp, ::testing::Values("net_af_packet", "net_af_xdp"),
                         [](const auto& p) { return std::string(p.param).substr(4); });

}  // namespace
}  // namespace relay::dp
