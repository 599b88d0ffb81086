// Authenticated peers attacking the real relay (`stacks-relay run`) over loopback while
// honest test peers keep relaying through it (issue 15, items 2 and 4):
// - a peer that sends invalid pushes over and over is dropped as misbehaving;
// - a peer that floods StackerDB chunks (each a new object) has them throttled to a
//   node's 4 MiB/s, and transactions keep flowing meanwhile.
#include <gtest/gtest.h>

#include <chrono>

#include "relay/codec/message.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/test_data.hpp"
#include "tests/support/uring_peers.hpp"

namespace relay::test {
namespace {

using namespace relay::codec;

// A relay with honest peers a and b and an attacker x, all authenticated.
class PeerAttack : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(relay.port, 0);
    ASSERT_TRUE(net.all_authenticated());
  }
  RelayRun relay{std::vector<std::string>{}};
  Peers net;
  Peer& a = net.add(100, relay.port);
  Peer& b = net.add(101, relay.port);
  Peer& x = net.add(102, relay.port);
};

TEST_F(PeerAttack, RepeatedInvalidPushesGetTheSenderDropped) {
  for (std::uint32_t i = 0; i < 80; ++i) {
    StacksTransaction t = signed_test_tx(5000 + i);
    t.auth.origin.nonce += 1;  // no longer what was signed: invalid
    compute_ids(t);
    x.send(x.conv->sign(i, Transaction{t}));
  }
  EXPECT_TRUE(net.relays_transactions(a, b, 1, 20, 10));  // served meanwhile
  ASSERT_TRUE(net.pump_until([&] { return x.closed; }, 10));
  const auto& k = relay.counters();
  EXPECT_EQ(k.closed_invalid_pushes.load(), 1u);
  EXPECT_GE(k.drop_invalid.load(), 64u);
  EXPECT_TRUE(b.pushes.size() >= 20u && !a.closed && !b.closed);
  EXPECT_EQ(relay.stop(), 0);
}

TEST_F(PeerAttack, AChunkFloodIsThrottledAndTransactionsKeepFlowing) {
  // 48 distinct 1 MB chunks at once: far past a 16 MiB burst at 4 MiB/s.
  for (std::uint32_t i = 0; i < 48; ++i) x.send(x.conv->sign(i, test_chunk(i, 1'000'000)));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(net.relays_transactions(a, b, 1, 20, 10));
  const auto& k = relay.counters();
  ASSERT_TRUE(net.pump_until([&] { return k.drop_chunk_throttled.load() > 0; }, 15));
  net.pump_until([&] { return false; }, 2);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // What was relayed of the flood: the burst plus 4 MiB/s since, not all of it.
  const std::uint64_t relayed_chunks = 48 - k.drop_chunk_throttled.load();
  EXPECT_LE(relayed_chunks * 1'000'000, (std::uint64_t{16} << 20) + static_cast<std::uint64_t>(secs * (4 << 20)) + 2'000'000);
  EXPECT_GE(k.drop_chunk_throttled.load(), 10u);
  EXPECT_FALSE(x.closed);  // throttled, not punished (as on a node)
  EXPECT_FALSE(a.closed || b.closed);
  EXPECT_EQ(relay.stop(), 0);
}

}  // namespace
}  // namespace relay::test
