// The relay process in one network namespace, stock-node test peers in another, joined
// by a veth pair: real packets cross a (virtual) link, not loopback. The test creates and
// deletes its own namespaces; without CAP_NET_ADMIN (not root) it is skipped, saying so.
#include <arpa/inet.h>
#include <fcntl.h>
#include <pwd.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "bench/sim/sim_data.hpp"
#include "relay/codec/message.hpp"
#include "relay/net/address.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
#include "dataplane/sandbox.hpp"
#include "relay/base/hex.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/corpus_rounds.hpp"
#include "tests/support/fake_node_rpc.hpp"
#include "tests/support/launch/netns.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/test_peer.hpp"
#include "tests/support/uring_peers.hpp"
#include "tests/support/veth_lab.hpp"

namespace relay::dp {
namespace {

using namespace relay::codec;
using ctl::Conversation;
using ctl::LocalPeer;

using launch::enter_netns;

// Every case runs over both dataplane backends: io_uring on kernel sockets, and DPDK
// (lwIP on a vdev on the relay's end of the veth: af_xdp or af_packet).
class RelayNetns : public ::testing::TestWithParam<const char*> {
 protected:
  void TearDown() override {
    if (!dir_.empty()) (void)std::system(("rm -rf " + dir_).c_str());
  }
  bool dpdk() const { return std::string(GetParam()) != "uring"; }
  // backend_toml: what the relay's configuration adds for this backend ("" for io_uring).
  std::string backend_toml(const test::VethPair& ns) const { return dpdk() ? ns.dpdk_toml(GetParam()) : ""; }
  // relay_config: a directory of the case's own (removed at the end) holding relay.toml:
  // the test frontier and this backend's settings; its path.
  std::string relay_config(const test::VethPair& ns);
  std::string dir_;
};

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "w");
  if (f != nullptr) {
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  return path;
}

std::string RelayNetns::relay_config(const test::VethPair& ns) {
  char tmpl[] = "/tmp/stacks-relay-netns-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  ::chmod(dir_.c_str(), 0755);  // the relay drops root: its data dir must be reachable
  return write_file(dir_, "relay.toml", test::kTestFrontierToml + backend_toml(ns));
}

TEST_P(RelayNetns, PeersInAnotherNamespaceRelayOverVeth) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  test::VethPair ns("198.18.2.1/24", {"198.18.2.2/24"}, dpdk());
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  test::RelayRun relay({"--config", relay_config(ns)}, "198.18.2.1:20444", ns.r);
  ASSERT_EQ(relay.port, 20444) << "the relay did not report READY inside its namespace";

  // Peers' sockets are created inside the other namespace, then this thread returns.
  int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(home, 0);
  ASSERT_TRUE(enter_netns(ns.p));
  constexpr int kPeers = 3;
  std::vector<std::unique_ptr<UringTransport>> ts;
  std::vector<std::unique_ptr<test::TestPeer<UringTransport>>> peers;
  sockaddr_in6 relay_addr{};
  relay_addr.sin6_family = AF_INET6;
  relay_addr.sin6_port = htons(20444);
  inet_pton(AF_INET6, "::ffff:198.18.2.1", &relay_addr.sin6_addr);
  for (int i = 0; i < kPeers; ++i) {
    ts.push_back(std::move(UringTransport::create({}).value()));
    peers.push_back(std::make_unique<test::TestPeer<UringTransport>>(*ts.back(), static_cast<std::uint8_t>(70 + i)));
    peers.back()->dial(relay_addr);
  }
  ASSERT_EQ(::setns(home, CLONE_NEWNET), 0);
  ::close(home);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::uint64_t now = 1;
  auto pump_until = [&](auto&& done) {
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      for (auto& p : peers) p->pump(++now, 2);
    }
    return true;
  };
  bool authed = pump_until([&] {
    for (auto& p : peers)
      if (!p->authenticated()) return false;
    return true;
  });
  bool relayed = false;
  if (authed) {
    peers[0]->send(peers[0]->conv->sign(5, Transaction{test::signed_test_tx(1)}));
    relayed = pump_until([&] { return peers[1]->pushes.size() == 1 && peers[2]->pushes.size() == 1; });
  }
  // The backend, and (DPDK) its port's counters, published in the shared region within
  // 100 ms: frames both ways, every byte sent copied into frames (virtual devices).
  const link::DpCounters& c = relay.counters();
  // (At least the handshakes' replies and the two pushes: 6 frames.)
  const bool published = pump_until([&] { return !dpdk() || (c.port.tx_packets.load() >= 6 && c.port.rx_packets.load() >= 6); });
  EXPECT_EQ(c.backend.load(), static_cast<std::uint64_t>(dpdk() ? link::Backend::kDpdk : link::Backend::kUring));
  EXPECT_TRUE(published) << "the DPDK port's counters were never published";
  if (dpdk()) {
    EXPECT_GT(c.port.tx_bytes.load(), 0u);
    EXPECT_LE(c.port.copied_tx_bytes.load(), c.port.tx_bytes.load());
    EXPECT_EQ(c.port.tcp_checksum_errors.load(), 0u);
  } else {
    EXPECT_EQ(c.port.rx_packets.load(), 0u);
  }
  const int rc = relay.stop();
  ASSERT_TRUE(authed);
  ASSERT_TRUE(relayed);
  EXPECT_EQ(peers[1]->pushes[0], peers[2]->pushes[0]);
  EXPECT_TRUE(peers[0]->pushes.empty());
  EXPECT_EQ(rc, 0);
}

