#include "dataplane/engine/relay_engine.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "dataplane/transport/mem/mem_transport.hpp"
#include "tests/support/relay_harness.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::dp {
namespace {

using namespace relay::codec;

ctl::LocalPeer make_local(std::uint8_t b) { return test::make_local_peer(b); }
ctl::BurnView view() { return test::test_burn_view(); }

sockaddr_in6 port_addr(std::uint16_t p) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(p);
  return a;
}

struct TestNode {
  MemTransport t;
  test::TestPeer<MemTransport> peer;
  TestNode(MemNetwork& net, std::uint8_t key) : t(net), peer(t, key) {}
};

struct Net {
  MemNetwork net;
  std::unique_ptr<MemTransport> rt;
  std::unique_ptr<test::RelayHarness<MemTransport>> relay;
  std::vector<std::unique_ptr<TestNode>> nodes;
  std::uint64_t now = 1;

  explicit Net(std::size_t n, std::size_t chunk = 0, std::vector<Hash20> trusted = {}) {
    net.faults.max_chunk = chunk;
    rt = std::make_unique<MemTransport>(net, 1);
    ctl::ControlOptions co;
    co.trusted_pkhs = std::move(trusted);
    relay = std::make_unique<test::RelayHarness<MemTransport>>(*rt, make_local(7), co);
    for (std::size_t i = 0; i < n; ++i) add_node(static_cast<std::uint8_t>(20 + i));
    settle();
  }
  TestNode& add_node(std::uint8_t key) {
    nodes.push_back(std::make_unique<TestNode>(net, key));
    nodes.back()->peer.dial(port_addr(1));
    return *nodes.back();
  }
  void settle() {
    for (int round = 0; round < 20; ++round) {
      now += 1000;
      relay->run_once(now);
      for (auto& n : nodes) n->peer.pump(now);
    }
  }
  const link::DpCounters& c() const { return relay->c(); }
  ctl::LocalPeer& relay_id() { return relay->id; }
};

TEST(RelayEngine, HandshakesWithEveryNode) {
  Net n(3);
  EXPECT_EQ(n.relay->dp->authenticated_sessions(), 3u);
  for (auto& node : n.nodes) EXPECT_TRUE(node->peer.authenticated());
}

TEST(RelayEngine, TransactionReachesEveryOtherNodeOnceSignedByTheRelay) {
  Net n(3, 13);  // deliveries cut into ≤ 13-byte pieces: the framer streams
  auto& a = n.nodes[0]->peer;
  a.send(a.conv->sign(0x1234, Transaction{test::signed_test_tx(1)}));
  n.settle();
  EXPECT_TRUE(a.pushes.empty());  // never echoed to the sender
  ASSERT_EQ(n.nodes[1]->peer.pushes.size(), 1u);
  ASSERT_EQ(n.nodes[2]->peer.pushes.size(), 1u);
  EXPECT_EQ(n.nodes[1]->peer.pushes[0], n.nodes[2]->peer.pushes[0]);  // identical bytes to every recipient
  auto m = decode_message(n.nodes[1]->peer.pushes[0]);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->relayers.size(), 1u);
  auto rpk = n.relay_id().key.public_key().compressed();
  EXPECT_EQ(m->relayers[0].peer.public_key_hash, crypto::hash160(ByteSpan(rpk.data(), rpk.size())));
  EXPECT_TRUE(validate::verify_message(n.nodes[1]->peer.pushes[0], n.relay_id().key.public_key()));
  EXPECT_NE(m->preamble.seq, 0x1234u);  // a fresh seq, not the sender's
  EXPECT_EQ(std::get<Transaction>(m->payload).tx.txid, test::signed_test_tx(1).txid);
  EXPECT_EQ(n.c().relayed.load(), 1u);
  EXPECT_EQ(n.c().fanout_sends.load(), 2u);

  // The same transaction again, from another node: deduplicated.
  auto& b = n.nodes[1]->peer;
  b.send(b.conv->sign(0x99, Transaction{test::signed_test_tx(1)}));
  n.settle();
  EXPECT_EQ(n.c().drop_dup.load(), 1u);
  EXPECT_EQ(n.nodes[0]->peer.pushes.size(), 0u);
  EXPECT_EQ(n.nodes[2]->peer.pushes.size(), 1u);
}

