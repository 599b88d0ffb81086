// Tor, for real: a private Tor network (tests/support/launch/tor_net.hpp) in a namespace of the
// test's own, brought up once for this suite. The relay reaches a stock test node behind
// an onion service through Tor's SOCKS port; the relay publishes its own onion service
// through Tor's control port; test peers reach it through Tor; pushes cross both ways;
// the onion address survives a restart of the relay, and a restart of Tor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/net/address.hpp"
#include "relay/net/socks5.hpp"
#include "tests/support/launch/tor_net.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::test {
namespace {

using namespace std::chrono_literals;
using namespace relay::codec;
using launch::TorNet;
using UPeer = TestPeer<dp::UringTransport>;

// The suite's network and the stock node behind the far onion service.
struct TorWorld {
  // Inside the namespace, below Linux's ephemeral range (32768-60999): at 43000 a tor's own
  // outgoing connection could hold the port, and the node's listen failed (EADDRINUSE).
  std::uint16_t node_port = 31000;
  std::unique_ptr<TorNet> net;
  std::chrono::steady_clock::duration bootstrap{};
  TorWorld() {
    const auto t0 = std::chrono::steady_clock::now();
    net = std::make_unique<TorNet>(node_port);
    if (net->up()) net->wait_bootstrapped(90);
    bootstrap = std::chrono::steady_clock::now() - t0;
  }
};
TorWorld* g_tor = nullptr;

class Tor : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0 || !launch::have("/usr/sbin/tor")) return;
    g_tor = new TorWorld();
  }
  static void TearDownTestSuite() {
    delete g_tor;
    g_tor = nullptr;
  }
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) for the Tor network's namespace";
    ASSERT_NE(g_tor, nullptr) << "tor is installed by ./deploy/dev.sh deps";
    ASSERT_TRUE(g_tor->net->up()) << g_tor->net->why;
    ASSERT_FALSE(g_tor->net->far_onion().empty()) << g_tor->net->why;
    ASSERT_TRUE(inside_.enter(g_tor->net->ns));
  }
  static net::ConnectOptions via_tor(std::uint16_t socks) {
    net::ConnectOptions o;
    o.socks5 = net::Socks5Proxy{*net::parse_addr("127.0.0.1"), socks, std::nullopt};
    return o;
  }
  launch::InsideNamespace inside_;
};

// The transport alone: a connection to the far onion service through the near tor.
TEST_F(Tor, TheTransportReachesAnOnionServiceThroughTorsSocksPort) {
  std::printf("private Tor network up in %.1f s\n", std::chrono::duration<double>(g_tor->bootstrap).count());
  dp::UringConfig cfg;
  cfg.send_pool = {};
  auto server = dp::UringTransport::create(cfg).value();
  auto client = dp::UringTransport::create(cfg).value();
  ASSERT_TRUE(server->listen(launch::sockaddr_of("127.0.0.1", g_tor->node_port)).ok());
  std::string err;
  const auto onion = net::PeerAddress::parse(g_tor->net->far_onion() + ":20444", err).value();
  bool accepted = false, connected = false;
  int failed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  // The first circuit to a fresh service can take a while; Tor answers 0xf0-0xf7 or a
  // TTL reply if it gives up, and the dial is simply made again.
  for (int attempt = 0; attempt < 6 && !(accepted && connected); ++attempt) {
    ASSERT_TRUE(client->connect(onion, via_tor(TorNet::kNearSocks)).ok());
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    bool over = false;
    while (!over && std::chrono::steady_clock::now() < deadline) {
      for (auto* t : {client.get(), server.get()}) {
        dp::Event evs[8];
        const std::size_t n = t->poll(evs, 10);
        for (std::size_t i = 0; i < n; ++i) {
          if (evs[i].kind == dp::EventKind::kAccepted) accepted = true;
          if (evs[i].kind == dp::EventKind::kConnected) connected = over = true;
          if (evs[i].kind == dp::EventKind::kConnectFailed) {
            ++failed;
            over = true;
            std::printf("attempt %d: %s\n", attempt, net::describe_dial_error(evs[i].err).c_str());
          }
          if (evs[i].kind == dp::EventKind::kData) t->release(evs[i]);
        }
      }
    }
  }
  std::printf("onion connect after %.1f s (%d failed attempts)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), failed);
  EXPECT_TRUE(connected);
  EXPECT_TRUE(accepted);
}

// step: pump the peers until `done` or `secs`.
template <typename F>
bool step(std::vector<UPeer*> peers, F&& done, int secs) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
  static std::uint64_t now = 1;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    for (auto* p : peers) p->pump(++now, 5);
  }
  return true;
}