// Blocks over the veth: of 16 peers, one pushes two 2 MiB Nakamoto blocks, one after the
// other; each of the other 15 gets both whole (the relay checks each against the reward
// set as it arrives, then fans it out). On DPDK the second block comes in while the
// first one's copies may still go out.
TEST_P(RelayNetns, LargeBlocksRelayOverVeth) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  test::VethPair ns("198.18.3.1/24", {"198.18.3.2/24"}, dpdk());
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  char tmpl[] = "/tmp/stacks-relay-netns-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  sim::SignerSet signers(4);
  test::write_reward_set_config(dir_, signers, backend_toml(ns));
  test::RelayRun relay({"--config", dir_ + "/relay.toml"}, "198.18.3.1:20444", ns.r);
  ASSERT_EQ(relay.port, 20444) << "the relay did not report READY inside its namespace";
  test::Peers net{ns.p, launch::sockaddr_of("198.18.3.1", 20444)};
  constexpr int kPeers = 16;
  for (int i = 0; i < kPeers; ++i) net.add(static_cast<std::uint8_t>(60 + i));
  ASSERT_TRUE(net.pump_until([&] {
    for (auto& p : net.ps)
      if (!p->authenticated()) return false;
    return true;
  }, 20));
  const auto miner = sim::key_from_byte(9, 2);
  auto& origin = *net.ps[0];
  for (std::uint64_t height = 1; height <= 2; ++height) {
    NakamotoBlocks nb;
    nb.blocks.push_back(sim::nakamoto_block(height, signers, miner, 2'000'000));
    origin.send(origin.conv->sign(static_cast<std::uint32_t>(height), nb));
    const bool all = net.pump_until([&] {
      for (std::size_t i = 1; i < net.ps.size(); ++i)
        if (net.ps[i]->pushes.size() < height) return false;
      return true;
    }, 30);
    const link::PortCounters& pc = relay.counters().port;
    ASSERT_TRUE(all) << "block " << height << " did not reach every peer; relayed " << relay.counters().relayed.load()
                     << ", checked while arriving " << relay.counters().blocks_streamed.load() << "; port: rx "
                     << pc.rx_packets.load() << " tx " << pc.tx_packets.load() << " frames, AF_XDP ring full "
                     << pc.xdp_rx_ring_full.load() << ", fill ring empty " << pc.xdp_fill_ring_empty.load() << ", no mbuf "
                     << pc.no_mbuf.load() << ", tx dropped " << pc.tx_dropped.load() << ", mbufs free " << pc.mbufs_free.load()
                     << ", fast retransmits " << pc.tcp_retransmits.load();
    for (std::size_t i = 1; i < net.ps.size(); ++i) {
      auto m = decode_message(net.ps[i]->pushes.back());
      ASSERT_TRUE(m.ok());
      const auto* got = std::get_if<NakamotoBlocks>(&m->payload);
      ASSERT_NE(got, nullptr);
      EXPECT_EQ(got->blocks.at(0).block_id, nb.blocks[0].block_id) << "peer " << i;
    }
  }
  EXPECT_TRUE(origin.pushes.empty());
  // Copies: on AF_PACKET (frames in pieces) the blocks went out from the buffers the relay
  // wrote them to, only headers copied into frames; AF_XDP writes frames into its UMEM.
  const link::PortCounters& port = relay.counters().port;
  (void)net.pump_until([&] { return port.tx_bytes.load() > 60'000'000; }, 1);  // (published every 100 ms)
  if (std::string(GetParam()) == "net_af_packet") {
    EXPECT_GT(port.tx_bytes.load(), 60'000'000u);
    EXPECT_LT(port.copied_tx_bytes.load() * 10, port.tx_bytes.load()) << "the blocks were copied into frames";
  } else if (std::string(GetParam()) == "net_af_xdp") {
    EXPECT_EQ(port.copied_tx_bytes.load(), port.tx_bytes.load());
  }
  // What the socket's ring lost (AF_XDP), for the log: how fast the loop reads is the
  // machine's and the build's (an ASan build lost 17 % where a dev build lost none), so
  // it is the benchmark's to judge (bench/README.md), not this test's.
  std::printf("ring full %llu of %llu frames received; %llu retransmission timeouts\n",
              static_cast<unsigned long long>(port.xdp_rx_ring_full.load()),
              static_cast<unsigned long long>(port.rx_packets.load()),
              static_cast<unsigned long long>(port.tcp_timeouts.load()));
  EXPECT_EQ(relay.stop(), 0);
}

