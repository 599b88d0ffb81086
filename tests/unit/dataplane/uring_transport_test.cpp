#include "dataplane/transport/uring/uring_transport.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/test_peer.hpp"
#include "relay/net/address.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <sys/utsname.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <map>
#include <string>
#include <vector>

namespace relay::dp {
namespace {

int client_connect(std::uint16_t port) { return test::connect_loopback(port); }

Bytes read_exact(int fd, std::size_t n) {
  Bytes out(n);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

using Clock = std::chrono::steady_clock;

// Polls until `pred` holds or 10 s pass; every event goes to `on`.
template <typename On, typename Pred>
bool pump(UringTransport& t, On&& on, Pred&& pred) {
  auto deadline = Clock::now() + std::chrono::seconds(10);
  Event evs[64];
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::size_t n = t.poll(evs, 50);
    for (std::size_t i = 0; i < n; ++i) on(evs[i]);
  }
  return true;
}

// The ring takes only what the transport submits: anything else (opening a file, a
// read or write of an arbitrary fd, even a no-op) is refused by the kernel, so a
// compromised dataplane cannot use io_uring to get round its system-call filter. The
// transport keeps working after the refusals.
TEST(UringTransport, TheRingRefusesOperationsItDoesNotUse) {
  UringConfig cfg;
  cfg.max_conns = 8;
  cfg.buf_count = 64;
  auto t = UringTransport::create(cfg);
  ASSERT_TRUE(t.ok()) << t.error().reason;
  utsname u{};
  ::uname(&u);
  unsigned major = 0, minor = 0;
  std::sscanf(u.release, "%u.%u", &major, &minor);
  if (major < 5 || (major == 5 && minor < 10)) GTEST_SKIP() << "io_uring restrictions need Linux 5.10: " << u.release;
  ASSERT_TRUE((*t)->features().restricted) << (*t)->features().missing;
  for (std::uint8_t op : {IORING_OP_NOP, IORING_OP_OPENAT, IORING_OP_READ, IORING_OP_WRITE, IORING_OP_SENDMSG,
                          IORING_OP_SOCKET, IORING_OP_UNLINKAT})
    EXPECT_EQ((*t)->submit_op_for_test(op), -EACCES) << "opcode " << int{op};
  // An operation it uses passes the restrictions (and then fails on its bare arguments).
  EXPECT_NE((*t)->submit_op_for_test(IORING_OP_ASYNC_CANCEL), -EACCES);
  sockaddr_in6 a = test::loopback_addr(0);
  auto port = (*t)->listen(a);
  ASSERT_TRUE(port.ok()) << port.error().reason;
  const int fd = client_connect(*port);
  bool accepted = false;
  EXPECT_TRUE(pump(**t, [&](const Event& e) { accepted |= e.kind == EventKind::kAccepted; }, [&] { return accepted; }));
  ::close(fd);
}

TEST(UringTransport, AcceptReceiveAndFanOutOneBuffer) {
  auto t = UringTransport::create({});
  ASSERT_TRUE(t.ok()) << t.error().reason << " errno " << t.error().offset;
  auto port = (*t)->listen(test::loopback_addr(0));
  ASSERT_TRUE(port.ok());
  constexpr int kClients = 8;
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) fds.push_back(client_connect(*port));
  for (int i = 0; i < kClients; ++i) {
    std::string hello = "hello " + std::to_string(i);
    ASSERT_EQ(::send(fds[static_cast<std::size_t>(i)], hello.data(), hello.size(), 0), static_cast<ssize_t>(hello.size()));
  }
  std::vector<ConnId> accepted;
  std::map<ConnId, std::string> got;
  auto on = [&](const Event& e) {
    if (e.kind == EventKind::kAccepted) accepted.push_back(e.conn);
    if (e.kind == EventKind::kData) {
      got[e.conn].append(reinterpret_cast<const char*>(e.data.data()), e.data.size());
      (*t)->release(e);
    }
  };
  ASSERT_TRUE(pump(**t, on, [&] {
    std::size_t full = 0;
    for (auto& [c, s] : got) full += s.size() >= 7;
    return accepted.size() == kClients && full == kClients;
  }));
  EXPECT_EQ((*t)->open_conns(), static_cast<std::uint32_t>(kClients));

