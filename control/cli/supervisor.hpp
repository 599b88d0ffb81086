// control/cli/supervisor.hpp — `stacks-relay run`: starts the relay's processes, restarts
// one that dies (alone, with backoff), and stops them all cleanly on SIGINT/SIGTERM.
#pragma once

#include <string>
#include <vector>

namespace relay::cli {

struct ChildSpec {
  std::string name;               // for log lines
  std::vector<std::string> argv;  // argv[0] = path of the executable
};

// run_supervisor: blocks until SIGINT/SIGTERM; returns the exit status for main().
int run_supervisor(const std::vector<ChildSpec>& children);

// sibling_path: `name` in the directory of the running executable.
std::string sibling_path(const std::string& name);

}  // namespace relay::cli
