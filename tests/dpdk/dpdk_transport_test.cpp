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

#include <atomic>
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

// KernelEnd: a kernel socket's side of a bulk exchange, non-blocking, one step.
struct KernelEnd {
  int fd = -1;
  const Bytes* out = nullptr;
  std::size_t off = 0;
  Bytes in;
  bool eof = false;
  int err = 0;
  void step() {
    if (fd < 0) return;
    if (out != nullptr && off < out->size()) {
      const ssize_t w = ::send(fd, out->data() + off, out->size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) off += static_cast<std::size_t>(w);
    }
    std::uint8_t buf[65536];
    for (int i = 0; i < 4 && !eof; ++i) {
      const ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) in.insert(in.end(), buf, buf + r);
      else if (r == 0) eof = true;
      else {
        if (errno != EAGAIN) err = errno;
        break;
      }
    }
  }
};

// The relay side under test, with what it saw.
struct Side {
  std::unique_ptr<DpdkTransport> t;
  std::map<ConnId, Bytes> got;
  std::map<ConnId, int> closed;     // conn → err
  std::map<ConnId, int> failed;     // connect failures
  std::vector<ConnId> accepted, connected;
  std::uint64_t sent = 0;
  std::uint64_t send_refused = 0;
  std::string first_refusal;
  bool echo = false;                // send every byte received back
  bool hold_all = false;            // hold instead of release
  std::vector<Event> held;

