#include "dataplane/engine/relay_engine.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>

#include "relay/net/socks5.hpp"

#include <functional>

#include "bench/reference/stacks_core_fanout.hpp"
#include "bench/sim/sim_data.hpp"
#include "control/engine/burn_view_vote.hpp"
#include "dataplane/transport/mem/mem_transport.hpp"
#include "relay/net/address.hpp"
#include "relay/shm/region.hpp"
#include "tests/support/relay_harness.hpp"
#include "tests/support/test_data.hpp"
#include "relay/validate/validate.hpp"
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

// BasicNet: a relay and n stock test nodes over the in-memory transport; F is the
// engine's fanout (the shipped SignOnce, or the benchmark's stacks-core baseline).
template <class F = SignOnce>
struct BasicNet {
  MemNetwork net;
  std::unique_ptr<MemTransport> rt;
  std::unique_ptr<test::RelayHarness<MemTransport, F>> relay;
  std::vector<std::unique_ptr<TestNode>> nodes;
  std::uint64_t now = 1;

  explicit BasicNet(std::size_t n, std::size_t chunk = 0, std::vector<Hash20> trusted = {},
                    std::function<void(DpOptions&)> tweak = {}, ctl::ControlOptions co = {}) {
    net.faults.max_chunk = chunk;
    rt = std::make_unique<MemTransport>(net, 1);
    co.trusted_pkhs = std::move(trusted);
    DpOptions dpo = test::dp_options_for(make_local(7));
    if constexpr (std::is_same_v<F, bench::StacksCoreFanout>) bench::reference_options(dpo);
    if (tweak) tweak(dpo);
    relay = std::make_unique<test::RelayHarness<MemTransport, F>>(*rt, make_local(7), co, &dpo);
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
using Net = BasicNet<>;
using ReferenceNet = BasicNet<bench::StacksCoreFanout>;

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
  // The relay path's work is counted as elapsed time and as the run loop's CPU time: a
  // transaction's checks and our signature take CPU, never more than the time elapsed.
  EXPECT_GT(n.c().relay_work_cpu_ns.load(), 0u);
  EXPECT_LE(n.c().relay_work_cpu_ns.load(), n.c().relay_work_ns.load());
  // Of it, queueing the two copies is counted apart: some, and less than the whole (the
  // checks and the signature came before).
  EXPECT_GT(n.c().relay_fanout_cpu_ns.load(), 0u);
  EXPECT_LT(n.c().relay_fanout_cpu_ns.load(), n.c().relay_work_cpu_ns.load());
  // Traffic by type: one transaction in, two out (exactly its bytes each); every node's
  // handshake in and our accept out.
  const auto tx = static_cast<std::size_t>(MsgId::kTransaction);
  EXPECT_EQ(n.c().msgs_in_by_type[tx].load(), 1u);
  EXPECT_EQ(n.c().msgs_out_by_type[tx].load(), 2u);
  EXPECT_EQ(n.c().bytes_out_by_type[tx].load(), 2 * n.nodes[1]->peer.pushes[0].size());
  EXPECT_EQ(n.c().msgs_in_by_type[static_cast<std::size_t>(MsgId::kHandshake)].load(), 3u);
  EXPECT_EQ(n.c().msgs_out_by_type[static_cast<std::size_t>(MsgId::kHandshakeAccept)].load(), 3u);
  // Its relay latency went into the histogram: one observation, time spent recorded.
  std::uint64_t observed = 0;
  for (const auto& b : n.c().relay_latency_buckets) observed += b.load();
  EXPECT_EQ(observed, 1u);
  EXPECT_GT(n.c().relay_latency_ns_sum.load(), 0u);
  EXPECT_GT(link::latency_quantile_us(n.c(), 0.5), 0u);

  // The same transaction again, from another node: deduplicated.
  auto& b = n.nodes[1]->peer;
  b.send(b.conv->sign(0x99, Transaction{test::signed_test_tx(1)}));
  n.settle();
  EXPECT_EQ(n.c().drop_dup.load(), 1u);
  EXPECT_EQ(n.nodes[0]->peer.pushes.size(), 0u);
  EXPECT_EQ(n.nodes[2]->peer.pushes.size(), 1u);
}

TEST(RelayLink, LatencyBucketsArePowersOfTwoMicroseconds) {
  EXPECT_EQ(link::latency_bucket(0), 0u);
  EXPECT_EQ(link::latency_bucket(1000), 0u);   // ≤ 1 µs
  EXPECT_EQ(link::latency_bucket(1001), 1u);   // ≤ 2 µs
  EXPECT_EQ(link::latency_bucket(2000), 1u);
  EXPECT_EQ(link::latency_bucket(2001), 2u);   // ≤ 4 µs
  EXPECT_EQ(link::latency_bucket(64'000), 6u);  // ≤ 64 µs
  EXPECT_EQ(link::latency_bucket(1'048'576'000), 20u);  // ≤ 2^20 µs
  EXPECT_EQ(link::latency_bucket(1'048'577'000), link::kLatencyBuckets - 1);  // slower: overflow
  EXPECT_EQ(link::latency_bucket_le_us(6), 64u);
  link::DpCounters c{};
  EXPECT_EQ(link::latency_quantile_us(c, 0.5), 0u);
  c.relay_latency_buckets[3].store(90);  // 90 at ≤ 8 µs
  c.relay_latency_buckets[7].store(9);   // 9 at ≤ 128 µs
  c.relay_latency_buckets[link::kLatencyBuckets - 1].store(1);
  EXPECT_EQ(link::latency_quantile_us(c, 0.5), 8u);
  EXPECT_EQ(link::latency_quantile_us(c, 0.9), 8u);  // the 90th of 100
  EXPECT_EQ(link::latency_quantile_us(c, 0.91), 128u);
  EXPECT_EQ(link::latency_quantile_us(c, 0.99), 128u);
  EXPECT_EQ(link::latency_quantile_us(c, 1.0), UINT64_MAX);
}

// The benchmark's stacks-core baseline plugged into the engine: the same checks and
// recipients, but every recipient gets a forward of its own (its own seq, hashed and
// signed for it).
TEST(RelayEngine, StacksCoreFanoutSignsAForwardPerRecipient) {
  ReferenceNet n(3);
  auto& a = n.nodes[0]->peer;
  a.send(a.conv->sign(0x77, Transaction{test::signed_test_tx(3)}));
  n.settle();
  ASSERT_EQ(n.nodes[1]->peer.pushes.size(), 1u);
  ASSERT_EQ(n.nodes[2]->peer.pushes.size(), 1u);
  const Bytes& p1 = n.nodes[1]->peer.pushes[0];
  const Bytes& p2 = n.nodes[2]->peer.pushes[0];
  EXPECT_NE(p1, p2);  // two forwards, not one shared buffer
  for (const Bytes* p : {&p1, &p2}) {
    EXPECT_TRUE(validate::verify_message(*p, n.relay_id().key.public_key()));
    auto m = decode_message(*p);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(std::get<Transaction>(m->payload).tx.txid, test::signed_test_tx(3).txid);
    EXPECT_EQ(m->relayers.size(), 1u);
  }
  EXPECT_NE(decode_message(p1)->preamble.seq, decode_message(p2)->preamble.seq);
  EXPECT_EQ(n.c().relayed.load(), 1u);
  EXPECT_EQ(n.c().fanout_sends.load(), 2u);
  // Dedup, relayers and validation are the same as ever.
  a.send(a.conv->sign(0x78, Transaction{test::signed_test_tx(3)}));
  n.settle();
  EXPECT_EQ(n.c().drop_dup.load(), 1u);
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

// Private mode: the upstream relayer entries of what the relay forwards carry no
// address (the any-network address, port 0) but keep their key hashes, so loop
// detection still works; a transaction (forward built after the verdict) and a large
// block (forward written while it arrives) alike. Without it, they go on as received.
TEST(RelayEngine, InPrivateModeForwardedRelayersNameNoAddress) {
  sim::SignerSet signers(4);
  const auto miner = sim::key_from_byte(9, 1);
  ctl::ControlOptions co;
  co.reward_set = signers.reward_set;
  RelayData upstream;
  upstream.peer.addrbytes = net::parse_addr("203.0.113.9").value();
  upstream.peer.port = 20444;
  upstream.peer.public_key_hash.fill(0x5c);
  upstream.seq = 3;
  for (const bool hide : {true, false}) {
    Net n(3, 1500, {}, [hide](DpOptions& o) {
      o.hide_relayer_addresses = hide;
      o.stream_checkers = 1;
    }, co);
    auto& a = n.nodes[0]->peer;
    NakamotoBlocks nb;
    nb.blocks.push_back(sim::nakamoto_block(50, signers, miner, 64 * 1024));
    a.send(a.conv->sign(1, Transaction{test::signed_test_tx(1)}, {upstream}));
    a.send(a.conv->sign(2, nb, {upstream}));
    n.settle();
    EXPECT_EQ(n.c().blocks_streamed.load(), 1u);
    auto& b = n.nodes[1]->peer;
    ASSERT_EQ(b.pushes.size(), 2u);
    for (const auto& raw : b.pushes) {
      EXPECT_TRUE(validate::verify_message(raw, n.relay_id().key.public_key()));
      auto m = decode_message(raw);
      ASSERT_TRUE(m.ok());
      ASSERT_EQ(m->relayers.size(), 2u);  // upstream ++ us
      const auto& up = m->relayers[0].peer;
      EXPECT_EQ(net::addr_to_string(up.addrbytes), hide ? "0.0.0.0" : "203.0.113.9");
      EXPECT_EQ(up.port, hide ? 0 : 20444);
      EXPECT_EQ(up.public_key_hash, upstream.peer.public_key_hash);
      EXPECT_EQ(m->relayers[0].seq, 3u);
    }
  }
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

// A message whose signature does not verify against the sender's session key is never
// forwarded, even when its content is valid on its own (here a validly signed
// transaction), nor passed to the control plane: the sender is dropped, as a node would,
// and counted — in both relay modes.
template <class N>
void bad_signature_drops_the_sender(bool reference) {
  {
    N n(3);
    auto& a = n.nodes[0]->peer;
    auto& b = n.nodes[1]->peer;
    Bytes forged = a.conv->sign(1, Transaction{test::signed_test_tx(2)});
    forged[100] ^= 1;  // inside the message signature (preamble bytes 96..160)
    a.send(forged);
    n.settle();
    EXPECT_TRUE(a.closed) << reference;
    EXPECT_EQ(n.c().drop_bad_signature.load(), 1u);
    EXPECT_TRUE(b.pushes.empty());
    EXPECT_TRUE(n.nodes[2]->peer.pushes.empty());
    EXPECT_EQ(n.c().relayed.load(), 0u);
    // A forged Ping from another peer never reaches the control plane.
    const std::uint64_t to_ctl = n.c().msgs_to_control.load();
    Bytes ping = b.conv->sign(2, Ping{7});
    ping[100] ^= 1;
    b.send(ping);
    n.settle();
    EXPECT_TRUE(b.closed);
    EXPECT_EQ(n.c().drop_bad_signature.load(), 2u);
    EXPECT_EQ(n.c().msgs_to_control.load(), to_ctl);
  }
}
TEST(RelayEngine, BadMessageSignatureDropsTheSenderAndNothingGoesOn) {
  bad_signature_drops_the_sender<Net>(false);
  bad_signature_drops_the_sender<ReferenceNet>(true);
}

// The sender's signature is checked beside the payload checks (on the dataplane's
// second thread) but decides first: a push whose bytes were changed after signing is
// counted and closed as a bad signature whatever its content then looks like — a type
// byte that is no push, a transaction that no longer decodes or whose own signature
// fails, a changed last byte. (A relayers count above 16 is a framing error, found
// before the message is whole.)
template <class N>
void the_message_signature_decides_first(bool reference) {
  {
    N n(6);
    const Bytes good = n.nodes[0]->peer.conv->sign(1, Transaction{test::signed_test_tx(2)});
    const std::size_t body = codec::kPreambleSize;
    const std::size_t offsets[] = {body + 4, body + 5, body + 4 + 60, good.size() - 1};
    for (std::size_t k = 0; k < std::size(offsets); ++k) {
      auto& peer = n.nodes[k]->peer;
      Bytes bad = peer.conv->sign(1, Transaction{test::signed_test_tx(2)});
      ASSERT_EQ(bad.size(), good.size());
      bad[offsets[k]] ^= 0x41;
      peer.send(bad);
      n.settle();
      EXPECT_TRUE(peer.closed) << reference << " offset " << offsets[k];
      EXPECT_EQ(n.c().drop_bad_signature.load(), k + 1) << reference << " offset " << offsets[k];
    }
    EXPECT_EQ(n.c().drop_framing.load(), 0u) << reference;
    EXPECT_EQ(n.c().drop_invalid.load(), 0u) << reference;
    EXPECT_EQ(n.c().drop_not_relayed_type.load(), 0u) << reference;
    EXPECT_EQ(n.c().relayed.load(), 0u) << reference;
    EXPECT_TRUE(n.nodes[5]->peer.pushes.empty()) << reference;
    // And the same push, signed as sent, goes on.
    n.nodes[4]->peer.send(n.nodes[4]->peer.conv->sign(2, Transaction{test::signed_test_tx(2)}));
    n.settle();
    EXPECT_EQ(n.c().relayed.load(), 1u) << reference;
    EXPECT_EQ(n.nodes[5]->peer.pushes.size(), 1u) << reference;
  }
}
TEST(RelayEngine, TheMessageSignatureDecidesBeforeTheContent) {
  the_message_signature_decides_first<Net>(false);
  the_message_signature_decides_first<ReferenceNet>(true);
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

// After a restart the relay uses the view it kept, not the first peer's: a peer that
// connects first with a poisoned view (a stable hash nodes would drop us for) does not
// move it; three peers in distinct netgroups carrying the next real view do. Issue 15.5.
TEST(RelayEngine, TheBurnViewMovesOnlyWithAQuorumOfIndependentPeers) {
  char tmpl[] = "/tmp/relay-view-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ASSERT_TRUE(ctl::save_burn_view(dir + "/burn-view", view()));
  ctl::ControlOptions co;
  co.view_path = dir + "/burn-view";
  Net n(0, 0, {}, {}, co);
  EXPECT_EQ(n.relay->ctl->burn_view(), view());  // from the file, before any peer
  auto add_at = [&](std::uint8_t key, const char* addr) -> TestNode& {
    n.nodes.push_back(std::make_unique<TestNode>(n.net, key));
    in6_addr a{};
    ::inet_pton(AF_INET6, addr, &a);
    n.nodes.back()->t.set_address(a);
    n.nodes.back()->peer.dial(port_addr(1));
    return *n.nodes.back();
  };
  ctl::BurnView poisoned = view();
  poisoned.height += 3;
  poisoned.stable_height += 3;
  poisoned.stable_hash.fill(0xee);
  TestNode& attacker = add_at(60, "::ffff:203.0.113.9");
  n.settle();
  attacker.peer.conv->set_burn_view(poisoned);
  attacker.peer.send(attacker.peer.conv->sign(1, Ping{1}));
  n.settle();
  EXPECT_EQ(n.relay->ctl->burn_view(), view());
  EXPECT_EQ(n.relay->dp->burn_view(), view());
  ctl::BurnView next = view();
  next.height += 1;
  next.stable_height += 1;
  next.hash.fill(0x21);
  std::vector<TestNode*> honest = {&add_at(61, "::ffff:198.51.100.7"), &add_at(62, "::ffff:192.0.2.7"),
                                   &add_at(63, "2001:db8::7")};
  n.settle();
  for (std::size_t i = 0; i < honest.size(); ++i) {
    EXPECT_EQ(n.relay->ctl->burn_view(), view()) << i << " witnesses are not a quorum";
    honest[i]->peer.conv->set_burn_view(next);
    honest[i]->peer.send(honest[i]->peer.conv->sign(2, Ping{2}));
    n.settle();
  }
  EXPECT_EQ(n.relay->ctl->burn_view(), next);
  EXPECT_EQ(n.relay->dp->burn_view(), next);
  EXPECT_EQ(ctl::load_burn_view(dir + "/burn-view").value_or(ctl::BurnView{}), next);  // kept for the next start
  (void)std::system(("rm -rf " + dir).c_str());
}

TEST(RelayEngine, MicroblocksAreRelayedOnA2xNetworkOnly) {
  Net n2x(3, 0, {}, [](DpOptions& o) { o.relay_2x = true; });
  auto& a = n2x.nodes[0]->peer;
  Microblocks mbs;
  mbs.microblocks = test::signed_test_microblocks(3, 0x61);
  a.send(a.conv->sign(1, mbs));
  n2x.settle();
  ASSERT_EQ(n2x.nodes[1]->peer.pushes.size(), 1u);
  ASSERT_EQ(n2x.nodes[2]->peer.pushes.size(), 1u);
  EXPECT_EQ(n2x.nodes[1]->peer.pushes[0], n2x.nodes[2]->peer.pushes[0]);
  auto m = decode_message(n2x.nodes[1]->peer.pushes[0]);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<Microblocks>(m->payload).microblocks.size(), 3u);
  EXPECT_EQ(std::get<Microblocks>(m->payload).microblocks[2].block_hash, mbs.microblocks[2].block_hash);
  // A stream whose last microblock is signed by another key is not relayed.
  Microblocks forged;
  forged.microblocks = test::signed_test_microblocks(2, 0x61, 200);
  auto other = test::signed_test_microblocks(3, 0x62, 200);
  other[2].header.prev_block = forged.microblocks[1].block_hash;
  other[2].header.signature = crypto::SecretKey::from_bytes(Bytes(32, 0x62))->sign(microblock_sighash(other[2].header));
  compute_ids(other[2]);
  forged.microblocks.push_back(other[2]);
  a.send(a.conv->sign(2, forged));
  n2x.settle();
  EXPECT_EQ(n2x.c().drop_invalid.load(), 1u);
  EXPECT_EQ(n2x.nodes[1]->peer.pushes.size(), 1u);

  // The mainnet profile: Nakamoto only, 2.x pushes are not relayed (PROTOCOL.md §10).
  Net nm(2);
  auto& b = nm.nodes[0]->peer;
  b.send(b.conv->sign(1, mbs));
  nm.settle();
  EXPECT_EQ(nm.c().drop_not_relayed_type.load(), 1u);
  EXPECT_TRUE(nm.nodes[1]->peer.pushes.empty());
  EXPECT_FALSE(b.closed);
}

TEST(RelayEngine, ControlPlaneRestartKeepsAuthenticatedSessionsRelaying) {
  Net n(3);
  n.relay->start_control(n.now);  // a new control process: it knows nothing yet
  n.settle();
  EXPECT_EQ(n.c().ctl_restarts.load(), 1u);
  EXPECT_EQ(n.relay->ctl->stats().restored, 3u);
  EXPECT_EQ(n.relay->ctl->authenticated_sessions(), 3u);
  EXPECT_EQ(n.relay->ctl->burn_view(), view());  // taken back from the dataplane
  for (auto& node : n.nodes) EXPECT_FALSE(node->peer.closed);
  auto& a = n.nodes[0]->peer;
  a.send(a.conv->sign(1, Transaction{test::signed_test_tx(31)}));
  a.send(a.conv->sign(2, Ping{9}));  // answered by the new control plane (a Pong, not a Nack)
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 1u);
  EXPECT_EQ(n.nodes[2]->peer.pushes.size(), 1u);
  EXPECT_FALSE(a.closed);
  // New nodes still get handshakes.
  auto& d = n.add_node(33);
  n.settle();
  EXPECT_TRUE(d.peer.authenticated());
  EXPECT_EQ(n.relay->dp->authenticated_sessions(), 4u);
}

TEST(RelayEngine, QueuedPushesAreResignedWhenTheBurnViewMoves) {
  MemNetwork probe;
  MemTransport pt(probe, 9);
  test::TestPeer<MemTransport> trusted_probe(pt, 40);
  Net n(0, 0, {trusted_probe.pkh()}, [](DpOptions& o) { o.max_inflight_sends = 1; });
  auto& trusted_node = n.add_node(40);
  auto& slow = n.add_node(41);
  n.settle();
  ASSERT_TRUE(slow.peer.authenticated());
  n.rt->stall_sends(true);  // the relay's writes stop completing: pushes wait in pacers
  auto& a = trusted_node.peer;
  for (std::uint64_t i = 0; i < 3; ++i) a.send(a.conv->sign(static_cast<std::uint32_t>(i), Transaction{test::signed_test_tx(50 + i)}));
  ctl::BurnView newer = view();
  newer.height += 1;
  newer.stable_height += 1;
  a.conv->set_burn_view(newer);
  a.send(a.conv->sign(9, Ping{1}));
  n.settle();
  EXPECT_EQ(n.relay->dp->burn_view(), newer);
  EXPECT_EQ(n.c().resigned.load(), 2u);  // one push was already with the transport
  n.rt->stall_sends(false);
  n.settle();
  ASSERT_EQ(slow.peer.pushes.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    auto m = decode_message(slow.peer.pushes[i]);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->preamble.burn_block_height, i == 0 ? view().height : newer.height);
    EXPECT_TRUE(validate::verify_message(slow.peer.pushes[i], n.relay_id().key.public_key()));
    ASSERT_EQ(m->relayers.size(), 1u);
  }
  EXPECT_FALSE(slow.peer.closed);
}

TEST(RelayEngine, DialsConfiguredPeersAndRelaysTheirEarlyPushes) {
  // The relay dials a listening node; the node pushes a transaction the moment it has
  // accepted our handshake, before the dataplane can have learnt its key: the control
  // plane hands that push back and it is relayed like any other.
  ctl::ControlOptions co;
  co.peers.push_back(ctl::DialSpec{test::peer_addr("127.0.0.1", 2), std::nullopt});
  // How to connect travels with the dial, through the link, to the transport.
  co.outbound.mptcp = true;
  co.outbound.bind_device = "wg0";
  co.outbound.bind_source = *net::parse_addr("198.18.0.2");
  Net n(1, 0, {}, {}, co);
  MemTransport lt(n.net, 2);
  test::TestPeer<MemTransport> listener(lt, 70);
  {
    test::TestPeer<MemTransport> signer(lt, 70);  // same key: builds the message the listener sends
    auto conv = std::make_unique<ctl::Conversation>(&signer.id, false, 0);
    conv->set_burn_view(view());
    listener.on_auth.push_back(conv->sign(5, Transaction{test::signed_test_tx(61)}));
  }
  for (int round = 0; round < 40; ++round) {
    n.now += 200'000'000;  // past the control plane's tick, so it dials
    n.relay->run_once(n.now);
    listener.pump(n.now);
    for (auto& node : n.nodes) node->peer.pump(n.now);
  }
  EXPECT_TRUE(listener.authenticated());
  EXPECT_GE(n.relay->ctl->stats().dials, 1u);  // the first may precede the listener
  ASSERT_FALSE(n.rt->dials().empty());
  EXPECT_EQ(n.rt->dials().back().addr, test::peer_addr("127.0.0.1", 2));
  EXPECT_EQ(n.rt->dials().back().how, co.outbound);
  EXPECT_EQ(n.relay->ctl->stats().relays_handed_back, 1u);
  ASSERT_EQ(n.nodes[0]->peer.pushes.size(), 1u);
  auto m = decode_message(n.nodes[0]->peer.pushes[0]);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<Transaction>(m->payload).tx.txid, test::signed_test_tx(61).txid);
  EXPECT_TRUE(validate::verify_message(n.nodes[0]->peer.pushes[0], n.relay_id().key.public_key()));
}

// With a proxy, every dial goes through it: a DNS name handed over unresolved, an onion
// address through the onion proxy, each peer with a login of its own (Tor's stream
// isolation); a peer's own way in (device, source, MPTCP) wins; a failing dial is
// logged once with the reason, not at every retry.
TEST(RelayEngine, DialsGoThroughTheProxyForTheirNetworkWithOneLoginPerPeer) {
  std::string err;
  const auto name = net::PeerAddress::parse("node.example.org:20444", err).value();
  const auto onion = net::PeerAddress::parse("aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3kead.onion:20444", err).value();
  const auto ip = test::peer_addr("198.18.0.9", 20444);
  ctl::ControlOptions co;
  for (const auto& a : {name, onion, ip}) co.peers.push_back(ctl::DialSpec{a, std::nullopt});
  co.peers.back().via_device = "wg1";  // this one only through its own tunnel, from its own address
  co.peers.back().via_source = *net::parse_addr("198.19.0.1");
  co.peers.back().mptcp = true;  // and over MPTCP, unlike the others
  co.outbound.bind_device = "wg0";
  co.proxy = net::Socks5Proxy{*net::parse_addr("127.0.0.1"), 1080, std::nullopt};
  co.onion_proxy = net::Socks5Proxy{*net::parse_addr("127.0.0.1"), 9050, std::nullopt};
  co.isolation_salt = 42;
  std::vector<std::string> log;
  co.log = [&](const std::string& line) { log.push_back(line); };
  Net n(1, 0, {}, {}, co);
  for (int round = 0; round < 60; ++round) {  // 12 s: the peers are redialed twice
    n.now += 200'000'000;
    n.relay->run_once(n.now);
  }
  std::map<std::string, net::ConnectOptions> how;
  for (const auto& d : n.rt->dials()) how[d.addr.to_string()] = d.how;
  ASSERT_EQ(how.size(), 3u);  // the name was dialed as a name: never resolved here
  ASSERT_TRUE(how.count(name.to_string()) && how.count(onion.to_string()) && how.count(ip.to_string()));
  EXPECT_EQ(how[name.to_string()].socks5->port, 1080);
  EXPECT_EQ(how[ip.to_string()].socks5->port, 1080);
  EXPECT_EQ(how[onion.to_string()].socks5->port, 9050);
  EXPECT_EQ(how[onion.to_string()].bind_device, "wg0");  // the socket to the proxy is made as configured
  EXPECT_EQ(how[ip.to_string()].bind_device, "wg1");     // a peer's own way in wins
  EXPECT_EQ(how[ip.to_string()].bind_source, net::parse_addr("198.19.0.1"));
  EXPECT_FALSE(how[name.to_string()].bind_source.has_value());
  EXPECT_TRUE(how[ip.to_string()].mptcp);
  EXPECT_FALSE(how[name.to_string()].mptcp);
  EXPECT_EQ(how[name.to_string()].socks5->login, net::socks5::isolation_login(name, 42));
  EXPECT_NE(how[name.to_string()].socks5->login, how[ip.to_string()].socks5->login);
  EXPECT_NE(how[onion.to_string()].socks5->login, how[ip.to_string()].socks5->login);
  EXPECT_GE(n.rt->dials().size(), 6u);  // redialed
  ASSERT_EQ(log.size(), 3u) << "one line per peer, not one per retry";
  for (const auto& line : log) EXPECT_NE(line.find("via SOCKS5 proxy 127.0.0.1:"), std::string::npos) << line;
}

// I2P: nothing is dialed until the session on the SAM bridge is up; then the I2P peer
// is dialed through it (STREAM CONNECT) and kI2pAccepts streams wait for inbound peers
// (STREAM ACCEPT), made again when they fail; a new session replaces them.
TEST(RelayEngine, I2pPeersAndAcceptsGoThroughTheSamSessionOnceItIsUp) {
  std::string err;
  const auto i2p = net::PeerAddress::parse("aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq.b32.i2p:0", err, true).value();
  ctl::ControlOptions co;
  co.peers.push_back(ctl::DialSpec{i2p, std::nullopt});
  Net n(1, 0, {}, {}, co);
  auto run = [&](int rounds) {
    for (int r = 0; r < rounds; ++r) {
      n.now += 200'000'000;
      n.relay->run_once(n.now);
    }
  };
  run(10);
  EXPECT_TRUE(n.rt->dials().empty());  // no session yet: not even tried
  const net::SamBridge session{*net::parse_addr("127.0.0.1"), 7656, "srl0a0b", false};
  n.relay->ctl->set_i2p(session, n.now);
  run(2);
  std::size_t connects = 0, accepts = 0;
  for (const auto& d : n.rt->dials()) {
    ASSERT_TRUE(d.how.sam.has_value());
    EXPECT_EQ(d.how.sam->session, "srl0a0b");
    if (d.how.sam->accept) {
      ++accepts;
    } else {
      ++connects;
      EXPECT_EQ(d.addr, i2p);
    }
  }
  EXPECT_EQ(connects, 1u);
  EXPECT_GE(accepts, ctl::ControlEngine::kI2pAccepts);  // (they fail at once here, and come again)
  const std::size_t before = n.rt->dials().size();
  run(25);  // 5 s: failing accepts are made again once a second, not in a loop
  const std::size_t again = n.rt->dials().size() - before;
  EXPECT_GE(again, 4u);
  EXPECT_LE(again, 16u);
  // The session goes: nothing more through it.
  n.relay->ctl->set_i2p(std::nullopt, n.now);
  run(2);
  const std::size_t gone = n.rt->dials().size();
  run(30);
  EXPECT_EQ(n.rt->dials().size(), gone);
}

// step_with_listener: `rounds` steps of 200 ms for the relay, a node it dials and its
// inbound nodes.
void step_with_listener(Net& n, test::TestPeer<MemTransport>& listener, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    n.now += 200'000'000;
    n.relay->run_once(n.now);
    listener.pump(n.now);
    for (auto& node : n.nodes) node->peer.pump(n.now);
  }
}

// A dial that connects while the session table is full is refused like an inbound
// connection, and the control plane hears that it failed (it redials later) instead of
// waiting for it forever.
TEST(RelayEngine, ADialCompletingIntoAFullTableIsReportedFailed) {
  ctl::ControlOptions co;
  co.peers.push_back(ctl::DialSpec{test::peer_addr("127.0.0.1", 4), std::nullopt});
  co.redial_ns = 1'000'000'000;
  Net n(1, 0, {}, [](DpOptions& o) { o.max_sessions = 1; }, co);  // the one node fills the table
  MemTransport lt(n.net, 4);
  test::TestPeer<MemTransport> listener(lt, 72);
  step_with_listener(n, listener, 30);
  // Every dial was heard back from, and redialed (the first may precede the listener).
  EXPECT_GE(n.relay->ctl->stats().dials, 3u);
  EXPECT_EQ(n.relay->ctl->stats().dial_failures, n.relay->ctl->stats().dials);
  EXPECT_GE(n.c().sessions_refused_full.load(), 2u);
  EXPECT_FALSE(listener.authenticated());
  EXPECT_TRUE(n.nodes[0]->peer.authenticated());  // the session that holds the slot is untouched
}

// Inbound connections cannot take the slots kept for dials (issue 15.6): with room for
// 3 sessions of which 2 inbound, a third inbound connection is refused at once and the
// configured peer is still dialed into the slot left.
TEST(RelayEngine, InboundConnectionsLeaveTheOutboundSlotsFree) {
  ctl::ControlOptions co;
  co.peers.push_back(ctl::DialSpec{test::peer_addr("127.0.0.1", 4), std::nullopt});
  co.redial_ns = 1'000'000'000;
  Net n(3, 0, {}, [](DpOptions& o) {
    o.max_sessions = 3;
    o.max_inbound = 2;
  }, co);
  MemTransport lt(n.net, 4);
  test::TestPeer<MemTransport> listener(lt, 72);
  step_with_listener(n, listener, 30);
  EXPECT_GE(n.c().inbound_refused_reserved.load(), 1u);
  EXPECT_EQ(n.c().sessions_refused_full.load(), 0u);
  EXPECT_TRUE(listener.authenticated());  // the dial got the kept slot
  EXPECT_EQ(n.relay->dp->authenticated_sessions(), 3u);
}

// A session that stops talking is closed after the heartbeat plus 30 s, as a node does
// (PROTOCOL.md §4.5); one that answers the relay's pings stays, however long.
TEST(RelayEngine, SilentSessionsAreClosedAfterTheHeartbeat) {
  Net n(1);
  TestNode mute(n.net, 50);
  mute.peer.dial(port_addr(1));
  for (int i = 0; i < 40 && !mute.peer.authenticated(); ++i) {
    n.now += 1000;
    n.relay->run_once(n.now);
    mute.peer.pump(n.now);
  }
  ASSERT_TRUE(mute.peer.authenticated());
  ASSERT_EQ(n.relay->dp->authenticated_sessions(), 2u);
  for (int step = 0; step < 6; ++step) {  // an hour: nobody is silent for longer than that yet
    n.now += 600'000'000'000ull;
    n.settle();
  }
  EXPECT_EQ(n.c().closed_silent.load(), 0u);
  for (int step = 0; step < 6; ++step) {  // another hour: the mute one has said nothing for two
    n.now += 600'000'000'000ull;
    n.settle();
  }
  EXPECT_EQ(n.c().closed_silent.load(), 1u);
  EXPECT_EQ(n.relay->dp->sessions(), 1u);
  EXPECT_TRUE(n.nodes[0]->peer.authenticated());  // pinged every 30 min, answered
  EXPECT_FALSE(n.nodes[0]->peer.closed);
}

// A peer that stops reading: its sends stop completing, and after the write timeout its
// session is closed (not counted as misbehaviour); the sender, owed nothing, stays.
TEST(RelayEngine, PeersThatStopReadingAreClosedAfterTheWriteTimeout) {
  Net n(3);
  auto& a = n.nodes[0]->peer;
  n.rt->stall_sends(true);
  a.send(a.conv->sign(1, Transaction{test::signed_test_tx(5)}));
  for (int step = 0; step < 5; ++step) {  // 150 s
    n.now += 30'000'000'000ull;
    n.settle();
  }
  EXPECT_EQ(n.c().closed_write_timeout.load(), 0u);
  for (int step = 0; step < 2; ++step) {  // 210 s
    n.now += 30'000'000'000ull;
    n.settle();
  }
  EXPECT_EQ(n.c().closed_write_timeout.load(), 2u);  // b and c: a push each, never taken
  EXPECT_EQ(n.relay->dp->sessions(), 1u);
  EXPECT_EQ(n.relay->ctl->stats().closed_misbehaved, 0u);
  n.rt->stall_sends(false);
  n.settle();
  EXPECT_FALSE(a.closed);
}

// Invalid pushes cost their sender: one that sends nothing else is closed as misbehaving
// once it reaches the limit; a sender of the odd invalid one is not (points halve every
// minute). Issue 15.4.
TEST(RelayEngine, SendersOfInvalidPushesAgainAndAgainAreDropped) {
  Net n(3);
  auto& a = n.nodes[0]->peer;
  auto& b = n.nodes[1]->peer;
  auto bad_tx = [](std::uint32_t i) {
    StacksTransaction t = test::signed_test_tx(1000 + i);
    t.auth.origin.nonce += 1;  // no longer what was signed
    compute_ids(t);
    return Transaction{t};
  };
  for (std::uint32_t i = 0; i < 10; ++i) b.send(b.conv->sign(i, bad_tx(i)));
  n.settle();
  for (int minute = 0; minute < 3; ++minute) {  // b's points decay
    n.now += 61'000'000'000ull;
    n.settle();
  }
  for (std::uint32_t i = 0; i < 63; ++i) a.send(a.conv->sign(i, bad_tx(100 + i)));
  n.settle();
  EXPECT_EQ(n.c().closed_invalid_pushes.load(), 0u);
  for (std::uint32_t i = 63; i < 70; ++i) a.send(a.conv->sign(i, bad_tx(100 + i)));
  n.settle();
  EXPECT_EQ(n.c().closed_invalid_pushes.load(), 1u);  // a, at its 64th
  EXPECT_EQ(n.c().drop_invalid.load(), 10u + 64u);
  EXPECT_TRUE(a.closed);
  for (std::uint32_t i = 10; i < 20; ++i) b.send(b.conv->sign(i, bad_tx(i)));
  n.settle();
  EXPECT_FALSE(b.closed);  // 10 now and 10 halved thrice before: far from the limit
}

// StackerDB chunks a sender may have relayed are bounded in bytes per second (a node's
// max_stackerdb_push_bandwidth): past it a chunk is not relayed, counted, and the sender
// is not punished. Issue 15.2.
TEST(RelayEngine, ASendersChunkBandwidthIsBounded) {
  Net n(2, 0, {}, [](DpOptions& o) {
    o.chunk_bytes_per_s = 100'000;
    o.chunk_burst_bytes = 300'000;
  });
  auto& a = n.nodes[0]->peer;
  auto chunk = [](std::uint32_t slot) { return test::test_chunk(slot, 99'000); };
  for (std::uint32_t i = 0; i < 5; ++i) a.send(a.conv->sign(i, chunk(i)));
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 3u);  // the burst
  EXPECT_EQ(n.c().drop_chunk_throttled.load(), 2u);
  n.now += 1'000'000'000ull;  // a second later: 100 kB more
  for (std::uint32_t i = 5; i < 7; ++i) a.send(a.conv->sign(i, chunk(i)));
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 4u);
  EXPECT_EQ(n.c().drop_chunk_throttled.load(), 3u);
  EXPECT_FALSE(a.closed);
  EXPECT_EQ(n.c().closed_invalid_pushes.load(), 0u);
}

// Transactions a sender may have relayed are bounded in signature checks per second
// (charged once done: a sender in debt waits) and in bytes per second; past either a
// transaction is not relayed, counted, and the sender is not punished. Issue 15.2/15.4.
TEST(RelayEngine, ASendersTransactionChecksAndBytesAreBounded) {
  const std::size_t body = codec::encode_body({}, Transaction{test::signed_test_tx(1)}).size();  // each the same
  Net n(3, 0, {}, [&](DpOptions& o) {
    o.tx_checks_per_s = 10;
    o.tx_checks_burst = 3;  // three plain transactions at once
    o.tx_bytes_per_s = body;
    o.tx_burst_bytes = 20 * body;
  });
  auto& a = n.nodes[0]->peer;
  for (std::uint32_t i = 0; i < 5; ++i) a.send(a.conv->sign(i, Transaction{test::signed_test_tx(100 + i)}));
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 3u);  // the burst of checks
  EXPECT_EQ(n.c().drop_tx_throttled.load(), 2u);
  n.now += 1'000'000'000ull;  // a second earns 10 checks, capped at the burst of 3
  for (std::uint32_t i = 5; i < 10; ++i) a.send(a.conv->sign(i, Transaction{test::signed_test_tx(100 + i)}));
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 6u);
  EXPECT_EQ(n.c().drop_tx_throttled.load(), 4u);
  EXPECT_FALSE(a.closed);
  // Another sender has its own allowance; its bytes run out first: 20 at once, then
  // one a second.
  auto& b = n.nodes[2]->peer;
  for (int sec = 0; sec < 40; ++sec) {
    n.now += 1'000'000'000ull;
    for (std::uint32_t i = 0; i < 3; ++i) {
      const std::uint32_t k = 1000 + static_cast<std::uint32_t>(sec) * 3 + i;
      b.send(b.conv->sign(k, Transaction{test::signed_test_tx(k)}));
    }
    n.settle();
  }
  // 120 sent: 20 in the byte burst plus one a second after the first (the checks would
  // allow all three a second).
  EXPECT_EQ(n.c().drop_tx_throttled.load(), 4u + (120u - 20u - 39u));
  EXPECT_FALSE(b.closed);
  EXPECT_EQ(n.c().closed_invalid_pushes.load(), 0u);
  EXPECT_EQ(n.c().drop_invalid.load(), 0u);
}

// A transaction past the relay's own verification limits (more multisig fields than it
// verifies) is not relayed, counted apart from invalid ones, and not held against its
// sender however often it comes.
TEST(RelayEngine, TransactionsBeyondTheRelaysLimitsAreNotRelayedNorPunished) {
  Net n(2, 0, {}, [](DpOptions& o) { o.tx_checks_per_s = o.tx_checks_burst = 1'000'000; });
  auto& a = n.nodes[0]->peer;
  const auto pk = crypto::SecretKey::generate()->public_key().compressed();
  for (std::uint32_t i = 0; i < 100; ++i) {
    StacksTransaction t = test::signed_test_tx(5000 + i);
    t.auth.origin.hash_mode = 0x01;  // a 0-of-129 multisig
    t.auth.origin.fields.resize(codec::kMaxTxAuthFields + 1);
    for (auto& f : t.auth.origin.fields) std::copy(pk.begin(), pk.end(), f.public_key.begin());
    t.auth.origin.signatures_required = 0;
    compute_ids(t);
    a.send(a.conv->sign(i, Transaction{t}));
  }
  n.settle();
  EXPECT_EQ(n.c().drop_beyond_policy.load(), 100u);
  EXPECT_EQ(n.c().drop_invalid.load(), 0u);
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 0u);
  EXPECT_FALSE(a.closed);
  a.send(a.conv->sign(200, Transaction{test::signed_test_tx(6000)}));  // and its next good one is relayed
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 1u);
}

// Chunks of the signers' StackerDBs reach peers only when signed by their slot's signer
// (from the reward sets the control plane hands over with their cycle); others are
// counted and dropped, and their sender is not punished. Issue 15.2.
TEST(RelayEngine, SignersChunksAreRelayedOnlyWhenSignedByTheirSlotsSigner) {
  sim::SignerSet signers(4);
  Net n(2, 0);
  n.relay->ctl->set_reward_sets(signers.reward_set, {}, 91);  // odd: signers-1-* are this cycle's
  n.settle();
  auto chunk = [&](std::uint32_t slot, const crypto::SecretKey& key, const char* contract = "signers-1-0") {
    StackerDBPushChunk ch;
    ch.contract_id.address.version = 22;  // the boot address: hash all zero
    ch.contract_id.name = contract;
    ch.chunk.slot_id = slot;
    ch.chunk.slot_version = 3;
    ch.chunk.data.assign(500 + slot, 0x5a);
    ch.chunk.sig = key.sign(validate::stackerdb_chunk_digest(ch.chunk));
    return ch;
  };
  auto& a = n.nodes[0]->peer;
  a.send(a.conv->sign(1, chunk(2, signers.keys[2])));
  a.send(a.conv->sign(2, chunk(1, signers.keys[2])));  // another signer's slot
  for (std::uint32_t i = 0; i < 20; ++i)                // junk, each a new dedup id
    a.send(a.conv->sign(10 + i, chunk(i % 4, *crypto::SecretKey::generate())));
  a.send(a.conv->sign(3, chunk(0, signers.keys[1], "signers-0-0")));  // the other parity: not known
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 2u);
  EXPECT_EQ(n.c().chunks_signer_checked.load(), 22u);
  EXPECT_EQ(n.c().drop_chunk_signer.load(), 21u);
  EXPECT_EQ(n.c().drop_invalid.load(), 0u);
  EXPECT_FALSE(a.closed);
}

