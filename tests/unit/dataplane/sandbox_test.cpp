#include "dataplane/sandbox.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

namespace relay::dp {
namespace {

// run_filtered: in a child, install the filter, then `body`; how the child ended.
template <class F>
int run_filtered(F body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!install_syscall_filter().ok()) ::_exit(90);
    body();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

// Under the filter, what the dataplane does runs; anything else (opening a file,
// starting a program, forking) kills the process with SIGSYS.
TEST(Sandbox, TheDataplanesCallsRunAndOthersKill) {
  const int ok = run_filtered([] {
    void* p = std::malloc(1 << 20);  // the allocator
    std::free(p);
    const int s = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);  // a dial's socket
    if (s < 0) ::_exit(91);
    int one = 1;
    if (::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) ::_exit(92);
    ::close(s);
    if (::write(2, "", 0) != 0) ::_exit(93);
  });
  ASSERT_TRUE(WIFEXITED(ok)) << "killed by " << WTERMSIG(ok);
  EXPECT_EQ(WEXITSTATUS(ok), 0);
  for (int which = 0; which < 3; ++which) {
    const int st = run_filtered([which] {
      if (which == 0) (void)::open("/etc/hostname", O_RDONLY);
      if (which == 1) (void)::execl("/bin/true", "true", static_cast<char*>(nullptr));
      if (which == 2) (void)::fork();
    });
    ASSERT_TRUE(WIFSIGNALED(st)) << which << ": exited " << WEXITSTATUS(st);
    EXPECT_EQ(WTERMSIG(st), SIGSYS) << which;
  }
}

}  // namespace
}  // namespace relay::dp
