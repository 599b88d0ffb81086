// The relay engine over real kernel TCP (io_uring) on loopback: stock-node test peers,
// each with its own io_uring transport, relaying a real mainnet Nakamoto block.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <chrono>

#include "dataplane/engine/relay_engine.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
#include "bench/sim/sim_data.hpp"
#include "tests/support/test_data.hpp"
#include "tests/support/relay_harness.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::dp {
namespace {

using namespace relay::codec;

struct Peer {
  std::unique_ptr<UringTransport> t;
  std::unique_ptr<test::TestPeer<UringTransport>> p;
};

// A relay on its own io_uring transport and stock-node test peers dialing it, each with
// its own transport, all over loopback and pumped from this thread.
struct LoopbackNet {
  std::unique_ptr<UringTransport> rt;
  std::unique_ptr<test::RelayHarness<UringTransport>> relay;
  std::vector<Peer> peers;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::uint64_t now = 1;

  // setup: the relay listening, `n` peers (keys from `first_key` on) authenticated with it.
  void setup(const ctl::ControlOptions& o, int n, std::uint8_t first_key) {
    auto t = UringTransport::create({});
    ASSERT_TRUE(t.ok());
    rt = std::move(*t);
    auto port = rt->listen(test::loopback_addr(0));
    ASSERT_TRUE(port.ok());
    relay = std::make_unique<test::RelayHarness<UringTransport>>(*rt, test::make_local_peer(7), o);
    for (int i = 0; i < n; ++i) {
      Peer p;
      p.t = std::move(UringTransport::create({}).value());
      p.p = std::make_unique<test::TestPeer<UringTransport>>(*p.t, static_cast<std::uint8_t>(first_key + i));
      p.p->dial(test::loopback_addr(*port));
      peers.push_back(std::move(p));
    }
    ASSERT_TRUE(pump_until([&] {
      bool all = relay->dp->authenticated_sessions() == peers.size();
      for (auto& q : peers) all &= q.p->authenticated();
      return all;
    }));
  }
  template <typename Done>
  bool pump_until(Done&& done) {
    while (!done()) {
      if (std::chrono::steady_clock::now() - start > std::chrono::seconds(30)) return false;
      ++now;
      relay->run_once(now, 1);
      for (auto& p : peers) p.p->pump(now, 0);
    }
    return true;
  }
  // every_other_has: each peer but the first has received at least n pushes.
  bool every_other_has(std::size_t n) {
    return pump_until([&] {
      for (std::size_t i = 1; i < peers.size(); ++i)
        if (peers[i].p->pushes.size() < n) return false;
      return true;
    });
  }
  test::TestPeer<UringTransport>& peer(std::size_t i) { return *peers[i].p; }
  const link::DpCounters& c() { return relay->c(); }
};

TEST(RelayEngineUring, RealNakamotoBlockOverLoopback) {
  // The real mainnet block, and a reward set made of its own signers (24 of 32 weight).
  auto rows = test::read_tsv_records("real-data/mainnet-nakamoto-block.tsv");
  auto blk = decode_exact<NakamotoBlock>(test::hex(rows[0]["block_hex"]), read_nakamoto_block);
  ASSERT_TRUE(blk.ok());
  ctl::ControlOptions o;
  for (const auto& sig : blk->header.signer_signature)
    o.reward_set.push_back({crypto::recover(blk->block_hash, sig, crypto::LowS::kIgnore)->compressed(), 1});
  for (int i = 0; i < 8; ++i) o.reward_set.push_back({crypto::SecretKey::generate()->public_key().compressed(), 1});

  constexpr std::size_t kPeers = 4;
  LoopbackNet net;
  ASSERT_NO_FATAL_FAILURE(net.setup(o, kPeers, 30));

  // Peer 0 pushes the block; every other peer gets it once, identical bytes.
  NakamotoBlocks nb;
  nb.blocks.push_back(*blk);
  net.peer(0).send(net.peer(0).conv->sign(77, nb));
  ASSERT_TRUE(net.every_other_has(1));
  for (std::size_t i = 1; i < kPeers; ++i) {
    auto& got = net.peer(i).pushes;
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], net.peer(1).pushes[0]);
  }
  EXPECT_TRUE(net.peer(0).pushes.empty());
  auto m = decode_message(net.peer(1).pushes[0]);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<NakamotoBlocks>(m->payload).blocks[0].block_id, blk->block_id);
  EXPECT_TRUE(validate::verify_message(net.peer(1).pushes[0], net.relay->id.key.public_key()));
  EXPECT_EQ(net.c().relayed.load(), 1u);
  EXPECT_EQ(net.c().drop_invalid.load(), 0u);
}