// However small, a sender's chunks are bounded in number too (each costs a hash and, for
// the signers' contracts, a recovery): past its allowance they are not relayed, and it
// is not punished.
TEST(RelayEngine, ASendersChunkCountIsBounded) {
  Net n(2, 0, {}, [](DpOptions& o) {
    o.chunk_msgs_per_s = 10;
    o.chunk_msgs_burst = 20;
  });
  auto& a = n.nodes[0]->peer;
  for (std::uint32_t i = 0; i < 30; ++i) a.send(a.conv->sign(i, test::test_chunk(i, 100)));
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 20u);  // the burst
  EXPECT_EQ(n.c().drop_chunk_throttled.load(), 10u);
  n.now += 1'000'000'000ull;  // a second: 10 more
  for (std::uint32_t i = 30; i < 45; ++i) a.send(a.conv->sign(i, test::test_chunk(i, 100)));
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 30u);
  EXPECT_EQ(n.c().drop_chunk_throttled.load(), 15u);
  EXPECT_FALSE(a.closed);
}

TEST(RelayEngine, DialedPeerIsRedialedAfterItDrops) {
  ctl::ControlOptions co;
  co.peers.push_back(ctl::DialSpec{test::peer_addr("127.0.0.1", 3), std::nullopt});
  co.redial_ns = 1'000'000'000;
  Net n(0, 0, {}, {}, co);
  auto lt = std::make_unique<MemTransport>(n.net, 3);
  auto listener = std::make_unique<test::TestPeer<MemTransport>>(*lt, 71);
  auto run = [&](int rounds) {
    for (int round = 0; round < rounds; ++round) {
      n.now += 200'000'000;
      n.relay->run_once(n.now);
      if (listener) listener->pump(n.now);
    }
  };
  run(20);
  ASSERT_TRUE(listener->authenticated());
  listener.reset();
  lt.reset();  // the node goes away: its connection resets
  run(10);
  EXPECT_EQ(n.relay->dp->sessions(), 0u);
  EXPECT_GE(n.relay->ctl->stats().dial_failures, 1u);  // nobody listening while it is down
  lt = std::make_unique<MemTransport>(n.net, 3);
  listener = std::make_unique<test::TestPeer<MemTransport>>(*lt, 71);
  run(30);
  EXPECT_TRUE(listener->authenticated());
  EXPECT_GE(n.relay->ctl->stats().dials, 3u);
}