  // One 1 MiB buffer, sent to every connection without copying it per peer.
  Bytes payload(1 << 20);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 13 + 1);
  SharedBuf* buf = SharedBuf::make(payload);
  for (ConnId c : accepted) ASSERT_TRUE((*t)->send(c, buf, c).ok());
  EXPECT_EQ(buf->refs(), static_cast<std::uint32_t>(kClients + 1));
  buf->unref();
  std::size_t sent = 0;
  std::vector<Bytes> received(kClients);
  // Drain the clients while pumping the transport (the socket buffers are smaller than 1 MiB).
  std::vector<std::size_t> have(kClients, 0);
  for (int fd : fds) {
    timeval tv{0, 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ASSERT_TRUE(pump(
      **t, [&](const Event& e) { sent += e.kind == EventKind::kSent; },
      [&] {
        bool all = true;
        for (int i = 0; i < kClients; ++i) {
          auto idx = static_cast<std::size_t>(i);
          Bytes chunk(65536);
          ssize_t r = ::recv(fds[idx], chunk.data(), chunk.size(), MSG_DONTWAIT);
          if (r > 0) received[idx].insert(received[idx].end(), chunk.begin(), chunk.begin() + r);
          all &= received[idx].size() == payload.size();
        }
        return all && sent == kClients;
      }));
  for (auto& r : received) EXPECT_TRUE(r == payload);
  for (int fd : fds) ::close(fd);
  ASSERT_TRUE(pump(**t, [](const Event&) {}, [&] { return (*t)->open_conns() == 0; }));
}

// listen_loopback: a plain kernel listener on 127.0.0.1 (any port), and its port.
int listen_loopback(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

TEST(UringTransport, OutboundConnectSendAndPeerClose) {
  std::uint16_t port = 0;
  const int lfd = listen_loopback(port);
  auto t = UringTransport::create({});
  ASSERT_TRUE(t.ok());
  auto c = (*t)->connect(net::from_sockaddr(test::loopback_addr(port)));
  ASSERT_TRUE(c.ok());
  SharedBuf* early = SharedBuf::make(ByteSpan(reinterpret_cast<const std::uint8_t*>("queued-before-connect"), 21));
  ASSERT_TRUE((*t)->send(*c, early, 7).ok());  // queued until the connect completes
  early->unref();
  bool connected = false, sent = false, closed = false;
  int close_err = -1;
  auto on = [&](const Event& e) {
    connected |= e.kind == EventKind::kConnected;
    sent |= e.kind == EventKind::kSent && e.user == 7;
    if (e.kind == EventKind::kClosed) {
      closed = true;
      close_err = e.err;
    }
  };
  ASSERT_TRUE(pump(**t, on, [&] { return connected && sent; }));
  int peer = ::accept(lfd, nullptr, nullptr);
  ASSERT_GE(peer, 0);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(read_exact(peer, 21).data()), 21), "queued-before-connect");
  ::close(peer);
  ASSERT_TRUE(pump(**t, on, [&] { return closed; }));
  EXPECT_EQ(close_err, 0);  // orderly EOF
  ::close(lfd);
}

// A connection's send queue holds exactly max_queued_sends (here 3, not a power of two,
// though the ring under it is one), refuses the next, and keeps order as its head goes
// round the ring.
TEST(UringTransport, SendQueueHoldsItsLimitAndKeepsOrderRoundTheRing) {
  std::uint16_t port = 0;
  const int lfd = listen_loopback(port);
  UringConfig cfg;
  cfg.max_queued_sends = 3;
  auto t = UringTransport::create(cfg);
  ASSERT_TRUE(t.ok());
  std::string expect;
  int peer = -1;
  std::uint64_t sent = 0, tag = 0;
  bool connected = false;
  auto on = [&](const Event& e) {
    connected |= e.kind == EventKind::kConnected;
    sent += e.kind == EventKind::kSent;
  };
  auto c = (*t)->connect(net::from_sockaddr(test::loopback_addr(port)));
  ASSERT_TRUE(c.ok());
  for (int round = 0; round < 5; ++round) {  // five rounds of three: the head passes slot 3 and wraps
    for (int i = 0; i < 4; ++i) {
      const std::string msg = "m" + std::to_string(tag) + ";";
      SharedBuf* b = SharedBuf::make(ByteSpan(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()));
      const Status st = (*t)->send(*c, b, ++tag);
      b->unref();
      if (i < 3) {
        ASSERT_TRUE(st.ok()) << "round " << round << ", send " << i;
        expect += msg;
      } else {
        ASSERT_FALSE(st.ok()) << "round " << round << ": a fourth send was queued";
        EXPECT_EQ(st.error().code, Errc::kLimit);
      }
    }
    const std::uint64_t want = sent + 3;
    ASSERT_TRUE(pump(**t, on, [&] { return sent == want; })) << "round " << round;
    if (peer < 0) peer = ::accept(lfd, nullptr, nullptr);
    ASSERT_GE(peer, 0);
  }
  EXPECT_TRUE(connected);
  const Bytes got = read_exact(peer, expect.size());
  EXPECT_EQ(std::string(got.begin(), got.end()), expect);
  ::close(peer);
  ::close(lfd);
}

TEST(UringTransport, ConnectRefused) {
  auto t = UringTransport::create({});
  auto c = (*t)->connect(net::from_sockaddr(test::loopback_addr(test::free_port())));  // nobody listens there
  ASSERT_TRUE(c.ok());
  int err = 0;
  ASSERT_TRUE(pump(**t, [&](const Event& e) { if (e.kind == EventKind::kConnectFailed) err = e.err; },
                   [&] { return err != 0; }));
  EXPECT_EQ(err, ECONNREFUSED);
  EXPECT_EQ((*t)->open_conns(), 0u);
}

// Connection options reach the socket: MPTCP, the source address and the device it is
// bound to; a name is refused without a syscall (the transport resolves nothing); a
// device that does not exist is an error at once.
TEST(UringTransport, ConnectOptionsShapeTheSocket) {
  std::uint16_t port = 0;
  const int lfd = listen_loopback(port);
  const net::PeerAddress to = net::from_sockaddr(test::loopback_addr(port));

  auto t = UringTransport::create({});
  ASSERT_TRUE(t.ok());
  net::ConnectOptions how;
  how.mptcp = true;
  how.bind_device = "lo";
  how.bind_source = *net::parse_addr("127.0.0.2");
  auto c = (*t)->connect(to, how);
  ASSERT_TRUE(c.ok()) << c.error().reason;
  bool connected = false;
  ASSERT_TRUE(pump(**t, [&](const Event& e) { connected |= e.kind == EventKind::kConnected; }, [&] { return connected; }));
  sockaddr_in from{};
  socklen_t from_len = sizeof from;
  const int peer = ::accept(lfd, reinterpret_cast<sockaddr*>(&from), &from_len);
  ASSERT_GE(peer, 0);
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
  EXPECT_STREQ(text, "127.0.0.2");  // bind_source
  int proto = 0;
  socklen_t plen = sizeof proto;
  ASSERT_EQ(::getsockopt((*t)->native_fd(*c), SOL_SOCKET, SO_PROTOCOL, &proto, &plen), 0);
  if ((*t)->features().missing.find("mptcp") == std::string::npos) {
    EXPECT_EQ(proto, IPPROTO_MPTCP);  // (over a plain-TCP listener it runs as TCP; the socket is MPTCP's)
  }
  char dev[IFNAMSIZ] = {};
  socklen_t dlen = sizeof dev;
  ASSERT_EQ(::getsockopt((*t)->native_fd(*c), SOL_SOCKET, SO_BINDTODEVICE, dev, &dlen), 0);
  EXPECT_STREQ(dev, "lo");
  ::close(peer);

  auto name = (*t)->connect(test::peer_addr("node.example.org", 20444), {});
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.error().offset, static_cast<std::uint32_t>(EDESTADDRREQ));
  net::ConnectOptions nodev;
  nodev.bind_device = "nosuchdev0";
  auto bad = (*t)->connect(to, nodev);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().offset, static_cast<std::uint32_t>(ENODEV));
  ::close(lfd);
}

