#include "control/cli/supervisor.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "relay/link/link.hpp"
#include "relay/shm/region.hpp"

namespace relay::cli {

using config::CommonArgs;
using config::common_argv;
using config::load_config;
using config::load_identity_key;
using config::log_line;
using config::shm_path;

namespace {

std::atomic<int> g_signal{0};
void on_signal(int s) { g_signal.store(s); }

std::uint64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000u;
}

pid_t spawn(const ChildSpec& c) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  std::vector<char*> argv;
  for (const auto& a : c.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  ::execv(argv[0], argv.data());
  std::fprintf(stderr, "stacks-relay: cannot start %s: %s\n", c.argv[0].c_str(), std::strerror(errno));
  ::_exit(127);
}

}  // namespace

std::string sibling_path(const std::string& name) {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return name;
  std::string self(buf, static_cast<std::size_t>(n));
  return self.substr(0, self.rfind('/') + 1) + name;
}

int run_supervisor(const std::vector<ChildSpec>& children) {
  struct State {
    pid_t pid = -1;
    std::uint64_t restart_at_ms = 0;
    std::uint64_t backoff_ms = 500;
    std::uint64_t started_ms = 0;
  };
  std::vector<State> st(children.size());
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  bool give_up = false;
  while (g_signal.load() == 0 && !give_up) {
    std::uint64_t now = now_ms();
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (st[i].pid > 0 || now < st[i].restart_at_ms) continue;
      st[i].pid = spawn(children[i]);
      st[i].started_ms = now;
      std::fprintf(stderr, "stacks-relay: started %s (pid %d)\n", children[i].name.c_str(), st[i].pid);
    }
    // Watchdog: alive but not beating (a hung loop) is treated like a crash.
    for (std::size_t i = 0; i < children.size(); ++i) {
      const shm::Cnc* c = children[i].cnc;
      if (st[i].pid <= 0 || c == nullptr || now - st[i].started_ms < kStallTimeoutMs) continue;
      if (c->pid.load(std::memory_order_relaxed) != static_cast<std::uint32_t>(st[i].pid)) continue;  // not up yet
      if (c->state.load(std::memory_order_relaxed) != static_cast<std::uint32_t>(shm::CncState::kRun)) continue;
      if (!shm::cnc_stale(*c, shm::monotonic_ns(), std::uint64_t{kStallTimeoutMs} * 1000000u)) continue;
      std::fprintf(stderr, "stacks-relay: %s (pid %d) stopped beating its heartbeat; killing it\n",
                   children[i].name.c_str(), st[i].pid);
      ::kill(st[i].pid, SIGKILL);
    }
    int status = 0;
    pid_t dead = ::waitpid(-1, &status, WNOHANG);
    if (dead <= 0) {
      ::usleep(50 * 1000);
      continue;
    }
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (st[i].pid != dead) continue;
      st[i].pid = -1;
      // Exit status 2 is a configuration problem (bad file, unreadable key, no region):
      // restarting cannot fix it, so everything stops and the operator sees why.
      if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
        std::fprintf(stderr, "stacks-relay: %s refused its configuration; stopping\n", children[i].name.c_str());
        give_up = true;
        continue;
      }
      // Back off when it dies right after starting (a crash loop); reset after a good run.
      if (now_ms() - st[i].started_ms > 30000) st[i].backoff_ms = 500;
      st[i].restart_at_ms = now_ms() + st[i].backoff_ms;
      std::fprintf(stderr, "stacks-relay: %s (pid %d) %s %d; restarting in %llu ms\n", children[i].name.c_str(), dead,
                   WIFSIGNALED(status) ? "killed by signal" : "exited with", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                   static_cast<unsigned long long>(st[i].backoff_ms));
      st[i].backoff_ms = std::min<std::uint64_t>(st[i].backoff_ms * 2, 30000);
    }
  }

  // Stop: SIGTERM to every child, then SIGKILL after 10 s.
  for (auto& s : st)
    if (s.pid > 0) ::kill(s.pid, SIGTERM);
  std::uint64_t deadline = now_ms() + 10000;
  for (auto& s : st) {
    while (s.pid > 0) {
      int status = 0;
      pid_t r = ::waitpid(s.pid, &status, WNOHANG);
      if (r == s.pid || (r < 0 && errno == ECHILD)) {
        s.pid = -1;
        break;
      }
      if (now_ms() > deadline) ::kill(s.pid, SIGKILL);
      ::usleep(20 * 1000);
    }
  }
  std::fprintf(stderr, "stacks-relay: stopped\n");
  return give_up ? 2 : 0;
}