  std::string trace;
  void on(const Event& e) {
    if (trace.size() < 4000 && e.kind != EventKind::kData && e.kind != EventKind::kSent)
      trace += std::to_string(static_cast<int>(e.kind)) + "@" + std::to_string(e.conn) + "/" + std::to_string(got[e.conn].size()) + " ";
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
          if (auto r = t->send(e.conn, b, 0); !r.ok()) {
            if (send_refused++ == 0) first_refusal = r.error().reason;
          }
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
    DpdkConfig cfg = base_config(std::string(GetParam()) + "0,iface=" + link_->dev);
    tune(cfg);
    auto t = DpdkTransport::create(cfg);
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
  // tune: a case's own transport settings (an AF_XDP queue is not set up twice in one
  // process, so each case gets its transport once, made as it needs).
  virtual void tune(DpdkConfig&) {}
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
  // kernel_peers: `n` non-blocking kernel clients of the relay's listener, driven until
  // the relay accepted them all (or 10 s passed).
  std::vector<KernelEnd> kernel_peers(int n) {
    std::vector<KernelEnd> ks(static_cast<std::size_t>(n));
    for (auto& k : ks) {
      k.fd = kernel_socket(link_->k);
      set_nonblocking(k.fd);
      const sockaddr_in a = v4addr(kRelayIp, port_);
      ::connect(k.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    }
    (void)s_.run([&] { return s_.accepted.size() >= ks.size(); }, 10, [&] {
      for (auto& k : ks) k.step();
    });
    return ks;
  }

  std::unique_ptr<Link> link_;
  launch::InsideNamespace inside_;
  Side s_;
  std::uint16_t port_ = 0;
};

// ARP and ICMP for the relay's address are answered by the stack on the DPDK port.
// Between the pings the loop idles: its passes that found nothing are counted
// (idle_poll_ns), never more than the time that passed.
TEST_P(DpdkTcp, AnswersArpAndPing) {
  bool done = false;
  int rc = -1;
  const std::uint64_t idle0 = s_.t->stats().idle_poll_ns;
  const auto t0 = Clock::now();
  std::thread ping([&] {
    rc = std::system(("ip netns exec " + link_->k.name + " ping -c 3 -i 0.2 -W 2 " + kRelayIp + " >/dev/null 2>&1").c_str());
    done = true;
  });
  s_.run([&] { return done; }, 15);
  ping.join();
  const auto elapsed_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  const DpdkStats st = s_.t->stats();
  EXPECT_GT(st.idle_poll_ns, idle0);
  EXPECT_LT(st.idle_poll_ns - idle0, elapsed_ns);
  EXPECT_EQ(rc, 0) << "ping from the kernel side got no answer; " << s_.t->describe() << ": rx " << st.rx_packets
                   << " tx " << st.tx_packets << " rx dropped " << st.rx_dropped << " tx dropped " << st.tx_dropped
                   << " ip drops " << st.ip_drops;
  EXPECT_GE(s_.t->stats().icmp_echo_answered, 3u);
}

// The host keeps its own address on the relay's port: the kernel there owns
// 198.18.20.3 (ping and a TCP server answer from the kernel) while the relay serves
// 198.18.20.2 beside it. On AF_XDP the relay's XDP program sends only the relay's
// frames to DPDK (the driver's own program would take every frame of the queue): the
// host's traffic never reaches the relay's port at all.
TEST_P(DpdkTcp, HostKeepsItsOwnAddressOnTheSamePort) {
  ASSERT_TRUE(link_->d.sh("addr add 198.18.20.3/24 dev " + link_->dev));
  // A kernel server on the host's address (in the DPDK side's namespace).
  int lfd = -1;
  link_->d.in([&] {
    lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in a = v4addr("198.18.20.3", 7777);
    const int one = 1;
    ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(lfd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 4) != 0) {
      ::close(lfd);
      lfd = -1;
    }
  });
  ASSERT_GE(lfd, 0);
  set_nonblocking(lfd);
  const std::uint64_t rx_before = s_.t->stats().rx_packets;
  bool done = false;
  int rc = -1;
  std::thread ping([&] {
    rc = std::system(("ip netns exec " + link_->k.name + " ping -c 20 -i 0.05 -W 2 198.18.20.3 >/dev/null 2>&1").c_str());
    done = true;
  });
  s_.run([&] { return done; }, 15);
  ping.join();
  EXPECT_EQ(rc, 0) << "the host's own address did not answer ping";
  // TCP to the host, and to the relay, side by side.
  const int hfd = kernel_socket(link_->k);
  const sockaddr_in ha = v4addr("198.18.20.3", 7777);
  set_nonblocking(hfd);
  ::connect(hfd, reinterpret_cast<const sockaddr*>(&ha), sizeof ha);
  int served = -1;
  EXPECT_TRUE(s_.run([&] { return (served = ::accept(lfd, nullptr, nullptr)) >= 0; }, 10)) << "the host's TCP server got nothing";
  const std::uint64_t rx_host = s_.t->stats().rx_packets - rx_before;
  if (std::string(GetParam()) == "net_af_xdp") {
    // 20 pings and a TCP handshake for the host: none of it came to the relay's port.
    EXPECT_LE(rx_host, 2u) << "the host's frames reached the relay's AF_XDP socket";
    EXPECT_NE(s_.t->describe().find("XDP steers only this address"), std::string::npos) << s_.t->describe();
  } else {
    EXPECT_GE(rx_host, 20u);  // af_packet sees every frame (and lwIP drops the host's)
  }
  s_.echo = true;
  KernelEnd k;
  k.fd = kernel_connect();
  const Bytes out = pattern(64 << 10, 3);
  k.out = &out;
  EXPECT_TRUE(s_.run([&] { return k.in.size() == out.size(); }, 10, [&] { k.step(); }));
  EXPECT_TRUE(k.in == out);
  if (served >= 0) ::close(served);
  ::close(hfd);
  ::close(lfd);
  ::close(k.fd);
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
// An accepted connection's retransmission timer follows the round trip measured in its
// handshake at once (a veth: under a millisecond), and stays there with data both ways.
// lwIP's own start (an RTT variance of 3 s, a quarter off per round trip) left it at
// 2.3 s when accepted, and above a second for the first handful of round trips.
TEST_P(DpdkTcp, RetransmissionTimerFollowsTheRoundTripFromTheStart) {
  s_.echo = true;
  KernelEnd k;
  k.fd = kernel_connect();
  ASSERT_TRUE(s_.run([&] { return !s_.accepted.empty(); }));
  const ConnId c = s_.accepted[0];
  EXPECT_GT(s_.t->rto_ms(c), 0u);
  EXPECT_LE(s_.t->rto_ms(c), 300u) << "just accepted";
  const Bytes out = pattern(64 << 10, 7);
  k.out = &out;
  EXPECT_TRUE(s_.run([&] { return k.in.size() == out.size(); }, 10, [&] { k.step(); }));
  EXPECT_LE(s_.t->rto_ms(c), 300u) << "after 64 KiB both ways";
  ::close(k.fd);
}

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
  EXPECT_EQ(s_.t->rto_ms(*c), 1000u) << "the SYN's timer: RFC 6298's first RTO";
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
  // After 2 MiB over a veth (well under a millisecond a round trip), the timer is the
  // least it can be: two of lwIP's 100 ms ticks. (lwIP's own start left it at seconds.)
  EXPECT_GT(s_.t->rto_ms(*c), 0u);
  EXPECT_LE(s_.t->rto_ms(*c), 300u);
  ::close(fd);
  EXPECT_TRUE(s_.run([&] { return s_.closed.count(*c) == 1; }));
  EXPECT_EQ(s_.closed[*c], 0);
  ::close(lfd);
}

// Fan-out: one 2 MiB shared buffer sent to 15 kernel peers at once (a block relayed to
// K = 16). Every peer reads every byte; the buffer is referenced by every connection's
// queue until that peer acknowledged all of it (a kSent each), then only by its owner.
TEST_P(DpdkTcp, OneBufferFansOutToManyPeers) {
  constexpr int kPeers = 15;
  std::vector<KernelEnd> ks = kernel_peers(kPeers);
  ASSERT_EQ(s_.accepted.size(), static_cast<std::size_t>(kPeers));
  const Bytes block = pattern(2 << 20, 5);
  SharedBuf* b = s_.t->alloc(block.size());
  std::memcpy(b->fill().data(), block.data(), block.size());
  const auto t0 = Clock::now();
  for (ConnId c : s_.accepted) ASSERT_TRUE(s_.t->send(c, b, 0).ok());
  const bool ok = s_.run(
      [&] {
        for (const auto& k : ks)
          if (k.in.size() < block.size()) return false;
        return s_.sent == kPeers;
      },
      30, [&] {
        for (auto& k : ks) k.step();
      });
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  // Every frame the kernel sent reached lwIP: none lost in the device's receive ring
  // while the relay was busy sending (a lost ACK at the end of a connection costs a
  // retransmission timeout). A few of the kernel's own frames (IPv6 neighbour and MLD
  // messages) count on its side too.
  const auto drain_until = Clock::now() + std::chrono::milliseconds(100);
  (void)s_.run([&] { return Clock::now() > drain_until; }, 1);
  const std::string kernel_tx =
      launch::command_output("ip netns exec " + link_->k.name + " cat /sys/class/net/" + link_->kdev + "/statistics/tx_packets");
  const DpdkStats st = s_.t->stats();
  // (AF_PACKET only: there the ring is read between bursts sent. On AF_XDP it is not yet
  // (5e3c17a says why), and a relay starved of CPU, as when other tests share the cores,
  // can lose ACKs in the socket's ring; TCP recovers them, the bytes check below holds.)
  // On AF_XDP a frame that found the socket's receive ring full is lost but counted: every
  // frame the kernel sent is received or counted so.
  const auto lost_counted = st.xdp_rx_ring_full + st.xdp_fill_ring_empty;
  if (std::string(GetParam()) == "net_af_packet") {
    EXPECT_GE(st.rx_packets + 16, std::strtoull(kernel_tx.c_str(), nullptr, 10)) << "frames from the kernel were lost on the way in";
    EXPECT_EQ(lost_counted, 0u);
  } else {
    EXPECT_GE(st.rx_packets + lost_counted + 16, std::strtoull(kernel_tx.c_str(), nullptr, 10))
        << "frames from the kernel were lost on the way in, uncounted";
  }
  EXPECT_TRUE(ok) << "kSent " << s_.sent << " of " << kPeers;
  for (const auto& k : ks) EXPECT_TRUE(k.in == block);
  EXPECT_EQ(b->refs(), 1u) << "a connection or a frame still references the buffer after its peer acknowledged it";
  b->unref();
  // Copies: AF_PACKET takes frames in pieces, so only headers are copied into frames
  // (about 66 of each 1 514 bytes); the block's bytes go from its buffer to the driver.
  // AF_XDP takes frames whole, from its UMEM: every byte is written into a frame.
  if (std::string(GetParam()) == "net_af_packet") {
    EXPECT_LT(st.copied_tx_bytes * 10, st.tx_bytes) << "the block's bytes were copied into frames";
    EXPECT_NE(s_.t->describe().find("zero copy"), std::string::npos) << s_.t->describe();
  } else {
    EXPECT_EQ(st.copied_tx_bytes, st.tx_bytes);
  }
  std::printf("fan-out of 2 MiB to %d kernel peers: %.1f ms (%.0f MB/s), %llu frames, %.3f bytes copied per byte sent, "
              "%llu retransmitted, %llu no-mbuf, dropped %llu tx %llu rx, %llu received (the kernel sent %s; %llu lost in a full "
              "AF_XDP ring)\n", kPeers, ms,
              2.0 * kPeers * 1.048576 / (ms / 1000), static_cast<unsigned long long>(st.tx_packets),
              static_cast<double>(st.copied_tx_bytes) / static_cast<double>(std::max<std::uint64_t>(st.tx_bytes, 1)),
              static_cast<unsigned long long>(st.tcp_retransmits),
              static_cast<unsigned long long>(st.no_mbuf), static_cast<unsigned long long>(st.tx_dropped),
              static_cast<unsigned long long>(st.rx_dropped), static_cast<unsigned long long>(st.rx_packets), kernel_tx.c_str(), static_cast<unsigned long long>(lost_counted));
  for (auto& k : ks) ::close(k.fd);
}

// A block arriving while blocks go out: one kernel peer sends 2 MiB to the relay while
// the relay sends 2 MiB to 15 others, three times over. Everything arrives whole on both
// sides (where the relay reads its ring while sending, AF_PACKET, it keeps the order of
// what it reads).
TEST_P(DpdkTcp, BlockComesInWhileBlocksGoOut) {
  constexpr int kPeers = 16;
  std::vector<KernelEnd> ks = kernel_peers(kPeers);
  ASSERT_EQ(s_.accepted.size(), static_cast<std::size_t>(kPeers));
  // Which accepted connection is which kernel socket: the first to send is the origin.
  const Bytes in_block = pattern(2 << 20, 9);
  const Bytes out_block = pattern(2 << 20, 11);
  for (int round = 1; round <= 3; ++round) {
    ks[0].out = &in_block;
    ks[0].off = 0;
    SharedBuf* b = s_.t->alloc(out_block.size());
    std::memcpy(b->fill().data(), out_block.data(), out_block.size());
    ConnId origin = kNoConn;
    const bool ok = s_.run(
        [&] {
          if (origin == kNoConn)
            for (const auto& [c, bytes] : s_.got)
              if (!bytes.empty()) {
                origin = c;
                for (ConnId o : s_.accepted) {
                  if (o != c) {
                    EXPECT_TRUE(s_.t->send(o, b, 0).ok());
                  }
                }
              }
          if (origin == kNoConn || s_.got[origin].size() < in_block.size() * static_cast<std::size_t>(round)) return false;
          for (std::size_t i = 1; i < ks.size(); ++i)
            if (ks[i].in.size() < out_block.size() * static_cast<std::size_t>(round)) return false;
          return true;
        },
        30, [&] {
          for (auto& k : ks) k.step();
        });
    b->unref();
    ASSERT_TRUE(ok) << "round " << round << ": the relay got " << (origin == kNoConn ? 0 : s_.got[origin].size()) << " bytes in";
    ASSERT_TRUE(std::equal(in_block.begin(), in_block.end(), s_.got[origin].end() - static_cast<std::ptrdiff_t>(in_block.size())));
    for (std::size_t i = 1; i < ks.size(); ++i)
      ASSERT_TRUE(std::equal(out_block.begin(), out_block.end(), ks[i].in.end() - static_cast<std::ptrdiff_t>(out_block.size()))) << i;
  }
  // The ACKs of 15 flights come back while they go out: what is read meanwhile goes to
  // lwIP between one connection's output and the next, so the frames waiting never fill
  // their stash (when they waited for the next poll they did, and the device's ring
  // overflowed behind them).
  const DpdkStats st = s_.t->stats();
  std::printf("stash full %llu, ring full %llu, of %llu frames received\n", static_cast<unsigned long long>(st.rx_stash_full),
              static_cast<unsigned long long>(st.xdp_rx_ring_full), static_cast<unsigned long long>(st.rx_packets));
  EXPECT_EQ(st.rx_stash_full, 0u) << "the frames read while sending filled their stash";
  EXPECT_EQ(st.xdp_rx_ring_full, 0u);
  for (auto& k : ks) ::close(k.fd);
}

// A connection to a port nobody listens on fails with ECONNREFUSED (the kernel's RST).
TEST_P(DpdkTcp, RefusedConnectFails) {
  auto c = s_.t->connect(peer(kKernelIp, 9));
  ASSERT_TRUE(c.ok()) << c.error().reason << ": " << std::strerror(static_cast<int>(c.error().offset));
  ASSERT_TRUE(s_.run([&] { return s_.failed.count(*c) == 1; }));
  EXPECT_EQ(s_.failed[*c], ECONNREFUSED);
}


// Loss (3 % each way, dropped by nftables in the kernel's namespace) and reordering (5 %
// of the kernel's segments held back in a slow htb class, chosen by nftables): 2 MiB each
// way still arrive whole and in order, by retransmission and lwIP's out-of-order queue.
TEST_P(DpdkTcp, BulkBothWaysThroughLossAndReordering) {
  const std::string kdev = link_->kdev;
  auto in_k = [&](const std::string& cmd) { return run_quiet("ip netns exec " + link_->k.name + " " + cmd); };
  ASSERT_TRUE(in_k("tc qdisc add dev " + kdev + " root handle 1: htb default 1"));
  ASSERT_TRUE(in_k("tc class add dev " + kdev + " parent 1: classid 1:1 htb rate 10gbit"));
  ASSERT_TRUE(in_k("tc class add dev " + kdev + " parent 1: classid 1:2 htb rate 50mbit"));
  const std::string rules =
      "table inet impair { chain out { type filter hook output priority 0; oifname \"" + kdev +
      "\" meta l4proto tcp numgen random mod 100 < 5 meta priority set 0x10002; oifname \"" + kdev +
      "\" meta l4proto tcp numgen random mod 100 < 3 counter drop; }; chain in { type filter hook input priority 0; "
      "iifname \"" + kdev + "\" meta l4proto tcp numgen random mod 100 < 3 counter drop; }; }";
  ASSERT_TRUE(in_k("nft '" + rules + "'")) << "nft refused the rules";
  s_.echo = true;
  KernelEnd k;
  k.fd = kernel_connect();
  ASSERT_TRUE(s_.run([&] { return !s_.accepted.empty(); }));
  const Bytes out = pattern(2 << 20, 11);
  k.out = &out;
  const bool ok = s_.run([&] { return k.in.size() >= out.size(); }, 60, [&] { k.step(); });
  EXPECT_TRUE(ok) << "echoed " << k.in.size() << " of " << out.size();
  EXPECT_TRUE(k.in == out) << "the bytes came back altered or out of order";
  EXPECT_EQ(s_.send_refused, 0u);
  // Segments the relay sent were dropped on their way in to the kernel (the input
  // chain's counter), and every byte still arrived: the relay retransmitted them (by
  // timer or fast retransmit; lwIP's own counter has only the latter).
  const std::string rules_now = launch::command_output("ip netns exec " + link_->k.name + " nft list table inet impair");
  const auto in_chain = rules_now.find("chain in");
  const auto counter = in_chain == std::string::npos ? in_chain : rules_now.find("counter packets ", in_chain);
  const unsigned long long dropped_in =
      counter == std::string::npos ? 0 : std::strtoull(rules_now.c_str() + counter + 16, nullptr, 10);
  EXPECT_GT(dropped_in, 0u) << "nothing the relay sent was dropped: the test proves nothing\n" << rules_now;
  // The relay's counters show how it recovered them: fast retransmits (lwIP's MIB) or
  // retransmission timeouts (counted by the transport).
  const DpdkStats st = s_.t->stats();
  EXPECT_GT(st.tcp_retransmits + st.tcp_loss_probes + st.tcp_timeouts, 0u) << dropped_in << " segments dropped, none retransmitted by count";
  std::printf("loss: %llu of the relay's segments dropped; it fast-retransmitted %llu, probed %llu tails (%llu losses found) "
              "and timed out %llu times\n",
              dropped_in, static_cast<unsigned long long>(st.tcp_retransmits), static_cast<unsigned long long>(st.tcp_loss_probes),
              static_cast<unsigned long long>(st.tcp_probe_recoveries), static_cast<unsigned long long>(st.tcp_timeouts));
  ::close(k.fd);
}

// A flight that loses its last segments gets no duplicate ACKs: lwIP alone waited for
// its retransmission timer (200 ms at least). The tail-loss probe resends the first two
// unacknowledged segments once no ACK has moved for max(2 x RTT, 10 ms); the ACK to that
// falls short of the flight, so the rest goes at once. nftables in the kernel's
// namespace lets 16 full segments of a 21-segment message through, drops the next 5, then
// lets everything through (the probe included).
TEST_P(DpdkTcp, ALostTailIsProbedNotLeftToTheTimer) {
  KernelEnd k;
  k.fd = kernel_connect();
  ASSERT_TRUE(s_.run([&] { return !s_.accepted.empty(); }));
  const ConnId c = s_.accepted[0];
  const Bytes warm = pattern(64 << 10, 5);  // round trips measured, the window open
  ASSERT_TRUE(s_.send(c, warm).ok());
  ASSERT_TRUE(s_.run([&] { return k.in.size() == warm.size() && s_.sent == 1; }, 10, [&] { k.step(); }));
  constexpr int kFull = 1500;  // a full frame's IP packet: nft's quota counts these bytes
  const std::string rule = "iifname \"" + link_->kdev + "\" ip saddr " + kRelayIp + " ip length > 1000";
  const std::string table = "table inet tail { chain in { type filter hook input priority 0; " + rule + " quota until " +
                            std::to_string(16 * kFull + 1) + " bytes accept; " + rule + " quota until " +
                            std::to_string(5 * kFull + 1) + " bytes counter drop; }; }";
  ASSERT_TRUE(run_quiet("ip netns exec " + link_->k.name + " nft '" + table + "'")) << "nft refused: " << table;
  const DpdkStats before = s_.t->stats();
  const Bytes tail = pattern(21 * 1460, 9);
  ASSERT_TRUE(s_.send(c, tail).ok());
  EXPECT_TRUE(s_.run([&] { return k.in.size() == warm.size() + tail.size() && s_.sent == 2; }, 10, [&] { k.step(); }))
      << "the kernel got " << k.in.size() - warm.size() << " of " << tail.size();
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), k.in.begin() + static_cast<std::ptrdiff_t>(warm.size())));
  const std::string now = launch::command_output("ip netns exec " + link_->k.name + " nft list table inet tail");
  const auto at = now.find("counter packets ");
  const unsigned long long dropped = at == std::string::npos ? 0 : std::strtoull(now.c_str() + at + 16, nullptr, 10);
  EXPECT_EQ(dropped, 5u) << "the message's last five segments were to be lost\n" << now;
  const DpdkStats after = s_.t->stats();
  EXPECT_GE(after.tcp_loss_probes, before.tcp_loss_probes + 1);
  EXPECT_GE(after.tcp_probe_recoveries, before.tcp_probe_recoveries + 1) << "the probe's ACK fell short: the rest should go at once";
  EXPECT_EQ(after.tcp_timeouts, before.tcp_timeouts) << "the retransmission timer recovered the tail, not the probe";
  EXPECT_EQ(after.tcp_retransmits, before.tcp_retransmits) << "no duplicate ACKs here: nothing for fast retransmit";
  ::close(k.fd);
}