TEST(RelayEngine, MalformedCommandsFromTheControlPlaneAreSkippedAndCounted) {
  // The test plays the control plane with raw fragments: unknown kinds, truncated
  // bodies, an absurd reward-set count, and commands for sessions that do not exist.
  MemNetwork net;
  MemTransport rt(net, 1);
  auto params = link::default_params();
  auto region = std::move(shm::Region::anonymous(link::link_footprint(params)).value());
  ASSERT_TRUE(link::link_format(region.data(), region.size(), params).ok());
  auto lk = link::link_join(region.data(), region.size()).value();
  RelayEngine<MemTransport> dp(rt, link::join_ends(lk, link::Side::kDataplane).value(), test::dp_options_for(make_local(7)));
  dp.start(1);
  auto to_dp = shm::RingProducer::join(lk.ctl_to_dp, lk.ctl_to_dp_sz).value();
  const std::uint8_t junk[3] = {1, 2, 3};
  const std::uint8_t huge_count[4] = {0xff, 0xff, 0xff, 0xff};
  ASSERT_TRUE(to_dp.try_send(ByteSpan(junk, 3), 999, 0));                                     // unknown kind
  ASSERT_TRUE(to_dp.try_send(ByteSpan(junk, 3), static_cast<std::uint16_t>(link::CtlMsg::kConnect), 0));  // truncated
  ASSERT_TRUE(to_dp.try_send(ByteSpan(huge_count, 4), static_cast<std::uint16_t>(link::CtlMsg::kRewardSet), 0));
  ASSERT_TRUE(to_dp.try_send(ByteSpan(junk, 3), static_cast<std::uint16_t>(link::CtlMsg::kBurnView), 0));
  ASSERT_TRUE(to_dp.try_send(ByteSpan(junk, 3), static_cast<std::uint16_t>(link::CtlMsg::kSend), 12345));  // no session
  dp.run_once(1, 0);
  EXPECT_EQ(dp.counters().link_corrupt.load(), 4u);
  EXPECT_EQ(dp.sessions(), 0u);
  EXPECT_EQ(dp.burn_view(), ctl::BurnView{});
  EXPECT_EQ(dp.reward_set_size(), 0u);
}

