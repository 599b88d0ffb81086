// tests/support/launch/relay_child.hpp — a program (in practice `stacks-relay run`) as a child process
// of the integration tests and of the benchmark suite: forked, moved into a network
// namespace if asked, its stdout on a pipe read line by line against a deadline, its
// stderr into a file if asked, stopped with SIGTERM or SIGKILL and reaped. Only tests and
// bench link it (library relay_launch); the relay's own programs never do.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace relay::launch {

// enter_netns: move the calling thread into the network namespace `ip netns` knows as
// `name` (/var/run/netns/NAME). False when it cannot (no such namespace, no privilege).
bool enter_netns(const std::string& name);

struct ChildOptions {
  std::vector<std::string> argv;  // argv[0] is the program's path (no PATH search)
  std::string netns;              // run it inside this named network namespace ("": here)
  std::string stderr_file;        // its stderr into this file, truncated ("": ours)
};

// A running child. Exit status 126: it could not enter the namespace; 127: exec failed.
class Child {
 public:
  Child() = default;
  ~Child();  // a child still running is killed (SIGKILL) and reaped
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // start: fork and exec; false when the pipe or the fork failed (nothing started).
  bool start(const ChildOptions& o);
  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0; }
  // read_line: the next line the child wrote to stdout, without its newline; nullopt at
  // `deadline` or at end of file. A line not yet complete is kept for the next call.
  std::optional<std::string> read_line(std::chrono::steady_clock::time_point deadline);
  // terminate: SIGTERM, then wait for it; its exit status, or 128 + the signal that
  // ended it (0 when not running).
  int terminate();
  // kill: SIGKILL, then reap it (nothing when not running).
  void kill();
  // ended: the child has exited on its own (reaped now, without waiting): its exit
  // status, or 128 + the signal that ended it; nullopt while it runs (or was never
  // started, or was already reaped).
  std::optional<int> ended();

 private:
  int wait();
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;  // read from the pipe, not yet returned
};

// The lines `stacks-relay run` prints on stdout: "READY <port> <pid>" from each
// (re)started dataplane, "HTTP <port>" from the control process's HTTP endpoint.
struct ReadyLine {
  std::uint16_t port = 0;
  pid_t pid = 0;
};
std::optional<ReadyLine> parse_ready_line(const std::string& line);
std::optional<std::uint16_t> parse_http_line(const std::string& line);

}  // namespace relay::launch
