#include "tests/support/launch/relay_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace relay::launch {

namespace {

bool enter_netns_at(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::setns(fd, CLONE_NEWNET) == 0;
  ::close(fd);
  return ok;
}

std::string netns_path(const std::string& name) { return "/var/run/netns/" + name; }

}  // namespace

bool enter_netns(const std::string& name) { return enter_netns_at(netns_path(name).c_str()); }

bool Child::start(const ChildOptions& o) {
  if (running() || o.argv.empty()) return false;
  // Everything the child needs is made here: after fork it only makes system calls.
  std::vector<std::string> args = o.argv;
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  const std::string ns = o.netns.empty() ? std::string() : netns_path(o.netns);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return false;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(p[0]);
    ::close(p[1]);
    return false;
  }
  if (pid == 0) {
    if (!ns.empty() && !enter_netns_at(ns.c_str())) ::_exit(126);
    ::dup2(p[1], 1);  // the copy on 1 stays open across exec; the pipe's own ends do not
    if (!o.stderr_file.empty()) {
      const int fd = ::open(o.stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
      if (fd >= 0) ::dup2(fd, 2);
    }
    ::execv(av[0], av.data());
    ::_exit(127);
  }
  ::close(p[1]);
  pid_ = pid;
  out_ = p[0];
  buf_.clear();
  return true;
}

std::optional<std::string> Child::read_line(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    if (out_ < 0) return std::nullopt;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd pf{out_, POLLIN, 0};
    const int n = ::poll(&pf, 1, static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), 50)));
    if (n < 0 && errno != EINTR) return std::nullopt;
    if (n <= 0) continue;
    char chunk[4096];
    const ssize_t got = ::read(out_, chunk, sizeof chunk);
    if (got <= 0) return std::nullopt;  // end of file (or an error): no more lines
    buf_.append(chunk, static_cast<std::size_t>(got));
  }
}

int Child::wait() {
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int Child::terminate() {
  if (!running()) return 0;
  ::kill(pid_, SIGTERM);
  return wait();
}

std::optional<int> Child::ended() {
  if (!running()) return std::nullopt;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void Child::kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  (void)wait();
}

Child::~Child() {
  kill();
  if (out_ >= 0) ::close(out_);
}

std::optional<ReadyLine> parse_ready_line(const std::string& line) {
  unsigned port = 0;
  int pid = 0;
  if (std::sscanf(line.c_str(), "READY %u %d", &port, &pid) != 2) return std::nullopt;
  return ReadyLine{static_cast<std::uint16_t>(port), static_cast<pid_t>(pid)};
}

std::optional<std::uint16_t> parse_http_line(const std::string& line) {
  unsigned port = 0;
  if (std::sscanf(line.c_str(), "HTTP %u", &port) != 1) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

}  // namespace relay::launch