// An id whose kClosed a poll handed out is not given to a new connection before the
// next poll: the caller may still be handling that batch (and call flush(), which takes
// in frames, or connect()) and must not find the old peer's id on a new one.
TEST_P(DpdkTcp, AClosedIdIsNotReusedBeforeTheNextPoll) {
  const int fd = kernel_connect();
  ASSERT_TRUE(s_.run([&] { return !s_.accepted.empty(); }));
  const ConnId old = s_.accepted[0];
  ::close(fd);
  ASSERT_TRUE(s_.run([&] { return s_.closed.count(old) == 1; }));  // handed out by the last poll
  auto c = s_.t->connect(peer(kKernelIp, 9));  // (refused later: nothing listens there)
  ASSERT_TRUE(c.ok());
  EXPECT_NE(*c, old) << "a new connection got the id of one whose close the caller is still handling";
  EXPECT_TRUE(s_.run([&] { return s_.failed.count(*c) == 1; }));
}

// A reset from the peer (SO_LINGER 0) is a close with ECONNRESET.
TEST_P(DpdkTcp, ResetIsReportedAsSuch) {
  const int fd = kernel_connect();
  ASSERT_TRUE(s_.run([&] { return !s_.accepted.empty(); }));
  const linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(fd);
  ASSERT_TRUE(s_.run([&] { return s_.closed.count(s_.accepted[0]) == 1; }));
  EXPECT_EQ(s_.closed[s_.accepted[0]], ECONNRESET);
}

