#include "control/session/conversation.hpp"

#include <gtest/gtest.h>

#include "relay/validate/validate.hpp"

namespace relay::ctl {
namespace {

using namespace relay::codec;

LocalPeer make_peer(std::uint8_t key_byte) {
  Bytes k(32, 0);
  k[31] = key_byte;
  LocalPeer p{*crypto::SecretKey::from_bytes(k), 1, 0x18000010, 7, kServiceRelay, {}, 20444, "", 3600,
              0x7fffffffffffffffull};
  return p;
}

BurnView view() {
  BurnView v;
  v.height = 900007;
  v.hash.fill(0x11);
  v.stable_height = 900000;
  v.stable_hash.fill(0x22);
  return v;
}

Message decode(const Bytes& b) {
  auto m = decode_message(b);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().reason);
  return m.ok() ? *m : Message{};
}

struct Pair {
  LocalPeer relay_id = make_peer(7);
  LocalPeer node_id = make_peer(9);
  Conversation relay{&relay_id, false, 0};  // inbound on the relay
  Conversation node{&node_id, true, 0};     // the node dialed
  std::vector<Action> relay_out, node_out;

  Pair() {
    relay.set_burn_view(view());
    node.set_burn_view(view());
  }
  // Deliver every kSend of `from_out` to `to`.
  static void deliver(std::vector<Action>& from_out, Conversation& to, std::vector<Action>& to_out, std::uint64_t now) {
    std::vector<Action> pending;
    pending.swap(from_out);
    for (auto& a : pending) {
      if (a.kind == Action::Kind::kSend) to.on_message(a.bytes, decode(a.bytes), now, to_out);
      else from_out.push_back(a);  // keep non-send actions for inspection
    }
  }
  void handshake() {
    node.start(0, node_out);
    deliver(node_out, relay, relay_out, 1);
    deliver(relay_out, node, node_out, 2);
  }
};

bool has(const std::vector<Action>& v, Action::Kind k) {
  for (auto& a : v)
    if (a.kind == k) return true;
  return false;
}

TEST(Conversation, HandshakeBothWays) {
  Pair p;
  p.handshake();
  ASSERT_TRUE(p.relay.authenticated());
  ASSERT_TRUE(p.node.authenticated());
  EXPECT_TRUE(*p.relay.peer_key() == p.node_id.key.public_key());
  EXPECT_TRUE(*p.node.peer_key() == p.relay_id.key.public_key());
  EXPECT_TRUE(has(p.relay_out, Action::Kind::kAuthenticated));
  EXPECT_TRUE(has(p.node_out, Action::Kind::kAuthenticated));
}

TEST(Conversation, AcceptCarriesRequestSeqAndHeartbeat) {
  Pair p;
  p.node.start(0, p.node_out);
  Message hs = decode(p.node_out[0].bytes);
  std::vector<Action> out;
  p.relay.on_message(p.node_out[0].bytes, hs, 1, out);
  Bytes accept_bytes;
  for (auto& a : out)
    if (a.kind == Action::Kind::kSend) accept_bytes = a.bytes;
  Message acc = decode(accept_bytes);
  EXPECT_EQ(acc.preamble.seq, hs.preamble.seq);
  ASSERT_EQ(payload_id(acc.payload), MsgId::kHandshakeAccept);
  EXPECT_GE(std::get<HandshakeAccept>(acc.payload).data.heartbeat_interval, 3600u);
  EXPECT_EQ(std::get<HandshakeAccept>(acc.payload).data.handshake.expire_block_height, 0x7fffffffffffffffull);
  EXPECT_TRUE(validate::verify_message(accept_bytes, p.relay_id.key.public_key()));
}

TEST(Conversation, UnauthenticatedRequestsGetNack1) {
  Pair p;
  Bytes ping = p.node.sign(4242, Ping{5});
  std::vector<Action> out;
  p.relay.on_message(ping, decode(ping), 1, out);
  ASSERT_EQ(out.size(), 1u);
  Message r = decode(out[0].bytes);
  EXPECT_EQ(r.preamble.seq, 4242u);
  ASSERT_EQ(payload_id(r.payload), MsgId::kNack);
  EXPECT_EQ(std::get<Nack>(r.payload).error_code, kNackHandshakeRequired);
  // NatPunch is answered even before a handshake.
  out.clear();
  Bytes punch = p.node.sign(77, NatPunchRequest{0xabcd});
  p.relay.on_message(punch, decode(punch), 1, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<NatPunchReply>(decode(out[0].bytes).payload).nonce, 0xabcdu);
}

// Each Nack costs a signature: a peer that keeps sending before any handshake gets 16 of
// them, then is closed (not as misbehaviour: it may be slow, not hostile).
TEST(Conversation, APeerThatNeverShakesHandsGetsABoundedNumberOfNacks) {
  Pair p;
  std::vector<Action> out;
  for (std::uint32_t i = 0; i < 40; ++i) {
    Bytes ping = p.node.sign(i, Ping{i});
    p.relay.on_message(ping, decode(ping), 1, out);
  }
  std::size_t nacks = 0, closes = 0;
  for (const auto& a : out) {
    nacks += a.kind == Action::Kind::kSend;
    if (a.kind == Action::Kind::kClose) {
      ++closes;
      EXPECT_FALSE(a.misbehaved);
      EXPECT_STREQ(a.reason, "too many messages before a handshake");
    }
  }
  EXPECT_EQ(nacks, kMaxNacksBeforeHandshake);
  EXPECT_EQ(closes, 1u);
}

TEST(Conversation, AuthenticatedReplies) {
  Pair p;
  p.handshake();
  struct Case {
    Payload req;
    MsgId reply;
  } cases[] = {
      {Ping{99}, MsgId::kPong},
      {GetNeighbors{}, MsgId::kNeighbors},
      {GetPoxInv{{}, 8}, MsgId::kNack},
      {GetBlocksInv{{}, 1}, MsgId::kNack},
      {GetNakamotoInv{}, MsgId::kNack},
      {StackerDBGetChunkInv{ContractId{{22, {}}, "signers"}, {}}, MsgId::kNack},
  };
  std::uint32_t seq = 1000;
  for (auto& c : cases) {
    Bytes req = p.node.sign(++seq, c.req);
    std::vector<Action> out;
    p.relay.on_message(req, decode(req), 10, out);
    Bytes rep;
    for (auto& a : out)
      if (a.kind == Action::Kind::kSend) rep = a.bytes;
    ASSERT_FALSE(rep.empty()) << static_cast<int>(payload_id(c.req));
    Message r = decode(rep);
    EXPECT_EQ(r.preamble.seq, seq);
    EXPECT_EQ(payload_id(r.payload), c.reply);
    if (payload_id(c.req) == MsgId::kPing) {
      EXPECT_EQ(std::get<Pong>(r.payload).nonce, 99u);
    }
    if (payload_id(c.req) == MsgId::kStackerDBGetChunkInv) {
      EXPECT_EQ(std::get<Nack>(r.payload).error_code, kNackNoSuchDb);
    }
    if (payload_id(c.req) == MsgId::kGetPoxInv) {
      EXPECT_EQ(std::get<Nack>(r.payload).error_code, kNackNoSuchBurnchainBlock);
    }
    EXPECT_TRUE(has(out, Action::Kind::kBurnView));
  }
}

// GetNakamotoInv with an inventory: the cycle's bits for a hash it knows (with the
// request's seq, so the node takes it as the reply), Nack 2 for one it does not.
TEST(Conversation, NakamotoInventoryAnswersWithTheCyclesBits) {
  Pair p;
  p.handshake();
  Hash20 known{};
  known.fill(0x41);
  BitVec bits;
  bits.len = 10;
  bits.data = {0x5a, 0x01};
  Conversation::InvAnswer inv = [&](const Hash20& ch) -> std::optional<BitVec> {
    if (ch == known) return bits;
    return std::nullopt;
  };
  p.relay.set_inventory(&inv);
  auto ask = [&](const Hash20& ch, std::uint32_t seq) {
    Bytes req = p.node.sign(seq, GetNakamotoInv{ch});
    std::vector<Action> out;
    p.relay.on_message(req, decode(req), 10, out);
    for (auto& a : out)
      if (a.kind == Action::Kind::kSend) return decode(a.bytes);
    return Message{};
  };
  const Message r = ask(known, 501);
  ASSERT_EQ(payload_id(r.payload), MsgId::kNakamotoInv);
  EXPECT_EQ(r.preamble.seq, 501u);
  EXPECT_EQ(std::get<NakamotoInv>(r.payload).tenures, bits);
  Hash20 other{};
  other.fill(0x42);
  const Message n = ask(other, 502);
  ASSERT_EQ(payload_id(n.payload), MsgId::kNack);
  EXPECT_EQ(std::get<Nack>(n.payload).error_code, kNackNoSuchBurnchainBlock);
}

// Our GetNeighbors: the reply with its seq comes back as kNeighbors; a Nack, or silence
// past the request timeout, as kRequestFailed; replies we did not ask for are ignored.
TEST(Conversation, NeighborRequestsMatchTheirReplies) {
  Pair p;
  p.handshake();
  const std::vector<NeighborAddress> table = {{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 5}, 20444, {}},
                                              {{0x20, 0x01, 0x0d, 0xb8}, 20445, {}}};
  p.relay.set_neighbor_source(&table);
  std::vector<Action> out;
  EXPECT_FALSE(Conversation(&p.node_id, true, 0).request_neighbors(0, out));  // not authenticated
  EXPECT_TRUE(out.empty());

