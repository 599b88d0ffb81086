// Memory attacks against the real relay (`stacks-relay run`, both processes) over
// loopback TCP and across a veth to the relay on DPDK (relay_lab.hpp), while stock-node
// test peers keep relaying through it (issue 15, item 1):
// - connections that send a preamble claiming a 16 MB message and never shake hands;
// - authenticated peers that send most of a 16 MB message and then stall.
// Each asserts the dataplane's memory stays under its budget plus a fixed margin, that
// honest pushes still arrive within a bounded time while the attack runs, and that the
// attack is counted (and, where a node would, the attackers dropped).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/transport/dpdk/dpdk_transport.hpp"
#include "relay/codec/message.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/relay_lab.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/test_data.hpp"
#include "tests/support/uring_peers.hpp"

namespace relay::test {
namespace {

using namespace relay::codec;
using Clock = std::chrono::steady_clock;

// A well-formed preamble for the test network whose only hostile part is its claim.
Bytes claiming_preamble(std::uint32_t payload_len) {
  Preamble p;
  p.peer_version = 0x18000010;
  p.network_id = 1;
  p.payload_len = payload_len;
  p.burn_block_height = 900107;
  p.burn_stable_block_height = 900100;
  Bytes out;
  Writer w(out);
  write_preamble(w, p);
  return out;
}

// Connections that claim a 16 MB message before any handshake: each costs the relay its
// 165-byte preamble. The rest of what they send is not read (TCP holds them back), and
// the control plane drops them when the 5 s handshake time is up, as a node would.
class MemoryAttack : public ::testing::TestWithParam<const char*> {};

TEST_P(MemoryAttack, PreHandshakeClaimsOfHugeMessagesCostNothing) {
  RelayLab lab(GetParam(), 22, "");
  LAB_READY(lab);
  RelayRun& relay = lab.relay();
  Peers& net = lab.net;
  Peer& a = lab.add(60);
  Peer& b = lab.add(61);
  ASSERT_TRUE(net.all_authenticated());
  ASSERT_TRUE(net.relays_transactions(a, b, 1, 5, 10));
  const std::uint64_t rss0 = rss_bytes(relay.dp_pid);
  ASSERT_GT(rss0, 0u);

  constexpr int kAttackers = 64;
  const Bytes pre = claiming_preamble(kMaxMessageLen - 1);
  const Bytes junk(256 * 1024, 0x5a);
  std::vector<int> fds;
  std::uint64_t junk_sent = 0;
  for (int i = 0; i < kAttackers; ++i) {
    const int fd = lab.connect_raw();
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, pre.data(), pre.size(), 0), static_cast<ssize_t>(pre.size()));
    for (std::size_t off = 0; off < junk.size();) {  // as much of the "body" as TCP takes
      const ssize_t r = ::send(fd, junk.data() + off, junk.size() - off, MSG_DONTWAIT);
      if (r <= 0) break;
      off += static_cast<std::size_t>(r);
      junk_sent += static_cast<std::uint64_t>(r);
    }
    fds.push_back(fd);
  }
  // Honest pushes keep flowing while the attackers wait.
  EXPECT_TRUE(net.relays_transactions(a, b, 100, 20, 10));
  const auto& k = relay.counters();
  ASSERT_TRUE(net.pump_until([&] { return k.rx_waits_key.load() >= kAttackers; }, 10)) << k.rx_waits_key.load();
  const std::uint64_t rss1 = rss_bytes(relay.dp_pid);
  std::printf("dataplane RSS %llu -> %llu kB with %d attackers (%llu kB of their bodies sent)\n",
              static_cast<unsigned long long>(rss0 >> 10), static_cast<unsigned long long>(rss1 >> 10), kAttackers,
              static_cast<unsigned long long>(junk_sent >> 10));
  EXPECT_LT(rss1, rss0 + (std::uint64_t{16} << 20));  // each would have cost 16 MB before
  EXPECT_EQ(k.rx_heap_bodies.load(), 0u);
  EXPECT_GT(junk_sent, std::uint64_t{kAttackers} * 4096);  // they did send bodies