// The relaying rules over the veth, on every backend: a transaction, a Nakamoto block
// (checked against the reward set) and microblocks (a 2.x network) reach every other
// peer once, signed by the relay as the last relayer, never back to the sender; the same
// transaction again goes nowhere; peers that send a forged signature, another network's
// message, an oversized length or a relayer cycle are dropped, and the rest relay on.
TEST_P(RelayNetns, RelayingRulesAndMisbehavingPeersOverVeth) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  test::VethPair ns("198.18.4.1/24", {"198.18.4.2/24"}, dpdk());
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  char tmpl[] = "/tmp/stacks-relay-netns-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  sim::SignerSet signers(4);
  test::write_reward_set_config(dir_, signers, "[network]\nrelay_2x = true\n" + backend_toml(ns));
  test::RelayRun relay({"--config", dir_ + "/relay.toml"}, "198.18.4.1:20444", ns.r);
  ASSERT_EQ(relay.port, 20444) << "the relay did not report READY inside its namespace";
  test::Peers net{ns.p, launch::sockaddr_of("198.18.4.1", 20444)};
  auto& a = net.add(50);
  auto& b = net.add(51);
  auto& c = net.add(52);
  auto all_up = [&] {
    for (auto& p : net.ps)
      if (!p->authenticated()) return false;
    return true;
  };
  ASSERT_TRUE(net.pump_until(all_up, 20));
  const crypto::PublicKey relay_key = *a.conv->peer_key();
  auto relayed_by_us = [&](const Bytes& got, std::size_t upstream) {
    EXPECT_TRUE(validate::verify_message(got, relay_key));
    auto m = decode_message(got);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->relayers.size(), upstream + 1);
  };

  a.send(a.conv->sign(11, Transaction{test::signed_test_tx(1)}));
  ASSERT_TRUE(net.pump_until([&] { return !b.pushes.empty() && !c.pushes.empty(); }, 10));
  EXPECT_EQ(b.pushes[0], c.pushes[0]);
  relayed_by_us(b.pushes[0], 0);

  NakamotoBlocks nb;
  nb.blocks.push_back(sim::nakamoto_block(1, signers, sim::key_from_byte(9, 2), 64 << 10));
  b.send(b.conv->sign(12, nb));
  ASSERT_TRUE(net.pump_until([&] { return a.pushes.size() == 1 && c.pushes.size() == 2; }, 10));
  EXPECT_EQ(a.pushes[0], c.pushes[1]);
  relayed_by_us(a.pushes[0], 0);
  EXPECT_EQ(std::get<NakamotoBlocks>(decode_message(a.pushes[0])->payload).blocks.at(0).block_id, nb.blocks[0].block_id);

  Microblocks mbs;
  mbs.microblocks = test::signed_test_microblocks(3, 0x61);
  RelayData upstream;
  upstream.peer.public_key_hash.fill(0x5a);
  c.send(c.conv->sign(13, mbs, {upstream}));
  ASSERT_TRUE(net.pump_until([&] { return a.pushes.size() == 2 && b.pushes.size() == 2; }, 10));
  EXPECT_EQ(a.pushes[1], b.pushes[1]);
  relayed_by_us(a.pushes[1], 1);

  c.send(c.conv->sign(14, Transaction{test::signed_test_tx(1)}));  // seen already
  (void)net.pump_until([] { return false; }, 1);
  EXPECT_EQ(b.pushes.size(), 2u);
  EXPECT_EQ(a.pushes.size(), 2u);
  EXPECT_EQ(c.pushes.size(), 2u);  // nothing of its own came back
  EXPECT_GE(relay.counters().drop_dup.load(), 1u);

  auto& forger = net.add(60);
  auto& wrong_net = net.add(61);
  auto& oversize = net.add(62);
  auto& cycler = net.add(63);
  ASSERT_TRUE(net.pump_until(all_up, 20));
  Bytes forged = forger.conv->sign(20, Transaction{test::signed_test_tx(2)});
  forged[100] ^= 1;  // inside the signature
  forger.send(forged);
  LocalPeer other_net = test::make_local_peer(61);
  other_net.network_id = 0x80000000;  // testnet's id on a mainnet relay
  Conversation foreign(&other_net, true, 0);
  foreign.set_burn_view(test::test_burn_view());
  wrong_net.send(foreign.sign(21, Ping{1}));
  Bytes big = oversize.conv->sign(22, Ping{2});
  big[161] = 0x7f;  // payload_len far beyond the 16 MiB limit
  oversize.send(big);
  RelayData loop;
  loop.peer.public_key_hash.fill(0x33);
  cycler.send(cycler.conv->sign(23, Transaction{test::signed_test_tx(3)}, {loop, loop}));
  ASSERT_TRUE(net.pump_until([&] { return forger.closed && wrong_net.closed && oversize.closed && cycler.closed; }, 15));
  a.send(a.conv->sign(24, Transaction{test::signed_test_tx(4)}));
  ASSERT_TRUE(net.pump_until([&] { return b.pushes.size() == 3 && c.pushes.size() == 3; }, 10));
  EXPECT_FALSE(a.closed || b.closed || c.closed);
  const auto& k = relay.counters();
  EXPECT_GE(k.drop_bad_signature.load(), 1u);
  EXPECT_GE(k.drop_bad_preamble.load(), 1u);
  EXPECT_GE(k.drop_framing.load(), 1u);
  EXPECT_GE(k.drop_relayers.load(), 1u);
  EXPECT_EQ(relay.stop(), 0);
}

