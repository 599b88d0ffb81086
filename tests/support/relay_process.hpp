// tests/support/relay_process.hpp — `stacks-relay run` as a child of the test: its own
// data directory and shared region, stdout read for the dataplane's READY lines, the
// two processes' pids and the dataplane's counters read from the shared region (as
// `stacks-relay status` does), and a clean or forced stop. The process itself is a
// launch::Child (launch/relay_child.hpp, shared with the benchmark suite).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/launch/relay_child.hpp"
#include "relay/base/hex.hpp"
#include "relay/link/link.hpp"
#include "relay/shm/region.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::test {

// The [frontier] every test relay runs with unless its config says otherwise: no mainnet
// seeds (tests never reach beyond the machine), loopback peers admitted, and any number
// of them from one address.
// rss_bytes: the resident set of process `pid` (VmRSS), 0 if unreadable.
inline std::uint64_t rss_bytes(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(st, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

inline constexpr const char* kTestFrontierToml =
    "[frontier]\nbootstrap = []\nprivate_neighbors = true\nmax_inbound_per_ip = 100000\n";

// write_reward_set_config: into `dir` (made reachable for the relay, which drops root to
// `nobody`), reward-set.txt for `signers` (a sim::SignerSet) and relay.toml holding
// kTestFrontierToml, that reward set and `extra_toml`; returns relay.toml's path.
template <class Signers>
std::string write_reward_set_config(const std::string& dir, const Signers& signers, const std::string& extra_toml = "") {
  ::chmod(dir.c_str(), 0711);
  {
    std::ofstream rs(dir + "/reward-set.txt");
    for (const auto& s : signers.reward_set) rs << to_hex(s.signing_key) << " " << s.weight << "\n";
    std::ofstream(dir + "/relay.toml") << kTestFrontierToml << "[rewards]\nreward_set_file = \"" << dir
                                       << "/reward-set.txt\"\n" << extra_toml;
  }
  ::chmod((dir + "/reward-set.txt").c_str(), 0644);
  ::chmod((dir + "/relay.toml").c_str(), 0644);
  return dir + "/relay.toml";
}

// proc_status: a line's value from /proc/PID/status ("" if none), e.g. "Uid", "CapEff".
inline std::string proc_status(pid_t pid, const std::string& key) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(st, line);)
    if (line.rfind(key + ":", 0) == 0) return line.substr(line.find_first_not_of(" \t", key.size() + 1));
  return "";
}
// unprivileged: every uid of the process is `uid` and it holds no capability.
inline void expect_unprivileged(pid_t pid, uid_t uid, const char* who) {
  const std::string u = std::to_string(uid);
  EXPECT_EQ(proc_status(pid, "Uid"), u + "\t" + u + "\t" + u + "\t" + u) << who;
  EXPECT_EQ(proc_status(pid, "CapEff"), "0000000000000000") << who;
  EXPECT_EQ(proc_status(pid, "CapPrm"), "0000000000000000") << who;
  EXPECT_EQ(proc_status(pid, "NoNewPrivs"), "1") << who;
}

struct RelayRun {
  std::string dir, shm;
  std::uint16_t http_port = 0;
  std::uint16_t port = 0;
  pid_t dp_pid = 0;  // from the last READY line

  // args: extra arguments after `run` (the p2p bind, data dir, shm and stats interval
  // are set here unless given; without a --config, one holding kTestFrontierToml is).
  // `netns`: run it inside this network namespace (`ip netns` name; "": here).
  // `keep_log`: its stderr goes to a file (log()) instead of the test's.
  explicit RelayRun(std::vector<std::string> args, std::string bind = "127.0.0.1:0", std::string netns = "",
                    bool keep_log = false) {
    char tmpl[] = "/tmp/stacks-relay-it-XXXXXX";
    dir = ::mkdtemp(tmpl);
    ::chmod(dir.c_str(), 0711);  // the relay drops root to `nobody`: its data dir below must be reachable
    shm = "/dev/shm/stacks-relay-test-" + dir.substr(dir.rfind('-') + 1);
    std::vector<std::string> argv = {RELAY_CLI_BIN, "run", "--p2p-bind", bind, "--shm", shm, "--stats-interval", "0"};
    if (std::find(args.begin(), args.end(), "--data-dir") == args.end()) {  // else the caller's (kept across runs)
      argv.push_back("--data-dir");
      argv.push_back(dir + "/data");
    }
    argv.insert(argv.end(), args.begin(), args.end());
    if (std::find(args.begin(), args.end(), "--config") == args.end()) {
      const std::string cfg = dir + "/test-relay.toml";
      FILE* f = std::fopen(cfg.c_str(), "w");
      EXPECT_NE(f, nullptr);
      if (f != nullptr) {
        std::fputs(kTestFrontierToml, f);
        std::fclose(f);
      }
      argv.push_back("--config");
      argv.push_back(cfg);
    }
    launch::ChildOptions o;
    o.argv = std::move(argv);
    o.netns = std::move(netns);
    if (keep_log) o.stderr_file = dir + "/relay.log";
    EXPECT_TRUE(child_.start(o));
    wait_ready(15000);
  }
  RelayRun(const RelayRun&) = delete;
  RelayRun& operator=(const RelayRun&) = delete;
  ~RelayRun() {
    if (child_.running()) {  // a failed assertion left it running: take the children down too
      for (pid_t c : {dataplane_pid(), control_pid()})
        if (c > 0) ::kill(c, SIGKILL);
      child_.kill();
      ::unlink(shm.c_str());
    }
    (void)std::system(("rm -rf " + dir).c_str());
  }

