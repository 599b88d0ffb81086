// tests/support/relay_process.hpp — `stacks-relay run` as a child of the test: its own
// data directory and shared region, stdout read for the dataplane's READY lines, the
// two processes' pids and the dataplane's counters read from the shared region (as
// `stacks-relay status` does), and a clean or forced stop.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "relay/link/link.hpp"
#include "relay/shm/region.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::test {

// The [frontier] every test relay runs with unless its config says otherwise: no mainnet
// seeds (tests never reach beyond the machine), loopback peers admitted, and any number
// of them from one address.
inline constexpr const char* kTestFrontierToml =
    "[frontier]\nbootstrap = []\nprivate_neighbors = true\nmax_inbound_per_ip = 100000\n";

struct RelayRun {
  pid_t sup = -1;
  int out = -1;
  std::string dir, shm;
  std::uint16_t http_port = 0;
  std::uint16_t port = 0;
  pid_t dp_pid = 0;  // from the last READY line

  // args: extra arguments after `run` (the p2p bind, data dir, shm and stats interval
  // are set here unless given; without a --config, one holding kTestFrontierToml is).
  // `before_exec` runs in the child (e.g. enter a netns).
  explicit RelayRun(std::vector<std::string> args, std::string bind = "127.0.0.1:0",
                    std::function<bool()> before_exec = {}) {
    char tmpl[] = "/tmp/stacks-relay-it-XXXXXX";
    dir = ::mkdtemp(tmpl);
    shm = "/dev/shm/stacks-relay-test-" + dir.substr(dir.rfind('-') + 1);
    std::vector<std::string> argv = {RELAY_CLI_BIN, "run", "--p2p-bind", bind, "--data-dir", dir + "/data",
                                     "--shm", shm, "--stats-interval", "0"};
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
    int p[2];
    EXPECT_EQ(::pipe(p), 0);
    sup = ::fork();
    if (sup == 0) {
      if (before_exec && !before_exec()) ::_exit(126);
      ::dup2(p[1], 1);
      ::close(p[0]);
      std::vector<char*> av;
      for (auto& a : argv) av.push_back(a.data());
      av.push_back(nullptr);
      ::execv(av[0], av.data());
      ::_exit(127);
    }
    ::close(p[1]);
    out = p[0];
    wait_ready(15000);
  }
  RelayRun(const RelayRun&) = delete;
  RelayRun& operator=(const RelayRun&) = delete;
  ~RelayRun() {
    if (sup > 0) {  // a failed assertion left it running: take the children down too
      for (pid_t c : {dataplane_pid(), control_pid()})
        if (c > 0) ::kill(c, SIGKILL);
      ::kill(sup, SIGKILL);
      ::waitpid(sup, nullptr, 0);
      ::unlink(shm.c_str());
    }
    if (out >= 0) ::close(out);
    (void)std::system(("rm -rf " + dir).c_str());
  }

  // read_line: one line of the relay's stdout within `ms` ("" on timeout or EOF).
  std::string read_line(int ms) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd pf{out, POLLIN, 0};
      if (::poll(&pf, 1, 50) <= 0) continue;
      char c;
      if (::read(out, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    return "";
  }
  // wait_ready: the next "READY <port> <pid>" from a (re)started dataplane. The control
  // process's "HTTP <port>" line (when the endpoint is on) may come before it.
  bool wait_ready(int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string line = read_line(ms);
      unsigned p = 0;
      int pid = 0;
      if (std::sscanf(line.c_str(), "HTTP %u", &p) == 1) {
        http_port = static_cast<std::uint16_t>(p);
        continue;
      }
      if (std::sscanf(line.c_str(), "READY %u %d", &p, &pid) != 2) return false;
      port = static_cast<std::uint16_t>(p);
      dp_pid = pid;
      return true;
    }
    return false;
  }
  // wait_http: the port of the HTTP endpoint, once the control process reported it.
  std::uint16_t wait_http(int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (http_port == 0 && std::chrono::steady_clock::now() < deadline) {
      unsigned p = 0;
      if (std::sscanf(read_line(100).c_str(), "HTTP %u", &p) == 1) http_port = static_cast<std::uint16_t>(p);
    }
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

  // stop: SIGTERM; the supervisor's exit status (both children must be gone).
  int stop() {
    pid_t d = dataplane_pid(), c = control_pid();
    ::kill(sup, SIGTERM);
    int status = 0;
    ::waitpid(sup, &status, 0);
    sup = -1;
    EXPECT_NE(::kill(d, 0), 0) << "the dataplane outlived the supervisor";
    EXPECT_NE(::kill(c, 0), 0) << "the control process outlived the supervisor";
    EXPECT_NE(::access(shm.c_str(), F_OK), 0) << "the shared region was not removed";
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  shm::Region region_;
  link::Link link_;
};

}  // namespace relay::test