// The walk over real sockets: the relay knows one seed; the seed tells of three more;
// the relay dials until it has its target of three outbound peers. Restarted without
// any bootstrap peer, it dials the same three again from its persisted table.
TEST_P(RelayNetns, WalkFindsPeersThroughASeedAndRemembersThemAcrossARestart) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  // 198.18.0.0/15 (benchmarking) is not in a node's private ranges: the walk may use it
  // with private_neighbors off, as on the real network.
  test::VethPair ns("198.18.0.1/24", {"198.18.0.2/24", "198.18.0.3/24", "198.18.0.4/24", "198.18.0.5/24"}, dpdk());
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  constexpr int kNodes = 4;
  const char* addrs[kNodes] = {"198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.0.5"};
  std::vector<std::unique_ptr<UringTransport>> ts;
  std::vector<std::unique_ptr<test::TestPeer<UringTransport>>> nodes;
  bool listening = true;
  ASSERT_TRUE(test::in_netns(ns.p, [&] {
    for (int i = 0; i < kNodes; ++i) {
      ts.push_back(std::move(UringTransport::create({}).value()));
      listening &= ts.back()->listen(launch::sockaddr_of(addrs[i], 20444)).ok();
      nodes.push_back(std::make_unique<test::TestPeer<UringTransport>>(*ts.back(), static_cast<std::uint8_t>(80 + i)));
    }
  }));
  ASSERT_TRUE(listening);
  for (int i = 1; i < kNodes; ++i) {
    nodes[0]->neighbors.push_back(
        NeighborAddress{net::parse_addr(addrs[i]).value(), 20444, nodes[static_cast<std::size_t>(i)]->pkh()});
  }
  char tmpl[] = "/tmp/stacks-relay-walk-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const auto seed_key = nodes[0]->id.key.public_key().compressed();
  auto config = [&](bool with_seed) {
    std::string boot = with_seed ? "\"" + to_hex(seed_key) + "@198.18.0.2:20444\"" : "";
    return write_file(dir, with_seed ? "seeded.toml" : "bare.toml",
                      "[frontier]\nbootstrap = [" + boot + "]\ntarget_outbound = 3\nwalk_interval_ms = 1000\npath = \"" +
                          dir + "/peers\"\n" + backend_toml(ns));
  };
  std::uint64_t now = 1;
  auto pump_until = [&](int seconds, auto&& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      for (auto& p : nodes) p->pump(++now, 2);
    }
    return true;
  };
  auto up = [&] {
    int n = 0;
    for (auto& p : nodes) n += p->authenticated() && !p->closed;
    return n;
  };

  std::vector<std::uint32_t> first(kNodes);
  {
    test::RelayRun relay({"--config", config(true)}, "198.18.0.1:20444", ns.r);
    ASSERT_EQ(relay.port, 20444) << "the relay did not report READY inside its namespace";
    const bool walked = pump_until(20, [&] { return up() == 3; });
    pump_until(1, [] { return false; });  // no fourth dial follows
    for (int i = 0; i < kNodes; ++i) first[static_cast<std::size_t>(i)] = nodes[static_cast<std::size_t>(i)]->handshakes;
    EXPECT_EQ(relay.stop(), 0);
    ASSERT_TRUE(walked) << "up: " << up();
  }
  EXPECT_EQ(first[0], 1u);  // the seed
  EXPECT_EQ(first[1] + first[2] + first[3], 2u);  // two of the three it told of: the target is 3
  pump_until(2, [&] { return up() == 0; });  // the nodes see the connections go

  {
    test::RelayRun relay({"--config", config(false)}, "198.18.0.1:20444", ns.r);
    ASSERT_EQ(relay.port, 20444);
    const bool redialed = pump_until(20, [&] {
      for (int i = 0; i < kNodes; ++i)
        if (first[static_cast<std::size_t>(i)] != 0 && nodes[static_cast<std::size_t>(i)]->handshakes != 2) return false;
      return true;
    });
    pump_until(1, [] { return false; });
    EXPECT_EQ(relay.stop(), 0);
    EXPECT_TRUE(redialed) << "the relay did not dial the peers it knew";
  }
  for (int i = 0; i < kNodes; ++i)  // the same three, from the table: nobody else
    EXPECT_EQ(nodes[static_cast<std::size_t>(i)]->handshakes, first[static_cast<std::size_t>(i)] * 2) << i;
  (void)std::system(("rm -rf " + dir).c_str());
}