  ASSERT_TRUE(p.node.request_neighbors(10, p.node_out));
  EXPECT_TRUE(p.node.neighbors_pending());
  EXPECT_FALSE(p.node.request_neighbors(11, p.node_out));  // one at a time
  Pair::deliver(p.node_out, p.relay, p.relay_out, 12);
  Pair::deliver(p.relay_out, p.node, p.node_out, 13);
  const Action* got = nullptr;
  for (const auto& a : p.node_out)
    if (a.kind == Action::Kind::kNeighbors) got = &a;
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->neighbors, table);  // the source as it is when asked
  EXPECT_FALSE(p.node.neighbors_pending());

  // An unsolicited Neighbors (wrong seq) is not a reply.
  p.node_out.clear();
  Bytes stray = p.relay.sign(4242, Neighbors{table});
  p.node.on_message(stray, decode(stray), 14, p.node_out);
  EXPECT_FALSE(has(p.node_out, Action::Kind::kNeighbors));

  // A Nack with the request's seq fails it.
  p.node_out.clear();
  ASSERT_TRUE(p.node.request_neighbors(20, p.node_out));
  const Message req = decode(p.node_out.back().bytes);
  Bytes nack = p.relay.sign(req.preamble.seq, Nack{2});
  p.node.on_message(nack, decode(nack), 21, p.node_out);
  EXPECT_TRUE(has(p.node_out, Action::Kind::kRequestFailed));
  EXPECT_FALSE(p.node.neighbors_pending());

  // No answer: failed once the timeout passes, not before.
  p.node_out.clear();
  ASSERT_TRUE(p.node.request_neighbors(100, p.node_out));
  p.node_out.clear();
  p.node.on_tick(100 + kRequestTimeoutNs - 1, p.node_out);
  EXPECT_FALSE(has(p.node_out, Action::Kind::kRequestFailed));
  p.node.on_tick(100 + kRequestTimeoutNs, p.node_out);
  EXPECT_TRUE(has(p.node_out, Action::Kind::kRequestFailed));
}