TEST(RelayEngine, RelayersDecideTheRecipients) {
  Net n(3);
  auto& a = n.nodes[0]->peer;
  // The push already passed through node C: C must not get it (it would drop us).
  RelayData via_c;
  via_c.peer.public_key_hash = n.nodes[2]->peer.pkh();
  a.send(a.conv->sign(5, Transaction{test::signed_test_tx(2)}, {via_c}));
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 1u);
  EXPECT_EQ(n.nodes[2]->peer.pushes.size(), 0u);
  auto m = decode_message(n.nodes[1]->peer.pushes[0]);
  ASSERT_EQ(m->relayers.size(), 2u);  // upstream ++ us
  EXPECT_EQ(m->relayers[0].peer.public_key_hash, n.nodes[2]->peer.pkh());
  // A push whose relayers already contain the relay came back round: dropped quietly.
  RelayData via_us;
  auto rpk = n.relay_id().key.public_key().compressed();
  via_us.peer.public_key_hash = crypto::hash160(ByteSpan(rpk.data(), rpk.size()));
  a.send(a.conv->sign(6, Transaction{test::signed_test_tx(3)}, {via_us}));
  n.settle();
  EXPECT_EQ(n.c().drop_relayers.load(), 1u);
  EXPECT_FALSE(a.closed);
  // A relayers cycle is what gets a node dropped: so does its sender.
  a.send(a.conv->sign(7, Transaction{test::signed_test_tx(4)}, {via_c, via_c}));
  n.settle();
  EXPECT_TRUE(a.closed);
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 1u);
}

TEST(RelayEngine, InvalidObjectsAreNotForwarded) {
  Net n(2);
  auto& a = n.nodes[0]->peer;
  StacksTransaction bad = test::signed_test_tx(9);
  bad.auth.origin.signature[20] ^= 1;
  compute_ids(bad);
  a.send(a.conv->sign(1, Transaction{bad}));
  // A Nakamoto block, but this relay has no reward set to check it against.
  NakamotoBlocks nb;
  NakamotoBlock blk;
  blk.header.pox_treatment.len = 1;
  blk.header.pox_treatment.data = {0};
  compute_ids(blk);
  nb.blocks.push_back(blk);
  a.send(a.conv->sign(2, nb));
  n.settle();
  EXPECT_EQ(n.c().drop_invalid.load(), 1u);
  EXPECT_EQ(n.c().drop_no_reward_set.load(), 1u);
  EXPECT_TRUE(n.nodes[1]->peer.pushes.empty());
  EXPECT_FALSE(a.closed);  // invalid pushes are dropped, the peer stays
}

TEST(RelayEngine, GarbageFramingDropsOnlyThatPeer) {
  Net n(3);
  auto& a = n.nodes[0]->peer;
  Bytes junk(200, 0xff);  // a preamble with payload_len 0xffffffff
  a.send(junk);
  n.settle();
  EXPECT_TRUE(a.closed);
  EXPECT_GE(n.c().drop_framing.load(), 1u);
  // Everyone else keeps flowing.
  auto& b = n.nodes[1]->peer;
  b.send(b.conv->sign(3, Transaction{test::signed_test_tx(5)}));
  n.settle();
  EXPECT_EQ(n.nodes[2]->peer.pushes.size(), 1u);
}

TEST(RelayEngine, BurnViewBootstrapsFromThePeers) {
  // A relay started with no burn view takes the first authenticated peer's, and its
  // handshakes still succeed (a zero view would fail every node's preamble check).
  Net n(2);
  EXPECT_EQ(n.relay->ctl->burn_view(), view());
  EXPECT_EQ(n.relay->dp->burn_view(), view());  // handed to the dataplane for its preambles
  EXPECT_EQ(n.relay->dp->authenticated_sessions(), 2u);
  for (auto& node : n.nodes) EXPECT_TRUE(node->peer.authenticated());
}

TEST(RelayEngine, TrustedNodeMovesTheBurnView) {
  MemNetwork probe;
  MemTransport pt(probe, 9);
  test::TestPeer<MemTransport> trusted_probe(pt, 40);
  Net n(0, 0, {trusted_probe.pkh()});
  auto& trusted_node = n.add_node(40);
  auto& other = n.add_node(41);
  n.settle();
  ctl::BurnView newer = view();
  newer.height += 1;
  newer.stable_height += 1;
  other.peer.conv->set_burn_view(newer);
  other.peer.send(other.peer.conv->sign(1, Ping{1}));
  n.settle();
  EXPECT_EQ(n.relay->dp->burn_view(), view());
  trusted_node.peer.conv->set_burn_view(newer);
  trusted_node.peer.send(trusted_node.peer.conv->sign(2, Ping{2}));
  n.settle();
  EXPECT_EQ(n.relay->ctl->burn_view(), newer);
  EXPECT_EQ(n.relay->dp->burn_view(), newer);
  // The relay's next forward carries the new view.
  auto& a = n.nodes[0]->peer;
  a.send(a.conv->sign(3, Transaction{test::signed_test_tx(77)}));
  n.settle();
  ASSERT_EQ(n.nodes[1]->peer.pushes.size(), 1u);
  auto m = decode_message(n.nodes[1]->peer.pushes[0]);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->preamble.burn_block_height, newer.height);
}

}  // namespace
}  // namespace relay::dp
