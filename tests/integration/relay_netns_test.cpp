// The relay process in one network namespace, stock-node test peers in another, joined
// by a veth pair: real packets cross a (virtual) link, not loopback. The test creates and
// deletes its own namespaces; without CAP_NET_ADMIN (not root) it is skipped, saying so.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::dp {
namespace {

using namespace relay::codec;

bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

struct NetnsPair {
  std::string a, b;
  bool ok = false;
  NetnsPair() {
    std::string tag = std::to_string(::getpid());
    a = "srl-" + tag + "-r";
    b = "srl-" + tag + "-p";
    ok = sh("ip netns add " + a) && sh("ip netns add " + b) &&
         sh("ip link add vr" + tag + " netns " + a + " type veth peer name vp" + tag + " netns " + b) &&
         sh("ip -n " + a + " addr add 10.231.7.1/24 dev vr" + tag) && sh("ip -n " + b + " addr add 10.231.7.2/24 dev vp" + tag) &&
         sh("ip -n " + a + " link set vr" + tag + " up") && sh("ip -n " + b + " link set vp" + tag + " up") &&
         sh("ip -n " + a + " link set lo up") && sh("ip -n " + b + " link set lo up");
  }
  ~NetnsPair() {
    sh("ip netns del " + a);
    sh("ip netns del " + b);
  }
};

bool enter_netns(const std::string& name) {
  int fd = ::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::setns(fd, CLONE_NEWNET) == 0;
  ::close(fd);
  return ok;
}

TEST(RelayNetns, PeersInAnotherNamespaceRelayOverVeth) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) to create network namespaces";
  NetnsPair ns;
  ASSERT_TRUE(ns.ok) << "could not set up the namespaces and veth pair";
  test::RelayRun relay({}, "10.231.7.1:20444", [&] { return enter_netns(ns.a); });
  ASSERT_EQ(relay.port, 20444) << "the relay did not report READY inside its namespace";

  // Peers' sockets are created inside the other namespace, then this thread returns.
  int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(home, 0);
  ASSERT_TRUE(enter_netns(ns.b));
  constexpr int kPeers = 3;
  std::vector<std::unique_ptr<UringTransport>> ts;
  std::vector<std::unique_ptr<test::TestPeer<UringTransport>>> peers;
  sockaddr_in6 relay_addr{};
  relay_addr.sin6_family = AF_INET6;
  relay_addr.sin6_port = htons(20444);
  inet_pton(AF_INET6, "::ffff:10.231.7.1", &relay_addr.sin6_addr);
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
  const int rc = relay.stop();
  ASSERT_TRUE(authed);
  ASSERT_TRUE(relayed);
  EXPECT_EQ(peers[1]->pushes[0], peers[2]->pushes[0]);
  EXPECT_TRUE(peers[0]->pushes.empty());
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace relay::dp