namespace {

// cpus_problem: why p2p.cpus cannot be honoured here ("" when it can): every CPU must be
// one this process may run on (its affinity mask, which the dataplane inherits).
std::string cpus_problem(const std::vector<std::uint32_t>& cpus) {
  if (cpus.empty()) return "";
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return std::string("cannot read this process's CPUs: ") + std::strerror(errno);
  std::string allowed;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) allowed += (allowed.empty() ? "" : ",") + std::to_string(c);
  for (std::uint32_t c : cpus)
    if (c >= CPU_SETSIZE || !CPU_ISSET(c, &set))
      return "p2p.cpus: CPU " + std::to_string(c) + " is not one this relay may run on (it may use " + allowed + ")";
  return "";
}

// prepare_region: check the configuration, make sure the identity key exists (made here,
// once, so the two processes only ever read it), and create a fresh shared region.
std::optional<shm::Region> prepare_region(const CommonArgs& args, const char* prog, std::string& path, int& rc) {
  std::string err;
  auto cfg = load_config(args, err);
  rc = 2;
  if (!cfg) {
    log_line(prog, "configuration: %s", err.c_str());
    return std::nullopt;
  }
  if (const std::string why = cpus_problem(cfg->dataplane_cpus); !why.empty()) {
    log_line(prog, "configuration: %s", why.c_str());
    return std::nullopt;
  }
  // The data directory, before anything needs it (the block store and the peer table are
  // opened in it; an identity key kept elsewhere does not make it).
  if (!config::make_dirs(cfg->data_dir)) {
    log_line(prog, "the data directory %s: cannot create it: %s", cfg->data_dir.c_str(), std::strerror(errno));
    return std::nullopt;
  }
  if (!load_identity_key(cfg->identity_key_path(), true, err)) {
    log_line(prog, "%s", err.c_str());
    return std::nullopt;
  }
  path = shm_path(args, *cfg);
  const auto params = link::default_params();
  (void)shm::Region::remove(path);  // left by a previous run that was killed
  auto region = shm::Region::create(path, link::link_footprint(params));
  rc = 1;
  if (!region.ok()) {
    log_line(prog, "cannot create the shared region %s (%zu MiB): %s (%s)", path.c_str(),
             link::link_footprint(params) >> 20, region.error().reason, std::strerror(shm::Region::last_errno()));
    return std::nullopt;
  }
  if (auto s = link::link_format(region->data(), region->size(), params); !s.ok()) {
    log_line(prog, "shared region %s: %s", path.c_str(), s.error().reason);
    return std::nullopt;
  }
  rc = 0;
  return std::move(*region);
}

}  // namespace

int cmd_shm(const CommonArgs& args, bool create) {
  constexpr const char* kProg = "stacks-relay shm";
  std::string path;
  int rc = 0;
  if (create) {
    auto region = prepare_region(args, kProg, path, rc);
    if (region) log_line(kProg, "created %s (%zu MiB)", path.c_str(), region->size() >> 20);
    return rc;
  }
  std::string err;
  auto cfg = load_config(args, err);
  if (!cfg) {
    log_line(kProg, "configuration: %s", err.c_str());
    return 2;
  }
  path = shm_path(args, *cfg);
  if (auto s = shm::Region::remove(path); !s.ok() && errno != ENOENT) {
    log_line(kProg, "cannot remove %s: %s", path.c_str(), std::strerror(errno));
    return 1;
  }
  return 0;
}

int cmd_run(const CommonArgs& args) {
  std::string path;
  int rc = 0;
  auto region = prepare_region(args, "stacks-relay", path, rc);
  if (!region) return rc;
  auto lk = link::link_join(region->data(), region->size());
  CommonArgs child_args = args;
  child_args.shm = path;
  const auto rest = common_argv(child_args);
  ChildSpec dp{"stacks-relay-dataplane", {sibling_path("stacks-relay-dataplane")}, lk->dp_cnc};
  ChildSpec ctl{"stacks-relay-control", {sibling_path("stacks-relay-control")}, lk->ctl_cnc};
  dp.argv.insert(dp.argv.end(), rest.begin(), rest.end());
  ctl.argv.insert(ctl.argv.end(), rest.begin(), rest.end());
  rc = run_supervisor({dp, ctl});
  (void)shm::Region::remove(path);
  return rc;
}