  // log: what the relay wrote to stderr so far (with keep_log).
  std::string log() const {
    std::ifstream f(dir + "/relay.log");
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  // read_line: one line of the relay's stdout within `ms` ("" on timeout or EOF).
  std::string read_line(int ms) {
    return child_.read_line(std::chrono::steady_clock::now() + std::chrono::milliseconds(ms)).value_or("");
  }
  // wait_ready: the next "READY <port> <pid>" from a (re)started dataplane. The control
  // process's "HTTP <port>" line (when the endpoint is on) may come before it.
  bool wait_ready(int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string line = read_line(ms);
      if (auto h = launch::parse_http_line(line)) {
        http_port = *h;
        continue;
      }
      auto ready = launch::parse_ready_line(line);
      if (!ready) return false;
      port = ready->port;
      dp_pid = ready->pid;
      return true;
    }
    return false;
  }
  // wait_http: the port of the HTTP endpoint, once the control process reported it.
  std::uint16_t wait_http(int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (http_port == 0 && std::chrono::steady_clock::now() < deadline)
      if (auto h = launch::parse_http_line(read_line(100))) http_port = *h;
    return http_port;
  }

  // The shared region, mapped on first use (the supervisor created it before READY).
  const link::Link* link() {
    if (!region_.data()) {
      auto r = shm::Region::open(shm);
      if (!r.ok()) return nullptr;
      region_ = std::move(*r);
      auto l = link::link_join(region_.data(), region_.size());
      if (!l.ok()) return nullptr;
      link_ = *l;
    }
    return &link_;
  }
  pid_t dataplane_pid() { return link() ? static_cast<pid_t>(link()->dp_cnc->pid.load()) : 0; }
  pid_t control_pid() { return link() ? static_cast<pid_t>(link()->ctl_cnc->pid.load()) : 0; }
  const link::DpCounters& counters() { return *link()->counters; }
  // wait_control: the control process is up and beating, with a pid other than `not_pid`.
  pid_t wait_control(pid_t not_pid = 0, int ms = 15000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      pid_t p = control_pid();
      if (p > 0 && p != not_pid && !shm::cnc_stale(*link()->ctl_cnc, shm::monotonic_ns(), 1'000'000'000ull)) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 0;
  }

  // exit_status: the supervisor's exit status, for a relay that stopped on its own (e.g.
  // a refused configuration); SIGTERM first if it is still running.
  int exit_status() { return child_.terminate(); }

  // kill_all: the relay taken down at once, like a machine that dies: SIGKILL to the
  // supervisor and both processes (the shared region is removed here).
  void kill_all() {
    const pid_t d = dataplane_pid(), c = control_pid();
    child_.kill();
    for (const pid_t p : {d, c})
      if (p > 0) ::kill(p, SIGKILL);
    ::unlink(shm.c_str());
  }

  // stop: SIGTERM; the supervisor's exit status (both children must be gone).
  int stop() {
    // A child that has not reached the region yet has no pid there (0), and kill(0, 0)
    // would ask about our whole process group: its own pid comes once it is up.
    if (control_pid() == 0) wait_control(0, 5000);
    pid_t d = dataplane_pid(), c = control_pid();
    const int status = child_.terminate();
    EXPECT_GT(d, 0);
    EXPECT_GT(c, 0);
    if (d > 0) {
      EXPECT_NE(::kill(d, 0), 0) << "the dataplane outlived the supervisor";
    }
    if (c > 0) {
      EXPECT_NE(::kill(c, 0), 0) << "the control process outlived the supervisor";
    }
    EXPECT_NE(::access(shm.c_str(), F_OK), 0) << "the shared region was not removed";
    return status;
  }

 private:
  launch::Child child_;  // the supervisor
  shm::Region region_;
  link::Link link_;
};

}  // namespace relay::test
