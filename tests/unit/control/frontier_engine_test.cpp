// The frontier in the running relay (dataplane + control plane over a real link, nodes
// on the in-memory network): who is admitted, who gets banned, what GetNeighbors is
// answered with, and the walk keeping the outbound count from the table.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "control/frontier/frontier.hpp"
#include "dataplane/transport/mem/mem_transport.hpp"
#include "tests/support/relay_harness.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::ctl {
namespace {

using dp::MemNetwork;
using dp::MemTransport;
using frontier::Frontier;

std::int64_t g_wall = 1'800'000'000;
std::int64_t test_wall() { return g_wall; }

codec::Addr16 ip(const char* s) { return net::parse_addr(s).value(); }

sockaddr_in6 sock(std::uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  return a;
}

struct Node {
  std::unique_ptr<MemTransport> t;
  std::unique_ptr<test::TestPeer<MemTransport>> peer;
};

struct FNet {
  MemNetwork net;
  std::unique_ptr<MemTransport> rt;
  std::unique_ptr<Frontier> table;
  std::unique_ptr<test::RelayHarness<MemTransport>> relay;
  std::vector<std::unique_ptr<Node>> nodes;
  std::uint64_t now = 1;

  FNet(frontier::FrontierOptions fo, ControlOptions co, std::function<void(Frontier&)> prefill = {}) {
    g_wall = 1'800'000'000;
    table = std::move(Frontier::open(fo).value());
    if (prefill) prefill(*table);
    rt = std::make_unique<MemTransport>(net, 1);
    co.frontier = table.get();
    co.wall_clock = &test_wall;
    relay = std::make_unique<test::RelayHarness<MemTransport>>(*rt, test::make_local_peer(7), co);
  }
  Node& make(const char* addr, std::uint8_t key, std::uint16_t listen_port = 0) {
    auto n = std::make_unique<Node>();
    n->t = std::make_unique<MemTransport>(net, listen_port);
    in6_addr a{};
    const std::string text = std::string(addr).find(':') != std::string::npos ? addr : std::string("::ffff:") + addr;
    EXPECT_EQ(::inet_pton(AF_INET6, text.c_str(), &a), 1) << addr;
    n->t->set_address(a);
    n->peer = std::make_unique<test::TestPeer<MemTransport>>(*n->t, key);
    nodes.push_back(std::move(n));
    return *nodes.back();
  }
  // dial_from: a node at `addr` connecting to the relay.
  Node& dial_from(const char* addr, std::uint8_t key) {
    Node& n = make(addr, key);
    n.peer->dial(sock(1));
    return n;
  }
  void run(int rounds, std::uint64_t step = 200'000'000) {
    for (int r = 0; r < rounds; ++r) {
      now += step;
      relay->run_once(now);
      for (auto& n : nodes)
        if (n->t) n->peer->pump(now);
    }
  }
  const ControlStats& stats() const { return relay->ctl->stats(); }
};

codec::Hash20 pkh_of(const test::TestPeer<MemTransport>& p) { return p.pkh(); }

// An IPv6 host is given a whole /64: every address in it counts as one for the
// per-address limit, or one machine could fill every inbound slot.
TEST(FrontierEngine, AnIpv6Slash64CountsAsOneAddress) {
  frontier::FrontierOptions fo;
  ControlOptions co;
  co.walk = false;
  co.max_inbound_per_ip = 2;
  FNet n(fo, co);
  Node& a = n.dial_from("2001:db8:1::1", 20);
  Node& b = n.dial_from("2001:db8:1::2", 21);
  n.run(5);
  Node& c = n.dial_from("2001:db8:1:0:ffff::3", 22);  // a third in the same /64
  Node& other = n.dial_from("2001:db8:1:1::1", 23);   // the next /64
  n.run(5);
  EXPECT_TRUE(a.peer->authenticated());
  EXPECT_TRUE(b.peer->authenticated());
  EXPECT_FALSE(c.peer->authenticated());
  EXPECT_TRUE(c.peer->closed);
  EXPECT_TRUE(other.peer->authenticated());
  EXPECT_EQ(n.stats().refused_per_ip, 1u);
}

TEST(FrontierEngine, InboundSessionsAreAdmittedByPolicyAndLimits) {
  std::string err;
  frontier::FrontierOptions fo;
  fo.deny.push_back(*net::Cidr::parse("198.51.100.0/24", err));
  fo.allow.push_back(*net::Cidr::parse("192.0.2.0/24", err));
  ControlOptions co;
  co.walk = false;
  co.max_inbound_per_ip = 2;
  co.max_inbound = 5;
  FNet n(fo, co);
  Node& a1 = n.dial_from("203.0.113.1", 20);
  Node& a2 = n.dial_from("203.0.113.1", 21);
  n.run(5);
  Node& a3 = n.dial_from("203.0.113.1", 22);  // a third from one address
  Node& denied = n.dial_from("198.51.100.7", 23);
  Node& priv = n.dial_from("10.0.0.1", 24);
  n.run(5);
  EXPECT_TRUE(a1.peer->authenticated());
  EXPECT_TRUE(a2.peer->authenticated());
  for (Node* r : {&a3, &denied, &priv}) {
    EXPECT_FALSE(r->peer->authenticated());
    EXPECT_TRUE(r->peer->closed);
  }
  EXPECT_EQ(n.stats().refused_per_ip, 1u);
  EXPECT_EQ(n.stats().refused_denied, 1u);
  EXPECT_EQ(n.stats().refused_private, 1u);

  // The allow list lifts the per-address limit, not the total.
  std::vector<Node*> friends;
  for (std::uint8_t k = 30; k < 33; ++k) friends.push_back(&n.dial_from("192.0.2.1", k));
  n.run(5);
  for (Node* f : friends) EXPECT_TRUE(f->peer->authenticated());
  Node& late = n.dial_from("203.0.113.2", 40);  // 5 inbound already
  n.run(5);
  EXPECT_FALSE(late.peer->authenticated());
  EXPECT_EQ(n.stats().refused_full, 1u);
  EXPECT_EQ(n.relay->dp->authenticated_sessions(), 5u);
}

// Onion sessions arrive from Tor's loopback connection, on the onion listener: the
// private-address rule and the per-address limit would refuse them or lump them all
// together, so they do not apply; the table's limit does; misbehaviour closes the
// session but bans no address (it would ban every onion peer).
TEST(FrontierEngine, OnionSessionsAreNotJudgedByTheirLoopbackAddress) {
  frontier::FrontierOptions fo;  // loopback is a private address: refused as such
  ControlOptions co;
  co.walk = false;
  co.max_inbound_per_ip = 1;
  co.max_inbound = 4;
  FNet n(fo, co);
  n.rt->listen_also(2, static_cast<std::uint8_t>(link::Via::kOnion));
  Node& clear = n.dial_from("127.0.0.1", 20);
  std::vector<Node*> onion;
  for (std::uint8_t k = 21; k < 25; ++k) {
    onion.push_back(&n.make("127.0.0.1", k));
    onion.back()->peer->dial(sock(2));
  }
  n.run(5);
  EXPECT_FALSE(clear.peer->authenticated());  // loopback on the p2p port: a private address
  EXPECT_EQ(n.stats().refused_private, 1u);
  for (Node* o : onion) EXPECT_TRUE(o->peer->authenticated());  // four from one address
  EXPECT_EQ(n.stats().refused_per_ip, 0u);
  Node& fifth = n.make("127.0.0.1", 25);
  fifth.peer->dial(sock(2));
  n.run(5);
  EXPECT_FALSE(fifth.peer->authenticated());
  EXPECT_EQ(n.stats().refused_full, 1u);  // max_inbound still holds
  // One of them misbehaves: it goes, and nothing is banned.
  onion[0]->peer->send(Bytes(200, 0xee));
  n.run(5);
  EXPECT_TRUE(onion[0]->peer->closed);
  EXPECT_EQ(n.table->bans_in_force(test_wall()), 0u);
  Node& later = n.make("127.0.0.1", 26);
  later.peer->dial(sock(2));
  n.run(5);
  EXPECT_TRUE(later.peer->authenticated());
  EXPECT_EQ(n.table->size(), 0u);  // and the table learnt no loopback "peer"
}

// privacy.onlynet without ipv6: an IPv6 session is refused, an IPv4 one and loopback
// are not, and the walk dials no IPv6 row nor advertises one.
TEST(FrontierEngine, OnlynetRefusesAndNeverDialsTheFamilyItLeavesOut) {
  frontier::FrontierOptions fo;
  ControlOptions co;
  co.walk = true;
  co.target_outbound = 4;
  co.ipv6 = false;
  FNet n(fo, co, [](Frontier& t) {
    t.learn(frontier::PeerKey{1, *net::parse_addr("2001:db8:5::1"), 20444}, codec::Hash20{}, test_wall(), true);
    t.learn(frontier::PeerKey{1, *net::parse_addr("2001:db8:6::1"), 20444}, codec::Hash20{}, test_wall(), true);
  });
  Node& v6 = n.dial_from("2001:db8:1::1", 20);
  Node& v4 = n.dial_from("203.0.113.1", 21);
  n.run(10);
  EXPECT_FALSE(v6.peer->authenticated());
  EXPECT_TRUE(v6.peer->closed);
  EXPECT_TRUE(v4.peer->authenticated());
  EXPECT_EQ(n.stats().refused_network, 1u);
  for (const auto& d : n.rt->dials()) EXPECT_TRUE(net::is_ipv4(d.addr.addr())) << d.addr.to_string();
  EXPECT_EQ(n.stats().walk_dials, 0u);
}

TEST(FrontierEngine, MisbehavingAddressIsBannedUntilTheBanEnds) {
  std::string err;
  frontier::FrontierOptions fo;
  fo.ban_base_s = 60;
  fo.allow.push_back(*net::Cidr::parse("192.0.2.1", err));
  ControlOptions co;
  co.walk = false;
  FNet n(fo, co);
  // A message signed with a key other than the session's: a node drops the sender.
  auto misbehave = [&](const char* addr, std::uint8_t key) {
    Node& m = n.dial_from(addr, key);
    n.run(3);
    EXPECT_TRUE(m.peer->authenticated());
    test::TestPeer<MemTransport> other(*m.t, static_cast<std::uint8_t>(key + 100));
    Conversation forger(&other.id, true, 0);
    forger.set_burn_view(test::test_burn_view());
    m.peer->send(forger.sign(77, codec::Ping{1}));
    n.run(3);
    EXPECT_TRUE(m.peer->closed);
  };
  misbehave("203.0.113.9", 50);
  EXPECT_FALSE(n.table->banned_until(ip("203.0.113.9"), g_wall));  // one strike
  misbehave("203.0.113.9", 51);
  ASSERT_TRUE(n.table->banned_until(ip("203.0.113.9"), g_wall));  // two: banned
  EXPECT_EQ(n.table->stats().bans, 1u);
  EXPECT_GE(n.stats().closed_misbehaved, 2u);

  Node& again = n.dial_from("203.0.113.9", 52);  // an honest key, a banned address
  n.run(3);
  EXPECT_FALSE(again.peer->authenticated());
  EXPECT_EQ(n.stats().refused_banned, 1u);
  Node& neighbour = n.dial_from("203.0.113.10", 53);  // the ban is for that address only
  n.run(3);
  EXPECT_TRUE(neighbour.peer->authenticated());

  g_wall += 61;  // served
  Node& back = n.dial_from("203.0.113.9", 54);
  n.run(3);
  EXPECT_TRUE(back.peer->authenticated());

  // The operator's allow list: never banned.
  misbehave("192.0.2.1", 60);
  misbehave("192.0.2.1", 61);
  EXPECT_FALSE(n.table->banned_until(ip("192.0.2.1"), g_wall));
  EXPECT_EQ(n.table->stats().ban_exempt, 2u);
}

TEST(FrontierEngine, GetNeighborsIsAnsweredFromTheTable) {
  frontier::FrontierOptions fo;
  ControlOptions co;
  co.walk = false;
  codec::PubKey33 k1{}, k2{}, k3{};
  k1[0] = k2[0] = k3[0] = 2;
  k1[32] = 1, k2[32] = 2, k3[32] = 3;
  FNet n(fo, co, [&](Frontier& t) {
    t.contacted({1, ip("203.0.113.1"), 20444}, k1, 0x18000010, 1, ~0ull >> 1, g_wall - 100);
    t.contacted({1, ip("10.1.1.1"), 20444}, k2, 0x18000010, 1, ~0ull >> 1, g_wall - 100);            // private
    t.contacted({1, ip("203.0.113.3"), 20444}, k3, 0x18000010, 1, ~0ull >> 1, g_wall - 5 * 86400);  // stale
  });
  Node& asker = n.dial_from("203.0.113.50", 20);
  n.run(3);
  ASSERT_TRUE(asker.peer->authenticated());
  std::vector<Action> acts;
  ASSERT_TRUE(asker.peer->conv->request_neighbors(n.now, acts));
  asker.peer->apply(acts);
  n.run(3);
  ASSERT_EQ(asker.peer->neighbor_replies.size(), 1u);
  const auto& got = asker.peer->neighbor_replies[0];
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].addrbytes, ip("203.0.113.1"));
  EXPECT_EQ(got[0].port, 20444);
  EXPECT_EQ(got[0].public_key_hash, crypto::hash160(ByteSpan(k1.data(), k1.size())));
  EXPECT_FALSE(asker.peer->closed);

  // The asker's own listening address (its handshake's port, at the address it came
  // from) is now a row to dial some day; not advertised until we reach it ourselves.
  const auto* learnt = n.table->find({1, ip("203.0.113.50"), asker.peer->id.port});
  ASSERT_NE(learnt, nullptr);
  EXPECT_EQ(learnt->last_contact_s, 0);
  EXPECT_EQ(learnt->pkh, pkh_of(*asker.peer));
  const NeighborsView v = n.relay->ctl->neighbors_view();
  EXPECT_EQ(v.table_size, 4u);
  ASSERT_EQ(v.sample.size(), 1u);
  ASSERT_EQ(v.inbound.size(), 1u);
  EXPECT_EQ(v.inbound[0].addr, ip("203.0.113.50"));
  EXPECT_TRUE(v.inbound[0].authenticated);
  EXPECT_EQ(v.inbound[0].pkh, pkh_of(*asker.peer));
  EXPECT_TRUE(v.outbound.empty());
}

