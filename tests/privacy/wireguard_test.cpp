// WireGuard, for real: two network namespaces ("home" and "cloud") joined by a veth pair,
// with a userspace WireGuard tunnel (wireguard-go; this kernel has no WireGuard module,
// stock Debian kernels do) between them. The relay in one listens on its tunnel address
// only and dials its partner node through the tunnel's interface ({ via = ... }); a
// peer on the other side dials it through the tunnel; pushes cross both ways. A capture
// on the veth shows only WireGuard's UDP, and none of the bytes the peers exchanged; the
// same capture on the tunnel interface finds them (the search works).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/codec/chain.hpp"
#include "tests/support/launch/wg_tunnel.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::test {
namespace {

using namespace std::chrono_literals;
using namespace relay::codec;
using UPeer = TestPeer<dp::UringTransport>;

// pcap: the packets' bytes (link-layer frames) of a capture file.
std::vector<Bytes> read_pcap(const std::string& path, std::uint32_t& linktype) {
  std::ifstream f(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<Bytes> out;
  linktype = 0;
  if (s.size() < 24) return out;
  auto u32 = [&](std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, s.data() + at, 4);
    return v;  // little-endian capture (tcpdump on this machine)
  };
  if (u32(0) != 0xa1b2c3d4u) return out;
  linktype = u32(20);
  for (std::size_t at = 24; at + 16 <= s.size();) {
    const std::uint32_t caplen = u32(at + 8);
    at += 16;
    if (at + caplen > s.size()) break;
    out.emplace_back(s.begin() + static_cast<long>(at), s.begin() + static_cast<long>(at + caplen));
    at += caplen;
  }
  return out;
}

bool contains(const std::vector<Bytes>& packets, ByteSpan needle) {
  for (const auto& p : packets)
    if (std::search(p.begin(), p.end(), needle.begin(), needle.end()) != p.end()) return true;
  return false;
}

TEST(WireGuard, ARelayLinkThroughTheTunnelCarriesPushesAndNothingInClearOnTheWire) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) for the namespaces";
  ASSERT_TRUE(launch::have("/usr/bin/wireguard-go") && launch::have("/usr/bin/wg") && launch::have("/usr/bin/tcpdump"))
      << "wireguard-go, wireguard-tools and tcpdump are installed by ./deploy/dev.sh deps";
  launch::WgTunnel tun;
  ASSERT_TRUE(tun.ok) << tun.why;
  // Captures on both sides of the encryption, on the relay's side.
  launch::Child wire, clear;
  ASSERT_TRUE(wire.start({{"/usr/bin/tcpdump", "-i", tun.veth_home, "-n", "-U", "--immediate-mode", "-s", "0", "-w", tun.dir + "/wire.pcap"},
                          tun.home->ns.name, tun.dir + "/wire.err"}));
  ASSERT_TRUE(clear.start({{"/usr/bin/tcpdump", "-i", tun.home->ifname, "-n", "-U", "--immediate-mode", "-s", "0", "-w", tun.dir + "/clear.pcap"},
                           tun.home->ns.name, tun.dir + "/clear.err"}));
  std::this_thread::sleep_for(1s);  // tcpdump is listening

  // The partner node on the cloud side, listening on its tunnel address only; a peer there.
  launch::InsideNamespace inside;
  ASSERT_TRUE(inside.enter(tun.cloud->ns));
  auto nt = dp::UringTransport::create({}).value();
  ASSERT_TRUE(nt->listen(launch::sockaddr_of("198.19.0.2", 20444)).ok());
  UPeer node(*nt, 80);
  auto pt = dp::UringTransport::create({}).value();
  UPeer peer(*pt, 57);

  char tmpl[] = "/tmp/srl-wg-relay-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0711);
  std::ofstream(dir + "/relay.toml") << kTestFrontierToml << "[p2p]\npeers = [{ address = \"198.19.0.2:20444\", via = \""
                                     << tun.home->ifname << "\" }]\n";
  RelayRun relay({"--config", dir + "/relay.toml"}, "198.19.0.1:20444", tun.home->ns.name, true);
  ASSERT_EQ(relay.port, 20444) << relay.log();
  peer.dial(launch::sockaddr_of("198.19.0.1", 20444));
  std::uint64_t now = 1;
  auto step = [&](auto&& done, int secs) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      node.pump(++now, 2);
      peer.pump(++now, 2);
    }
    return true;
  };
  ASSERT_TRUE(step([&] {
    return node.handshakes >= 1 && peer.authenticated() && relay.counters().sessions_auth_live.load() == 2;
  }, 30)) << relay.log();
  // The node sees the relay at its tunnel address: the dial went through the tunnel.
  EXPECT_EQ(nt->remote(node.conn).host(), "198.19.0.1");
  const Bytes up = peer.conv->sign(1, Transaction{signed_test_tx(1)});
  peer.send(up);
  ASSERT_TRUE(step([&] { return node.pushes.size() == 1; }, 20));
  const Bytes down = node.conv->sign(2, Transaction{signed_test_tx(2)});
  node.send(down);
  ASSERT_TRUE(step([&] { return peer.pushes.size() == 1; }, 20));
  EXPECT_EQ(relay.stop(), 0);
  std::this_thread::sleep_for(500ms);
  wire.terminate();
  clear.terminate();

  std::uint32_t wire_link = 0, clear_link = 0;
  const auto wire_pkts = read_pcap(tun.dir + "/wire.pcap", wire_link);
  const auto clear_pkts = read_pcap(tun.dir + "/clear.pcap", clear_link);
  ASSERT_GT(wire_pkts.size(), 10u);
  ASSERT_GT(clear_pkts.size(), 10u);
  // A push's transaction (its body, past the relay's own preamble and relayers) in each
  // capture: inside the tunnel it is there; on the wire it is not.
  const auto encode = [](const StacksTransaction& tx) {
    Bytes b;
    {
      Writer w(b);
      write_transaction(w, tx);
    }
    return b;
  };
  const Bytes tx1 = encode(signed_test_tx(1)), tx2 = encode(signed_test_tx(2));
  ASSERT_GT(tx1.size(), 64u);
  const ByteSpan probe1(tx1.data() + 16, 48), probe2(tx2.data() + 16, 48);
  EXPECT_TRUE(contains(clear_pkts, probe1) && contains(clear_pkts, probe2)) << "the search finds them inside the tunnel";
  EXPECT_FALSE(contains(wire_pkts, probe1));
  EXPECT_FALSE(contains(wire_pkts, probe2));
  // Every IPv4 packet on the wire is WireGuard's UDP (port 51820); not one TCP segment.
  ASSERT_EQ(wire_link, 1u);  // Ethernet
  std::size_t udp = 0;
  for (const auto& p : wire_pkts) {
    if (p.size() < 14 + 20 || p[12] != 0x08 || p[13] != 0x00) continue;  // not IPv4 (ARP, IPv6 ND)
    const std::size_t ihl = (p[14] & 0x0f) * 4u;
    ASSERT_EQ(p[14 + 9], 17) << "IP protocol " << int(p[14 + 9]) << " on the wire";
    const std::uint16_t sport = static_cast<std::uint16_t>(p[14 + ihl] << 8 | p[14 + ihl + 1]);
    const std::uint16_t dport = static_cast<std::uint16_t>(p[14 + ihl + 2] << 8 | p[14 + ihl + 3]);
    EXPECT_TRUE(sport == 51820 || dport == 51820) << sport << " -> " << dport;
    ++udp;
  }
  EXPECT_GT(udp, 10u);
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace relay::test