TEST(UringTransport, ReceiveBufferStarvationLosesNothing) {
  UringConfig cfg;
  cfg.buf_count = 4;
  cfg.buf_size = 1024;
  auto t = UringTransport::create(cfg);
  ASSERT_TRUE(t.ok());
  auto port = (*t)->listen(test::loopback_addr(0));
  int fd = client_connect(*port);
  Bytes data(256 * 1024);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7 + i / 251);
  std::thread writer([&] { ::send(fd, data.data(), data.size(), 0); });
  Bytes got;
  std::vector<Event> held;  // the application holds buffers for a while
  ASSERT_TRUE(pump(
      **t,
      [&](const Event& e) {
        if (e.kind != EventKind::kData) return;
        got.insert(got.end(), e.data.begin(), e.data.end());
        held.push_back(e);
        if (held.size() == 4) {  // all buffers out: the kernel must wait, not drop
          for (auto& h : held) (*t)->release(h);
          held.clear();
        }
      },
      [&] { return got.size() == data.size(); }));
  for (auto& h : held) (*t)->release(h);
  writer.join();
  EXPECT_TRUE(got == data);
  EXPECT_GT((*t)->recv_nobufs(), 0u);  // the starved path really ran
  ::close(fd);
}

// hold() pauses a connection: nothing more is read (TCP's window fills and holds the
// sender back), what was kept comes back first at resume(), every byte in order, and
// a close from the peer meanwhile comes after them. close() of a held connection gives
// its buffers back (a few buffers only: a leak would starve the next connection).
TEST(UringTransport, HoldPausesReadingAndResumeDeliversEveryByteInOrder) {
  UringConfig cfg;
  cfg.buf_count = 8;
  cfg.buf_size = 4096;
  auto t = UringTransport::create(cfg);
  ASSERT_TRUE(t.ok());
  auto port = (*t)->listen(test::loopback_addr(0));
  ASSERT_TRUE(port.ok());
  for (int round = 0; round < 2; ++round) {
    const bool close_while_held = round == 1;
    int fd = client_connect(*port);
    const int sndbuf = 64 * 1024;  // so the socket buffers fill well before the data ends
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    Bytes data(16 * 1024 * 1024);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 31 + i / 977 + static_cast<std::size_t>(round));
    ASSERT_EQ(::send(fd, data.data(), 1000, 0), 1000);
    ConnId c = kNoConn;
    Bytes got;
    bool held = false, closed = false;
    std::size_t data_events_while_held = 0;
    auto on = [&](const Event& e) {
      if (e.kind == EventKind::kAccepted) c = e.conn;
      if (e.kind == EventKind::kClosed && e.conn == c) closed = true;
      if (e.kind != EventKind::kData) return;
      if (held) {
        ++data_events_while_held;
        return (*t)->hold(e, 0);
      }
      if (got.empty()) {  // the first read: keep all but its first 300 bytes
        got.insert(got.end(), e.data.begin(), e.data.begin() + 300);
        held = true;
        return (*t)->hold(e, 300);
      }
      got.insert(got.end(), e.data.begin(), e.data.end());
      (*t)->release(e);
    };
    ASSERT_TRUE(pump(**t, on, [&] { return held; }));
    // The rest cannot all be written: nobody reads it.
    std::size_t sent = 1000;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (sent < data.size() && Clock::now() < deadline) {
      ssize_t r = ::send(fd, data.data() + sent, data.size() - sent, MSG_DONTWAIT);
      if (r > 0) sent += static_cast<std::size_t>(r);
      else if (errno == EAGAIN) {
        Event evs[16];
        for (std::size_t i = 0, n = (*t)->poll(evs, 20); i < n; ++i) on(evs[i]);
        if (::send(fd, data.data() + sent, data.size() - sent, MSG_DONTWAIT) < 0 && errno == EAGAIN) break;
      }
    }
    EXPECT_LT(sent, data.size()) << "the paused connection was read";
    // A while later, still nothing delivered.
    pump(**t, on, [&, until = Clock::now() + std::chrono::milliseconds(200)] { return Clock::now() > until; });
    EXPECT_EQ(got.size(), 300u);
    if (close_while_held) {
      (*t)->close(c);
      ASSERT_TRUE(pump(**t, on, [&] { return closed; }));
      ::close(fd);
      continue;
    }
    held = false;
    (*t)->resume(c);
    std::thread rest([&] {
      ::send(fd, data.data() + sent, data.size() - sent, 0);
      ::shutdown(fd, SHUT_WR);
    });
    ASSERT_TRUE(pump(**t, on, [&] { return closed; }));
    rest.join();
    EXPECT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data);
    ::close(fd);
  }
  // Every buffer came back: a new connection reads 1 MiB through the 8 buffers.
  int fd = client_connect(*port);
  Bytes more(1 << 20, 0x42);
  std::thread writer([&] { ::send(fd, more.data(), more.size(), 0); });
  std::size_t n = 0;
  ASSERT_TRUE(pump(**t, [&](const Event& e) {
    if (e.kind != EventKind::kData) return;
    n += e.data.size();
    (*t)->release(e);
  }, [&] { return n == more.size(); }));
  writer.join();
  ::close(fd);
}

