#include "dataplane/sandbox.hpp"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <vector>

namespace relay::dp {

namespace {

#if defined(__x86_64__)
constexpr std::uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
#error "the dataplane's syscall filter knows x86-64 and aarch64"
#endif

// What the dataplane calls once running.
constexpr long kAllowed[] = {
    // the loop: io_uring, sockets it makes for dials and tunes, logging
    SYS_io_uring_enter, SYS_io_uring_register, SYS_socket, SYS_setsockopt, SYS_getsockopt, SYS_bind, SYS_connect,
    SYS_getsockname, SYS_getpeername, SYS_shutdown, SYS_close, SYS_read, SYS_write, SYS_writev, SYS_fcntl,
    SYS_newfstatat, SYS_fstat, SYS_lseek,
    // memory (jemalloc, glibc)
    SYS_mmap, SYS_munmap, SYS_mremap, SYS_mprotect, SYS_madvise, SYS_brk,
    // threads, time, randomness, identity
    SYS_futex, SYS_sched_yield, SYS_nanosleep, SYS_clock_nanosleep, SYS_clock_gettime, SYS_gettimeofday,
    SYS_getrandom, SYS_getpid, SYS_gettid, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid, SYS_sched_getaffinity,
    SYS_rseq, SYS_set_robust_list,
    // signals and leaving
    SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_sigaltstack, SYS_tgkill, SYS_restart_syscall,
    SYS_exit, SYS_exit_group,
};

// What a DPDK port adds (FilterFor::kDpdk).
constexpr long kAllowedDpdk[] = {SYS_sendto, SYS_recvfrom, SYS_recvmsg, SYS_readv, SYS_poll, SYS_ppoll,
                                 SYS_epoll_wait, SYS_epoll_pwait};

}  // namespace

Status install_syscall_filter(FilterFor backend) noexcept {
  std::vector<sock_filter> prog;
  prog.reserve(8 + (std::size(kAllowed) + std::size(kAllowedDpdk)) * 2);
  // The architecture first (a call number means nothing under another ABI), then the
  // x32 numbers (bit 30) refused, then one comparison per allowed call.
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0));
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  prog.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  auto allow = [&](long nr) {
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), 0, 1));
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  };
  for (long nr : kAllowed) allow(nr);
  if (backend == FilterFor::kDpdk)
    for (long nr : kAllowedDpdk) allow(nr);
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(prog.size());
  fprog.filter = prog.data();
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return make_error(Errc::kIo, "cannot set no_new_privs", static_cast<std::uint32_t>(errno));
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog) != 0)
    return make_error(Errc::kIo, "cannot install the system-call filter (seccomp)", static_cast<std::uint32_t>(errno));
  return Ok{};
}

}  // namespace relay::dp