// Half-close: the relay writes a 2 MiB block to a kernel client that is not reading; the
// client sends a request and shuts its side. The relay sees the request, then the close
// (err 0), and closes too. What it had handed to its stack (as much as the client's
// window and 256 KiB more) still reaches the client, unaltered, then an orderly FIN —
// no reset — while the lingering close keeps the buffer; the rest, never written to the
// stack, is dropped, as a kernel socket's close drops what io_uring had not yet sent.
TEST_P(DpdkTcp, HalfCloseStillDeliversWhatWasWritten) {
  KernelEnd k;
  k.fd = kernel_connect();
  ASSERT_TRUE(s_.run([&] { return !s_.accepted.empty(); }));
  const ConnId c = s_.accepted[0];
  const Bytes block = pattern(2 << 20, 5);
  ASSERT_TRUE(s_.send(c, block).ok());
  s_.run([] { return false; }, 1);  // the client's window fills; more waits in lwIP
  const Bytes request = pattern(1000, 1);
  ASSERT_EQ(::send(k.fd, request.data(), request.size(), MSG_NOSIGNAL), 1000);
  ASSERT_EQ(::shutdown(k.fd, SHUT_WR), 0);
  ASSERT_TRUE(s_.run([&] { return s_.closed.count(c) == 1; }));
  EXPECT_EQ(s_.closed[c], 0);
  EXPECT_TRUE(s_.got[c] == request);
  EXPECT_EQ(s_.t->stats().lingering, 1u) << "nothing was left for the lingering close";
  EXPECT_TRUE(s_.run([&] { return k.eof || k.err != 0; }, 20, [&] { k.step(); }));
  EXPECT_EQ(k.err, 0) << std::strerror(k.err) << ": the relay reset the connection instead of closing it";
  EXPECT_GE(k.in.size(), std::size_t{256} << 10);
  EXPECT_TRUE(std::equal(k.in.begin(), k.in.end(), block.begin())) << "the bytes before the FIN were altered";
  EXPECT_TRUE(s_.run([&] { return s_.t->stats().lingering == 0; }, 5));
  EXPECT_EQ(s_.t->stats().linger_aborted, 0u);
  ::close(k.fd);
}

