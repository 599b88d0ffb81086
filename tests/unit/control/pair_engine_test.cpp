// Relay pairs in the running relay (dataplane + control plane over a real link, on the
// in-memory network): partners that both dial end up with one session, pushes cross the
// pair, a partner that stops answering pings is dropped and dialed again over its next
// path, its burn view is trusted at once, and it is admitted past full inbound limits.
#include <arpa/inet.h>
#include <unistd.h>

#include <functional>
#include <gtest/gtest.h>

#include "control/frontier/frontier.hpp"
#include "dataplane/transport/mem/mem_transport.hpp"
#include "tests/support/relay_harness.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::ctl {
namespace {

using dp::MemNetwork;
using dp::MemTransport;
using MemPeer = test::TestPeer<MemTransport>;
constexpr std::uint64_t kStep = 100'000'000;  // 100 ms of the test's clock per round

in6_addr in6(const char* v4) {
  in6_addr a{};
  EXPECT_EQ(::inet_pton(AF_INET6, (std::string("::ffff:") + v4).c_str(), &a), 1);
  return a;
}
net::PeerAddress at(const char* v4, std::uint16_t port) { return net::PeerAddress::ip(*net::parse_addr(v4), port); }
sockaddr_in6 sock(std::uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  return a;
}

// One relay on the in-memory network, listening on `port`.
struct Relay {
  std::unique_ptr<MemTransport> t;
  std::unique_ptr<test::RelayHarness<MemTransport>> h;
  Relay(MemNetwork& net, std::uint16_t port, const char* addr, std::uint8_t key, ControlOptions co,
        const std::function<void(dp::DpOptions&)>& tune = {}) {
    t = std::make_unique<MemTransport>(net, port);
    t->set_address(in6(addr));
    auto id = test::make_local_peer(key);
    id.port = port;
    dp::DpOptions dpo = test::dp_options_for(id);
    if (tune) tune(dpo);
    h = std::make_unique<test::RelayHarness<MemTransport>>(*t, std::move(id), std::move(co), &dpo);
  }
  ControlEngine& ctl() { return *h->ctl; }
  std::size_t sessions_with(const codec::Hash20& pkh) const {
    std::size_t n = 0;
    for (const auto& e : h->ctl->neighbors_view().inbound) n += e.authenticated && e.pkh == pkh;
    for (const auto& e : h->ctl->neighbors_view().outbound) n += e.authenticated && e.pkh == pkh;
    return n;
  }
};

crypto::PublicKey key_of(std::uint8_t k) { return test::make_local_peer(k).key.public_key(); }
codec::Hash20 pkh_of(std::uint8_t k) {
  auto pk = key_of(k).compressed();
  return crypto::hash160(ByteSpan(pk.data(), pk.size()));
}

std::int64_t test_wall() { return 1'800'000'000; }

struct World {
  MemNetwork net;
  std::vector<Relay*> relays;
  std::vector<MemPeer*> peers;
  std::uint64_t now = 1;
  void run(int rounds) {
    for (int r = 0; r < rounds; ++r) {
      now += kStep;
      for (auto* x : relays) x->h->run_once(now);
      for (auto* p : peers) p->pump(now);
    }
  }
};

// Both relays dial each other at the same moment: each side ends up with exactly one
// session with its partner (the one the smaller key dialed), the second is counted, and
// a push from a node on one relay reaches a node on the other.
TEST(PairEngine, PartnersThatBothDialKeepOneSessionAndRelayAcrossIt) {
  World w;
  ControlOptions ca, cb;
  ca.pairs = {DialSpec{at("198.18.0.2", 2), key_of(8)}};
  cb.pairs = {DialSpec{at("198.18.0.1", 1), key_of(7)}};
  Relay a(w.net, 1, "198.18.0.1", 7, ca);
  Relay b(w.net, 2, "198.18.0.2", 8, cb);
  w.relays = {&a, &b};
  MemTransport tx(w.net), ty(w.net);
  MemPeer x(tx, 20), y(ty, 21);
  w.peers = {&x, &y};
  x.dial(sock(1));
  y.dial(sock(2));
  w.run(30);
  EXPECT_EQ(a.sessions_with(pkh_of(8)), 1u);
  EXPECT_EQ(b.sessions_with(pkh_of(7)), 1u);
  EXPECT_GE(a.ctl().stats().pair_duplicates + b.ctl().stats().pair_duplicates, 1u);  // both dialed
  ASSERT_EQ(a.ctl().pairs_view(w.now).size(), 1u);
  EXPECT_TRUE(a.ctl().pairs_view(w.now)[0].up);
  EXPECT_TRUE(b.ctl().pairs_view(w.now)[0].up);
  // The session that stayed is the same one on both sides: one dialed it, one accepted.
  EXPECT_NE(a.ctl().pairs_view(w.now)[0].outbound, b.ctl().pairs_view(w.now)[0].outbound);
  // And it stays: liveness pings are answered, nothing is redialed.
  const auto lost = a.ctl().stats().pair_lost + b.ctl().stats().pair_lost;
  w.run(100);  // 10 s: ten pings each way
  EXPECT_EQ(a.ctl().stats().pair_lost + b.ctl().stats().pair_lost, lost);
  EXPECT_EQ(a.ctl().stats().pair_ping_timeouts, 0u);
  EXPECT_GT(a.ctl().pairs_view(w.now)[0].rtt_ns + b.ctl().pairs_view(w.now)[0].rtt_ns, 0u);

  ASSERT_TRUE(x.authenticated() && y.authenticated());
  x.send(x.conv->sign(1, codec::Transaction{test::signed_test_tx(1)}));
  w.run(10);
  ASSERT_EQ(y.pushes.size(), 1u);
  EXPECT_EQ(std::get<codec::Transaction>(codec::decode_message(y.pushes[0])->payload).tx.txid, test::signed_test_tx(1).txid);
  EXPECT_TRUE(x.pushes.empty());  // not echoed back to its origin
}

// The partner here is a test peer holding relay 8's key. It is dialed over its second
// path once the first is refused; its burn view is adopted at once (a quorum of 3 would
// otherwise be needed); when it stops answering, the session ends within the ping
// timeout and is dialed again.
TEST(PairEngine, APartnerIsTrustedPingedAndRedialedOverItsNextPath) {
  World w;
  ControlOptions ca;
  ca.pairs = {DialSpec{at("198.18.0.9", 9), key_of(8)}, DialSpec{at("198.18.0.2", 2), key_of(8)}};
  ca.pairs[1].http = "http://198.18.0.2:20443";  // its own endpoint for the catch-up
  ca.burn_view_quorum = 3;
  char tmpl[] = "/tmp/srl-pair-view-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  ASSERT_TRUE(save_burn_view(tmpl, test::test_burn_view()));  // the relay already has a view
  ca.view_path = tmpl;
  Relay a(w.net, 1, "198.18.0.1", 7, ca);
  ASSERT_EQ(a.ctl().burn_view().height, test::test_burn_view().height);
  w.relays = {&a};
  MemTransport tp(w.net, 2);
  MemPeer partner(tp, 8);
  partner.view = test::test_burn_view();
  partner.view.height += 10;
  partner.view.stable_height += 10;
  w.peers = {&partner};
  w.run(20);
  ASSERT_TRUE(partner.authenticated());
  auto v = a.ctl().pairs_view(w.now);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(v[0].up);
  EXPECT_EQ(v[0].paths, 2u);
  EXPECT_EQ(v[0].path, at("198.18.0.2", 2).to_string());
  EXPECT_GE(v[0].dial_failures, 1u);  // port 9: nobody listens
  EXPECT_EQ(v[0].data_url, "http://198.18.0.2:20443");
  EXPECT_EQ(a.ctl().burn_view().height, partner.view.height);  // one trusted voice is enough

  // A new control process (the old one died): the session the dataplane hands back is
  // still the pair's, kept alive by its pings, and not dialed twice.
  a.h->start_control(w.now);
  w.run(20);
  ASSERT_TRUE(a.ctl().pairs_view(w.now)[0].up);
  EXPECT_EQ(a.ctl().stats().restored, 1u);
  EXPECT_EQ(a.ctl().stats().dials, 0u);
  EXPECT_GT(a.ctl().pairs_view(w.now)[0].rtt_ns, 0u);  // pinged, and answered
  // The partner goes silent (not pumped): no Pong within 3 s ends the session.
  w.peers.clear();
  w.run(45);
  EXPECT_EQ(a.ctl().stats().pair_ping_timeouts, 1u);
  EXPECT_EQ(a.ctl().stats().pair_lost, 1u);
  EXPECT_FALSE(a.ctl().pairs_view(w.now)[0].up);
  // Back: dialed again (port 9 first, then 2), up again.
  w.peers = {&partner};
  w.run(40);
  EXPECT_TRUE(a.ctl().pairs_view(w.now)[0].up);
  EXPECT_GE(a.ctl().pairs_view(w.now)[0].sessions, 2u);
  ::unlink(tmpl);
}

// A partner dialing in from its configured address is admitted when max_inbound and
// max_inbound_per_ip are reached, is not counted against them, and is never banned for
// what closes its session.
TEST(PairEngine, APartnerIsAdmittedPastTheInboundLimitsAndNeverBanned) {
  World w;
  frontier::FrontierOptions fo;
  auto table = std::move(frontier::Frontier::open(fo).value());
  ControlOptions ca;
  ca.frontier = table.get();
  ca.wall_clock = &test_wall;
  ca.walk = false;
  ca.max_inbound = 1;
  ca.max_inbound_per_ip = 1;
  ca.pairs = {DialSpec{at("203.0.113.2", 2), key_of(8)}};  // its listener is not up: it dials in
  ca.pair_neighbors_ns = 1'000'000'000;
  Relay a(w.net, 1, "203.0.113.1", 7, ca);
  w.relays = {&a};
  MemTransport tn(w.net), tp(w.net);
  tn.set_address(in6("203.0.113.9"));
  tp.set_address(in6("203.0.113.2"));
  MemPeer node(tn, 20), partner(tp, 8);
  // What the partner knows: a peer of its own, which the relay learns from it (so it can
  // reach that peer should the partner go down).
  const codec::NeighborAddress theirs{*net::parse_addr("198.51.100.77"), 20444, pkh_of(40)};
  partner.neighbors = {theirs};
  w.peers = {&node, &partner};
  node.dial(sock(1));
  w.run(5);
  ASSERT_TRUE(node.authenticated());  // the one inbound slot is taken
  partner.dial(sock(1));
  w.run(5);
  EXPECT_TRUE(partner.authenticated());
  EXPECT_TRUE(a.ctl().pairs_view(w.now)[0].up);
  EXPECT_EQ(a.ctl().stats().refused_full, 0u);
  w.run(15);  // the partner is asked for its neighbors (every second here, 10 s by default)
  EXPECT_NE(table->find(frontier::PeerKey{1, theirs.addrbytes, theirs.port}), nullptr) << "the partner's peer was not learnt";
  // It misbehaves twice (a message signed with another key: a node drops the sender;
  // two strikes ban any other address): each session ends, its address is not banned.
  for (std::uint8_t strike = 0; strike < 2; ++strike) {
    MemPeer other(tp, static_cast<std::uint8_t>(100 + strike));
    Conversation forger(&other.id, true, 0);
    forger.set_burn_view(test::test_burn_view());
    partner.send(forger.sign(77, codec::Ping{1}));
    w.run(5);
    EXPECT_TRUE(partner.closed);
    EXPECT_FALSE(table->banned_until(*net::parse_addr("203.0.113.2"), test_wall()));
    partner.closed = false;
    partner.dial(sock(1));
    w.run(5);
    EXPECT_TRUE(partner.authenticated()) << "strike " << int{strike};
  }
  EXPECT_GE(a.ctl().stats().closed_misbehaved, 2u);
}

// A partner relays the pushes of all its own peers: the per-sender allowances that bound
// one node's transactions (tx_checks_per_s …) do not apply to it; they still do to a node.
TEST(PairEngine, APartnersPushesAreNotHeldToOneSendersAllowance) {
  World w;
  ControlOptions ca;
  ca.pairs = {DialSpec{at("198.18.0.2", 2), key_of(8)}};
  Relay a(w.net, 1, "198.18.0.1", 7, ca, [](dp::DpOptions& o) {
    o.tx_checks_per_s = 1;
    o.tx_checks_burst = 3;  // three transactions, then one a second
  });
  w.relays = {&a};
  MemTransport tp(w.net, 2), tn(w.net), tr(w.net);
  MemPeer partner(tp, 8), node(tn, 20), reader(tr, 21);
  w.peers = {&partner, &node, &reader};
  node.dial(sock(1));
  reader.dial(sock(1));
  w.run(20);
  ASSERT_TRUE(partner.authenticated() && node.authenticated() && reader.authenticated());
  for (std::uint32_t i = 0; i < 10; ++i) partner.send(partner.conv->sign(i, codec::Transaction{test::signed_test_tx(200 + i)}));
  w.run(5);
  EXPECT_EQ(reader.pushes.size(), 10u);  // all ten
  for (std::uint32_t i = 0; i < 10; ++i) node.send(node.conv->sign(i, codec::Transaction{test::signed_test_tx(300 + i)}));
  w.run(5);
  EXPECT_EQ(reader.pushes.size(), 13u);  // the node's burst of three
  EXPECT_EQ(a.h->c().drop_tx_throttled.load(), 7u);
}

}  // namespace
}  // namespace relay::ctl
