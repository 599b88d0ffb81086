// bench/suite/scenarios.hpp — the benchmark's scenarios and what each one reports. Every
// scenario runs the relay's numbers next to a baseline measured in the same run.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bench/sim/sim_data.hpp"
#include "bench/suite/relay_proc.hpp"
#include "bench/suite/soak.hpp"
#include "bench/suite/trial.hpp"

namespace relay::bench {

struct SuiteOptions {
  bool smoke = false;       // a reduced run of every scenario (about 100 s as root)
  std::string relay_bin;    // stacks-relay
  std::string work_dir;     // scratch (relay data, logs)
  std::size_t signers = 16;  // signers in the simulated reward set (each block carries all)
  std::size_t tx_bytes = 300;
  std::vector<std::string> only;  // scenario names to run (empty: all)
  std::vector<std::string> backends;  // the veth scenario's backends: uring, af_xdp, af_packet (empty: all)
  bool busy_poll = false;         // run the relay with p2p.busy_poll
  std::vector<unsigned> relay_cpus;  // p2p.cpus of the relay under test (empty: not pinned)
  std::uint32_t link_mbps = 1000;  // the `link` scenario's origin uplink
  double soak_seconds = 300;       // the `soak` scenario's length (smoke: 12 s)
};

struct Baselines {
  double sha512_256_mb_s = 0;  // OpenSSL, 1 MiB buffers
  double recover_us = 0;       // one secp256k1 public-key recovery
  double sign_us = 0;          // one recoverable signature
  double iperf3_gbps = -1;     // loopback TCP ceiling (-1: iperf3 not available)
  std::string iperf3_note;
};

struct TxStep {
  std::string topology;  // "relay", "reference" (the stacks-core algorithm) or "direct"
  std::size_t k = 0;
  double target_rate = 0, sent_rate = 0, delivered_per_s = 0, loss = 0, gbps = 0;
  Dist hop;
  double relay_cpu_us_per_msg = -1;  // relay only
  std::uint64_t relay_hist_p50_us = 0, relay_hist_p99_us = 0;  // the dataplane's own histogram, this step
  std::uint64_t relay_rss = 0;
  std::uint64_t relay_drops = 0;
};

struct BlockStep {
  std::string topology;
  std::size_t k = 0, bytes = 0;
  Dist hop, first_out, last_peer;
  std::uint64_t relay_latency_p50_us = 0;  // the relay's own histogram (receive reaped → copies queued)
  std::uint32_t link_mbps = 0;             // the origin's uplink (0: unpaced loopback or veth)
  std::uint64_t streamed = 0;              // pushes the relay checked while they arrived
  double dp_cpu_ms_per_block = -1;         // the dataplane's CPU per relayed block, net of idle (-1: not measured)
  double dp_user_share = 0;                // of which user time (coarse: clock ticks)
};

// UplinkStep: a block fanned out through a relay whose own uplink is the bottleneck
// (shaped to uplink_mbps), sent to `at_once` peers at a time (p2p.large_sends_at_once;
// 0: all at once). Per block, from the origin's first byte: the median recipient's last
// byte, and the last recipient's.
struct UplinkStep {
  std::uint32_t at_once = 0;
  std::size_t k = 0, bytes = 0;
  std::uint32_t uplink_mbps = 0;
  Dist median_peer, last_peer;
  std::uint64_t waited = 0;  // copies that waited for a slot (large_sends_waited)
};

struct Mixed {
  std::size_t k = 0, block_bytes = 0;
  double tx_rate = 0;
  Dist block_idle, block_loaded, tx_loaded;
  double tx_loss = 0;
};

struct FanoutStep {
  std::size_t k = 0;
  Dist tx_hop;
  Dist block_first_out, block_last_peer, block_last_peer_direct, block_last_peer_reference;
  double cpu_us_per_msg = 0, cpu_us_per_copy = 0;
  double user_us_per_msg = 0;  // time on the relay path (checks, one signature, queueing), per relayed push
  double path_cpu_us_per_msg = 0;  // the same as the run loop's CPU time (less preemption)
  double kernel_us_per_copy = 0;   // the dataplane's system time per copy (coarse: clock ticks)
  double helper_wait_us_per_msg = 0;  // of the relay path: waiting for a check the second thread had taken
  double fanout_cpu_ns_per_copy = 0;  // of the relay path's CPU: queueing the copies, per copy
  // The floor's operations (2 recoveries + 1 signature) timed beside the relay during the
  // trial, one set per transaction period on its run-loop CPU (FloorBeside): median CPU µs.
  double floor_beside_us = 0;
  std::size_t floor_beside_sets = 0;
};

struct HttpServe {
  std::string server;  // "relay" or "nginx"
  std::size_t conns = 0, bytes = 0;
  double req_per_s = 0, gbps = 0;
  std::uint64_t errors = 0;
  Dist latency;
};

// One dataplane backend in the veth scenario: the relay in one namespace on io_uring, or on
// DPDK (lwIP on a virtual device on its end of the veth), K nodes on kernel TCP in the
// other; the same wire (offloads off on both ends) for every backend.
struct BackendRun {
  std::string backend;  // "io_uring", "dpdk net_af_xdp", "dpdk net_af_packet"
  std::size_t k = 0;
  double top_rate = 0;        // the highest offered tx/s delivered with loss <= 1 %
  double relayed_per_s = 0;   // pushes relayed per second at that rate
  double dp_cores = 0;        // the dataplane process's CPU there (CPU seconds per second)
  double msgs_per_core = 0;   // relayed_per_s / dp_cores
  double busy_cores = 0;      // dp_cores less the poll loop's idle passes (DPDK; io_uring sleeps: = dp_cores)
  double msgs_per_busy_core = 0;  // relayed_per_s / busy_cores
  double relay_path_us = 0;   // per push: the relay path (checks, one signature, queueing)
  double transport_us_per_copy = 0;  // per copy: the dataplane's CPU beyond the relay path
  std::string ramp_end;       // why the ramp stopped there
  Dist tx_hop;                // transactions at the scenario's fixed rate
  Dist block_first_out, block_last_peer;  // 2 MiB blocks (512 KiB in a smoke run)
  std::size_t block_bytes = 0;
  double copied_per_byte = -1;   // DPDK: bytes the dataplane copied into frames per byte of frames sent
  std::uint64_t retransmits = 0;  // DPDK: segments the user-space TCP retransmitted
  unsigned long long veth_rx_dropped = 0;  // frames the veth dropped, either end, either way (a backlog full)
};

// One way for nodes to reach the relay in the privacy scenario, and what it cost. Rows of
// one lab share the relay's namespace and the nodes': "tor" (a private Tor network in one
// namespace: "direct" is the relay's plain listener on loopback there, "tor" its onion
// service reached through the nodes' own Tor client) and "wireguard" (two namespaces
// and a veth: "direct" over the veth, "wireguard" through wireguard-go's tunnel over it).
struct PrivacyPath {
  std::string lab, path;
  TxStep tx;        // transactions from the origin: hop and loss
  BlockStep block;  // blocks from the origin: first byte out, last peer
};

// The failover scenario: a relay pair ("home" and "cloud" namespaces) with K nodes on
// both; transactions flow and blocks now and then; cloud is killed (-9) and started again.
struct Failover {
  std::size_t k = 0;
  double tx_rate = 0, seconds = 0, block_every_s = 0;
  double kill_at_s = 0, restart_at_s = 0;  // from the start of the flow
  std::uint64_t sent = 0;                  // transactions pushed
  std::uint64_t expected = 0, delivered = 0;  // deliveries (each transaction to every other node)
  double gap_ms_before = 0;  // the longest stretch a node went without a new transaction, before the kill
  double gap_ms_outage = 0;  // the same from the kill until 2 s after the restart
  double gap_ms_send = 0;    // the sender's own interval (what a gap cannot be shorter than)
  std::uint64_t blocks_pushed = 0, blocks_missed = 0;  // blocks missed: pushed while cloud was down
  double restart_ready_s = -1;  // restart to cloud listening again
  double catch_up_s = -1;       // restart to cloud's store holding every block (-1: not within the wait)
  std::uint64_t catch_up_stored = 0;  // blocks cloud stored from home's log
  std::string note;
};

// The Gaia scenario: the mirror's outbox (control/gaia/) writing a store's blocks into the
// hub stand-in on loopback, in this process.
struct GaiaRun {
  std::size_t file_bytes = 0, files = 0;
  double seconds = 0, files_per_s = 0, mb_per_s = 0;
  std::uint64_t retries = 0;
};

struct Target {
  std::string name, measured, limit;
  int pass = -1;  // 1 pass, 0 fail, -1 not measured, kNotJudgedHere: measured, but this machine cannot judge it (the note says why)
  static constexpr int kNotJudgedHere = -2;
  std::string note;
};

struct SuiteResult {
  std::string date, machine, kernel, commit;
  std::size_t cores = 0;
  bool smoke = false;
  bool busy_poll = false;
  std::vector<unsigned> relay_cpus;
  double seconds = 0;
  Baselines base;
  std::vector<TxStep> tx;
  std::vector<BlockStep> blocks;
  std::vector<Mixed> mixed;
  std::vector<FanoutStep> fanout;
  std::vector<HttpServe> http;
  std::string http_note;
  std::vector<BackendRun> backends;
  std::string backends_note;  // why a backend did not run
  std::vector<PrivacyPath> privacy;
  std::vector<UplinkStep> uplink;
  std::string uplink_note;  // why it did not run
  std::string privacy_note;  // why a lab did not run (not root, a program missing)
  std::vector<Failover> failover;
  std::string failover_note;  // why it did not run
  std::vector<GaiaRun> gaia;
  std::vector<SoakResult> soak;
  std::vector<Target> targets;
  std::vector<std::string> log;  // what happened, in order (warnings included)
};

// run_suite: every selected scenario; errors (a relay that would not start, a swarm that
// could not connect) are in `log` and end the scenario, not the suite.
SuiteResult run_suite(const SuiteOptions& o);

}  // namespace relay::bench