// Paused connections hold no receive buffers: what they keep is copied out. With
// cautious reads an unproven connection reads one buffer at a time, so a pause keeps at
// most one buffer's worth however much it sent. 64 such connections, each pushing
// 256 kB and held at its first byte, leave an 8-buffer ring free for the next
// connection; trust_reads() then lets a connection read greedily again.
TEST(UringTransport, HeldConnectionsKeepNoReceiveBuffersAndCautiousReadsBoundWhatTheyKeep) {
  UringConfig cfg;
  cfg.buf_count = 8;
  cfg.buf_size = 4096;
  cfg.cautious_reads = true;
  cfg.max_conns = 128;
  auto t = UringTransport::create(cfg);
  ASSERT_TRUE(t.ok());
  auto port = (*t)->listen(test::loopback_addr(0));
  ASSERT_TRUE(port.ok());
  constexpr int kHeld = 64;
  const Bytes junk(256 * 1024, 0x61);
  std::vector<int> fds;
  std::map<ConnId, bool> held;
  auto on = [&](const Event& e) {
    if (e.kind == EventKind::kAccepted) held[e.conn] = false;
    if (e.kind != EventKind::kData) return;
    held[e.conn] = true;
    (*t)->hold(e, 1);
  };
  for (int i = 0; i < kHeld; ++i) {
    const int fd = client_connect(*port);
    for (std::size_t off = 0; off < junk.size();) {
      const ssize_t r = ::send(fd, junk.data() + off, junk.size() - off, MSG_DONTWAIT);
      if (r <= 0) break;
      off += static_cast<std::size_t>(r);
    }
    fds.push_back(fd);
  }
  ASSERT_TRUE(pump(**t, on, [&] {
    std::size_t n = 0;
    for (auto& [c, h] : held) n += h;
    return n == kHeld;
  }));
  pump(**t, on, [&, until = Clock::now() + std::chrono::milliseconds(100)] { return Clock::now() > until; });
  EXPECT_LE((*t)->held_bytes(), std::size_t{kHeld} * cfg.buf_size);
  EXPECT_GT((*t)->held_bytes(), 0u);
  // The ring is free: a new connection, trusted, reads 1 MiB through it.
  int fd = client_connect(*port);
  Bytes more(1 << 20, 0x42);
  std::thread writer([&] { ::send(fd, more.data(), more.size(), 0); });
  std::size_t n = 0;
  ConnId fresh = kNoConn;
  ASSERT_TRUE(pump(**t, [&](const Event& e) {
    if (e.kind == EventKind::kAccepted) {
      fresh = e.conn;
      (*t)->trust_reads(e.conn);
    }
    if (e.kind != EventKind::kData) return;
    if (e.conn != fresh) return (*t)->hold(e, 0);
    n += e.data.size();
    (*t)->release(e);
  }, [&] { return n == more.size(); }));
  writer.join();  // (with buffers kept by the held connections it could never have)
  // Resumed, a held connection delivers what it kept and then the rest, in order.
  const ConnId first = held.begin()->first;
  (*t)->resume(first);
  std::size_t got = 1;  // its first byte was consumed before the hold
  ASSERT_TRUE(pump(**t, [&](const Event& e) {
    if (e.kind != EventKind::kData) return;
    if (e.conn != first) return (*t)->hold(e, 0);
    for (std::uint8_t b : e.data) EXPECT_EQ(b, 0x61);
    got += e.data.size();
    (*t)->release(e);
  }, [&] { return got >= 128 * 1024; }));
  for (int f : fds) ::close(f);
  ::close(fd);
}