int cmd_status(const CommonArgs& args, bool watch) {
  constexpr const char* kProg = "stacks-relay status";
  std::string err;
  auto cfg = load_config(args, err);
  if (!cfg) {
    log_line(kProg, "configuration: %s", err.c_str());
    return 2;
  }
  const std::string path = shm_path(args, *cfg);
  auto region = shm::Region::open(path);
  if (!region.ok()) {
    log_line(kProg, "no running relay: cannot open %s (%s)", path.c_str(), std::strerror(shm::Region::last_errno()));
    return 1;
  }
  auto lk = link::link_join(region->data(), region->size());
  if (!lk.ok()) {
    log_line(kProg, "%s: %s", path.c_str(), lk.error().reason);
    return 1;
  }
  const auto* c = lk->counters;
  do {
    const std::uint64_t now = shm::monotonic_ns();
    std::printf("dataplane %s (%s), control %s, p2p port %llu, sessions %llu (authenticated %llu), "
                "dataplane heap allocated %llu B\n",
                shm::cnc_stale(*lk->dp_cnc, now, 5'000'000'000ull) ? "NOT BEATING" : "running",
                c->backend.load() == static_cast<std::uint64_t>(link::Backend::kDpdk) ? "DPDK" : "io_uring",
                shm::cnc_stale(*lk->ctl_cnc, now, 5'000'000'000ull) ? "NOT BEATING" : "running",
                static_cast<unsigned long long>(c->p2p_port.load()),
                static_cast<unsigned long long>(c->sessions_live.load()),
                static_cast<unsigned long long>(c->sessions_auth_live.load()),
                static_cast<unsigned long long>(c->heap_allocated.load()));
    // The onion service's address, as the control process last published it.
    if (std::ifstream f(cfg->data_dir + "/onion_address"); f) {
      std::string onion;
      std::getline(f, onion);
      if (!onion.empty())
        std::printf("onion service %s:%llu (Tor connects to 127.0.0.1:%llu)\n", onion.c_str(),
                    static_cast<unsigned long long>(c->p2p_port.load()), static_cast<unsigned long long>(c->onion_port.load()));
    }
    if (std::ifstream f(cfg->data_dir + "/i2p_address"); f) {
      std::string b32;
      std::getline(f, b32);
      if (!b32.empty()) std::printf("I2P destination %s:0\n", b32.c_str());
    }
    bool mptcp = cfg->outbound.mptcp || c->mptcp_sessions.load() != 0 || c->mptcp_fallbacks.load() != 0;
    for (const auto& p : cfg->peers) mptcp |= p.mptcp.value_or(false);
    if (mptcp)
      std::printf("MPTCP: %llu sessions (%llu subflows), %llu fallbacks to plain TCP, %llu subflows opened or closed\n",
                  static_cast<unsigned long long>(c->mptcp_sessions.load()),
                  static_cast<unsigned long long>(c->mptcp_subflows.load()),
                  static_cast<unsigned long long>(c->mptcp_fallbacks.load()),
                  static_cast<unsigned long long>(c->mptcp_subflow_changes.load()));
#define RELAY_X(name, help) \
  std::printf("  %-24s %14llu  %s\n", #name, static_cast<unsigned long long>(c->name.load()), help);
    RELAY_DP_COUNTERS(RELAY_X)
#undef RELAY_X
    if (c->backend.load() == static_cast<std::uint64_t>(link::Backend::kDpdk)) {
      std::printf("DPDK port (kernel bypass):\n");
#define RELAY_X(name, kind, help) \
  std::printf("  %-24s %14llu  %s\n", #name, static_cast<unsigned long long>(c->port.name.load()), help);
      RELAY_PORT_COUNTERS(RELAY_X)
#undef RELAY_X
    }
    auto us = [&](double q) {
      const std::uint64_t v = link::latency_quantile_us(*c, q);
      return v == UINT64_MAX ? std::string("> 1 s") : "≤ " + std::to_string(v) + " µs";
    };
    std::printf("  relay latency (receive reaped → copies queued): p50 %s, p99 %s, p99.9 %s\n", us(0.5).c_str(),
                us(0.99).c_str(), us(0.999).c_str());
    const struct {
      const char* name;
      const void* mem;
      std::size_t sz;
    } rings[] = {{"dp→ctl", lk->dp_to_ctl, lk->dp_to_ctl_sz}, {"ctl→dp", lk->ctl_to_dp, lk->ctl_to_dp_sz}};
    for (const auto& [name, mem, sz] : rings)
      if (auto o = shm::ring_occupancy(mem, sz))
        std::printf("  ring %s: %llu of %llu fragments, %llu of %llu bytes\n", name, static_cast<unsigned long long>(o->frags),
                    static_cast<unsigned long long>(o->depth), static_cast<unsigned long long>(o->bytes),
                    static_cast<unsigned long long>(o->arena_sz));
    std::fflush(stdout);
    if (watch) ::sleep(static_cast<unsigned>(args.stats_interval_s > 0 ? args.stats_interval_s : 10));
  } while (watch && g_signal.load() == 0);
  return 0;
}

}  // namespace relay::cli