// A peer that twice sends what a node drops a peer for is banned: its address cannot
// connect again (whatever key it brings) until the ban ends.
TEST_P(RelayNetns, MisbehavingPeerIsBannedByAddress) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  test::VethPair ns("198.18.1.1/24", {"198.18.1.2/24"}, dpdk());
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  char tmpl[] = "/tmp/stacks-relay-ban-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string cfg =
      write_file(dir, "relay.toml", "[frontier]\nbootstrap = []\nban_s = 3600\npath = \"" + dir + "/peers\"\n" + backend_toml(ns));
  auto relay = std::make_unique<test::RelayRun>(std::vector<std::string>{"--config", cfg}, "198.18.1.1:20444", ns.r);
  ASSERT_EQ(relay->port, 20444) << "the relay did not report READY inside its namespace";

  test::Peers net{ns.p, launch::sockaddr_of("198.18.1.1", 20444)};
  auto connect = [&](std::uint8_t key) -> test::TestPeer<UringTransport>& { return net.add(key); };
  auto pump_until = [&](int seconds, auto&& done) { return net.pump_until(done, seconds); };
  auto misbehave = [&](std::uint8_t key) {
    auto& p = connect(key);
    EXPECT_TRUE(pump_until(10, [&] { return p.authenticated(); }));
    LocalPeer forger_id = test::make_local_peer(static_cast<std::uint8_t>(key + 100));
    Conversation forger(&forger_id, true, 0);
    forger.set_burn_view(test::test_burn_view());
    p.send(forger.sign(77, Ping{1}));  // signed with a key that is not the session's
    EXPECT_TRUE(pump_until(10, [&] { return p.closed; })) << "the relay kept a peer with a forged signature";
  };
  misbehave(90);
  auto& after_one = connect(91);  // one strike: still welcome
  EXPECT_TRUE(pump_until(10, [&] { return after_one.authenticated(); }));
  misbehave(92);
  auto& banned = connect(93);  // an honest key from a banned address
  const bool cut = pump_until(10, [&] { return banned.closed; });
  EXPECT_TRUE(cut) << "a banned address was let in";
  EXPECT_FALSE(banned.authenticated());
  EXPECT_FALSE(after_one.closed);  // sessions already up are not cut by the ban
  EXPECT_GE(relay->counters().sessions_closed.load(), 3u);
  EXPECT_EQ(relay->stop(), 0);
  // The ban is kept with the peer table: a restarted relay still refuses the address.
  relay = std::make_unique<test::RelayRun>(std::vector<std::string>{"--config", cfg}, "198.18.1.1:20444", ns.r);
  ASSERT_EQ(relay->port, 20444);
  auto& still = connect(94);
  EXPECT_TRUE(pump_until(10, [&] { return still.closed; })) << "the ban did not survive a restart";
  EXPECT_FALSE(still.authenticated());
  EXPECT_EQ(relay->stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

// kill -9 of the dataplane: its connections die with it; the supervisor starts a new one
// on the same port (with DPDK: the port and its AF_XDP socket made again, the old socket
// released by the kernel), the old peers learn their sessions are gone, and new peers
// relay through it.
TEST_P(RelayNetns, DataplaneKilledWithSigkillComesBack) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  test::VethPair ns("198.18.3.1/24", {"198.18.3.2/24"}, dpdk());
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  test::RelayRun relay({"--config", relay_config(ns)}, "198.18.3.1:20444", ns.r);
  ASSERT_EQ(relay.port, 20444);
  test::Peers net{ns.p, launch::sockaddr_of("198.18.3.1", 20444)};
  auto& peers = net.ps;
  auto connect = [&](std::uint8_t key) { net.add(key); };
  auto pump_until = [&](int seconds, auto&& done) { return net.pump_until(done, seconds); };
  connect(60);
  connect(61);
  ASSERT_TRUE(pump_until(15, [&] { return peers[0]->authenticated() && peers[1]->authenticated(); }));
  const pid_t dp1 = relay.dp_pid;
  ASSERT_EQ(::kill(dp1, SIGKILL), 0);
  ASSERT_TRUE(relay.wait_ready(20000)) << "no new dataplane";
  EXPECT_NE(relay.dp_pid, dp1);
  EXPECT_EQ(relay.port, 20444);
  // The old connections end: on kernel sockets the kernel closes them with the process;
  // a user-space stack dies without a word, and the new one resets each at its next
  // segment (here a Ping; a node's own pings do the same within seconds).
  for (int i = 0; i < 2; ++i) peers[static_cast<std::size_t>(i)]->send(peers[static_cast<std::size_t>(i)]->conv->sign(8, Ping{1}));
  EXPECT_TRUE(pump_until(15, [&] { return peers[0]->closed && peers[1]->closed; }))
      << "the old connections did not end with the old dataplane";
  connect(62);
  connect(63);
  ASSERT_TRUE(pump_until(20, [&] { return peers[2]->authenticated() && peers[3]->authenticated(); }));
  peers[2]->send(peers[2]->conv->sign(9, Transaction{test::signed_test_tx(4)}));
  EXPECT_TRUE(pump_until(10, [&] { return peers[3]->pushes.size() == 1; }));
  EXPECT_EQ(relay.stop(), 0);
}