// connect_through_tor: a test peer dialing `onion` through the far tor until it is
// authenticated (a fresh descriptor may take a few tries to be found).
bool connect_through_tor(UPeer& p, const net::PeerAddress& onion, std::vector<UPeer*> others, int secs) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
  while (std::chrono::steady_clock::now() < deadline) {
    p.closed = false;
    net::ConnectOptions how;
    how.socks5 = net::Socks5Proxy{*net::parse_addr("127.0.0.1"), TorNet::kFarSocks, std::nullopt};
    p.dial(onion, how);
    others.push_back(&p);
    if (step(others, [&] { return p.authenticated() || p.closed; }, 60) && p.authenticated()) return true;
    others.pop_back();
    std::this_thread::sleep_for(1s);
  }
  return false;
}

// The whole path: the relay (in the namespace, dropping root to nobody like a deployed
// one) dials a stock node behind the far onion service through the near tor's SOCKS
// port; publishes its own onion service on the near tor through the control port
// (cookie login); a test peer reaches it through the far tor; pushes cross both ways.
// Restarted on the same data dir, the relay publishes the same address again.
TEST_F(Tor, TheRelayDialsAnOnionNodeAndIsReachedAtItsOwnOnionServiceRelayingBothWays) {
  auto nt = dp::UringTransport::create({}).value();
  {
    auto l = nt->listen(launch::sockaddr_of("127.0.0.1", g_tor->node_port));
    ASSERT_TRUE(l.ok()) << l.error().reason << ": " << std::strerror(static_cast<int>(l.error().offset));
  }
  UPeer node(*nt, 80);
  char tmpl[] = "/tmp/srl-tor-relay-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0711);
  const std::string data = dir + "/data", cfg = dir + "/relay.toml";
  std::ofstream(cfg) << kTestFrontierToml << "[proxy]\nonion = \"127.0.0.1:" << TorNet::kNearSocks << "\"\n"
                     << "[tor]\ncontrol = \"127.0.0.1:" << TorNet::kNearControl << "\"\n"
                     << "[p2p]\npeers = [\"" << g_tor->net->far_onion() << ":20444\"]\n";
  std::string relay_onion;
  {
    RelayRun relay({"--config", cfg, "--data-dir", data}, "127.0.0.1:20444", g_tor->net->ns.name, true);
    ASSERT_EQ(relay.port, 20444) << relay.log();
    // Out through Tor: the node behind the far onion service gets the relay's handshake.
    ASSERT_TRUE(step({&node}, [&] { return node.handshakes >= 1; }, 120)) << relay.log();
    // In through Tor: the relay's own service, published through the control port.
    ASSERT_TRUE(step({&node}, [&] { return !launch::file_text(data + "/onion_address").empty(); }, 60)) << relay.log();
    relay_onion = launch::file_text(data + "/onion_address");
    relay_onion.erase(relay_onion.find_last_not_of("\n") + 1);
    ASSERT_EQ(relay_onion.size(), 62u) << relay_onion;
    std::string err;
    const auto onion = net::PeerAddress::parse(relay_onion + ":20444", err).value();
    auto pt = dp::UringTransport::create({}).value();
    UPeer a(*pt, 57);
    ASSERT_TRUE(connect_through_tor(a, onion, {&node}, 120)) << relay.log();
    ASSERT_TRUE(step({&node, &a}, [&] { return relay.counters().sessions_auth_live.load() == 2; }, 30));
    a.send(a.conv->sign(1, Transaction{signed_test_tx(1)}));
    ASSERT_TRUE(step({&node, &a}, [&] { return node.pushes.size() == 1; }, 60));
    node.send(node.conv->sign(2, Transaction{signed_test_tx(2)}));
    ASSERT_TRUE(step({&node, &a}, [&] { return a.pushes.size() == 1; }, 60));
    EXPECT_EQ(std::get<Transaction>(decode_message(a.pushes[0])->payload).tx.txid, signed_test_tx(2).txid);
    // The onion session was admitted though it came from loopback.
    const std::string log = relay.log();
    EXPECT_NE(log.find("onion service " + relay_onion + ":20444 published"), std::string::npos) << log;
    // stacks-relay status shows the address.
    const std::string status = dir + "/status.txt";
    (void)std::system((std::string(RELAY_CLI_BIN) + " status --data-dir " + data + " --shm " + relay.shm + " > " + status +
                       " 2>&1").c_str());
    EXPECT_NE(launch::file_text(status).find("onion service " + relay_onion + ":20444"), std::string::npos) << launch::file_text(status);
    EXPECT_EQ(relay.stop(), 0);
  }
  // Restarted on the same data dir: the same address, published again.
  RelayRun again({"--config", cfg, "--data-dir", data}, "127.0.0.1:20444", g_tor->net->ns.name, true);
  ASSERT_EQ(again.port, 20444) << again.log();
  ASSERT_TRUE(step({&node}, [&] { return again.log().find(" published") != std::string::npos; }, 60)) << again.log();
  EXPECT_NE(again.log().find("onion service " + relay_onion + ":20444 published"), std::string::npos) << again.log();
  std::string err;
  auto pt2 = dp::UringTransport::create({}).value();
  UPeer b(*pt2, 58);
  EXPECT_TRUE(connect_through_tor(b, net::PeerAddress::parse(relay_onion + ":20444", err).value(), {&node}, 120))
      << again.log();
  EXPECT_EQ(again.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

// Tor restarts under a running relay: its ephemeral service is gone with the control
// connection; the relay logs in again when Tor is back and publishes the same address;
// a peer reaches it again.
TEST_F(Tor, WhenTorRestartsTheRelayPublishesTheSameServiceAgain) {
  char tmpl[] = "/tmp/srl-tor-restart-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0711);
  const std::string data = dir + "/data", cfg = dir + "/relay.toml";
  std::ofstream(cfg) << kTestFrontierToml << "[tor]\ncontrol = \"127.0.0.1:" << TorNet::kNearControl << "\"\n";
  RelayRun relay({"--config", cfg, "--data-dir", data}, "127.0.0.1:20446", g_tor->net->ns.name, true);
  ASSERT_EQ(relay.port, 20446) << relay.log();
  auto published = [&](int times) {
    const std::string log = relay.log();
    std::size_t n = 0;
    for (std::size_t at = log.find(" published"); at != std::string::npos; at = log.find(" published", at + 1)) ++n;
    return n >= static_cast<std::size_t>(times);
  };
  ASSERT_TRUE(step({}, [&] { return published(1); }, 60)) << relay.log();
  std::string onion = launch::file_text(data + "/onion_address");
  onion.erase(onion.find_last_not_of("\n") + 1);
  ASSERT_TRUE(g_tor->net->restart("near"));
  ASSERT_TRUE(step({}, [&] { return relay.log().find("connection lost") != std::string::npos; }, 30)) << relay.log();
  ASSERT_TRUE(step({}, [&] { return published(2); }, 120)) << relay.log();
  EXPECT_NE(relay.log().rfind("onion service " + onion + ":20446 published"), std::string::npos) << relay.log();
  std::string err;
  auto pt = dp::UringTransport::create({}).value();
  UPeer a(*pt, 59);
  EXPECT_TRUE(connect_through_tor(a, net::PeerAddress::parse(onion + ":20446", err).value(), {}, 150)) << relay.log();
  EXPECT_EQ(relay.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

// Logins: the far tor's cookie is root's (unreadable to the relay, which runs as
// nobody), so only its password works: without one, and with a wrong one, the relay
// says why in its log; with the right one, it publishes.
TEST_F(Tor, PasswordLoginAndWhyALoginFails) {
  struct Case {
    std::string password;
    std::string says;
  };
  const Case cases[] = {
      {"", "cannot be read by this user (add it to Tor's group, e.g. debian-tor): set tor.password for HASHEDPASSWORD"},
      {"wrong", "Tor refused the login: 515"},
      {TorNet::kFarPassword, " published"},
  };
  std::uint16_t port = 20450;
  for (const auto& k : cases) {
    char tmpl[] = "/tmp/srl-tor-login-XXXXXX";
    const std::string dir = ::mkdtemp(tmpl);
    ::chmod(dir.c_str(), 0711);
    std::ofstream(dir + "/relay.toml") << kTestFrontierToml << "[tor]\ncontrol = \"127.0.0.1:" << TorNet::kFarControl
                                       << "\"\npassword = \"" << k.password << "\"\n";
    RelayRun relay({"--config", dir + "/relay.toml", "--data-dir", dir + "/data"}, "127.0.0.1:" + std::to_string(++port),
                   g_tor->net->ns.name, true);
    ASSERT_GT(relay.port, 0) << relay.log();
    EXPECT_TRUE(step({}, [&] { return relay.log().find(k.says) != std::string::npos; }, 30))
        << "password '" << k.password << "': " << relay.log();
    EXPECT_EQ(relay.stop(), 0);
    (void)std::system(("rm -rf " + dir).c_str());
  }
}

// Private mode on the wire: a relay with privacy.onlynet = ["onion"] reached by two
// onion peers. Every message it sends them is decoded: no address field (handshake,
// relayers of a relayed push — an upstream clearnet one included —, Neighbors reply)
// holds a clearnet address, no data_url is clearnet, and GetNeighbors is answered with
// nobody.
TEST_F(Tor, InPrivateModeNothingTheRelaySendsNamesAClearnetAddress) {
  char tmpl[] = "/tmp/srl-tor-private-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0711);
  std::ofstream(dir + "/relay.toml") << kTestFrontierToml << "[privacy]\nonlynet = [\"onion\"]\n"
                                     << "[proxy]\nonion = \"127.0.0.1:" << TorNet::kNearSocks << "\"\n"
                                     << "[tor]\ncontrol = \"127.0.0.1:" << TorNet::kNearControl << "\"\n"
                                     << "[http]\nbind = \"127.0.0.1:0\"\n";
  RelayRun relay({"--config", dir + "/relay.toml", "--data-dir", dir + "/data"}, "127.0.0.1:20448", g_tor->net->ns.name, true);
  ASSERT_EQ(relay.port, 20448) << relay.log();
  ASSERT_TRUE(step({}, [&] { return !launch::file_text(dir + "/data/onion_address").empty(); }, 60)) << relay.log();
  std::string onion = launch::file_text(dir + "/data/onion_address");
  onion.erase(onion.find_last_not_of("\n") + 1);
  std::string err;
  const auto at = net::PeerAddress::parse(onion + ":20448", err).value();
  auto ta = dp::UringTransport::create({}).value();
  auto tb = dp::UringTransport::create({}).value();
  UPeer a(*ta, 61), b(*tb, 62);
  std::vector<Bytes> heard;  // everything the relay sent b
  b.on_message = [&](ByteSpan m) { heard.emplace_back(m.begin(), m.end()); };
  ASSERT_TRUE(connect_through_tor(a, at, {}, 120)) << relay.log();
  ASSERT_TRUE(connect_through_tor(b, at, {&a}, 120)) << relay.log();
  ASSERT_TRUE(step({&a, &b}, [&] { return relay.counters().sessions_auth_live.load() == 2; }, 30));
  // The push comes in through a clearnet node (an upstream relayer entry with its
  // address): it goes on without that address.
  RelayData upstream;
  upstream.peer.addrbytes = net::parse_addr("203.0.113.9").value();
  upstream.peer.port = 20444;
  upstream.peer.public_key_hash.fill(0x5c);
  a.send(a.conv->sign(1, Transaction{signed_test_tx(1)}, {upstream}));
  ASSERT_TRUE(step({&a, &b}, [&] { return b.pushes.size() == 1; }, 60));
  std::vector<ctl::Action> acts;
  ASSERT_TRUE(b.conv->request_neighbors(2, acts));
  b.apply(acts);
  ASSERT_TRUE(step({&a, &b}, [&] { return b.neighbor_replies.size() == 1; }, 60));
  EXPECT_TRUE(b.neighbor_replies[0].empty()) << b.neighbor_replies[0].size() << " neighbors";
  // Every message: its address fields.
  auto clearnet = [](const Addr16& x) { return !net::is_unspecified(x) && !(net::is_ipv4(x) && x[12] == 127); };
  std::size_t handshakes = 0, relayed = 0, neighbor_msgs = 0;
  for (const auto& raw : heard) {
    auto m = decode_message(raw);
    ASSERT_TRUE(m.ok());
    for (const auto& r : m->relayers) EXPECT_FALSE(clearnet(r.peer.addrbytes)) << net::addr_to_string(r.peer.addrbytes);
    if (const auto* h = std::get_if<HandshakeAccept>(&m->payload)) {
      ++handshakes;
      EXPECT_FALSE(clearnet(h->data.handshake.addrbytes)) << net::addr_to_string(h->data.handshake.addrbytes);
      EXPECT_TRUE(h->data.handshake.data_url.empty() || h->data.handshake.data_url.find(".onion") != std::string::npos)
          << h->data.handshake.data_url;
    }
    if (const auto* n = std::get_if<Neighbors>(&m->payload)) {
      ++neighbor_msgs;
      for (const auto& e : n->neighbors) EXPECT_FALSE(clearnet(e.addrbytes)) << net::addr_to_string(e.addrbytes);
    }
    if (std::holds_alternative<Transaction>(m->payload)) {
      ++relayed;
      ASSERT_EQ(m->relayers.size(), 2u);
      EXPECT_EQ(m->relayers[0].peer.public_key_hash, upstream.peer.public_key_hash);  // kept: loops are still seen
    }
  }
  EXPECT_EQ(handshakes, 1u);
  EXPECT_EQ(relayed, 1u);
  EXPECT_EQ(neighbor_msgs, 1u);
  EXPECT_NE(relay.log().find("private mode"), std::string::npos) << relay.log();
  EXPECT_EQ(relay.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace relay::test