// A 1 MiB block over real sockets is read in chunks (SO_RCVLOWAT, set from what the
// message still has due) and relayed whole; the marks never exceed what is due, so the
// small push right behind it on the same connection is not held back, and the socket is
// back to "any byte" afterwards.
TEST(RelayEngineUring, LargeBodiesAreReadInChunksAndWhatFollowsIsNotHeldBack) {
  sim::SignerSet signers(4);
  const auto miner = sim::key_from_byte(9, 1);
  ctl::ControlOptions o;
  o.reward_set = signers.reward_set;
  constexpr std::size_t kPeers = 3;
  LoopbackNet net;
  ASSERT_NO_FATAL_FAILURE(net.setup(o, kPeers, 40));
  const std::uint64_t sets_before = net.rt->lowat_sets();

  auto push_of = [](NakamotoBlock blk) {
    NakamotoBlocks nb;
    nb.blocks.push_back(std::move(blk));
    return nb;
  };
  const Bytes big = net.peer(0).conv->sign(1, push_of(sim::nakamoto_block(60, signers, miner, 1 << 20)));
  const Bytes big2 = net.peer(0).conv->sign(3, push_of(sim::nakamoto_block(62, signers, miner, 1 << 20)));
  const Bytes small = net.peer(0).conv->sign(2, push_of(sim::nakamoto_block(61, signers, miner, 2 * 1024)));
  ASSERT_GT(big.size(), std::size_t{1} << 20);
  // Alone first, its last 3 000 bytes sent only once the relay has read the rest: nothing
  // behind them could make up for a mark above the message's last byte.
  const std::size_t cut = big.size() - 3000;
  const std::uint64_t in_before = net.c().bytes_in.load();
  net.peer(0).send(Bytes(big.begin(), big.begin() + static_cast<long>(cut)));
  ASSERT_TRUE(net.pump_until([&] { return net.c().bytes_in.load() - in_before >= cut; }));
  net.peer(0).send(Bytes(big.begin() + static_cast<long>(cut), big.end()));
  ASSERT_TRUE(net.every_other_has(1)) << "relayed " << net.c().relayed.load();
  // Then one right behind another on the same connection.
  net.peer(0).send(big2);
  net.peer(0).send(small);
  ASSERT_TRUE(net.every_other_has(3)) << "relayed " << net.c().relayed.load();
  for (std::size_t i = 1; i < kPeers; ++i) {
    const auto& got = net.peer(i).pushes;
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].size(), big.size() + kRelayDataSize);  // our relayer entry added
    EXPECT_EQ(got[1].size(), big2.size() + kRelayDataSize);
    EXPECT_EQ(got[2].size(), small.size() + kRelayDataSize);
  }
  EXPECT_EQ(net.c().blocks_streamed.load(), 2u);
  EXPECT_EQ(net.c().drop_invalid.load(), 0u);
  // Marks were set while the big body came in, and one put it back to a single byte.
  EXPECT_GE(net.rt->lowat_sets() - sets_before, 2u);
  const int fd = [&] {
    for (ConnId c = 0; c < 64; ++c)
      if (int f = net.rt->native_fd(c); f >= 0) {
        int v = 0;
        socklen_t len = sizeof v;
        if (::getsockopt(f, SOL_SOCKET, SO_RCVLOWAT, &v, &len) == 0 && v != 1) return f;
      }
    return -1;
  }();
  EXPECT_EQ(fd, -1) << "a socket was left waiting for more than one byte";
}