// The relay as set up on every backend drops root before it reads a byte from a peer:
// both processes run as `nobody` with no capabilities, the dataplane under its
// system-call filter (on DPDK the filter for its poll loop and the vdev's calls), and
// they relay so.
TEST_P(RelayNetns, BothProcessesRunUnprivilegedAndFiltered) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  test::VethPair ns("198.18.5.1/24", {"198.18.5.2/24"}, dpdk());
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  test::RelayRun relay({"--config", relay_config(ns)}, "198.18.5.1:20444", ns.r);
  ASSERT_EQ(relay.port, 20444) << "the relay did not report READY inside its namespace";
  ASSERT_GT(relay.wait_control(), 0);
  test::Peers net{ns.p, launch::sockaddr_of("198.18.5.1", 20444)};
  auto& a = net.add(40);
  auto& b = net.add(41);
  ASSERT_TRUE(net.all_authenticated());
  test::expect_unprivileged(relay.dataplane_pid(), nobody->pw_uid, "dataplane");
  test::expect_unprivileged(relay.control_pid(), nobody->pw_uid, "control");
  if (kSyscallFilterInThisBuild) {
    EXPECT_EQ(test::proc_status(relay.dataplane_pid(), "Seccomp"), "2");
  }
  a.send(a.conv->sign(1, Transaction{test::signed_test_tx(1)}));
  ASSERT_TRUE(net.pump_until([&] { return b.pushes.size() == 1; }, 10));
  EXPECT_EQ(relay.stop(), 0);
}

// kill -9 of the control process: the dataplane relays on alone (on DPDK its user-space
// TCP connections live in the dataplane and never notice); the supervisor starts a new
// control process, which adopts the sessions (a Ping is answered, not Nack'd), and a new
// peer gets its handshake.
TEST_P(RelayNetns, ControlKilledWithSigkillLeavesSessionsUp) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  test::VethPair ns("198.18.6.1/24", {"198.18.6.2/24"}, dpdk());
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  test::RelayRun relay({"--config", relay_config(ns)}, "198.18.6.1:20444", ns.r);
  ASSERT_EQ(relay.port, 20444) << "the relay did not report READY inside its namespace";
  test::Peers net{ns.p, launch::sockaddr_of("198.18.6.1", 20444)};
  auto& a = net.add(100);
  auto& b = net.add(101);
  ASSERT_TRUE(net.all_authenticated());
  const pid_t ctl1 = relay.wait_control();
  ASSERT_GT(ctl1, 0);
  const pid_t dp = relay.dataplane_pid();
  ASSERT_EQ(::kill(ctl1, SIGKILL), 0);
  a.send(a.conv->sign(1, Transaction{test::signed_test_tx(1)}));
  ASSERT_TRUE(net.pump_until([&] { return b.pushes.size() == 1; }, 10)) << "nothing relayed while the control process was down";
  const pid_t ctl2 = relay.wait_control(ctl1);
  ASSERT_GT(ctl2, 0) << "the supervisor did not restart the control process";
  ASSERT_TRUE(net.pump_until([&] { return relay.counters().ctl_restarts.load() >= 1; }, 10));
  int pongs = 0, nacks = 0;
  b.on_message = [&](ByteSpan raw) {
    auto m = decode_message(raw);
    if (m.ok()) {
      pongs += std::holds_alternative<Pong>(m->payload) && std::get<Pong>(m->payload).nonce == 7;
      nacks += std::holds_alternative<Nack>(m->payload);
    }
  };
  b.send(b.conv->sign(2, Transaction{test::signed_test_tx(2)}));
  b.send(b.conv->sign(3, Ping{7}));
  ASSERT_TRUE(net.pump_until([&] { return a.pushes.size() == 1 && pongs == 1; }, 10))
      << "a has " << a.pushes.size() << " pushes; b's Ping answered " << pongs << " times, Nacks " << nacks;
  EXPECT_EQ(nacks, 0);
  auto& c = net.add(102);
  ASSERT_TRUE(net.pump_until([&] { return c.authenticated(); }, 10));
  a.send(a.conv->sign(4, Transaction{test::signed_test_tx(3)}));
  ASSERT_TRUE(net.pump_until([&] { return b.pushes.size() == 2 && c.pushes.size() == 1; }, 10));
  EXPECT_FALSE(a.closed || b.closed || c.closed);
  EXPECT_EQ(relay.dataplane_pid(), dp);  // the same dataplane throughout
  EXPECT_EQ(relay.stop(), 0);
}

