// The relay engine over real kernel TCP (io_uring) on loopback: stock-node test peers,
// each with its own io_uring transport, relaying a real mainnet Nakamoto block.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <chrono>

#include "dataplane/engine/relay_engine.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
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

TEST(RelayEngineUring, RealNakamotoBlockOverLoopback) {
  // The real mainnet block, and a reward set made of its own signers (24 of 32 weight).
  auto rows = test::read_tsv_records("real-data/mainnet-nakamoto-block.tsv");
  auto blk = decode_exact<NakamotoBlock>(test::hex(rows[0]["block_hex"]), read_nakamoto_block);
  ASSERT_TRUE(blk.ok());
  ctl::ControlOptions o;
  for (const auto& sig : blk->header.signer_signature)
    o.reward_set.push_back({crypto::recover(blk->block_hash, sig, crypto::LowS::kIgnore)->compressed(), 1});
  for (int i = 0; i < 8; ++i) o.reward_set.push_back({crypto::SecretKey::generate()->public_key().compressed(), 1});

  auto rt = UringTransport::create({});
  ASSERT_TRUE(rt.ok());
  auto port = (*rt)->listen(test::loopback_addr(0));
  ASSERT_TRUE(port.ok());
  test::RelayHarness<UringTransport> relay(**rt, test::make_local_peer(7), o);
  const ctl::LocalPeer& relay_id = relay.id;

  constexpr int kPeers = 4;
  std::vector<Peer> peers;
  for (int i = 0; i < kPeers; ++i) {
    Peer p;
    p.t = std::move(UringTransport::create({}).value());
    p.p = std::make_unique<test::TestPeer<UringTransport>>(*p.t, static_cast<std::uint8_t>(30 + i));
    p.p->dial(test::loopback_addr(*port));
    peers.push_back(std::move(p));
  }
  auto start = std::chrono::steady_clock::now();
  std::uint64_t now = 1;
  auto pump_until = [&](auto&& done) {
    while (!done()) {
      if (std::chrono::steady_clock::now() - start > std::chrono::seconds(20)) return false;
      ++now;
      relay.run_once(now, 1);
      for (auto& p : peers) p.p->pump(now, 0);
    }
    return true;
  };
  ASSERT_TRUE(pump_until([&] {
    bool all = relay.dp->authenticated_sessions() == kPeers;
    for (auto& p : peers) all &= p.p->authenticated();
    return all;
  }));

  // Peer 0 pushes the block; every other peer gets it once, identical bytes.
  NakamotoBlocks nb;
  nb.blocks.push_back(*blk);
  peers[0].p->send(peers[0].p->conv->sign(77, nb));
  ASSERT_TRUE(pump_until([&] {
    for (int i = 1; i < kPeers; ++i)
      if (peers[static_cast<std::size_t>(i)].p->pushes.empty()) return false;
    return true;
  }));
  for (int i = 1; i < kPeers; ++i) {
    auto& got = peers[static_cast<std::size_t>(i)].p->pushes;
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], peers[1].p->pushes[0]);
  }
  EXPECT_TRUE(peers[0].p->pushes.empty());
  auto m = decode_message(peers[1].p->pushes[0]);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<NakamotoBlocks>(m->payload).blocks[0].block_id, blk->block_id);
  EXPECT_TRUE(validate::verify_message(peers[1].p->pushes[0], relay_id.key.public_key()));
  EXPECT_EQ(relay.c().relayed.load(), 1u);
  EXPECT_EQ(relay.c().drop_invalid.load(), 0u);
}

}  // namespace
}  // namespace relay::dp