// Zero window: a held connection reads nothing more; the kernel's sender fills the window
// and stops (its zero-window probes answered); resumed, every byte arrives in order, the
// window opened to its full size by then (trust_reads came while it was paused). An
// unproven connection holds at most its first window here.
class DpdkTcpCautious : public DpdkTcp {
  void tune(DpdkConfig& c) override { c.cautious_reads = true; }
};
TEST_P(DpdkTcpCautious, HeldConnectionClosesTheWindowAndResumes) {
  KernelEnd k;
  k.fd = kernel_connect();
  ASSERT_TRUE(s_.run([&] { return !s_.accepted.empty(); }));
  const ConnId conn = s_.accepted[0];
  const Bytes out = pattern(3 << 20, 9);
  k.out = &out;
  s_.hold_all = true;
  s_.run([] { return false; }, 2, [&] { k.step(); });
  EXPECT_LE(s_.t->held_bytes(), 0xFFFFu + 1460u) << "an unproven connection took more than its first window";
  const std::size_t sent_while_cautious = k.off;
  EXPECT_LT(sent_while_cautious, out.size());
  // Proven while paused: the window opens only when the connection reads again.
  s_.t->trust_reads(conn);
  s_.run([] { return false; }, 1, [&] { k.step(); });
  EXPECT_LE(s_.t->held_bytes(), 0xFFFFu + 1460u) << "trust_reads opened a paused connection's window";
  // Resumed: everything, in order.
  // (everything was held from the first byte: resume() hands all of it back)
  s_.hold_all = false;
  EXPECT_TRUE(s_.got[conn].empty());
  s_.held.clear();
  s_.t->resume(conn);
  const bool ok = s_.run([&] { return s_.got[conn].size() == out.size(); }, 20, [&] { k.step(); });
  EXPECT_TRUE(ok) << "got " << s_.got[conn].size() << " of " << out.size();
  EXPECT_TRUE(s_.got[conn] == out);
  EXPECT_EQ(s_.t->held_bytes(), 0u);
  ::close(k.fd);
}

// Held memory is bounded: a paused connection with its full window (4 MiB) open copies at
// most held_max bytes aside (here 4 KiB); past that, frames already handed out wait as
// they are and new data stays unread with lwIP (counted), the sender, unanswered, sending
// it again later. Resumed, all 3 MiB arrive intact and in order (copied bytes, kept
// frames, then what lwIP kept), and nothing is held any more.
class DpdkTcpHeldCap : public DpdkTcp {
  void tune(DpdkConfig& c) override { c.held_max = 4 << 10; }  // under the first flight's frames
};
TEST_P(DpdkTcpHeldCap, APausedConnectionHoldsAtMostTheCap) {
  KernelEnd k;
  k.fd = kernel_connect();
  ASSERT_TRUE(s_.run([&] { return !s_.accepted.empty(); }));
  const ConnId conn = s_.accepted[0];
  const Bytes out = pattern(3 << 20, 5);
  k.out = &out;
  s_.hold_all = true;
  std::size_t most = 0;
  s_.run([] { return false; }, 2, [&] {
    k.step();
    most = std::max(most, s_.t->held_bytes());
  });
  EXPECT_LE(most, std::size_t{4} << 10) << "copied aside past the cap";
  EXPECT_GE(s_.t->stats().rx_refused_held, 1u);
  EXPECT_EQ(s_.t->stats().rx_held_bytes, s_.t->held_bytes());
  EXPECT_LT(k.off, out.size()) << "the sender was never held back";
  s_.hold_all = false;
  s_.held.clear();
  s_.t->resume(conn);
  const bool ok = s_.run([&] { return s_.got[conn].size() == out.size(); }, 30, [&] { k.step(); });
  EXPECT_TRUE(ok) << "got " << s_.got[conn].size() << " of " << out.size();
  EXPECT_TRUE(s_.got[conn] == out);
  EXPECT_EQ(s_.t->held_bytes(), 0u);
  ::close(k.fd);
}