// The test plays the control plane with raw fragments and reads the dataplane's events.
struct RawLink {
  shm::Region region;
  link::Link lk;
  std::optional<shm::RingProducer> to_dp;
  std::optional<shm::RingConsumer> from_dp;
  RawLink() {
    auto params = link::default_params();
    region = std::move(shm::Region::anonymous(link::link_footprint(params)).value());
    EXPECT_TRUE(link::link_format(region.data(), region.size(), params).ok());
    lk = link::link_join(region.data(), region.size()).value();
    to_dp = shm::RingProducer::join(lk.ctl_to_dp, lk.ctl_to_dp_sz).value();
    from_dp = shm::RingConsumer::join(lk.dp_to_ctl, lk.dp_to_ctl_sz).value();
  }
  // opened: the session ids of every kOpened event waiting (consumed).
  std::vector<std::uint32_t> opened() {
    std::vector<std::uint32_t> out;
    shm::Frag f;
    while (from_dp->poll(f) == shm::RingConsumer::Poll::kFrag) {
      if (f.kind == static_cast<std::uint16_t>(link::DpMsg::kOpened)) out.push_back(f.session);
      from_dp->release();
    }
    return out;
  }
  void close(std::uint32_t sid) {
    const std::uint8_t no = 0;
    ASSERT_TRUE(to_dp->try_send(ByteSpan(&no, 1), static_cast<std::uint16_t>(link::CtlMsg::kClose), sid));
  }
};

