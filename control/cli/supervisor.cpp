#include "control/cli/supervisor.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace relay::cli {

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

  while (g_signal.load() == 0) {
    std::uint64_t now = now_ms();
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (st[i].pid > 0 || now < st[i].restart_at_ms) continue;
      st[i].pid = spawn(children[i]);
      st[i].started_ms = now;
      std::fprintf(stderr, "stacks-relay: started %s (pid %d)\n", children[i].name.c_str(), st[i].pid);
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
  return 0;
}

}  // namespace relay::cli