// A peer that sends its last bytes and closes while its connection is held: the bytes
// come first at resume(), then the close.
TEST(UringTransport, APeerCloseWhileHeldComesAfterTheKeptBytes) {
  auto t = UringTransport::create({});
  ASSERT_TRUE(t.ok());
  auto port = (*t)->listen(test::loopback_addr(0));
  int fd = client_connect(*port);
  ASSERT_EQ(::send(fd, "abcdef", 6, 0), 6);
  ConnId c = kNoConn;
  std::string got;
  bool held = false, closed = false;
  auto on = [&](const Event& e) {
    if (e.kind == EventKind::kAccepted) c = e.conn;
    if (e.kind == EventKind::kClosed && e.conn == c) closed = true;
    if (e.kind != EventKind::kData) return;
    if (held) return (*t)->hold(e, 0);
    if (got.empty()) {
      got.push_back(static_cast<char>(e.data[0]));
      held = true;
      return (*t)->hold(e, 1);
    }
    got.append(reinterpret_cast<const char*>(e.data.data()), e.data.size());
    (*t)->release(e);
  };
  ASSERT_TRUE(pump(**t, on, [&] { return held; }));
  ASSERT_EQ(::send(fd, "ghij", 4, 0), 4);
  ::shutdown(fd, SHUT_WR);
  pump(**t, on, [&, until = Clock::now() + std::chrono::milliseconds(100)] { return Clock::now() > until || closed; });
  EXPECT_FALSE(closed);  // not while held
  held = false;
  (*t)->resume(c);
  ASSERT_TRUE(pump(**t, on, [&] { return closed; }));
  EXPECT_EQ(got, "abcdefghij");
  ::close(fd);
}

