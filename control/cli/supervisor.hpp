// control/cli/supervisor.hpp — `stacks-relay run`: starts the relay's processes, restarts
// one that dies (alone, with backoff), and stops them all cleanly on SIGINT/SIGTERM.
#pragma once

#include <string>
#include <vector>

#include "relay/config/process_start.hpp"
#include "relay/shm/cnc.hpp"

namespace relay::cli {

struct ChildSpec {
  std::string name;               // for log lines
  std::vector<std::string> argv;  // argv[0] = path of the executable
  // cnc: the child's heartbeat in the shared region. A child that stops beating for
  // kStallTimeoutMs while alive is killed (SIGKILL) and restarted like a crashed one.
  const shm::Cnc* cnc = nullptr;
};

inline constexpr unsigned kStallTimeoutMs = 10000;

// run_supervisor: blocks until SIGINT/SIGTERM; returns the exit status for main().
int run_supervisor(const std::vector<ChildSpec>& children);

// cmd_run: `stacks-relay run`: load and check the configuration, make sure the
// identity key exists, create the shared region, and supervise both processes.
int cmd_run(const config::CommonArgs& args);
// cmd_shm: `stacks-relay shm create|remove`: the shared region on its own, for service
// managers that run the two processes as separate units (deploy/systemd).
int cmd_shm(const config::CommonArgs& args, bool create);
// cmd_status: `stacks-relay status`: the dataplane's counters from the shared region.
int cmd_status(const config::CommonArgs& args, bool watch);

// sibling_path: `name` in the directory of the running executable.
std::string sibling_path(const std::string& name);

}  // namespace relay::cli