  // Dropped when the handshake time is up (5 s), every one of them.
  int dropped = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  for (int fd : fds) {
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    char c;
    while (Clock::now() < deadline) {
      const ssize_t r = ::recv(fd, &c, 1, 0);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        ++dropped;
        break;
      }
      net.pump_until([] { return false; }, 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ::close(fd);
  }
  EXPECT_EQ(dropped, kAttackers);
  EXPECT_FALSE(a.closed || b.closed);
  EXPECT_TRUE(net.relays_transactions(b, a, 200, 5, 10));
  EXPECT_EQ(relay.stop(), 0);
}

// Authenticated peers that send most of a 16 MB message and stall: bodies take the
// receive pool, then heap up to p2p.receive_budget, then wait unread; the dataplane's
// memory stays within the budget and small pushes keep flowing.
TEST_P(MemoryAttack, StalledLargeBodiesStayWithinTheReceiveBudget) {
  const std::uint64_t budget = std::uint64_t{96} << 20;  // the 56 MiB pool and 40 MiB of heap
  RelayLab lab(GetParam(), 23, "[p2p]\nreceive_budget = " + std::to_string(budget) + "\n");
  LAB_READY(lab);
  RelayRun& relay = lab.relay();
  Peers& net = lab.net;
  Peer& a = lab.add(70);
  Peer& b = lab.add(71);
  constexpr int kAttackers = 8;
  std::vector<Peer*> bad;
  for (int i = 0; i < kAttackers; ++i) bad.push_back(&lab.add(static_cast<std::uint8_t>(80 + i)));
  ASSERT_TRUE(net.all_authenticated());
  ASSERT_TRUE(net.relays_transactions(a, b, 1, 5, 10));
  const std::uint64_t rss0 = rss_bytes(relay.dp_pid);

  // 12 MB of a claimed 16 MB message each: no relayers, a transaction type byte, junk.
  const std::uint32_t claim = 16 * 1024 * 1024;
  Bytes msg = claiming_preamble(claim);
  msg.insert(msg.end(), {0, 0, 0, 0, static_cast<std::uint8_t>(MsgId::kTransaction)});
  msg.resize(msg.size() + 12 * 1024 * 1024, 0x77);
  for (Peer* p : bad) p->send(msg);
  const auto& k = relay.counters();
  // 1 in the pool's 16 MiB slot, 2 in heap (40 MiB), 5 waiting.
  EXPECT_TRUE(net.pump_until([&] { return k.rx_waits_budget.load() >= kAttackers - 3; }, 15)) << k.rx_waits_budget.load();
  EXPECT_TRUE(net.relays_transactions(a, b, 100, 20, 10));
  // Let what they sent land.
  net.pump_until([] { return false; }, 2);
  const std::uint64_t rss1 = rss_bytes(relay.dp_pid);
  std::printf("dataplane RSS %llu -> %llu kB; heap bodies %llu kB\n", static_cast<unsigned long long>(rss0 >> 10),
              static_cast<unsigned long long>(rss1 >> 10), static_cast<unsigned long long>(k.rx_heap_bytes.load() >> 10));
  EXPECT_LE(k.rx_heap_bytes.load(), budget - (std::uint64_t{56} << 20));
  // On DPDK the bytes the waiting peers' windows still let in are kept by the dataplane
  // (the kernel keeps them on io_uring), up to its held_max.
  const std::uint64_t held_max = lab.dpdk() ? dp::DpdkConfig{}.held_max : 0;
  std::printf("held aside %llu kB (%llu times left with the stack)\n", static_cast<unsigned long long>(k.port.rx_held_bytes.load() >> 10),
              static_cast<unsigned long long>(k.port.rx_refused_held.load()));
  EXPECT_LE(k.port.rx_held_bytes.load(), held_max);
  // The margin: 16 MiB; under AddressSanitizer 32 MiB more, for its allocator's redzones
  // and the freed chunks it keeps in quarantine, which RSS counts (af_packet measured
  // 73.6 MiB of growth there against 52 MiB in a dev build).
#if defined(__SANITIZE_ADDRESS__)
  constexpr std::uint64_t kMargin = std::uint64_t{48} << 20;
#else
  constexpr std::uint64_t kMargin = std::uint64_t{16} << 20;
#endif
  EXPECT_LT(rss1, rss0 + (std::uint64_t{40} << 20) + held_max + kMargin);  // the heap share, held, margin
  EXPECT_FALSE(a.closed || b.closed);
  EXPECT_EQ(relay.stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Backend, MemoryAttack, ::testing::ValuesIn(kLabBackends), lab_backend_name);

}  // namespace
}  // namespace relay::test
