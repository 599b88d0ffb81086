// MPTCP against the real processes (issue 17):
// - two network namespaces joined by two veth paths, the kernel's path manager set up
//   as deploy/mptcp/README.md says: a relay link over MPTCP (p2p.mptcp) survives one
//   path going down in the middle of a 2 MiB block (the block arrives whole, no session
//   is reset), and again the other path once the first is back;
// - a stock node's side: a plain TCP client (the spec-written peer of tests/interop)
//   run under `mptcpize run` reaches the relay over MPTCP; run plainly it is served as
//   plain TCP, counted as a fallback.
// - a kernel with MPTCP switched off: the relay starts, says why, and runs plain TCP.
// Root only (namespaces); mptcpize comes with ./deploy/dev.sh deps.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "bench/sim/sim_data.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/base/hex.hpp"
#include "relay/codec/message.hpp"
#include "tests/support/launch/netns.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::test {
namespace {

using namespace std::chrono_literals;
using namespace relay::codec;
using UPeer = TestPeer<dp::UringTransport>;

// Two namespaces, "r" (the relay) and "p" (the peers), joined by two veth pairs: path 1
// 198.18.6.1 ↔ .2 and path 2 198.18.7.1 ↔ .2, each shaped to 50 Mbit/s so a 2 MiB
// block takes a while. MPTCP's in-kernel path manager: the peers' side opens a subflow
// from its path-2 address, the relay's side announces its path-2 address.
struct TwoPaths {
  launch::Namespace r{"mpr"}, p{"mpp"};
  std::string r1, r2, p1, p2;
  bool ok = false;
  TwoPaths() {
    const std::string tag = std::to_string(::getpid() % 100000);
    r1 = "mr1" + tag, r2 = "mr2" + tag, p1 = "mp1" + tag, p2 = "mp2" + tag;
    ok = r.ok && p.ok;
    for (const auto& [rv, pv, net] : {std::tuple{r1, p1, "198.18.6"}, std::tuple{r2, p2, "198.18.7"}}) {
      ok = ok && launch::run_quiet("ip link add " + rv + " netns " + r.name + " type veth peer name " + pv + " netns " + p.name) &&
           r.sh("addr add " + std::string(net) + ".1/24 dev " + rv) && p.sh("addr add " + std::string(net) + ".2/24 dev " + pv) &&
           r.sh("link set " + rv + " up") && p.sh("link set " + pv + " up");
      for (const auto* ns : {&r, &p})
        ok = ok && launch::run_quiet("ip netns exec " + ns->name + " tc qdisc add dev " + (ns == &r ? rv : pv) +
                                     " root tbf rate 50mbit burst 64kb latency 400ms");
    }
    ok = ok && r.sh("mptcp limits set subflow 4 add_addr_accepted 4") && p.sh("mptcp limits set subflow 4 add_addr_accepted 4") &&
         p.sh("mptcp endpoint add 198.18.7.2 dev " + p2 + " id 2 subflow") &&
         r.sh("mptcp endpoint add 198.18.7.1 dev " + r2 + " id 2 signal");
  }
  // kernel_view: each side's subflows (state, windows, timers, MPTCP token) and MPTCP
  // counters, printed when a block does not get through: the kernel's failover is what
  // is under test, and a stall is explained only by what its subflows were doing.
  std::string kernel_view() const {
    std::string out;
    for (const auto* ns : {&r, &p})
      out += "---- " + ns->name + ": ss -tnie\n" + launch::command_output("ip netns exec " + ns->name + " ss -tnieo 2>/dev/null") + "\n" +
             "---- " + ns->name + ": MPTCP counters\n" +
             launch::command_output("ip netns exec " + ns->name + " nstat -asz 2>&1 | grep -i mptcp | awk '$2 != 0'") + "\n";
    return out;
  }
};

// mptcp_config: a config directory with the simulated signers' reward set and p2p.mptcp.
std::string mptcp_config(const sim::SignerSet& signers) {
  char tmpl[] = "/tmp/srl-mptcp-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  write_reward_set_config(dir, signers, "[p2p]\nmptcp = true\n");
  return dir;
}

TEST(Mptcp, ARelayLinkSurvivesLosingEitherPathInTheMiddleOfABlock) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) for the namespaces";
  TwoPaths lab;
  ASSERT_TRUE(lab.ok) << "namespaces, veth paths, tbf or ip mptcp";
  sim::SignerSet signers(4);
  const std::string dir = mptcp_config(signers);
  RelayRun relay({"--config", dir + "/relay.toml"}, "198.18.6.1:20444", lab.r.name, true);
  ASSERT_EQ(relay.port, 20444) << relay.log();
  EXPECT_NE(relay.log().find("MPTCP: available"), std::string::npos) << relay.log();

  launch::InsideNamespace inside;
  ASSERT_TRUE(inside.enter(lab.p));
  auto ta = dp::UringTransport::create({}).value();
  auto tb = dp::UringTransport::create({}).value();
  UPeer a(*ta, 91), b(*tb, 92);
  net::ConnectOptions how;
  how.mptcp = true;
  a.dial(launch::sockaddr_of("198.18.6.1", 20444), how);
  b.dial(launch::sockaddr_of("198.18.6.1", 20444), how);
  std::uint64_t now = 1;
  auto step = [&](auto&& done, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      a.pump(++now, 2);
      b.pump(++now, 2);
    }
    return true;
  };
  ASSERT_TRUE(step([&] { return a.authenticated() && b.authenticated(); }, 20s)) << relay.log();
  const auto& c = relay.counters();
  // Both sessions run MPTCP, with a subflow on each path at least.
  ASSERT_TRUE(step([&] { return c.mptcp_sessions.load() == 2 && c.mptcp_subflows.load() >= 4; }, 20s))
      << c.mptcp_sessions.load() << " MPTCP sessions, " << c.mptcp_subflows.load() << " subflows";
  EXPECT_EQ(ta->path_state(a.conn).kind, dp::PathState::Kind::kMptcp);

  const auto miner = sim::key_from_byte(9, 1);
  auto block_push = [&](std::uint64_t height) {
    NakamotoBlocks nb;
    nb.blocks.push_back(sim::nakamoto_block(height, signers, miner, 2'000'000));
    return nb;
  };
  // send_and_cut: A pushes a 2 MiB block; a moment later `down` goes down; B must get
  // the block, whole, on the same sessions.
  auto send_and_cut = [&](std::uint64_t height, const std::string& down) {
    const NakamotoBlocks nb = block_push(height);
    const std::size_t had = b.pushes.size();
    a.send(a.conv->sign(static_cast<std::uint32_t>(height), nb));
    const auto t0 = std::chrono::steady_clock::now();
    step([&] { return std::chrono::steady_clock::now() - t0 > 40ms; }, 1s);
    EXPECT_LT(b.pushes.size(), had + 1) << "the block was through before the path went down: the test proves nothing";
    EXPECT_TRUE(lab.p.sh("link set " + down + " down"));
    const auto t_down = std::chrono::steady_clock::now();
    EXPECT_TRUE(step([&] { return b.pushes.size() == had + 1; }, 60s))
        << "the block did not arrive after " << down << " went down; " << c.mptcp_subflows.load() << " subflows\n"
        << lab.kernel_view();
    std::printf("block %llu: whole at B %.0f ms after %s went down (%llu subflows, %llu subflow changes)\n",
                static_cast<unsigned long long>(height),
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_down).count(), down.c_str(),
                static_cast<unsigned long long>(c.mptcp_subflows.load()),
                static_cast<unsigned long long>(c.mptcp_subflow_changes.load()));
    if (b.pushes.size() == had + 1) {
      auto m = decode_message(b.pushes.back());
      ASSERT_TRUE(m.ok());
      const auto* got = std::get_if<NakamotoBlocks>(&m->payload);
      ASSERT_NE(got, nullptr);
      EXPECT_EQ(got->blocks.at(0).block_id, nb.blocks[0].block_id);
    }
    EXPECT_FALSE(a.closed || b.closed);
  };
  send_and_cut(60, lab.p1);
  // Path 1 back: the operator's link-up hook gives the path manager its address again
  // (deploy/mptcp/README.md), and every connection opens a subflow over it.
  const std::uint64_t changes = c.mptcp_subflow_changes.load();
  ASSERT_TRUE(lab.p.sh("link set " + lab.p1 + " up"));
  ASSERT_TRUE(lab.p.sh("mptcp endpoint add 198.18.6.2 dev " + lab.p1 + " id 3 subflow"));
  EXPECT_TRUE(step([&] { return c.mptcp_subflow_changes.load() > changes; }, 20s)) << "no subflow came back over path 1";
  std::this_thread::sleep_for(1s);
  send_and_cut(61, lab.p2);
  EXPECT_EQ(c.sessions_opened.load(), 2u) << "a session was made again: MPTCP did not carry it";
  EXPECT_EQ(c.sessions_closed.load(), 0u);
  EXPECT_EQ(relay.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

// A kernel with MPTCP switched off (net.mptcp.enabled = 0, here in a namespace of the
// test's own): the relay configured for MPTCP starts anyway, says why it runs plain TCP,
// and relays as ever.
TEST(Mptcp, WithMptcpSwitchedOffTheRelaySaysWhyAndRunsOnPlainTcp) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) for the namespace";
  launch::Namespace ns("nomp");
  ASSERT_TRUE(ns.ok);
  ASSERT_TRUE(launch::run_quiet("ip netns exec " + ns.name + " sysctl -qw net.mptcp.enabled=0"));
  sim::SignerSet signers(4);
  const std::string dir = mptcp_config(signers);
  RelayRun relay({"--config", dir + "/relay.toml"}, "127.0.0.1:20444", ns.name, true);
  ASSERT_EQ(relay.port, 20444) << relay.log();
  EXPECT_NE(relay.log().find("MPTCP: unavailable (net.mptcp.enabled = 0"), std::string::npos) << relay.log();
  launch::InsideNamespace inside;
  ASSERT_TRUE(inside.enter(ns));
  auto ta = dp::UringTransport::create({}).value();
  auto tb = dp::UringTransport::create({}).value();
  UPeer a(*ta, 97), b(*tb, 98);
  a.dial(launch::sockaddr_of("127.0.0.1", 20444));
  b.dial(launch::sockaddr_of("127.0.0.1", 20444));
  std::uint64_t now = 1;
  const auto until = std::chrono::steady_clock::now() + 20s;
  auto pump_until = [&](auto&& done) {
    while (!done() && std::chrono::steady_clock::now() < until) {
      a.pump(++now, 2);
      b.pump(++now, 2);
    }
    return done();
  };
  ASSERT_TRUE(pump_until([&] { return a.authenticated() && b.authenticated(); })) << relay.log();
  a.send(a.conv->sign(1, Transaction{signed_test_tx(7)}));
  EXPECT_TRUE(pump_until([&] { return b.pushes.size() == 1; }));
  EXPECT_EQ(relay.counters().mptcp_sessions.load(), 0u);
  EXPECT_EQ(relay.counters().mptcp_fallbacks.load(), 0u);  // plain TCP sockets, not fallbacks
  EXPECT_EQ(relay.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

// run_client: the spec-written peer dialing the relay (under mptcpize when asked); its
// "protocol N" line, or "" if it said nothing in 20 s.
std::string client_protocol(launch::Child& client) {
  const auto line = client.read_line(std::chrono::steady_clock::now() + 20s);
  return line ? *line : "";
}

TEST(Mptcp, AStockClientUnderMptcpizeReachesTheRelayOverMptcp) {
  ASSERT_TRUE(launch::have("/usr/bin/mptcpize")) << "mptcpize is installed by ./deploy/dev.sh deps";
  sim::SignerSet signers(4);
  const std::string dir = mptcp_config(signers);
  RelayRun relay({"--config", dir + "/relay.toml"}, "127.0.0.1:0", "", true);
  ASSERT_GT(relay.port, 0) << relay.log();
  if (relay.log().find("MPTCP: available") == std::string::npos) GTEST_SKIP() << "this kernel: " << relay.log();
  auto tb = dp::UringTransport::create({}).value();
  UPeer b(*tb, 93);
  b.dial(launch::sockaddr_of("127.0.0.1", relay.port));
  std::uint64_t now = 1;
  auto step = [&](auto&& done, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      b.pump(++now, 5);
    }
    return true;
  };
  ASSERT_TRUE(step([&] { return b.authenticated(); }, 10s));
  const auto& c = relay.counters();
  const std::string script = std::string(RELAY_TEST_DATA_DIR) + "/../integration/mptcp_client.py";
  struct Run {
    bool mptcpize;
    const char* protocol;
  };
  std::uint32_t nonce = 40;
  for (const Run& r : {Run{true, "protocol 262"}, Run{false, "protocol 6"}}) {
    const std::uint64_t fallbacks = c.mptcp_fallbacks.load();
    const std::size_t had = b.pushes.size();
    Bytes tx;
    {
      Writer w(tx);
      write_transaction(w, signed_test_tx(++nonce));
    }
    std::vector<std::string> argv = {"/usr/bin/python3", script, std::to_string(relay.port), to_hex(tx), "3"};
    if (r.mptcpize) argv.insert(argv.begin(), {"/usr/bin/mptcpize", "run"});
    launch::Child client;
    ASSERT_TRUE(client.start({argv, "", dir + "/client.err"}));
    EXPECT_EQ(client_protocol(client), r.protocol) << launch::file_text(dir + "/client.err");
    EXPECT_TRUE(step([&] { return b.pushes.size() == had + 1; }, 10s)) << "the client's push was not relayed";
    if (r.mptcpize) {
      EXPECT_TRUE(step([&] { return c.mptcp_sessions.load() >= 1; }, 5s)) << "the relay did not see an MPTCP session";
      EXPECT_EQ(c.mptcp_fallbacks.load(), fallbacks);
    } else {
      EXPECT_EQ(c.mptcp_fallbacks.load(), fallbacks + 1) << "a plain TCP client is a fallback on the MPTCP listener";
    }
    // It ends on its own after holding the connection 3 s (end of its output), exit 0.
    const auto until = std::chrono::steady_clock::now() + 15s;
    while (client.read_line(until)) {
    }
    EXPECT_EQ(client.terminate(), 0) << launch::file_text(dir + "/client.err");
    EXPECT_TRUE(step([&] { return c.mptcp_sessions.load() == 0; }, 10s));
  }
  // stacks-relay status says the same (B and the plain client are the fallbacks).
  EXPECT_EQ(c.mptcp_fallbacks.load(), 2u);
  (void)std::system((std::string(RELAY_CLI_BIN) + " status --config " + dir + "/relay.toml --shm " + relay.shm + " > " + dir +
                     "/status.txt 2>&1").c_str());
  EXPECT_NE(launch::file_text(dir + "/status.txt").find("MPTCP: 0 sessions (0 subflows), 2 fallbacks to plain TCP"),
            std::string::npos)
      << launch::file_text(dir + "/status.txt");
  EXPECT_EQ(relay.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace relay::test