// Keep-alive: a kernel client probing an idle connection every second (2 unanswered
// probes and it resets) keeps it: lwIP answers the probes. The relay's own keep-alive
// finds a peer that vanished (its packets dropped from then on) and closes with an error.
class DpdkTcpKeepAlive : public DpdkTcp {
  void tune(DpdkConfig& c) override {
    c.keepalive_idle_ms = 1500;
    c.keepalive_interval_ms = 500;
    c.keepalive_probes = 3;
  }
};
TEST_P(DpdkTcpKeepAlive, KeepAliveBothWays) {
  const int fd = kernel_connect();
  const int on = 1, idle = 1, intvl = 1, cnt = 2;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
  ASSERT_TRUE(s_.run([&] { return !s_.accepted.empty(); }));
  const ConnId conn = s_.accepted[0];
  s_.run([] { return false; }, 5);  // idle: both sides probe, both answer
  EXPECT_EQ(s_.closed.count(conn), 0u) << "the idle connection was closed: err " << s_.closed[conn];
  std::uint8_t probe = 42;
  ASSERT_EQ(::send(fd, &probe, 1, MSG_NOSIGNAL), 1) << "the kernel gave up on the connection";
  ASSERT_TRUE(s_.run([&] { return s_.got[conn].size() == 1; }));
  // Vanish: everything from the kernel side is dropped from now on.
  ASSERT_TRUE(run_quiet("ip netns exec " + link_->k.name +
                        " nft 'table inet gone { chain out { type filter hook output priority 0; drop; }; }'"));
  // What the relay sends it now gets no ACK for: its retransmission timer fires (and is
  // counted) until keep-alive gives up on the peer.
  const std::uint64_t timeouts0 = s_.t->stats().tcp_timeouts;
  ASSERT_TRUE(s_.send(conn, pattern(4096, 1)).ok());
  EXPECT_TRUE(s_.run([&] { return s_.closed.count(conn) == 1; }, 10)) << "the vanished peer was not noticed";
  EXPECT_NE(s_.closed[conn], 0);
  EXPECT_GE(s_.t->stats().tcp_timeouts, timeouts0 + 1);
  ::close(fd);
}

// ForgedSyns: SYNs with forged source addresses, from a raw socket in the kernel's
// namespace, to the relay's listener (what a SYN flood sends).
struct ForgedSyns {
  int fd = -1;
  explicit ForgedSyns(const Namespace& k) {
    k.in([&] { fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW); });  // (IP_HDRINCL implied)
  }
  ~ForgedSyns() {
    if (fd >= 0) ::close(fd);
  }
  static std::uint16_t fold(std::uint32_t sum) {
    while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum & 0xFFFF);
  }
  // send: one SYN (with an MSS option) from src:sport to the relay's dport.
  bool send(std::uint32_t src, std::uint16_t sport, std::uint16_t dport, std::uint32_t seq) const {
    std::uint8_t pkt[44] = {};
    const std::uint32_t dst = ip4(kRelayIp);
    pkt[0] = 0x45;
    pkt[3] = sizeof pkt;  // total length (the kernel fills it and the IP checksum in too)
    pkt[8] = 64;
    pkt[9] = IPPROTO_TCP;
    std::memcpy(pkt + 12, &src, 4);
    std::memcpy(pkt + 16, &dst, 4);
    std::uint8_t* t = pkt + 20;
    const std::uint16_t sp = htons(sport), dp = htons(dport);
    const std::uint32_t sq = htonl(seq);
    std::memcpy(t, &sp, 2);
    std::memcpy(t + 2, &dp, 2);
    std::memcpy(t + 4, &sq, 4);
    t[12] = 6 << 4;  // 24-byte header
    t[13] = 0x02;    // SYN
    t[14] = 0xFF;    // window 65535
    t[15] = 0xFF;
    t[20] = 2;  // MSS 1460
    t[21] = 4;
    t[22] = 1460 >> 8;
    t[23] = 1460 & 0xFF;
    std::uint32_t sum = 0;  // pseudo-header, then the segment, in 16-bit words
    for (int i = 12; i < 20; i += 2) sum += static_cast<std::uint32_t>(pkt[i] << 8 | pkt[i + 1]);
    sum += IPPROTO_TCP + 24;
    for (int i = 0; i < 24; i += 2) sum += static_cast<std::uint32_t>(t[i] << 8 | t[i + 1]);
    const std::uint16_t ck = htons(fold(sum));
    std::memcpy(t + 16, &ck, 2);
    sockaddr_in to = v4addr(kRelayIp, dport);
    return ::sendto(fd, pkt, sizeof pkt, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) == static_cast<ssize_t>(sizeof pkt);
  }
};