TEST(Conversation, PushesGoToTheRelayPath) {
  Pair p;
  p.handshake();
  Transaction tx;
  tx.tx.payload.id = 4;
  tx.tx.anchor_mode = 1;
  Bytes push = p.node.sign(5, tx);
  std::vector<Action> out;
  p.relay.on_message(push, decode(push), 10, out);
  ASSERT_TRUE(has(out, Action::Kind::kRelay));
  for (auto& a : out) {
    if (a.kind == Action::Kind::kRelay) {
      EXPECT_EQ(a.bytes, push);
    }
  }
}

TEST(Conversation, MisbehaviourCloses) {
  Pair p;
  p.handshake();
  // A message signed by someone else on an authenticated session.
  LocalPeer stranger_id = make_peer(11);
  Conversation stranger(&stranger_id, true, 0);
  stranger.set_burn_view(view());
  Bytes forged = stranger.sign(1, Ping{1});
  std::vector<Action> out;
  p.relay.on_message(forged, decode(forged), 10, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Action::Kind::kClose);
  EXPECT_TRUE(out[0].misbehaved);
  // Nothing more once closed.
  out.clear();
  Bytes ping = p.node.sign(2, Ping{2});
  p.relay.on_message(ping, decode(ping), 11, out);
  EXPECT_TRUE(out.empty());

  // Wrong network id in the preamble.
  Pair q;
  LocalPeer testnet = make_peer(9);
  testnet.network_id = 0x80000000;
  Conversation other(&testnet, true, 0);
  other.set_burn_view(view());
  HandshakeData hd;
  hd.port = 20444;
  hd.node_public_key = testnet.key.public_key().compressed();
  hd.expire_block_height = 0x7fffffffffffffffull;
  Bytes hs = other.sign(3, Handshake{hd});
  std::vector<Action> o2;
  q.relay.on_message(hs, decode(hs), 1, o2);
  ASSERT_EQ(o2.size(), 1u);
  EXPECT_EQ(o2[0].kind, Action::Kind::kClose);
  EXPECT_STREQ(o2[0].reason, "wrong network id");
}