TEST(FrontierEngine, WalkDialsFromBootstrapThroughNeighborsToTheTarget) {
  frontier::FrontierOptions fo;
  ControlOptions co;
  co.target_outbound = 3;
  co.walk_interval_ns = 3'600'000'000'000ull;  // only the asks that follow a handshake
  // Five listening nodes; the relay knows only the first.
  struct L {
    const char* addr;
    std::uint16_t port;
    std::uint8_t key;
  } ls[] = {{"203.0.113.1", 101, 80}, {"203.0.113.2", 102, 81}, {"203.0.113.3", 103, 82}, {"203.0.113.4", 104, 83},
            {"203.0.113.5", 105, 84}};
  {
    auto seed = test::make_local_peer(80);
    co.bootstrap.push_back(DialSpec{test::peer_addr("203.0.113.1", 101), seed.key.public_key()});
  }
  FNet n(fo, co);
  std::vector<Node*> nodes;
  for (const auto& l : ls) nodes.push_back(&n.make(l.addr, l.key, l.port));
  for (std::size_t i = 1; i < 5; ++i)
    nodes[0]->peer->neighbors.push_back(codec::NeighborAddress{ip(ls[i].addr), ls[i].port, pkh_of(*nodes[i]->peer)});
  n.run(40);
  EXPECT_EQ(nodes[0]->peer->handshakes, 1u);  // the seed, dialed from the table
  EXPECT_EQ(n.stats().walk_asks, 3u);       // each outbound peer, once it answered our handshake
  EXPECT_EQ(n.stats().walk_replies, 3u);
  EXPECT_EQ(n.stats().walk_learned, 4u);
  EXPECT_EQ(n.relay->ctl->outbound_sessions(), 3u);
  std::size_t connected = 0;
  for (std::size_t i = 1; i < 5; ++i) connected += nodes[i]->peer->authenticated();
  EXPECT_EQ(connected, 2u);  // target 3: the seed and two it told us of
  EXPECT_EQ(n.table->size(), 5u);
  // Rows we reached are fresh, with the key they proved; those are what we advertise.
  for (std::size_t i = 0; i < 5; ++i) {
    const auto* r = n.table->find({1, ip(ls[i].addr), ls[i].port});
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->pkh, pkh_of(*nodes[i]->peer));
    EXPECT_EQ(r->last_contact_s != 0, nodes[i]->peer->authenticated()) << i;
  }
  EXPECT_TRUE(n.table->find({1, ip(ls[0].addr), ls[0].port})->initial);

  // One outbound peer goes away: the walk dials the one left in the table.
  Node* gone = nullptr;
  for (std::size_t i = 1; i < 5 && gone == nullptr; ++i)
    if (nodes[i]->peer->authenticated()) gone = nodes[i];
  gone->peer.reset();
  gone->t.reset();
  n.run(20);
  EXPECT_EQ(n.relay->ctl->outbound_sessions(), 3u);
  connected = 0;
  for (std::size_t i = 1; i < 5; ++i) connected += nodes[i]->t && nodes[i]->peer->authenticated();
  EXPECT_EQ(connected, 2u);
  const NeighborsView v = n.relay->ctl->neighbors_view();
  EXPECT_EQ(v.outbound.size(), 3u);
  ASSERT_EQ(v.bootstrap.size(), 1u);
  EXPECT_EQ(v.bootstrap[0].addr, ip("203.0.113.1"));
}

TEST(FrontierEngine, UnreachableTablePeersBackOffInsteadOfBeingRedialedInALoop) {
  frontier::FrontierOptions fo;
  ControlOptions co;
  co.target_outbound = 4;
  co.walk_interval_ns = 3'600'000'000'000ull;
  co.bootstrap.push_back(DialSpec{test::peer_addr("203.0.113.1", 101), std::nullopt});
  FNet n(fo, co);
  Node& seed = n.make("203.0.113.1", 80, 101);
  codec::Hash20 ghost{};
  ghost.fill(0x66);
  seed.peer->neighbors.push_back(codec::NeighborAddress{ip("203.0.113.99"), 199, ghost});  // nobody listens there
  n.run(60);
  EXPECT_TRUE(seed.peer->authenticated());
  EXPECT_EQ(n.stats().walk_dial_failures, 1u);  // tried once, then backing off (wall clock stood still)
  const auto* r = n.table->find({1, ip("203.0.113.99"), 199});
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->failures, 1u);
  EXPECT_GT(r->next_dial_s, g_wall);
  g_wall += 31;  // the back-off is over
  n.run(10);
  EXPECT_EQ(n.stats().walk_dial_failures, 2u);
}

}  // namespace
}  // namespace relay::ctl
