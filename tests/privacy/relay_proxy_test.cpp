// The relay's processes with [proxy] socks5 set, against a real SOCKS5 server (microsocks,
// whose log names every destination it was asked for): the configured peer, given by
// name, is dialed through the proxy with the name unresolved; pushes cross both ways;
// the reward set is fetched from a node's RPC through the proxy; a peer the proxy cannot
// reach is logged once with the proxy's own answer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "tests/support/launch/netns.hpp"
#include "tests/support/fake_node_rpc.hpp"
#include "tests/support/push_corpus.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/uring_peers.hpp"

namespace relay::test {
namespace {

using namespace relay::codec;

// microsocks on loopback; its log (stderr: one line per destination) in a file.
struct Microsocks {
  launch::Child child;
  std::uint16_t port = 0;
  std::string log_path;
  explicit Microsocks(std::uint16_t p) : port(p), log_path("/tmp/srl-microsocks-" + std::to_string(::getpid()) + ".log") {
    child.start({{"/usr/bin/microsocks", "-i", "127.0.0.1", "-p", std::to_string(port)}, "", log_path});
  }
  ~Microsocks() {
    child.kill();
    ::unlink(log_path.c_str());
  }
  std::string log() const { return launch::file_text(log_path); }
  bool saw(const std::string& s) const { return log().find(s) != std::string::npos; }
};

TEST(Socks5Relay, DialsANamedPeerThroughTheProxyRelaysBothWaysAndFetchesTheRewardSetThroughIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "the relay drops root; run as root";
  ASSERT_TRUE(launch::have("/usr/bin/microsocks")) << "installed by ./deploy/dev.sh deps";
  Microsocks proxy(free_port());
  ListeningNode node;
  FakeNodeRpc rpc;
  rpc.set_cycle(100);
  rpc.set_signers(100, push_corpus().real_signers);
  const std::uint16_t closed = free_port();
  char tmpl[] = "/tmp/stacks-relay-px-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0755);
  const std::string rpc_url = "http://localhost:" + rpc.url().substr(rpc.url().rfind(':') + 1);
  {
    std::ofstream cfg(dir + "/relay.toml");
    cfg << kTestFrontierToml << "[proxy]\nsocks5 = \"127.0.0.1:" << proxy.port << "\"\n"
        << "[p2p]\npeers = [\"localhost:" << node.port << "\", \"127.0.0.1:" << closed << "\"]\n"
        << "[rewards]\nnode_rpc = [\"" << rpc_url << "\"]\npoll_s = 1\n";
  }
  RelayRun relay({"--config", dir + "/relay.toml"}, "127.0.0.1:0", "", true);
  ASSERT_GT(relay.port, 0) << relay.log();
  Peers net;
  Peer& a = net.add(57, relay.port);
  auto step = [&](const std::function<bool()>& done, int secs = 20) {
    return net.pump_until([&] {
      node.pump(++net.now);
      return done();
    }, secs);
  };
  ASSERT_TRUE(step([&] {
    return a.authenticated() && node.handshakes() >= 1 && relay.counters().sessions_auth_live.load() == 2;
  })) << relay.log();
  // The proxy was asked for the name: the relay never resolved it.
  EXPECT_TRUE(proxy.saw("connected to localhost:" + std::to_string(node.port))) << proxy.log();
  a.send(a.conv->sign(1, Transaction{signed_test_tx(1)}));
  ASSERT_TRUE(step([&] { return node.peer.pushes.size() == 1; }));
  node.peer.send(node.peer.conv->sign(2, Transaction{signed_test_tx(2)}));
  ASSERT_TRUE(step([&] { return a.pushes.size() == 1; }));
  EXPECT_EQ(std::get<Transaction>(decode_message(a.pushes[0])->payload).tx.txid, signed_test_tx(2).txid);
  // The node's RPC, by name, through the proxy.
  ASSERT_TRUE(step([&] { return rpc.requests("/v3/stacker_set/100") >= 1; }, 15));
  EXPECT_TRUE(proxy.saw("connected to localhost:" + rpc_url.substr(rpc_url.rfind(':') + 1))) << proxy.log();
  // The peer nothing listens for: one log line with the proxy's answer, not one per retry.
  ASSERT_TRUE(step([&] { return relay.log().find("127.0.0.1:" + std::to_string(closed) + " via SOCKS5") != std::string::npos; }, 10));
  step([] { return false; }, 6);  // past another redial
  const std::string log = relay.log();
  const std::string line = "dial 127.0.0.1:" + std::to_string(closed) + " via SOCKS5 proxy 127.0.0.1:" +
                           std::to_string(proxy.port) + " failed: SOCKS5 proxy: connection refused by the destination (reply 5)";
  EXPECT_NE(log.find(line), std::string::npos) << log;
  EXPECT_EQ(log.find(line), log.rfind(line)) << log;
  EXPECT_EQ(relay.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace relay::test