// A SYN flood from forged addresses does not keep honest peers out. lwIP has no SYN
// cookies and its listen backlog (at most 255 half-open) would let 255 forged SYNs shut
// the listener for the 20 s half-open pcbs live; the relay caps half-open handshakes
// itself, evicting the oldest, and a few per source.
// - 3 000 SYNs from as many addresses: past the cap of 1 024, each evicts the oldest.
// - Then 40 SYNs from one address: 16 are taken, 24 refused.
// - Then the flood goes on (up to 20 000 SYNs, about 30 000/s) while honest kernel clients
//   connect one after the other: every one of them gets in.
TEST_P(DpdkTcp, SynFloodFromForgedSourcesDoesNotKeepHonestPeersOut) {
  ForgedSyns raw(link_->k);
  ASSERT_GE(raw.fd, 0) << std::strerror(errno);
  std::atomic<bool> stop{false}, go_on{false};
  std::atomic<std::uint32_t> sent{0};
  std::thread flood([&] {
    for (std::uint32_t i = 0; i < 20000 && !stop.load(); ++i) {
      const std::uint32_t src = htonl(0xC6130100u + i);  // 198.19.1.0 and up: another address each
      if (raw.send(src, static_cast<std::uint16_t>(1024 + i % 60000), port_, i * 7919u)) sent.fetch_add(1);
      if (i % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(3));
      const auto until = Clock::now() + std::chrono::seconds(10);
      while (i + 1 == 3000 && !go_on.load() && !stop.load() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  // Past the cap before the first honest SYN: without the limits the listener is shut.
  (void)s_.run([&] { return sent.load() >= 3000 && s_.t->stats().syn_evicted >= 3000 - 1024 - 50; }, 10);
  const std::uint64_t evicted_before = s_.t->stats().syn_evicted;
  EXPECT_GE(evicted_before, 3000u - 1024u - 50u) << "(a few SYNs may be lost in the ring)";
  const std::uint32_t one_src = ip4("198.19.0.1");
  for (std::uint16_t i = 0; i < 40; ++i) EXPECT_TRUE(raw.send(one_src, static_cast<std::uint16_t>(30000 + i), port_, 1000u * i));
  EXPECT_TRUE(s_.run([&] { return s_.t->stats().syn_refused_per_source >= 24; }, 5));
  EXPECT_EQ(s_.t->stats().syn_refused_per_source, 24u);
  go_on = true;
  int honest = 0;
  for (int i = 0; i < 8; ++i) {
    const int fd = kernel_socket(link_->k);
    set_nonblocking(fd);
    const sockaddr_in a = v4addr(kRelayIp, port_);
    ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    const bool up = s_.run([&] {
      pollfd pf{fd, POLLOUT, 0};
      return ::poll(&pf, 1, 0) == 1;
    }, 5);
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    honest += up && err == 0;
    ::close(fd);
    const auto gap = Clock::now() + std::chrono::milliseconds(25);  // the flood goes on meanwhile
    (void)s_.run([&] { return Clock::now() > gap; }, 1);
  }
  const std::uint32_t sent_while_honest = sent.load();
  stop = true;
  flood.join();
  (void)s_.run([] { return false; }, 1);  // what is still in the ring
  const DpdkStats st = s_.t->stats();
  std::printf("SYN flood: %u forged SYNs sent (%u while 8 honest peers connected), %llu half-open evicted, %llu refused for "
              "their source, %d of 8 honest peers connected\n", sent.load(), sent_while_honest,
              static_cast<unsigned long long>(st.syn_evicted), static_cast<unsigned long long>(st.syn_refused_per_source), honest);
  EXPECT_EQ(honest, 8) << "honest peers were kept out by the flood";
  EXPECT_GE(s_.accepted.size(), 8u);
  // Everything past the cap (1 024 half-open) evicted one of them (less what the ring
  // may have dropped under the flood).
  EXPECT_GT(st.syn_evicted, static_cast<std::uint64_t>(sent_while_honest) / 2);
}

// 256 connections at once, each echoing 16 KiB: the table, the window updates and the
// pools hold up; every byte goes back to its own connection.
TEST_P(DpdkTcp, ManyConnectionsAtOnce) {
  s_.echo = true;
  constexpr int kConns = 256;
  std::vector<KernelEnd> ks(kConns);
  std::vector<Bytes> outs;
  for (int i = 0; i < kConns; ++i) outs.push_back(pattern(16 << 10, static_cast<std::uint8_t>(i)));
  for (int i = 0; i < kConns; ++i) {
    ks[static_cast<std::size_t>(i)].fd = kernel_socket(link_->k);
    set_nonblocking(ks[static_cast<std::size_t>(i)].fd);
    const sockaddr_in a = v4addr(kRelayIp, port_);
    ::connect(ks[static_cast<std::size_t>(i)].fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    ks[static_cast<std::size_t>(i)].out = &outs[static_cast<std::size_t>(i)];
  }
  const bool ok = s_.run(
      [&] {
        for (const auto& k : ks)
          if (k.in.size() < k.out->size()) return false;
        return true;
      },
      30, [&] {
        for (auto& k : ks) k.step();
      });
  EXPECT_TRUE(ok);
  EXPECT_EQ(s_.accepted.size(), static_cast<std::size_t>(kConns));
  EXPECT_EQ(s_.t->open_conns(), static_cast<std::uint32_t>(kConns));
  for (int i = 0; i < kConns; ++i) EXPECT_TRUE(ks[static_cast<std::size_t>(i)].in == outs[static_cast<std::size_t>(i)]) << i;
  for (auto& k : ks) ::close(k.fd);
  EXPECT_TRUE(s_.run([&] { return s_.closed.size() == static_cast<std::size_t>(kConns); }));
  EXPECT_TRUE(s_.run([&] { return s_.t->open_conns() == 0; }));
}

std::string vdev_name(const ::testing::TestParamInfo<const char*>& p) { return std::string(p.param).substr(4); }
// With dpdk.zero_copy off, every frame is copied whole, also where the device could take
// it in pieces; what arrives is the same.
class DpdkTcpCopying : public DpdkTcp {
  void tune(DpdkConfig& c) override { c.zero_copy = false; }
};
TEST_P(DpdkTcpCopying, WithZeroCopyOffEveryFrameIsCopiedWhole) {
  std::vector<KernelEnd> ks = kernel_peers(2);
  ASSERT_EQ(s_.accepted.size(), 2u);
  const Bytes msg = pattern(256 << 10, 7);
  SharedBuf* b = s_.t->alloc(msg.size());
  std::memcpy(b->fill().data(), msg.data(), msg.size());
  for (ConnId c : s_.accepted) ASSERT_TRUE(s_.t->send(c, b, 0).ok());
  EXPECT_TRUE(s_.run([&] { return s_.sent == 2 && ks[0].in.size() == msg.size() && ks[1].in.size() == msg.size(); }, 10,
                     [&] {
                       for (auto& k : ks) k.step();
                     }));
  EXPECT_TRUE(ks[0].in == msg && ks[1].in == msg);
  EXPECT_EQ(b->refs(), 1u);
  b->unref();
  const DpdkStats st = s_.t->stats();
  EXPECT_GT(st.tx_bytes, 2 * msg.size());
  EXPECT_EQ(st.copied_tx_bytes, st.tx_bytes);
  EXPECT_NE(s_.t->describe().find("copied whole (off in the configuration)"), std::string::npos) << s_.t->describe();
  for (auto& k : ks) ::close(k.fd);
}

INSTANTIATE_TEST_SUITE_P(Vdev, DpdkTcpCopying, ::testing::Values("net_af_packet"), vdev_name);
INSTANTIATE_TEST_SUITE_P(Vdev, DpdkTcp, ::testing::Values("net_af_packet", "net_af_xdp"), vdev_name);
INSTANTIATE_TEST_SUITE_P(Vdev, DpdkTcpCautious, ::testing::Values("net_af_packet", "net_af_xdp"), vdev_name);
INSTANTIATE_TEST_SUITE_P(Vdev, DpdkTcpHeldCap, ::testing::Values("net_af_packet", "net_af_xdp"), vdev_name);
INSTANTIATE_TEST_SUITE_P(Vdev, DpdkTcpKeepAlive, ::testing::Values("net_af_packet", "net_af_xdp"), vdev_name);

// frame_is_relays: IPv4 to the relay's address and ARP whose target it is go to lwIP;
// everything else (other addresses, broadcasts, IPv6, short frames) to the host.
TEST(DpdkHostPath, FramesAreSortedByTheirDestination) {
  const std::uint32_t me = ip4(kRelayIp);
  auto frame = [](std::uint16_t type, std::size_t len, std::size_t at, const char* ip) {
    std::vector<std::uint8_t> f(len, 0);
    f[12] = static_cast<std::uint8_t>(type >> 8);
    f[13] = static_cast<std::uint8_t>(type);
    const std::uint32_t a = ip4(ip);
    if (at + 4 <= len) std::memcpy(f.data() + at, &a, 4);
    return f;
  };
  auto relays = [&](const std::vector<std::uint8_t>& f, std::size_t len = 0) {
    return frame_is_relays(f.data(), len != 0 ? len : f.size(), me);
  };
  EXPECT_TRUE(relays(frame(0x0800, 60, 30, kRelayIp)));
  EXPECT_FALSE(relays(frame(0x0800, 60, 30, "198.18.20.3")));
  EXPECT_FALSE(relays(frame(0x0800, 60, 26, kRelayIp)));  // the relay's address as the source only
  EXPECT_FALSE(relays(frame(0x0800, 60, 30, "255.255.255.255")));
  EXPECT_TRUE(relays(frame(0x0806, 42, 38, kRelayIp)));
  EXPECT_FALSE(relays(frame(0x0806, 42, 38, "198.18.20.3")));
  EXPECT_FALSE(relays(frame(0x0806, 42, 28, kRelayIp)));  // an ARP from the relay's address (a copy of its own)
  EXPECT_FALSE(relays(frame(0x86DD, 80, 30, kRelayIp)));
  EXPECT_FALSE(relays(frame(0x0800, 60, 30, kRelayIp), 33));  // too short for an IPv4 header
  EXPECT_FALSE(relays(frame(0x0806, 60, 38, kRelayIp), 41));  // too short for ARP
  EXPECT_FALSE(relays(frame(0x0800, 60, 30, kRelayIp), 13));  // too short for an Ethernet header
}

// On a port where the kernel keeps the interface (net_af_packet here), host_iface is
// refused at start, saying why.
TEST(DpdkHostPath, RefusedWhereTheKernelKeepsTheInterface) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces";
  Link link;
  ASSERT_TRUE(link.ok) << "could not set up the veth pair and namespaces";
  launch::InsideNamespace inside;
  ASSERT_TRUE(inside.enter(link.d));
  DpdkConfig cfg = base_config("net_af_packet0,iface=" + link.dev);
  cfg.host_iface = "srlh" + std::to_string(::getpid() % 100000);
  auto t = DpdkTransport::create(cfg);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(std::string(t.error().reason).find("dpdk.host_iface: only for a port that takes every frame"), std::string::npos)
      << t.error().reason;
  EXPECT_FALSE(launch::run_quiet("ip -n " + link.d.name + " link show " + cfg.host_iface)) << "the TAP was made anyway";
}

void nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// A port that takes every frame (net_tap here; a NIC on vfio-pci in production) with the
// exception path: the wire is the TAP's kernel end joined to the veth, so the kernel of
// the relay's namespace sees nothing of the wire but what comes through host_iface. The
// host's address there (198.18.20.3) answers ping and TCP from the far side, while the
// relay's (198.18.20.2) serves TCP beside it, and each frame is counted on its way.
TEST(DpdkHostPath, AFullPortHandsTheHostItsFramesAndSendsItsOwn) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces and TAP devices";
  Link link;
  ASSERT_TRUE(link.ok) << "could not set up the veth pair and namespaces";
  launch::InsideNamespace inside;
  ASSERT_TRUE(inside.enter(link.d));
  const std::string tag = std::to_string(::getpid() % 100000);
  const std::string wire = "srlw" + tag, host = "srlh" + tag;
  DpdkConfig cfg = base_config("net_tap_w" + tag + ",iface=" + wire);
  cfg.host_iface = host;
  auto t = DpdkTransport::create(cfg);
  ASSERT_TRUE(t.ok()) << t.error().reason << " (" << std::strerror(static_cast<int>(t.error().offset)) << ")";
  Side s;
  s.t = std::move(*t);
  EXPECT_NE(s.t->describe().find("go to the host's interface " + host), std::string::npos) << s.t->describe();
  auto port = s.t->listen(0);
  ASSERT_TRUE(port.ok());
  // The wire: the TAP's kernel end and the veth, joined so nothing reaches this kernel.
  ASSERT_EQ(launch::join_interfaces(link.d.name, wire, link.dev), "");
  // The operator's part: the host's address on its interface.
  ASSERT_TRUE(link.d.sh("addr add 198.18.20.3/24 dev " + host) && link.d.sh("link set " + host + " up"));
  int lfd = -1;
  link.d.in([&] {
    lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in a = v4addr("198.18.20.3", 7777);
    if (::bind(lfd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 4) != 0) {
      ::close(lfd);
      lfd = -1;
    }
  });
  ASSERT_GE(lfd, 0);
  nonblocking(lfd);
  std::atomic<bool> done{false};
  int rc = -1;
  std::thread ping([&] {
    rc = std::system(("ip netns exec " + link.k.name + " ping -c 10 -i 0.05 -W 2 198.18.20.3 >/dev/null 2>&1").c_str());
    done = true;
  });
  s.run([&] { return done.load(); }, 20);
  ping.join();
  EXPECT_EQ(rc, 0) << "the host's address did not answer ping through the exception path";
  // TCP to the host: 256 KiB from the far side, read by the host's server.
  const int hfd = kernel_socket(link.k);
  const sockaddr_in ha = v4addr("198.18.20.3", 7777);
  nonblocking(hfd);
  ::connect(hfd, reinterpret_cast<const sockaddr*>(&ha), sizeof ha);
  int served = -1;
  EXPECT_TRUE(s.run([&] { return (served = ::accept(lfd, nullptr, nullptr)) >= 0; }, 10)) << "the host's TCP server got nothing";
  if (served >= 0) {
    KernelEnd far;
    far.fd = hfd;
    const Bytes out = pattern(256 << 10, 5);
    far.out = &out;
    std::size_t got = 0;
    EXPECT_TRUE(s.run([&] { return got == out.size(); }, 20, [&] {
      far.step();
      std::uint8_t buf[65536];
      const ssize_t r = ::recv(served, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) got += static_cast<std::size_t>(r);
    })) << got << " of " << out.size() << " bytes reached the host";
    ::close(served);
  }
  // And the relay beside it: 64 KiB echoed.
  s.echo = true;
  KernelEnd k;
  k.fd = kernel_socket(link.k);
  nonblocking(k.fd);
  const sockaddr_in ra = v4addr(kRelayIp, *port);
  ::connect(k.fd, reinterpret_cast<const sockaddr*>(&ra), sizeof ra);
  const Bytes out = pattern(64 << 10, 3);
  k.out = &out;
  EXPECT_TRUE(s.run([&] { return k.in.size() == out.size(); }, 10, [&] { k.step(); }));
  EXPECT_TRUE(k.in == out);
  const DpdkStats st = s.t->stats();
  EXPECT_GE(st.host_frames_in, 10u + 180u) << "pings and the TCP stream, to the host";
  EXPECT_GE(st.host_frames_out, 10u) << "the host's answers, out the port";
  EXPECT_EQ(st.host_dropped, 0u);
  ::close(hfd);
  ::close(lfd);
  ::close(k.fd);
  s.t.reset();
}

}  // namespace
}  // namespace relay::dp