// Bodies larger than a session's own buffer are read into receive-pool slots; when two
// arrive at once and the pool has one slot, the other session's buffer grows (counted).
// Both are relayed intact either way.
// Relayed blocks reach the control plane's block store by the ids the relay keys them
// on, with their exact bytes and metadata; transactions do not; a block already stored
// is not stored twice.
TEST(RelayEngine, RelayedBlocksAreKeptInTheBlockStore) {
  char tmpl[] = "/tmp/stacks-relay-store-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  auto store = store::BlockStore::open(dir + "/blocks", {}).value();
  sim::SignerSet signers(4);
  ctl::ControlOptions co;
  co.reward_set = signers.reward_set;
  co.store = store.get();
  {
    Net n(3, 0, {}, [](DpOptions& o) { o.relay_2x = true; }, co);
    auto& a = n.nodes[0]->peer;
    NakamotoBlocks nb;
    nb.blocks.push_back(sim::nakamoto_block(41, signers, sim::key_from_byte(9, 1), 20000));
    nb.blocks.push_back(sim::nakamoto_block(42, signers, sim::key_from_byte(9, 1), 100, 5'000'000));
    a.send(a.conv->sign(1, nb));
    Microblocks mbs;
    mbs.microblocks = test::signed_test_microblocks(2, 0x61);
    a.send(a.conv->sign(2, mbs));
    a.send(a.conv->sign(3, Transaction{test::signed_test_tx(5)}));
    n.settle();
    ASSERT_EQ(n.nodes[1]->peer.pushes.size(), 3u);
    EXPECT_EQ(n.relay->ctl->stats().blocks_stored, 4u);
    a.send(a.conv->sign(4, nb));  // again: a duplicate, neither relayed nor stored
    n.settle();
    EXPECT_EQ(n.relay->ctl->stats().blocks_stored, 4u);
    EXPECT_EQ(n.c().store_feed_dropped.load(), 0u);

    auto snap = store->snapshot().value();
    for (const auto& b : nb.blocks) {
      auto got = snap.get(b.block_id);
      ASSERT_TRUE(got);
      EXPECT_EQ(Bytes(got->bytes.begin(), got->bytes.end()), encode_with(write_nakamoto_block, b));
      EXPECT_EQ(got->meta.kind, store::BlockKind::kNakamoto);
      EXPECT_EQ(got->meta.height, b.header.chain_length);
      EXPECT_EQ(got->meta.consensus_hash, b.header.consensus_hash);
      EXPECT_EQ(got->meta.parent, b.header.parent_block_id);
    }
    for (const auto& mb : mbs.microblocks) {
      auto got = snap.get(mb.block_hash);
      ASSERT_TRUE(got);
      EXPECT_EQ(Bytes(got->bytes.begin(), got->bytes.end()), encode_with(write_microblock, mb));
      EXPECT_EQ(got->meta.kind, store::BlockKind::kMicroblock);
    }
    EXPECT_EQ(store->totals().blocks, 4u);
  }
  store.reset();
  (void)std::system(("rm -rf " + dir).c_str());
}

// A push we originate (an HTTP upload) reaches every authenticated peer with exactly one
// relayer entry, ours; once known it is not sent again; an invalid one goes nowhere and
// nobody is dropped for it.
// On a 2.x network an anchored block and then its microblock stream: the stream is
// kept under its anchor (by position) and by the index hash a node asks for.
TEST(RelayEngine, MicroblockStreamsAreIndexedUnderTheirAnchor) {
  char tmpl[] = "/tmp/stacks-relay-store-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  auto store = store::BlockStore::open(dir + "/blocks", {}).value();
  ctl::ControlOptions co;
  co.store = store.get();
  {
    Net n(2, 0, {}, [](DpOptions& o) { o.relay_2x = true; }, co);
    auto& a = n.nodes[0]->peer;
    Blocks bl;
    BlockWithConsensus bwc;
    bwc.consensus_hash.fill(0xc5);
    bwc.block = decode_exact<StacksBlock>(test::vec("H9"), read_stacks_block).value();
    bl.blocks.push_back(bwc);
    a.send(a.conv->sign(1, bl));
    n.settle();
    const Hash32 anchor = block_index_hash(bwc.block.block_hash, bwc.consensus_hash);
    Microblocks mbs;
    mbs.index_anchor_block = anchor;
    mbs.microblocks = test::signed_test_microblocks(3, 0x62);
    a.send(a.conv->sign(2, mbs));
    n.settle();
    ASSERT_EQ(n.nodes[1]->peer.pushes.size(), 2u);
    EXPECT_EQ(n.relay->ctl->stats().blocks_stored, 4u);
    auto snap = store->snapshot().value();
    for (std::uint16_t i = 0; i < 3; ++i) {
      const auto& mb = mbs.microblocks[i];
      auto at = snap.microblock_at(anchor, i);
      ASSERT_TRUE(at) << i;
      EXPECT_EQ(Bytes(at->bytes.begin(), at->bytes.end()), encode_with(write_microblock, mb));
      EXPECT_EQ(at->meta.anchor, anchor);
      EXPECT_EQ(at->meta.consensus_hash, bwc.consensus_hash);
      auto by = snap.by_alias(store::microblock_index_hash(mb.block_hash, bwc.consensus_hash));
      ASSERT_TRUE(by) << i;
      EXPECT_EQ(by->meta.height, i);
    }
    EXPECT_FALSE(snap.microblock_at(anchor, 3));
  }
  store.reset();
  (void)std::system(("rm -rf " + dir).c_str());
}

TEST(RelayEngine, OriginatedPushesGoToEveryPeerWithUsAsTheOnlyRelayer) {
  Net n(3);
  const Bytes tx = encode_with(write_transaction, test::signed_test_tx(31));
  Bytes payload{static_cast<std::uint8_t>(MsgId::kTransaction)};
  payload.insert(payload.end(), tx.begin(), tx.end());
  n.relay->ctl->originate(payload);
  n.settle();
  for (auto& node : n.nodes) {
    ASSERT_EQ(node->peer.pushes.size(), 1u);
    auto m = decode_message(node->peer.pushes[0]);
    ASSERT_TRUE(m.ok());
    ASSERT_EQ(m->relayers.size(), 1u);
    const auto pk = n.relay_id().key.public_key().compressed();
    EXPECT_EQ(m->relayers[0].peer.public_key_hash, crypto::hash160(ByteSpan(pk.data(), pk.size())));
    EXPECT_TRUE(validate::verify_message(node->peer.pushes[0], n.relay_id().key.public_key()));
  }
  EXPECT_EQ(n.c().originated.load(), 1u);
  n.relay->ctl->originate(payload);  // known now
  StacksTransaction bad = test::signed_test_tx(32);
  bad.auth.origin.signature[9] ^= 1;
  compute_ids(bad);
  const Bytes badtx = encode_with(write_transaction, bad);
  Bytes badp{static_cast<std::uint8_t>(MsgId::kTransaction)};
  badp.insert(badp.end(), badtx.begin(), badtx.end());
  n.relay->ctl->originate(badp);
  n.settle();
  EXPECT_EQ(n.c().originated.load(), 1u);
  EXPECT_EQ(n.c().drop_dup.load(), 1u);
  EXPECT_EQ(n.c().drop_invalid.load(), 1u);
  for (auto& node : n.nodes) {
    EXPECT_EQ(node->peer.pushes.size(), 1u);
    EXPECT_FALSE(node->peer.closed);
  }
}