// A connection id is reused only after its kClosed was handed out: with a close and a
// new accept completing in the same poll, a new connection must never get an id whose
// old connection's close comes after it (the application would then close the new one).
TEST(UringTransport, AnIdIsNotReusedBeforeItsCloseIsHandedOut) {
  UringConfig cfg;
  cfg.max_conns = 3;  // one held throughout, one closing, one spare
  auto t = UringTransport::create(cfg);
  ASSERT_TRUE(t.ok());
  auto port = (*t)->listen(test::loopback_addr(0));
  ASSERT_TRUE(port.ok());
  std::map<ConnId, bool> open;  // id → an accepted connection not yet closed
  int violations = 0, accepts = 0;
  ConnId newest = kNoConn;
  auto on = [&](const Event& e) {
    if (e.kind == EventKind::kAccepted) {
      if (open[e.conn]) ++violations;  // the old one's close has not come yet
      open[e.conn] = true;
      newest = e.conn;
      ++accepts;
    }
    if (e.kind == EventKind::kClosed) open[e.conn] = false;
    if (e.kind == EventKind::kData) (*t)->release(e);
  };
  const int keep = client_connect(*port);
  ASSERT_TRUE(pump(**t, on, [&] { return accepts == 1; }));
  std::vector<int> fds;
  fds.push_back(client_connect(*port));
  for (int round = 0; round < 30; ++round) {
    ASSERT_TRUE(pump(**t, on, [&] { return accepts == round + 2; })) << round;
    // Close the newest from our side; the next client connects before we poll again, so
    // the close and the accept complete together.
    (*t)->close(newest);
    fds.push_back(client_connect(*port));
  }
  EXPECT_EQ(violations, 0);
  for (int fd : fds) ::close(fd);
  ::close(keep);
}

TEST(UringTransport, LocalCloseReachesThePeer) {
  auto t = UringTransport::create({});
  auto port = (*t)->listen(test::loopback_addr(0));
  int fd = client_connect(*port);
  ConnId c = kNoConn;
  ASSERT_TRUE(pump(**t, [&](const Event& e) { if (e.kind == EventKind::kAccepted) c = e.conn; }, [&] { return c != kNoConn; }));
  (*t)->close(c);
  bool closed = false;
  ASSERT_TRUE(pump(**t, [&](const Event& e) { closed |= e.kind == EventKind::kClosed && e.conn == c; }, [&] { return closed; }));
  char b;
  EXPECT_EQ(::recv(fd, &b, 1, 0), 0);  // EOF at the peer
  EXPECT_FALSE((*t)->send(c, nullptr, 0).ok());
  ::close(fd);
}

// A transport that is destroyed lets go of its listening port at once, so the next
// relay (or test) can listen there straight away. The ring's pending accept holds the
// socket until the kernel's asynchronous ring teardown cancels it; closing the fd alone
// left the port in LISTEN for a moment after the destructor returned (EADDRINUSE).
TEST(UringTransport, ADestroyedTransportFreesItsListeningPortAtOnce) {
  std::uint16_t port = 0;
  for (int round = 0; round < 50; ++round) {
    auto t = UringTransport::create({});
    ASSERT_TRUE(t.ok());
    auto l = (*t)->listen(test::loopback_addr(port));
    ASSERT_TRUE(l.ok()) << "round " << round << ": " << l.error().reason << ": "
                        << std::strerror(static_cast<int>(l.error().offset));
    port = *l;
    Event evs[8];
    (*t)->poll(evs, 0);  // the accept is in the kernel
  }
}

TEST(UringTransport, ReportsKernelFeatures) {
  auto t = UringTransport::create({});
  ASSERT_TRUE(t.ok());
  // This machine's kernel (6.x) has them all; elsewhere `missing` must name what is absent.
  const auto& f = (*t)->features();
  EXPECT_EQ(f.single_issuer && f.defer_taskrun && f.fixed_buffers, f.missing.empty()) << f.missing;
}

