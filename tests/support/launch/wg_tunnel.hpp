// tests/support/launch/wg_tunnel.hpp — two network namespaces ("home" and "cloud") joined
// by a veth pair (198.18.1.1 and .2) and a userspace WireGuard tunnel over it (198.19.0.1
// and .2; wireguard-go, as this kernel has no WireGuard module; stock Debian kernels do),
// for the WireGuard test and the benchmark's privacy scenario. Each side's wireguard-go
// is a child of the caller, stopped by its pid; the namespaces go with the object.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "tests/support/launch/netns.hpp"

namespace relay::launch {

// One side of the tunnel: a namespace, its wireguard-go, its keys.
struct WgSide {
  Namespace ns;
  std::string ifname, key_file, pub;
  Child wg;
  explicit WgSide(const std::string& tag, const std::string& dir)
      // wireguard-go's control socket (/var/run/wireguard/<if>.sock) is shared by every
      // namespace: the names must differ.
      : ns(tag), ifname("wg" + tag.substr(0, 1) + std::to_string(::getpid() % 1000000)), key_file(dir + "/" + tag + ".key") {
    (void)std::system(("umask 077; wg genkey > " + key_file).c_str());
    pub = command_output("wg pubkey < " + key_file);
  }
};

struct WgTunnel {
  std::string dir;
  std::unique_ptr<WgSide> home, cloud;
  std::string veth_home, veth_cloud;
  bool ok = false;
  std::string why;
  WgTunnel() {
    char tmpl[] = "/tmp/srl-wg-XXXXXX";
    dir = ::mkdtemp(tmpl);
    home = std::make_unique<WgSide>("home", dir);
    cloud = std::make_unique<WgSide>("cloud", dir);
    const std::string tag = std::to_string(::getpid() % 1000000);
    veth_home = "vh" + tag;
    veth_cloud = "vc" + tag;
    why = "namespaces and veth";
    if (!home->ns.ok || !cloud->ns.ok || home->pub.size() != 44 || cloud->pub.size() != 44) return;
    if (!run_quiet("ip link add " + veth_home + " netns " + home->ns.name + " type veth peer name " + veth_cloud +
                            " netns " + cloud->ns.name) ||
        !home->ns.sh("addr add 198.18.1.1/24 dev " + veth_home) || !cloud->ns.sh("addr add 198.18.1.2/24 dev " + veth_cloud) ||
        !home->ns.sh("link set " + veth_home + " up") || !cloud->ns.sh("link set " + veth_cloud + " up"))
      return;
    why = "wireguard-go";
    if (!up(*home, *cloud, "198.19.0.1", "198.19.0.2", "198.18.1.2") ||
        !up(*cloud, *home, "198.19.0.2", "198.19.0.1", "198.18.1.1"))
      return;
    // The handshake is done (both sides keep the tunnel alive every second, so it
    // happens at once) before anyone relies on the tunnel: up to 15 s (a lost handshake
    // is sent again after 5 s).
    const auto shaken = [](const WgSide& x) {
      const std::string out = command_output("ip netns exec " + x.ns.name + " wg show " + x.ifname + " latest-handshakes");
      const auto tab = out.rfind('\t');
      return tab != std::string::npos && out.substr(tab + 1) != "0";
    };
    for (int i = 0; i < 150 && !ok; ++i) {
      ok = shaken(*home) && shaken(*cloud);
      if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!ok)
      why = "no WireGuard handshake in 15 s; home: " + command_output("ip netns exec " + home->ns.name + " wg show 2>&1") +
            "; cloud: " + command_output("ip netns exec " + cloud->ns.name + " wg show 2>&1") + " (logs in " + dir +
            "; SRL_KEEP_WG=1 keeps them)";
  }
  // up: side `a`'s interface with address `addr`, its peer `b` at `endpoint` allowed
  // to send from `peer_addr` only.
  bool up(WgSide& a, WgSide& b, const std::string& addr, const std::string& peer_addr, const std::string& endpoint) {
    if (!a.wg.start({{"/usr/bin/wireguard-go", "-f", a.ifname}, a.ns.name, dir + "/" + a.ifname + ".log"})) return false;
    for (int i = 0; i < 100 && !a.ns.sh("link show " + a.ifname); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return run_quiet("ip netns exec " + a.ns.name + " wg set " + a.ifname + " private-key " + a.key_file +
                              " listen-port 51820 peer " + b.pub + " endpoint " + endpoint + ":51820 allowed-ips " +
                              peer_addr + "/32 persistent-keepalive 1") &&
           a.ns.sh("addr add " + addr + "/24 dev " + a.ifname) && a.ns.sh("link set " + a.ifname + " up");
  }
  ~WgTunnel() {
    // SIGTERM: wireguard-go removes its control socket (/var/run/wireguard/<if>.sock);
    // killed, it leaves the file behind for a later tunnel of the same name.
    if (home) home->wg.terminate();
    if (cloud) cloud->wg.terminate();
    home.reset();  // the namespaces go with them (and the veth with its namespace)
    cloud.reset();
    if (!dir.empty() && std::getenv("SRL_KEEP_WG") == nullptr) run_quiet("rm -rf " + dir);
  }
};

}  // namespace relay::launch