// The dataplane relays 64 KiB Nakamoto blocks and transactions of every kind over the
// veth without allocating, on every backend: on DPDK lwIP's segments, pbufs and pcbs come
// from its fixed pools, frames from the mbuf pool and send buffers from the arena.
TEST_P(RelayNetns, RelaysWithoutAllocating) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  test::VethPair ns("198.18.7.1/24", {"198.18.7.2/24"}, dpdk());
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  const test::PushCorpus corpus = test::push_corpus();
  char tmpl[] = "/tmp/stacks-relay-netns-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  ::chmod(dir_.c_str(), 0755);
  const std::string rs = test::write_corpus_reward_set(dir_, corpus);
  ::chmod(rs.c_str(), 0644);
  const std::string cfg = write_file(dir_, "relay.toml", std::string(test::kTestFrontierToml) + "[rewards]\nreward_set_file = \"" +
                                                            rs + "\"\n" + backend_toml(ns));
  ::chmod(cfg.c_str(), 0644);
  test::RelayRun relay({"--config", cfg}, "198.18.7.1:20444", ns.r);
  ASSERT_EQ(relay.port, 20444) << "the relay did not report READY inside its namespace";
  test::Peers net{ns.p, launch::sockaddr_of("198.18.7.1", 20444)};
  auto& a = net.add(70);
  auto& b = net.add(71);
  auto& c = net.add(72);
  ASSERT_TRUE(net.all_authenticated());
  for (auto& p : net.ps) p->keep_pushes = false;  // counted, not kept
  test::CorpusRounds rounds(net, a, b, c, corpus);
  ASSERT_TRUE(rounds.warm_up()) << "warm-up: c has " << c.push_count << " of " << rounds.want_c();
  const auto& k = relay.counters();
  if (k.heap_allocated.load() == 0) GTEST_SKIP() << "the dataplane's allocator is not jemalloc (sanitizer build)";
  const auto m = rounds.measure(k);
  ASSERT_TRUE(m.ok) << "c has " << c.push_count << " of " << rounds.want_c();
  EXPECT_EQ(m.relayed, 10u + rounds.transactions() - 40);
  EXPECT_EQ(k.drop_invalid.load(), 0u);
  EXPECT_EQ(m.allocated, 0u) << "heap bytes the dataplane allocated relaying " << m.relayed << " pushes";
  EXPECT_EQ(relay.stop(), 0);
}

// What the control plane does over the network goes through the host's kernel on the
// same link, beside the dataplane: the relay's end holds a second address of the
// kernel's (on DPDK its only one: the vdev owns the relay's). The relay fetches its
// reward sets from a node's RPC across the veth, serves its HTTP endpoint on the host's
// address, advertises it as its data_url, and a transaction uploaded there reaches every
// node; a block those signers signed is relayed.
TEST_P(RelayNetns, ControlPlaneTalksOverTheHostsAddressBesideTheDataplane) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  test::VethPair ns("198.18.8.1/24", {"198.18.8.2/24"}, dpdk());
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  ASSERT_TRUE(test::VethPair::sh("ip -n " + ns.r + " addr add 198.18.8.3/24 dev vr" + ns.tag));
  test::FakeNodeRpc node("198.18.8.2", ns.p);
  sim::SignerSet signers(5);
  node.set_cycle(100);
  node.set_signers(100, signers.reward_set);
  node.set_signers(99, test::push_corpus().real_signers);
  char tmpl[] = "/tmp/stacks-relay-netns-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  ::chmod(dir_.c_str(), 0755);
  const std::string cfg = write_file(dir_, "relay.toml", std::string(test::kTestFrontierToml) + "[rewards]\nnode_rpc = [\"" +
                                                            node.url() + "\"]\npoll_s = 1\n" + backend_toml(ns));
  ::chmod(cfg.c_str(), 0644);
  test::RelayRun relay({"--config", cfg, "--http-bind", "198.18.8.3:20443"}, "198.18.8.1:20444", ns.r);
  ASSERT_EQ(relay.port, 20444) << "the relay did not report READY inside its namespace";
  test::Peers net{ns.p, launch::sockaddr_of("198.18.8.1", 20444)};
  auto& a = net.add(57);
  auto& b = net.add(58);
  ASSERT_TRUE(net.all_authenticated());
  const auto& hs = a.conv->peer_handshake();
  ASSERT_TRUE(hs.has_value());
  EXPECT_EQ(hs->data_url, "http://198.18.8.3:20443");
  EXPECT_EQ(hs->services, codec::kServiceRelay | codec::kServiceRpc);

  ASSERT_TRUE(net.pump_until([&] { return node.requests("/v3/stacker_set/99") == 1; }, 10))
      << "the relay never asked the node for its reward sets";
  net.pump_until([] { return false; }, 1);  // the sets reach the dataplane
  NakamotoBlocks nb;
  nb.blocks.push_back(sim::nakamoto_block(7, signers, sim::key_from_byte(4, 4), 1000));
  a.send(a.conv->sign(1, nb));
  ASSERT_TRUE(net.pump_until([&] { return b.pushes.size() == 1; }, 10))
      << "drop_no_reward_set " << relay.counters().drop_no_reward_set.load() << ", drop_invalid "
      << relay.counters().drop_invalid.load();

  const Bytes raw = encode_with(write_transaction, test::signed_test_tx(808));
  const std::string body(raw.begin(), raw.end());
  std::string got;
  ASSERT_TRUE(test::in_netns(ns.p, [&] {
    got = test::http_exchange(20443,
                              "POST /v2/transactions HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n"
                              "Content-Type: application/octet-stream\r\nContent-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body,
                              "198.18.8.3");
  }));
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  ASSERT_TRUE(net.pump_until([&] { return a.pushes.size() == 1 && b.pushes.size() == 2; }, 10));
  EXPECT_EQ(a.pushes[0], b.pushes[1]);
  EXPECT_TRUE(validate::verify_message(a.pushes[0], *a.conv->peer_key()));
  EXPECT_EQ(decode_message(a.pushes[0])->relayers.size(), 1u);
  EXPECT_EQ(relay.counters().originated.load(), 1u);
  EXPECT_EQ(relay.stop(), 0);
}

