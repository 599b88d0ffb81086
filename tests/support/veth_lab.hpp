// tests/support/veth_lab.hpp — the relay process in one network namespace and stock-node
// test peers in another, joined by a veth pair: real packets over a (virtual) link, on
// either dataplane backend (io_uring on kernel sockets, or DPDK with lwIP on a vdev on
// the relay's end). Creating namespaces needs root (CAP_NET_ADMIN); the namespaces are
// the test's own and go with it.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/support/launch/netns.hpp"
#include "tests/support/launch/relay_child.hpp"

namespace relay::test {

// in_netns: run `fn` with this thread in namespace `name` (sockets it creates stay there);
// "": here, as it is.
template <typename F>
bool in_netns(const std::string& name, F&& fn) {
  if (name.empty()) {
    fn();
    return true;
  }
  int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0 || !launch::enter_netns(name)) return false;
  fn();
  const bool back = ::setns(home, CLONE_NEWNET) == 0;
  ::close(home);
  return back;
}

// A relay namespace and a peers namespace on one veth pair, with the given addresses
// (CIDR form; the peers' side may have several, one per listening test node). With
// `dpdk` the relay's end carries no kernel address: the relay's DPDK port (a vdev on
// that end) owns `relay_cidr` itself, and no end offloads checksums (MACHINE.md P2.7).
struct VethPair {
  std::string r, p, tag, relay_cidr;
  bool ok = false;
  VethPair(const std::string& cidr, const std::vector<std::string>& peer_cidrs, bool dpdk = false) : relay_cidr(cidr) {
    tag = std::to_string(::getpid()) + std::to_string(++serial());
    r = "srl-" + tag + "-r";
    p = "srl-" + tag + "-p";
    ok = sh("ip netns add " + r) && sh("ip netns add " + p) &&
         sh("ip link add vr" + tag + " netns " + r + " type veth peer name vp" + tag + " netns " + p) &&
         (dpdk || sh("ip -n " + r + " addr add " + relay_cidr + " dev vr" + tag));
    for (const auto& c : peer_cidrs) ok = ok && sh("ip -n " + p + " addr add " + c + " dev vp" + tag);
    ok = ok && sh("ip -n " + r + " link set vr" + tag + " up") && sh("ip -n " + p + " link set vp" + tag + " up") &&
         sh("ip -n " + r + " link set lo up") && sh("ip -n " + p + " link set lo up");
    if (dpdk) ok = ok && launch::offloads_off(r, "vr" + tag) && launch::offloads_off(p, "vp" + tag);
  }
  ~VethPair() {
    sh("ip netns del " + r);
    sh("ip netns del " + p);
  }
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;
  // dpdk_toml: the relay's configuration for the DPDK backend on its end of the pair.
  std::string dpdk_toml(const char* vdev) const { return launch::dpdk_vdev_toml(vdev, "vr" + tag, relay_cidr); }
  static bool sh(const std::string& cmd) { return launch::run_quiet(cmd); }
  static int& serial() {
    static int n = 0;
    return n;
  }
};

}  // namespace relay::test