// p2p.large_sends_at_once: a large push goes to a few peers at a time, trusted peers (and
// pair partners) first, then the shortest round trip; each further copy starts when one
// before it is sent. Here a transaction counts as large (large_push_bytes = 100), two
// copies at a time, five recipients: the trusted one (the longest round trip), then by
// round trip, an unknown one last. The in-memory transport completes a send at the
// relay's next poll, so each run_once hands out the next two.
TEST(RelayEngine, LargePushesGoToAFewPeersAtATimeTrustedThenNearestFirst) {
  MemNetwork probe;
  MemTransport pt(probe, 9);
  test::TestPeer<MemTransport> trusted_probe(pt, 24);
  Net n(0, 0, {trusted_probe.pkh()}, [](DpOptions& o) {
    o.large_sends_at_once = 2;
    o.large_push_bytes = 100;
  });
  // Node keys 20..25: 20 sends; RTTs (µs) of the others: 21: 300, 22: 100, 23: unknown,
  // 24 (trusted): 900, 25: 200.
  const std::uint32_t rtt[] = {0, 300, 100, 0, 900, 200};
  for (std::uint8_t i = 0; i < 6; ++i) n.add_node(static_cast<std::uint8_t>(20 + i)).t.set_rtt_us(rtt[i]);
  n.settle();
  ASSERT_EQ(n.relay->dp->authenticated_sessions(), 6u);
  auto& a = n.nodes[0]->peer;
  a.send(a.conv->sign(0x77, Transaction{test::signed_test_tx(41)}));
  // Step by step: which nodes hold it after each round of the relay and the nodes.
  std::vector<std::vector<std::size_t>> rounds;
  std::vector<bool> had(6, false);
  for (int round = 0; round < 12 && rounds.size() < 3; ++round) {
    n.now += 1000;
    n.relay->run_once(n.now);
    for (auto& node : n.nodes) node->peer.pump(n.now);
    std::vector<std::size_t> got;
    for (std::size_t i = 1; i < 6; ++i)
      if (!had[i] && !n.nodes[i]->peer.pushes.empty()) {
        had[i] = true;
        got.push_back(i);
      }
    if (!got.empty()) rounds.push_back(got);
  }
  // (Each round's nodes by index: the two of a round are handed out in one poll.) The
  // trusted 24 goes with the nearest, 22, before 25 and 21; 23, unknown, last.
  const std::vector<std::vector<std::size_t>> want = {{2, 4}, {1, 5}, {3}};
  EXPECT_EQ(rounds, want) << "copies were handed out in the wrong order or too many at once";
  EXPECT_EQ(n.c().large_sends_waited.load(), 5u);
  EXPECT_EQ(n.c().fanout_sends.load(), 5u);
  // Small pushes are not held back: with the threshold above a transaction, all at once.
  Net m(0, 0, {}, [](DpOptions& o) { o.large_sends_at_once = 1; });
  for (std::uint8_t i = 0; i < 4; ++i) m.add_node(static_cast<std::uint8_t>(30 + i));
  m.settle();
  auto& b = m.nodes[0]->peer;
  b.send(b.conv->sign(0x78, Transaction{test::signed_test_tx(42)}));
  m.now += 1000;
  m.relay->run_once(m.now);
  for (auto& node : m.nodes) node->peer.pump(m.now);
  for (std::size_t i = 1; i < 4; ++i) EXPECT_EQ(m.nodes[i]->peer.pushes.size(), 1u) << i;
  EXPECT_EQ(m.c().large_sends_waited.load(), 0u);
}

// Two large pushes back to back through one slot: every peer gets the first before any
// gets the second. The nearest peer, done with the first, waits again at once — and
// would win the slot for the second over the farther peers still waiting for the first,
// if the round trip alone decided.
TEST(RelayEngine, LargePushesGoOldestFirstThenNearest) {
  Net n(0, 0, {}, [](DpOptions& o) {
    o.large_sends_at_once = 1;
    o.large_push_bytes = 100;
  });
  const std::uint32_t rtt[] = {0, 100, 200, 300};  // node 1 nearest
  for (std::uint8_t i = 0; i < 4; ++i) n.add_node(static_cast<std::uint8_t>(60 + i)).t.set_rtt_us(rtt[i]);
  n.settle();
  ASSERT_EQ(n.relay->dp->authenticated_sessions(), 4u);
  auto& a = n.nodes[0]->peer;
  a.send(a.conv->sign(0x7a, Transaction{test::signed_test_tx(44)}));
  a.send(a.conv->sign(0x7b, Transaction{test::signed_test_tx(45)}));
  // Each copy as it lands: (node, which push: 1 or 2).
  const auto which = [](const Bytes& msg) -> std::size_t {
    auto m = decode_message(msg);
    if (!m.ok() || !std::holds_alternative<Transaction>(m->payload)) return 0;
    const auto& id = std::get<Transaction>(m->payload).tx.txid;
    return id == test::signed_test_tx(44).txid ? 1 : id == test::signed_test_tx(45).txid ? 2 : 0;
  };
  std::vector<std::pair<std::size_t, std::size_t>> order;
  std::vector<std::size_t> seen(4, 0);
  for (int round = 0; round < 40 && order.size() < 6; ++round) {
    n.now += 1000;
    n.relay->run_once(n.now);
    for (auto& node : n.nodes) node->peer.pump(n.now);
    for (std::size_t i = 1; i < 4; ++i)
      for (; seen[i] < n.nodes[i]->peer.pushes.size(); ++seen[i]) order.emplace_back(i, which(n.nodes[i]->peer.pushes[seen[i]]));
  }
  const std::vector<std::pair<std::size_t, std::size_t>> want = {{1, 1}, {2, 1}, {3, 1}, {1, 2}, {2, 2}, {3, 2}};
  EXPECT_EQ(order, want) << "a peer got the second push before every peer had the first";
  EXPECT_EQ(n.c().fanout_sends.load(), 6u);
}

// A push with nothing ahead of it goes straight to the transport, but one that finds a
// push waiting in the pacer waits its turn: a transaction arriving while a large one
// waits for its slot (the same priority) reaches that peer after it. (One slot, held by
// the nearest peer's copy, which never completes while sends are stalled.)
TEST(RelayEngine, APushBehindAWaitingLargePushKeepsItsPlace) {
  Net n(0, 0, {}, [](DpOptions& o) {
    o.large_sends_at_once = 1;
    o.large_push_bytes = 1000;
  });
  const std::uint32_t rtt[] = {0, 100, 200};
  for (std::uint8_t i = 0; i < 3; ++i) n.add_node(static_cast<std::uint8_t>(70 + i)).t.set_rtt_us(rtt[i]);
  n.settle();
  n.rt->stall_sends(true);
  auto& a = n.nodes[0]->peer;
  const auto big = sim::signed_contract_call(1, 2000), small = test::signed_test_tx(46);
  auto rounds = [&] {
    for (int i = 0; i < 3; ++i) {
      n.now += 1000;
      n.relay->run_once(n.now);
      for (auto& node : n.nodes) node->peer.pump(n.now);
    }
  };
  a.send(a.conv->sign(0x7c, Transaction{big}));
  rounds();
  ASSERT_EQ(n.c().large_sends_waited.load(), 2u);  // both waited; node 1 has the slot, node 2 waits on
  a.send(a.conv->sign(0x7d, Transaction{small}));
  rounds();
  n.rt->stall_sends(false);
  n.settle();
  for (std::size_t i = 1; i < 3; ++i) {
    auto& got = n.nodes[i]->peer.pushes;
    ASSERT_EQ(got.size(), 2u) << "node " << i;
    auto first = decode_message(got[0]), second = decode_message(got[1]);
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_EQ(std::get<Transaction>(first->payload).tx.txid, big.txid) << "node " << i << " got the later push first";
    EXPECT_EQ(std::get<Transaction>(second->payload).tx.txid, small.txid) << "node " << i;
  }
}

// Two slots in step (large_sends_in_step). Nodes 1 and 2 get the first copies; node 1's
// completes after ~45 µs while node 2's is still going. Its slot waits for node 2's copy
// (at most a quarter of those 45 µs), and once that completes nodes 3 and 4 start
// together. A copy slower than the hold is left behind: then the freed slot goes on.
struct InStepNet {
  Net n;
  ConnId c1 = kNoConn, c2 = kNoConn;
  std::vector<int> got_at;  // per node: the round its copy arrived (-1: not yet)
  int round = 0;
  explicit InStepNet(bool in_step)
      : n(0, 0, {}, [in_step](DpOptions& o) {
          o.large_sends_at_once = 2;
          o.large_push_bytes = 100;
          o.large_sends_in_step = in_step;
        }) {
    const std::uint32_t rtt[] = {0, 100, 200, 300, 400};  // node 1 nearest
    for (std::uint8_t i = 0; i < 5; ++i) n.add_node(static_cast<std::uint8_t>(80 + i)).t.set_rtt_us(rtt[i]);
    n.settle();
    for (ConnId c = 0; c < 16; ++c) {  // the relay's side of nodes 1 and 2
      if (n.rt->rtt_us(c) == 100) c1 = c;
      if (n.rt->rtt_us(c) == 200) c2 = c;
    }
    got_at.assign(5, -1);
  }
  void rounds(int k) {
    for (int i = 0; i < k; ++i, ++round) {
      n.now += 1000;
      n.relay->run_once(n.now);
      for (auto& node : n.nodes) node->peer.pump(n.now);
      for (std::size_t j = 1; j < 5; ++j)
        if (got_at[j] < 0 && !n.nodes[j]->peer.pushes.empty()) got_at[j] = round;
    }
  }
  // start: the push reaches the relay; nodes 1 and 2 hold the slots, their copies going
  // on for ~45 µs; then node 1's completes.
  void start() {
    n.rt->stall_conn(c1, true);
    n.rt->stall_conn(c2, true);
    auto& a = n.nodes[0]->peer;
    a.send(a.conv->sign(0x7e, Transaction{test::signed_test_tx(47)}));
    rounds(45);
    n.rt->stall_conn(c1, false);
    rounds(1);
  }
};

TEST(RelayEngine, LargeSendSlotsStayInStep) {
  InStepNet t(true);
  ASSERT_NE(t.c2, kNoConn);
  t.start();
  ASSERT_EQ(t.n.c().large_sends_waited.load(), 4u);
  ASSERT_GE(t.got_at[1], 0) << "node 1's copy did not complete";
  t.rounds(6);  // within the hold
  EXPECT_EQ(t.got_at[3], -1) << "the slot node 1 freed went on beside node 2's copy";
  EXPECT_EQ(t.got_at[4], -1);
  t.n.rt->stall_conn(t.c2, false);
  t.rounds(4);
  ASSERT_GE(t.got_at[2], 0);
  ASSERT_GE(t.got_at[3], 0);
  EXPECT_EQ(t.got_at[3], t.got_at[4]) << "nodes 3 and 4 did not start together";
  EXPECT_GE(t.got_at[3], t.got_at[2]);
}

