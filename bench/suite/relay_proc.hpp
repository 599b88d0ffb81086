// bench/suite/relay_proc.hpp — the real relay (`stacks-relay run`) as the benchmark runs
// it: a config of its own (no seeds, no walk, loopback peers admitted, the simulated
// signers' reward set), READY awaited, its counters read from the shared region, and
// its processes' CPU time and memory read from /proc.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/launch/relay_child.hpp"
#include "relay/base/result.hpp"
#include "relay/link/link.hpp"
#include "relay/shm/region.hpp"

namespace relay::bench {

struct RelayLaunch {
  std::string bin;             // path to stacks-relay
  std::string work_dir;        // data dir, config and logs go under it
  std::string reward_set_file;  // signers blocks are checked against
  std::string extra_toml;      // appended to the generated config
  std::string p2p_extra;       // lines added to its [p2p] table
  // dataplane_bin: run this program as the dataplane (the stacks-core baseline) under
  // the same `stacks-relay run`; empty: the relay's own stacks-relay-dataplane.
  std::string dataplane_bin;
  std::string http_bind;       // e.g. "127.0.0.1:0" (empty: no HTTP endpoint)
  std::string identity_key_file;  // the relay's key (empty: made in its data dir)
  std::string p2p_bind = "127.0.0.1:0";
  std::string netns;           // run inside this network namespace (ip netns), empty: here
  bool busy_poll = false;      // p2p.busy_poll: the dataplane spins instead of sleeping
  std::vector<unsigned> cpus;  // p2p.cpus: the dataplane's threads pinned (empty: not)
};

// Cumulative CPU seconds and resident memory of both relay processes.
struct ProcUsage {
  double cpu_s = 0;        // user + system, dataplane + control
  double user_s = 0;       // of which in user space (our code: decode, hashing, signatures)
  double dp_cpu_s = 0;
  double dp_user_s = 0;    // the dataplane's user time (its two threads: the relay's own work)
  std::uint64_t rss = 0;   // bytes, dataplane + control
  std::uint64_t dp_rss = 0;  // of which the dataplane's
};

class RelayProc {
 public:
  static Result<std::unique_ptr<RelayProc>> start(const RelayLaunch& l, std::string& err);
  ~RelayProc();
  RelayProc(const RelayProc&) = delete;
  RelayProc& operator=(const RelayProc&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::uint16_t http_port() const noexcept { return http_port_; }
  const link::DpCounters& counters() const noexcept { return *link_.counters; }
  ProcUsage usage() const;
  // stop: SIGTERM and wait; the supervisor's exit status.
  int stop();
  // kill_all: the relay taken down at once, as a machine that dies: SIGKILL to the
  // supervisor and both its processes.
  void kill_all();

 private:
  RelayProc() = default;
  launch::Child child_;  // the supervisor, `stacks-relay run`
  std::string shm_;
  std::uint16_t port_ = 0, http_port_ = 0;
  shm::Region region_;
  link::Link link_{};
};

// proc_usage: CPU seconds (user + system) and RSS of one process (zeros if gone).
ProcUsage proc_usage(pid_t pid);

}  // namespace relay::bench