TEST(UringTransport, FanOutFromRegisteredBuffersZeroCopy) {
  // One 1 MiB message in a registered pool slot, sent to 4 sockets: every byte arrives,
  // the sends went out as zero-copy sends of the fixed buffer, and once the kernel is
  // done (notifications) the slot is back in the pool.
  auto t = UringTransport::create({});
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*t)->features().fixed_buffers) << "kernel lacks: " << (*t)->features().missing;
  auto port = (*t)->listen(test::loopback_addr(0));
  ASSERT_TRUE(port.ok());
  constexpr int kClients = 4;
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) fds.push_back(client_connect(*port));
  std::vector<ConnId> conns;
  ASSERT_TRUE(pump(**t, [&](const Event& e) { if (e.kind == EventKind::kAccepted) conns.push_back(e.conn); },
                   [&] { return conns.size() == kClients; }));
  SharedBuf* buf = (*t)->alloc(1 << 20);
  ASSERT_NE(buf, nullptr);
  ASSERT_TRUE((*t)->pool()->owns(buf->bytes().data()));
  EXPECT_EQ((*t)->pool()->in_use(), 1u);
  auto fill = buf->fill();
  for (std::size_t i = 0; i < fill.size(); ++i) fill[i] = static_cast<std::uint8_t>(i * 7 + i / 4096);
  for (ConnId c : conns) ASSERT_TRUE((*t)->send(c, buf, 1).ok());
  const Bytes expect(buf->bytes().begin(), buf->bytes().end());
  buf->unref();  // the sends hold their own references
  std::vector<Bytes> got(kClients);
  std::vector<std::thread> readers;
  for (int i = 0; i < kClients; ++i)
    readers.emplace_back([&, i] { got[static_cast<std::size_t>(i)] = read_exact(fds[static_cast<std::size_t>(i)], expect.size()); });
  int sent = 0;
  ASSERT_TRUE(pump(**t, [&](const Event& e) { sent += e.kind == EventKind::kSent; }, [&] { return sent == kClients; }));
  for (auto& r : readers) r.join();
  for (const auto& g : got) EXPECT_TRUE(g == expect);
  EXPECT_GE((*t)->fixed_sends(), static_cast<std::uint64_t>(kClients));
  ASSERT_TRUE(pump(**t, [](const Event&) {}, [&] { return (*t)->pool()->in_use() == 0; }))
      << "the slot never came back (notifications lost)";
  // A transaction-sized buffer from the pool is copied, not sent zero-copy (below
  // zc_min_bytes pinning pages costs more than copying them).
  const std::uint64_t zc_before = (*t)->fixed_sends();
  SharedBuf* small = (*t)->alloc(300);
  ASSERT_TRUE((*t)->pool()->owns(small->bytes().data()));
  std::memset(small->fill().data(), 0x3c, 300);
  ASSERT_TRUE((*t)->send(conns[0], small, 2).ok());
  small->unref();
  int small_sent = 0;
  ASSERT_TRUE(pump(**t, [&](const Event& e) { small_sent += e.kind == EventKind::kSent; }, [&] { return small_sent == 1; }));
  EXPECT_EQ(read_exact(fds[0], 300), Bytes(300, 0x3c));
  EXPECT_EQ((*t)->fixed_sends(), zc_before);
  EXPECT_EQ((*t)->pool()->in_use(), 0u);
  for (int fd : fds) ::close(fd);
}