TEST(RelayEngine, ALargeCopySlowerThanTheHoldIsLeftBehind) {
  InStepNet t(true);
  ASSERT_NE(t.c2, kNoConn);
  t.start();
  t.rounds(6);
  EXPECT_EQ(t.got_at[3], -1);
  t.rounds(14);  // past a quarter of node 1's ~45 µs: node 2 is left behind
  EXPECT_GE(t.got_at[3], 0) << "a slow copy held the freed slot past the hold";
  EXPECT_EQ(t.got_at[2], -1);
  EXPECT_GT(t.got_at[4], t.got_at[3]) << "the slot left over serves the rest, one after another";
}

// Without it, the freed slot goes on at once (the policy is the option's).
TEST(RelayEngine, LargeSendSlotsOutOfStepWhenAskedTo) {
  InStepNet t(false);
  ASSERT_NE(t.c2, kNoConn);
  t.start();
  t.rounds(2);
  EXPECT_GE(t.got_at[3], 0);
  EXPECT_EQ(t.got_at[2], -1);
}

// A session holding a large-send slot that goes away gives it back: the next waiting
// peer gets its copy. (One slot; the first recipient stops reading, so its copy never
// completes, then it disconnects.)
TEST(RelayEngine, ALargeSendSlotComesBackWhenItsSessionCloses) {
  Net n(0, 0, {}, [](DpOptions& o) {
    o.large_sends_at_once = 1;
    o.large_push_bytes = 100;
  });
  const std::uint32_t rtt[] = {0, 100, 200};
  for (std::uint8_t i = 0; i < 3; ++i) n.add_node(static_cast<std::uint8_t>(50 + i)).t.set_rtt_us(rtt[i]);
  n.settle();
  n.rt->stall_sends(true);  // the relay's copies go nowhere: none completes
  auto& a = n.nodes[0]->peer;
  a.send(a.conv->sign(0x79, Transaction{test::signed_test_tx(43)}));
  for (int i = 0; i < 3; ++i) {
    n.now += 1000;
    n.relay->run_once(n.now);
    for (auto& node : n.nodes) node->peer.pump(n.now);
  }
  EXPECT_EQ(n.c().large_sends_waited.load(), 2u);
  n.nodes[1]->t.close(n.nodes[1]->peer.conn);  // the nearest, holding the slot, leaves
  n.rt->stall_sends(false);
  n.settle();
  EXPECT_EQ(n.nodes[2]->peer.pushes.size(), 1u) << "the slot of the session that left was not given back";
}

// A large copy that does not complete within a second plus its size at 1 MiB/s gives its
// slot up (it goes on without one): a peer that stops reading holds no one else back.
TEST(RelayEngine, ALargeCopyTooSlowGivesItsSlotUp) {
  Net n(0, 0, {}, [](DpOptions& o) {
    o.large_sends_at_once = 1;
    o.large_push_bytes = 100;
  });
  const std::uint32_t rtt[] = {0, 100, 200};
  for (std::uint8_t i = 0; i < 3; ++i) n.add_node(static_cast<std::uint8_t>(60 + i)).t.set_rtt_us(rtt[i]);
  n.settle();
  n.rt->stall_sends(true);  // no copy completes
  auto& a = n.nodes[0]->peer;
  a.send(a.conv->sign(0x7a, Transaction{test::signed_test_tx(44)}));
  auto rounds = [&](int k, std::uint64_t step_ns) {
    for (int i = 0; i < k; ++i) {
      n.now += step_ns;
      n.relay->run_once(n.now);
      for (auto& node : n.nodes) node->peer.pump(n.now);
    }
  };
  rounds(3, 1000);
  EXPECT_EQ(n.rt->stalled_sends(), 1u) << "one slot: one copy out";
  rounds(3, 400'000'000);  // 1.2 s: the first copy is overdue
  EXPECT_EQ(n.c().large_sends_overdue.load(), 1u);
  EXPECT_EQ(n.rt->stalled_sends(), 2u) << "the slot of the overdue copy went to the next peer";
  n.rt->stall_sends(false);
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 1u);
  EXPECT_EQ(n.nodes[2]->peer.pushes.size(), 1u);
}

// The 39 kB mainnet contract deploy (larger than any handshake) and variants of it.
StacksTransaction big_contract() {
  Bytes contract;
  for (auto& r : test::read_tsv_records("real-data/mainnet-txs.tsv"))
    if (r["payload_name"] == "smart-contract") contract = test::hex(r["raw_tx_hex"]);
  auto big = decode_exact<StacksTransaction>(contract, read_transaction);
  EXPECT_TRUE(big.ok());
  EXPECT_GT(contract.size(), kMaxHandshakeBody + 1000);
  return big.ok() ? *big : StacksTransaction{};
}
// variant: a different object of the same size (not validly signed: dropped as invalid).
StacksTransaction variant(const StacksTransaction& t, std::uint64_t bump) {
  StacksTransaction v = t;
  v.auth.origin.nonce += bump;
  compute_ids(v);
  return v;
}
Bytes half(const Bytes& m, bool first) {
  const auto mid = static_cast<long>(m.size() / 2);
  return first ? Bytes(m.begin(), m.begin() + mid) : Bytes(m.begin() + mid, m.end());
}

TEST(RelayEngine, LargeBodiesBorrowReceivePoolSlotsThenHeapWithinTheBudgetThenWait) {
  const StacksTransaction big = big_contract();
  const std::size_t pool = 64 * 1024;
  Net n(3, 700, {}, [&](DpOptions& o) {
    o.rx_own_bytes = 1024;
    o.rx_pool = {{pool, 1}};
    o.rx_budget = pool + 48 * 1024;  // room for one heap body of the contract's size, not two
  });
  auto& a = n.nodes[0]->peer;
  auto& b = n.nodes[1]->peer;
  auto& c = n.nodes[2]->peer;
  // One at a time: each borrows the slot and gives it back.
  a.send(a.conv->sign(1, Transaction{big}));
  n.settle();
  ASSERT_EQ(c.pushes.size(), 1u);
  EXPECT_EQ(n.c().rx_heap_bodies.load(), 0u);
  // Three at once: one gets the slot, one heap, the third waits unread until one of the
  // others is done, then is read like the rest.
  const Bytes from_a = a.conv->sign(2, Transaction{big});
  const Bytes from_b = b.conv->sign(3, Transaction{variant(big, 1)});
  const Bytes from_c = c.conv->sign(4, Transaction{variant(big, 2)});
  a.send(half(from_a, true));  // every body is started before any ends
  b.send(half(from_b, true));
  c.send(half(from_c, true));
  n.settle();
  EXPECT_EQ(n.c().rx_heap_bodies.load(), 1u);
  EXPECT_EQ(n.c().rx_heap_bytes.load(), from_b.size() - kPreambleSize);
  EXPECT_EQ(n.c().rx_waits_budget.load(), 1u);
  EXPECT_TRUE(n.rt->paused(0) || n.rt->paused(1) || n.rt->paused(2));  // c's connection is not read
  a.send(half(from_a, false));
  b.send(half(from_b, false));
  c.send(half(from_c, false));
  n.settle();
  EXPECT_EQ(n.c().drop_dup.load(), 1u);      // a's second copy of the contract
  EXPECT_EQ(n.c().drop_invalid.load(), 2u);  // b's and c's altered ones, read whole all the same
  EXPECT_EQ(n.c().rx_heap_bytes.load(), 0u);  // the heap body was freed with its message
  EXPECT_EQ(n.c().rx_waits_budget.load(), 1u);
  EXPECT_FALSE(a.closed || b.closed || c.closed);
  EXPECT_FALSE(n.rt->paused(0) || n.rt->paused(1) || n.rt->paused(2));
  // Everything came back: the next large body takes the slot again.
  a.send(half(a.conv->sign(5, Transaction{variant(big, 3)}), true));
  n.settle();
  EXPECT_EQ(n.c().rx_heap_bodies.load(), 1u);
  EXPECT_EQ(n.c().rx_heap_bytes.load(), 0u);
}

// A session the control plane has not authenticated reads handshake-sized messages
// only: a larger one waits, unread, for the key. Sent right behind the handshake (before
// the relay could have answered), a push is read and relayed once the key is in.
TEST(RelayEngine, LargeMessagesBeforeTheHandshakeWaitForTheKey) {
  const StacksTransaction big = big_contract();
  Net n(2);
  TestNode& x = n.add_node(40);
  x.peer.pump(n.now);  // connected: its Handshake is on its way
  ASSERT_TRUE(x.peer.conv != nullptr);
  x.peer.send(x.peer.conv->sign(9, Transaction{big}));  // behind it, before any answer
  n.settle();
  EXPECT_EQ(n.c().rx_waits_key.load(), 1u);
  EXPECT_EQ(n.c().rx_waits_budget.load(), 0u);
  ASSERT_EQ(n.nodes[0]->peer.pushes.size(), 1u);  // read once the key was in, and relayed
  EXPECT_EQ(n.c().drop_framing.load(), 0u);
  EXPECT_FALSE(x.peer.closed);
}

// A connection that claims a 16 MB message and never shakes hands costs its preamble:
// nothing is leased or allocated for its body, its further bytes stay unread, and the
// control plane drops it when the handshake time is up.
TEST(RelayEngine, APreambleClaimingAHugeBodyBeforeAnyHandshakeCostsNothing) {
  Net n(2);
  MemTransport raw(n.net);
  auto conn = raw.connect(net::from_sockaddr(port_addr(1)), {});
  ASSERT_TRUE(conn.ok());
  Preamble p;
  p.peer_version = 0x18000010;
  p.network_id = 1;
  p.payload_len = kMaxMessageLen - 1;
  p.burn_block_height = 900107;  // a well-formed preamble: only its claim is hostile
  p.burn_stable_block_height = 900100;
  Bytes junk;
  Writer w(junk);
  write_preamble(w, p);
  junk.resize(junk.size() + 100000, 0x5a);  // and 100 kB of the claimed body
  SharedBuf* b = SharedBuf::make(junk);
  ASSERT_TRUE(raw.send(*conn, b, 0).ok());
  b->unref();
  const std::uint64_t before = n.c().bytes_in.load();
  n.settle();
  EXPECT_EQ(n.c().rx_waits_key.load(), 1u);
  EXPECT_EQ(n.c().bytes_in.load() - before, kPreambleSize);  // the rest is not read
  EXPECT_EQ(n.c().rx_heap_bodies.load(), 0u);
  EXPECT_EQ(n.c().sessions_closed.load(), 0u);
  // The honest nodes are served meanwhile.
  n.nodes[0]->peer.send(n.nodes[0]->peer.conv->sign(1, Transaction{big_contract()}));
  n.settle();
  EXPECT_EQ(n.nodes[1]->peer.pushes.size(), 1u);
  n.now += 6'000'000'000ull;  // past the handshake timeout
  n.settle();
  EXPECT_EQ(n.c().sessions_closed.load(), 1u);
  EXPECT_EQ(n.relay->dp->sessions(), 2u);
  EXPECT_EQ(n.c().drop_framing.load(), 0u);
}

