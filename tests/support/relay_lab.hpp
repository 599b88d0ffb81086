// tests/support/relay_lab.hpp — the real relay (`stacks-relay run`) and the test's peers,
// on the backend a parameterised test names:
//   "loopback"       io_uring, everything on 127.0.0.1 in this namespace (no root needed);
//   "uring"          io_uring across a veth (VethPair);
//   "net_af_xdp",
//   "net_af_packet"  DPDK, lwIP on that vdev on the relay's end of a veth.
// Across a veth the relay is 198.18.<subnet>.1:20444 and the peers' side holds
// 198.18.<subnet>.2; the lab's peers, listening nodes and raw connections are made there.
#pragma once

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/loopback.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/uring_peers.hpp"
#include "tests/support/veth_lab.hpp"

namespace relay::test {

// The backends a lab test runs on, and gtest names for them.
inline const char* const kLabBackends[] = {"loopback", "net_af_xdp", "net_af_packet"};
inline std::string lab_backend_name(const ::testing::TestParamInfo<const char*>& p) {
  const std::string b = p.param;
  return b.rfind("net_", 0) == 0 ? b.substr(4) : b;
}

class RelayLab {
 public:
  // The namespaces and veth (none on loopback); start() starts the relay.
  RelayLab(std::string backend, int subnet) : backend_(std::move(backend)), subnet_(std::to_string(subnet)) {
    if (veth() && ::geteuid() != 0) {
      skip_ = "needs root (CAP_NET_ADMIN) to create network namespaces";
      return;
    }
    if (veth()) {
      pair_ = std::make_unique<VethPair>(relay_ip() + "/24", std::vector<std::string>{peer_ip() + "/24"}, dpdk());
      if (!pair_->ok) error_ = "could not set up the namespaces and veth pair";
    }
  }
  // And started: `extra_toml` added to the relay's configuration (after the test
  // frontier), `args` to `stacks-relay run`'s. Check ready() before use.
  RelayLab(std::string backend, int subnet, const std::string& extra_toml, std::vector<std::string> args = {})
      : RelayLab(std::move(backend), subnet) {
    start(extra_toml, std::move(args));
  }
  // start: the relay (once), with that configuration and those arguments; ready().
  bool start(const std::string& extra_toml = "", std::vector<std::string> args = {}) {
    if (!ready() || relay_) return false;
    char tmpl[] = "/tmp/stacks-relay-lab-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::chmod(dir_.c_str(), 0755);  // the relay drops root: its configuration must be readable
    const std::string cfg = dir_ + "/relay.toml";
    std::ofstream(cfg) << kTestFrontierToml << extra_toml << "\n" << (dpdk() ? pair_->dpdk_toml(backend_.c_str()) : "");
    ::chmod(cfg.c_str(), 0644);
    args.insert(args.begin(), {"--config", cfg});
    relay_ = std::make_unique<RelayRun>(args, veth() ? relay_ip() + ":20444" : "127.0.0.1:0", veth() ? pair_->r : "");
    if (relay_->port == 0) {
      error_ = "the relay did not report READY";
      return false;
    }
    net = Peers(veth() ? pair_->p : "", launch::sockaddr_of(veth() ? relay_ip().c_str() : "127.0.0.1", relay_->port));
    return true;
  }
  // Every test on AF_XDP also checks that the kernel took every frame the relay sent:
  // one it refuses (an mbuf outside the UMEM) is a segment lost at every retransmission,
  // and the connection stalls for good.
  ~RelayLab() {
    if (backend_ == "net_af_xdp" && started()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));  // the port's counters: published every 100 ms
      EXPECT_EQ(relay_->counters().port.xdp_tx_invalid.load(), 0u) << "frames the kernel refused to send (AF_XDP)";
    }
    net = Peers();  // the peers' connections go before the namespaces do
    relay_.reset();
    if (!dir_.empty()) (void)std::system(("rm -rf " + dir_).c_str());
  }
  RelayLab(const RelayLab&) = delete;
  RelayLab& operator=(const RelayLab&) = delete;

  // skip: why this lab cannot run here (not root), "" if it can; error: why it failed to
  // come up ("" when it is up).
  const std::string& skip() const { return skip_; }
  const std::string& error() const { return error_; }
  bool ready() const { return skip_.empty() && error_.empty(); }
  bool started() const { return relay_ != nullptr && relay_->port != 0; }

  bool veth() const { return backend_ != "loopback"; }
  bool dpdk() const { return backend_.rfind("net_", 0) == 0; }
  RelayRun& relay() { return *relay_; }
  const std::string& dir() const { return dir_; }
  // The peers' namespace ("" on loopback) and addresses on each side.
  std::string peers_netns() const { return veth() ? pair_->p : ""; }
  std::string relay_ip() const { return veth() ? "198.18." + subnet_ + ".1" : "127.0.0.1"; }
  std::string peer_ip() const { return veth() ? "198.18." + subnet_ + ".2" : "127.0.0.1"; }

  Peers net;
  Peer& add(std::uint8_t key) { return net.add(key); }
  // connect_raw: a kernel TCP connection to the relay's p2p port from the peers' side
  // (connected, or the test fails).
  int connect_raw() {
    int fd = -1;
    EXPECT_TRUE(in_netns(peers_netns(), [&] { fd = connect_tcp(relay_ip().c_str(), relay_->port); }));
    return fd;
  }
  // node_address: where a node of the peers' side listens for the relay to dial it (on
  // loopback: any free port).
  sockaddr_in6 node_address() const { return launch::sockaddr_of(peer_ip().c_str(), veth() ? 20555 : 0); }

 private:
  std::string backend_, subnet_, skip_, error_, dir_;
  std::unique_ptr<VethPair> pair_;
  std::unique_ptr<RelayRun> relay_;
};

// LAB_READY: skip the test (not root) or fail it (not up) unless `lab` is ready.
#define LAB_READY(lab)                                     \
  do {                                                     \
    if (!(lab).skip().empty()) GTEST_SKIP() << (lab).skip(); \
    ASSERT_TRUE((lab).ready() && (lab).started()) << (lab).error(); \
  } while (0)

}  // namespace relay::test