// The wake-up marks: never above what is due, never above the chunk, all of it at the
// end; a 2 MiB body takes a few dozen reads, the last of at most the tail.
// A relay listening on an MPTCP socket: a peer dialing with MPTCP runs MPTCP (the
// gauges count its session and its subflow), a stock peer runs plain TCP (a fallback,
// counted), pushes cross both ways; once they hang up the gauges are back to zero.
TEST(RelayEngineUring, MptcpAndPlainPeersAreCountedAndRelayed) {
  auto t = UringTransport::create({});
  ASSERT_TRUE(t.ok());
  if (!(*t)->mptcp().available) GTEST_SKIP() << "this kernel: MPTCP " << (*t)->mptcp().describe();
  LoopbackNet n;
  n.rt = std::move(*t);
  auto port = n.rt->listen(test::loopback_addr(0), 64, 0, true);
  ASSERT_TRUE(port.ok());
  n.relay = std::make_unique<test::RelayHarness<UringTransport>>(*n.rt, test::make_local_peer(7), ctl::ControlOptions{});
  for (int i = 0; i < 2; ++i) {
    Peer p;
    p.t = std::move(UringTransport::create({}).value());
    p.p = std::make_unique<test::TestPeer<UringTransport>>(*p.t, static_cast<std::uint8_t>(40 + i));
    net::ConnectOptions how;
    how.mptcp = i == 0;
    p.p->dial(test::loopback_addr(*port), how);
    n.peers.push_back(std::move(p));
  }
  ASSERT_TRUE(n.pump_until([&] { return n.relay->dp->authenticated_sessions() == 2; }));
  EXPECT_EQ(n.c().mptcp_sessions.load(), 1u);
  EXPECT_GE(n.c().mptcp_subflows.load(), 1u);
  EXPECT_EQ(n.c().mptcp_fallbacks.load(), 1u);
  auto& a = n.peer(0);
  auto& b = n.peer(1);
  a.send(a.conv->sign(1, Transaction{test::signed_test_tx(1)}));
  ASSERT_TRUE(n.pump_until([&] { return b.pushes.size() == 1; }));
  b.send(b.conv->sign(2, Transaction{test::signed_test_tx(2)}));
  ASSERT_TRUE(n.pump_until([&] { return a.pushes.size() == 1; }));
  for (auto& p : n.peers) p.t->close(p.p->conn);
  ASSERT_TRUE(n.pump_until([&] { return n.relay->dp->authenticated_sessions() == 0; }));
  EXPECT_EQ(n.c().mptcp_sessions.load(), 0u);
  EXPECT_EQ(n.c().mptcp_subflows.load(), 0u);
  EXPECT_EQ(n.c().mptcp_fallbacks.load(), 1u);
}

TEST(RxWakeBytes, NeverAboveWhatIsDueAndShrinkingToTheEnd) {
  EXPECT_EQ(rx_wake_bytes(0, 65536, 4096), 1u);
  EXPECT_EQ(rx_wake_bytes(1 << 20, 0, 4096), 1u);  // off
  EXPECT_EQ(rx_wake_bytes(300, 65536, 4096), 300u);
  EXPECT_EQ(rx_wake_bytes(4096, 65536, 4096), 4096u);
  EXPECT_EQ(rx_wake_bytes(6000, 65536, 4096), 4096u);
  EXPECT_EQ(rx_wake_bytes(100000, 65536, 4096), 50000u);
  EXPECT_EQ(rx_wake_bytes(2 << 20, 65536, 4096), 65536u);
  for (std::size_t due = 1; due < 300000; due += 997) {
    const std::size_t w = rx_wake_bytes(due, 65536, 4096);
    ASSERT_GE(w, 1u);
    ASSERT_LE(w, due);
    ASSERT_LE(w, 65536u);
  }
  std::size_t due = 2 << 20, reads = 0, last = 0;
  while (due != 0) {
    last = rx_wake_bytes(due, 65536, 4096);
    due -= last;  // each read brings exactly the mark (the fewest bytes it can)
    ++reads;
  }
  EXPECT_LE(reads, 45u);
  EXPECT_LE(last, 4096u);
}

}  // namespace
}  // namespace relay::dp