TEST(Conversation, HandshakeRejectCases) {
  Pair p;
  LocalPeer& n = p.node_id;
  n.expire_block_height = 100;  // expired by our burn view (900007)
  p.node.start(0, p.node_out);
  std::vector<Action> out;
  p.relay.on_message(p.node_out[0].bytes, decode(p.node_out[0].bytes), 1, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(payload_id(decode(out[0].bytes).payload), MsgId::kHandshakeReject);
  EXPECT_FALSE(p.relay.authenticated());
  // Our own key in an inbound handshake: rejected too.
  Pair s;
  Conversation mirror(&s.relay_id, true, 0);
  mirror.set_burn_view(view());
  std::vector<Action> mo, so;
  mirror.start(0, mo);
  s.relay.on_message(mo[0].bytes, decode(mo[0].bytes), 1, so);
  EXPECT_EQ(payload_id(decode(so[0].bytes).payload), MsgId::kHandshakeReject);
}

TEST(Conversation, PinnedKeyMustMatch) {
  LocalPeer relay_id = make_peer(7);
  LocalPeer node_id = make_peer(9);
  LocalPeer other = make_peer(13);
  Conversation outbound(&relay_id, true, 0, other.key.public_key());  // expects `other`
  Conversation node(&node_id, false, 0);
  outbound.set_burn_view(view());
  node.set_burn_view(view());
  std::vector<Action> o, n;
  outbound.start(0, o);
  node.on_message(o[0].bytes, decode(o[0].bytes), 1, n);
  std::vector<Action> o2;
  for (auto& a : n)
    if (a.kind == Action::Kind::kSend) outbound.on_message(a.bytes, decode(a.bytes), 2, o2);
  ASSERT_FALSE(o2.empty());
  EXPECT_EQ(o2.back().kind, Action::Kind::kClose);
  EXPECT_FALSE(outbound.authenticated());
}

TEST(Conversation, TimersHandshakeDeadlineAndPings) {
  Pair p;
  std::vector<Action> out;
  p.relay.on_tick(kHandshakeTimeoutNs - 1, out);
  EXPECT_TRUE(out.empty());
  p.relay.on_tick(kHandshakeTimeoutNs + 1, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Action::Kind::kClose);

  Pair q;
  q.handshake();
  std::vector<Action> t;
  q.relay.on_tick(kPingIntervalNs / 2, t);
  EXPECT_TRUE(t.empty());
  q.relay.on_tick(kPingIntervalNs + 10, t);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(payload_id(decode(t[0].bytes).payload), MsgId::kPing);
  EXPECT_TRUE(validate::verify_message(t[0].bytes, q.relay_id.key.public_key()));
}

TEST(Conversation, WithoutABurnViewWeClaimOneFarBehindThatNodesAccept) {
  // A relay that has not heard any node yet dials out: its Handshake must still pass
  // the node's preamble checks (a zero view fails height = stable + 7).
  LocalPeer relay_id = make_peer(7);
  Conversation relay(&relay_id, true, 0);
  std::vector<Action> out;
  relay.start(0, out);
  ASSERT_EQ(out.size(), 1u);
  Message m = decode(out[0].bytes);
  EXPECT_EQ(m.preamble.burn_block_height, 7u);
  EXPECT_EQ(m.preamble.burn_stable_block_height, 0u);
  EXPECT_EQ(policy::preamble_problem(m.preamble, relay_id.net(), view()), nullptr);  // a node at 900007
  // Once a view is known it is what we sign with.
  relay.set_burn_view(view());
  EXPECT_EQ(decode(relay.sign(1, Ping{1})).preamble.burn_block_height, view().height);
}

}  // namespace
}  // namespace relay::ctl