// MPTCP as this kernel offers it: the probe's verdict on zero-copy agrees with its list
// of refused options. A listener made with `mptcp` serves an MPTCP client as MPTCP (a
// subflow) and a plain TCP client as before (a fallback: the kernel hands it a TCP
// subflow socket, which refuses zero-copy sends like MPTCP's own); a plain listener's
// connection is plain TCP. A 1 MiB send from the registered pool reaches all three
// intact; the plain TCP connection still sends zero-copy (a refusal on one of MPTCP's
// sockets turns zero-copy off for those only).
TEST(UringTransport, MptcpListenerServesMptcpAndPlainPeersAndTcpKeepsZeroCopy) {
  auto t = UringTransport::create({});
  ASSERT_TRUE(t.ok());
  const MptcpSupport& m = (*t)->mptcp();
  if (!m.available) GTEST_SKIP() << "this kernel: MPTCP " << m.describe();
  EXPECT_EQ(m.zerocopy, std::find(m.refused.begin(), m.refused.end(), "SO_ZEROCOPY") == m.refused.end()) << m.describe();
  ASSERT_TRUE((*t)->features().fixed_buffers) << (*t)->features().missing;
  auto mp_port = (*t)->listen(test::loopback_addr(0), 64, 0, true);
  auto tcp_port = (*t)->listen(test::loopback_addr(0), 64, 1, false);
  ASSERT_TRUE(mp_port.ok() && tcp_port.ok());
  std::vector<ConnId> accepted;
  auto accept_one = [&] {
    const std::size_t want = accepted.size() + 1;
    return pump(**t, [&](const Event& e) { if (e.kind == EventKind::kAccepted) accepted.push_back(e.conn); },
                [&] { return accepted.size() == want; });
  };
  const int mp = ::socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
  ASSERT_GE(mp, 0) << std::strerror(errno);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(*mp_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(mp, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
  ASSERT_TRUE(accept_one());
  const int fallback = client_connect(*mp_port);
  ASSERT_TRUE(accept_one());
  const int plain = client_connect(*tcp_port);
  ASSERT_TRUE(accept_one());
  EXPECT_EQ((*t)->path_state(accepted[0]).kind, PathState::Kind::kMptcp);
  EXPECT_GE((*t)->path_state(accepted[0]).subflows, 1);
  EXPECT_EQ((*t)->path_state(accepted[1]).kind, PathState::Kind::kFallback);
  EXPECT_EQ((*t)->path_state(accepted[2]).kind, PathState::Kind::kTcp);

  SharedBuf* buf = (*t)->alloc(1 << 20);
  ASSERT_NE(buf, nullptr);
  auto fill = buf->fill();
  for (std::size_t i = 0; i < fill.size(); ++i) fill[i] = static_cast<std::uint8_t>(i * 13 + i / 977);
  const Bytes expect(buf->bytes().begin(), buf->bytes().end());
  const std::uint64_t zc_before = (*t)->fixed_sends();
  std::vector<Bytes> got(3);
  const int fds[3] = {mp, fallback, plain};
  for (int i = 0; i < 3; ++i) {  // one at a time: the MPTCP ones first
    ASSERT_TRUE((*t)->send(accepted[static_cast<std::size_t>(i)], buf, 1).ok());
    std::thread reader([&, i] { got[static_cast<std::size_t>(i)] = read_exact(fds[i], expect.size()); });
    int sent = 0;
    ASSERT_TRUE(pump(**t, [&](const Event& e) { sent += e.kind == EventKind::kSent; }, [&] { return sent == 1; }));
    reader.join();
    EXPECT_TRUE(got[static_cast<std::size_t>(i)] == expect) << "connection " << i;
  }
  buf->unref();
  EXPECT_TRUE((*t)->features().fixed_buffers) << (*t)->features().missing;
  EXPECT_GE((*t)->fixed_sends(), zc_before + 1) << "the plain TCP connection's send was not zero-copy";
  for (int fd : fds) ::close(fd);
}

TEST(BufPool, SizeClassesExhaustionAndReturn) {
  const BufPool::Class classes[] = {{64 * 1024, 1}, {4096, 2}};
  auto pool = BufPool::create(classes);
  ASSERT_TRUE(pool.ok());
  BufPool& p = **pool;
  SharedBuf* a = p.alloc(100);    // 4 KiB class
  SharedBuf* b = p.alloc(4096);   // 4 KiB class, last slot
  SharedBuf* c = p.alloc(10);     // 4 KiB full: the 64 KiB class
  SharedBuf* d = p.alloc(10);     // everything in use
  SharedBuf* e = p.alloc(70000);  // larger than any slot
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(d, nullptr);
  EXPECT_EQ(e, nullptr);
  EXPECT_EQ(p.exhausted(), 2u);
  EXPECT_EQ(a->bytes().size(), 100u);
  EXPECT_TRUE(p.owns(a->bytes().data()) && p.owns(c->bytes().data()));
  int on_stack = 0;
  EXPECT_FALSE(p.owns(&on_stack));
  EXPECT_EQ(p.in_use(), 3u);
  // Any byte of a slot leads back to its buffer (a segment of a send points into the
  // middle of one); bytes outside the arena to none.
  EXPECT_EQ(p.holder(a->bytes().data()), a);
  EXPECT_EQ(p.holder(b->bytes().data() + 4095), b);
  EXPECT_EQ(p.holder(c->bytes().data() + 9), c);
  EXPECT_EQ(p.holder(c->bytes().data() + 60000), c);
  EXPECT_EQ(p.holder(&on_stack), nullptr);
  a->ref();
  a->unref();  // still referenced once
  EXPECT_EQ(p.in_use(), 3u);
  a->unref();
  b->unref();
  c->unref();
  EXPECT_EQ(p.in_use(), 0u);
  SharedBuf* again = p.alloc(4000);  // the freed slots are reused
  ASSERT_NE(again, nullptr);
  EXPECT_TRUE(p.owns(again->bytes().data()));
  again->unref();
}

}  // namespace
}  // namespace relay::dp