// The relay on a port that takes every frame (net_tap here, as a NIC on vfio-pci), with
// dpdk.host_iface: the host keeps its own address behind the relay. The wire is the
// TAP's kernel end joined to the veth by tc (so the kernel of the relay's namespace sees
// none of it); the host's address is on the interface the relay made. From the peers'
// side the host answers ping and TCP while the relay relays beside it, both processes
// unprivileged and the dataplane under its system-call filter, which a clean stop
// shows it kept to.
TEST(RelayOnAFullPort, TheHostStaysReachableThroughItsInterface) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  test::VethPair ns("198.18.9.1/24", {"198.18.9.2/24"}, true);
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  const std::string wire = "srlw" + ns.tag, host = "srlh" + ns.tag, veth = "vr" + ns.tag;
  char tmpl[] = "/tmp/stacks-relay-netns-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0755);
  std::string toml = test::kTestFrontierToml + launch::dpdk_vdev_toml("net_tap", wire, "198.18.9.1/24");
  toml += "host_iface = \"" + host + "\"\n";
  const std::string cfg = write_file(dir, "relay.toml", toml);
  ::chmod(cfg.c_str(), 0644);
  test::RelayRun relay({"--config", cfg}, "198.18.9.1:20444", ns.r, true);
  ASSERT_EQ(relay.port, 20444) << "the relay did not report READY inside its namespace: " << relay.log();
  EXPECT_NE(relay.log().find("go to the host's interface " + host), std::string::npos) << relay.log();
  ASSERT_EQ(launch::join_interfaces(ns.r, wire, veth), "") << relay.log();
  ASSERT_EQ(launch::command_output("ip -n " + ns.r + " addr add 198.18.9.3/24 dev " + host + " 2>&1 && ip -n " + ns.r +
                                   " link set " + host + " up 2>&1 && echo ok"),
            "ok")
      << relay.log();
  ASSERT_GT(relay.wait_control(), 0);
  test::Peers net{ns.p, launch::sockaddr_of("198.18.9.1", 20444)};
  auto& a = net.add(40);
  auto& b = net.add(41);
  ASSERT_TRUE(net.all_authenticated());
  if (kSyscallFilterInThisBuild) {
    EXPECT_EQ(test::proc_status(relay.dataplane_pid(), "Seccomp"), "2");
  }
  // The host: ping, and a TCP server of its own on its address.
  EXPECT_TRUE(launch::run_quiet("ip netns exec " + ns.p + " ping -c 5 -i 0.1 -W 2 198.18.9.3"))
      << "the host's address did not answer ping";
  int lfd = -1;
  ASSERT_TRUE(test::in_netns(ns.r, [&] {
    lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(7777);
    ::inet_pton(AF_INET, "198.18.9.3", &at.sin_addr);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || ::listen(lfd, 4) != 0) {
      ::close(lfd);
      lfd = -1;
    }
  }));
  ASSERT_GE(lfd, 0);
  int cfd = -1;
  ASSERT_TRUE(test::in_netns(ns.p, [&] { cfd = test::connect_tcp("198.18.9.3", 7777); }));
  const int sfd = ::accept(lfd, nullptr, nullptr);
  EXPECT_GE(sfd, 0) << "the host's TCP server got no connection";
  if (sfd >= 0 && cfd >= 0) {
    const std::string hello(100'000, 'h');
    EXPECT_EQ(::send(cfd, hello.data(), hello.size(), MSG_NOSIGNAL), static_cast<ssize_t>(hello.size()));
    std::string got;
    char buf[65536];
    timeval tv{10, 0};
    ::setsockopt(sfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (got.size() < hello.size()) {
      const ssize_t r = ::recv(sfd, buf, sizeof buf, 0);
      if (r <= 0) break;
      got.append(buf, static_cast<std::size_t>(r));
    }
    EXPECT_EQ(got, hello) << "the host's TCP stream arrived short or changed";
  }
  // The relay beside it.
  a.send(a.conv->sign(1, Transaction{test::signed_test_tx(1)}));
  EXPECT_TRUE(net.pump_until([&] { return b.pushes.size() == 1; }, 10));
  const link::PortCounters& pc = relay.counters().port;
  EXPECT_TRUE(net.pump_until([&] { return pc.host_frames_in.load() >= 5 + 70 && pc.host_frames_out.load() >= 5; }, 2))
      << pc.host_frames_in.load() << " frames to the host, " << pc.host_frames_out.load() << " from it";
  EXPECT_EQ(pc.host_dropped.load(), 0u);
  for (int fd : {sfd, cfd, lfd})
    if (fd >= 0) ::close(fd);
  net = test::Peers();
  EXPECT_EQ(relay.stop(), 0) << relay.log();
  (void)std::system(("rm -rf " + dir).c_str());
}

INSTANTIATE_TEST_SUITE_P(Backend, RelayNetns, ::testing::Values("uring", "net_af_xdp", "net_af_packet"),
                         [](const auto& p) { return std::string(p.param) == "uring" ? "uring" : std::string(p.param).substr(4); });

}  // namespace
}  // namespace relay::dp