// A large body (read into the receive budget) must keep arriving: one that stalls is
// closed after the grace time plus its size at the minimum rate, not as misbehaviour; a
// body that arrives, however it is split, is untouched. Issue 15.1.
TEST(RelayEngine, ALargeBodyThatStopsArrivingIsClosed) {
  const StacksTransaction big = big_contract();
  Net n(3, 0, {}, [](DpOptions& o) { o.rx_own_bytes = 1024; });
  auto& a = n.nodes[0]->peer;
  auto& b = n.nodes[1]->peer;
  const Bytes from_a = a.conv->sign(1, Transaction{big});
  const Bytes from_b = b.conv->sign(2, Transaction{variant(big, 1)});
  a.send(half(from_a, true));  // and nothing more
  b.send(half(from_b, true));
  n.settle();  // both bodies started: their clocks run from here
  n.now += 5'000'000'000ull;
  n.settle();
  b.send(half(from_b, false));  // late, but in time
  n.now += 8'000'000'000ull;    // 13 s: past a's 10 s + 1.2 s
  n.settle();
  EXPECT_EQ(n.c().closed_slow_body.load(), 1u);
  EXPECT_TRUE(a.closed);
  EXPECT_FALSE(b.closed);
  EXPECT_EQ(n.c().drop_invalid.load(), 1u);  // b's whole (altered) message was read
  EXPECT_EQ(n.relay->ctl->stats().closed_misbehaved, 0u);
}

// Under memory pressure attackers pay first: while a body waits for the receive budget,
// the session whose large body arrives slowest (below 256 KiB/s after 4 s) is closed and
// its memory goes to the one waiting; without pressure a slow body only meets its own
// deadline. Issue 15.1.
TEST(RelayEngine, UnderMemoryPressureTheSlowestLargeBodyIsEvicted) {
  const StacksTransaction big = big_contract();
  const std::size_t pool = 64 * 1024;
  Net n(3, 0, {}, [&](DpOptions& o) {
    o.rx_own_bytes = 1024;
    o.rx_pool = {{pool, 1}};
    o.rx_budget = pool + 48 * 1024;  // the slot and one heap body: a third waits
  });
  auto& a = n.nodes[0]->peer;
  auto& b = n.nodes[1]->peer;
  auto& c = n.nodes[2]->peer;
  const Bytes from_a = a.conv->sign(1, Transaction{big});
  const Bytes from_b = b.conv->sign(2, Transaction{variant(big, 1)});
  const Bytes from_c = c.conv->sign(3, Transaction{variant(big, 2)});
  a.send(half(from_a, true));  // and then stalls
  b.send(half(from_b, true));
  n.settle();
  n.now += 5'000'000'000ull;  // both slow now, but nobody waits: nothing happens
  n.settle();
  EXPECT_EQ(n.c().closed_evicted.load(), 0u);
  b.send(half(from_b, false));  // b is done; a still holds its share
  c.send(half(from_c, true));
  n.settle();
  // c's body found room in b's share; a new one from b now waits behind a's stall.
  const Bytes again_b = b.conv->sign(4, Transaction{variant(big, 3)});
  b.send(half(again_b, true));
  n.settle();
  EXPECT_EQ(n.c().rx_waits_budget.load(), 1u);
  n.now += 1'000'000'000ull;  // the next sweep: a (5 s, ~7 KB/s) makes room, not c (just begun)
  n.settle();
  EXPECT_EQ(n.c().closed_evicted.load(), 1u);
  EXPECT_TRUE(a.closed);
  EXPECT_FALSE(b.closed || c.closed);
  b.send(half(again_b, false));
  c.send(half(from_c, false));
  n.settle();
  EXPECT_EQ(n.c().drop_invalid.load(), 3u);  // b's two and c's (altered, read whole)
  EXPECT_EQ(n.c().closed_slow_body.load(), 0u);
  EXPECT_EQ(n.relay->ctl->stats().closed_misbehaved, 0u);
}

// Large Nakamoto block pushes are checked while their bytes arrive (here in reads of at
// most 1 500 bytes); when no checker is free, or the stream gives up, the whole payload
// is checked after the last byte exactly as before: the verdicts do not change.
void large_blocks_checked_while_arriving(bool threaded) {
  sim::SignerSet signers(4);
  const auto miner = sim::key_from_byte(9, 1);
  ctl::ControlOptions co;
  co.reward_set = signers.reward_set;
  Net n(3, 1500, {}, [threaded](DpOptions& o) {
    o.stream_checkers = 1;
    o.stream_thread = threaded;
  }, co);
  auto& a = n.nodes[0]->peer;
  auto& b = n.nodes[1]->peer;
  auto& c = n.nodes[2]->peer;
  auto push_of = [](NakamotoBlock blk) {
    NakamotoBlocks nb;
    nb.blocks.push_back(std::move(blk));
    return nb;
  };
  a.send(a.conv->sign(1, push_of(sim::nakamoto_block(50, signers, miner, 64 * 1024))));
  n.settle();
  EXPECT_EQ(n.c().blocks_streamed.load(), 1u);
  EXPECT_EQ(b.pushes.size(), 1u);
  EXPECT_EQ(c.pushes.size(), 1u);

  // Two at once with one checker: the first to show its type byte streams, the other is
  // checked whole; both go out.
  const Bytes from_a = a.conv->sign(2, push_of(sim::nakamoto_block(51, signers, miner, 64 * 1024)));
  const Bytes from_b = b.conv->sign(3, push_of(sim::nakamoto_block(52, signers, miner, 64 * 1024)));
  const auto mid_a = static_cast<long>(from_a.size() / 2), mid_b = static_cast<long>(from_b.size() / 2);
  a.send(Bytes(from_a.begin(), from_a.begin() + mid_a));
  n.settle();
  b.send(Bytes(from_b.begin(), from_b.begin() + mid_b));
  n.settle();
  a.send(Bytes(from_a.begin() + mid_a, from_a.end()));
  b.send(Bytes(from_b.begin() + mid_b, from_b.end()));
  n.settle();
  EXPECT_EQ(n.c().blocks_streamed.load(), 2u);
  EXPECT_EQ(n.c().stream_none_free.load(), 1u);
  EXPECT_EQ(c.pushes.size(), 3u);

  // Small blocks are checked whole (no checker taken).
  a.send(a.conv->sign(4, push_of(sim::nakamoto_block(53, signers, miner, 2 * 1024))));
  n.settle();
  EXPECT_EQ(c.pushes.size(), 4u);
  EXPECT_EQ(n.c().blocks_streamed.load() + n.c().stream_gave_up.load(), 2u);

  // A transaction changed after the signers signed: the Merkle root no longer matches.
  // The stream gives up, the whole check finds the block undecodable (as a node would),
  // and the sender is dropped.
  auto [txs, root] = sim::block_txs(40 * 1024, 9'000'000);
  txs[3].auth.origin.nonce += 1;
  compute_ids(txs[3]);
  a.send(a.conv->sign(5, push_of(sim::nakamoto_block_of(txs, root, 54, signers, miner))));
  n.settle();
  EXPECT_EQ(n.c().stream_gave_up.load(), 1u);
  EXPECT_EQ(n.c().blocks_streamed.load(), 2u);
  EXPECT_TRUE(a.closed);
  EXPECT_EQ(c.pushes.size(), 4u);
  EXPECT_FALSE(b.closed || c.closed);

  // The checker was handed back each time: the next large block streams again.
  b.send(b.conv->sign(6, push_of(sim::nakamoto_block(55, signers, miner, 64 * 1024))));
  n.settle();
  EXPECT_EQ(n.c().blocks_streamed.load(), 3u);
  EXPECT_EQ(c.pushes.size(), 5u);
}

TEST(RelayEngine, LargeBlocksAreCheckedWhileTheyArriveOnASecondThread) { large_blocks_checked_while_arriving(true); }
TEST(RelayEngine, LargeBlocksAreCheckedWhileTheyArriveInline) { large_blocks_checked_while_arriving(false); }

// An engine stopped while a large block is still arriving lets go of what it took for
// it: the stream checker (the second thread leaves it first) and the forward being
// written as the bytes land.
TEST(RelayEngine, StoppingMidBlockLetsGoOfItsBuffers) {
  sim::SignerSet signers(4);
  ctl::ControlOptions co;
  co.reward_set = signers.reward_set;
  Net n(2, 1500, {}, [](DpOptions& o) { o.stream_checkers = 1; }, co);
  auto& a = n.nodes[0]->peer;
  NakamotoBlocks nb;
  nb.blocks.push_back(sim::nakamoto_block(50, signers, sim::key_from_byte(9, 1), 64 * 1024));
  const Bytes push = a.conv->sign(1, nb);
  a.send(Bytes(push.begin(), push.begin() + static_cast<long>(push.size() / 2)));
  n.settle();
  EXPECT_GE(n.rt->live_buffers(), 1u);  // the forward, half written
  n.relay.reset();
  EXPECT_EQ(n.rt->live_buffers(), 0u);
}

TEST(RelayEngine, SessionTableRefusesBeyondItsSizeAndNeverReusesASessionId) {
  MemNetwork net;
  MemTransport rt(net, 1);
  RawLink raw;
  DpOptions o = test::dp_options_for(make_local(7));
  o.max_sessions = 2;
  RelayEngine<MemTransport> dp(rt, link::join_ends(raw.lk, link::Side::kDataplane).value(), o);
  dp.start(1);
  std::vector<std::unique_ptr<TestNode>> nodes;
  std::uint64_t now = 1;
  auto step = [&] {
    for (int i = 0; i < 5; ++i) {
      dp.run_once(++now, 0);
      for (auto& n : nodes) n->peer.pump(now);
    }
  };
  for (std::uint8_t k = 0; k < 3; ++k) {
    nodes.push_back(std::make_unique<TestNode>(net, static_cast<std::uint8_t>(40 + k)));
    nodes.back()->peer.dial(port_addr(1));
  }
  step();
  EXPECT_EQ(dp.sessions(), 2u);  // the third connection was refused: the table is full
  EXPECT_TRUE(nodes[2]->peer.closed);
  auto first = raw.opened();
  ASSERT_EQ(first.size(), 2u);
  // The first node leaves; a new one takes its slot under a new session id.
  raw.close(first[0]);
  step();
  EXPECT_TRUE(nodes[0]->peer.closed);
  nodes.push_back(std::make_unique<TestNode>(net, 50));
  nodes.back()->peer.dial(port_addr(1));
  step();
  auto second = raw.opened();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0], first[0]);
  EXPECT_EQ(second[0] & 0xffff, first[0] & 0xffff);  // the same slot, reused
  // A late command for the session that is gone does not touch the new one.
  raw.close(first[0]);
  step();
  EXPECT_FALSE(nodes[3]->peer.closed);
  EXPECT_EQ(dp.sessions(), 2u);
  raw.close(second[0]);
  step();
  EXPECT_TRUE(nodes[3]->peer.closed);
  EXPECT_EQ(dp.sessions(), 1u);
}

}  // namespace
}  // namespace relay::dp
