// dataplane/sandbox.hpp — the dataplane's system-call filter (seccomp-BPF), installed once
// it is set up and unprivileged: from then on only the calls its loop, its second
// thread, the allocator and logging make are allowed, and any other kills the process
// (SIGSYS; the supervisor restarts it), so a bug in a parser of peers' bytes cannot open
// files, execute programs or reach anything else of the machine through a system call.
//
// The list was taken from strace of the dataplane relaying (transactions, blocks,
// dials, large bodies, stopping) and is checked by the whole test suite, which runs the
// dataplane under it. io_uring's operations themselves are not system calls and are not
// filtered: the ring is set up before the filter with the operations the transport uses.
#pragma once

#include "relay/base/result.hpp"

namespace relay::dp {

// Sanitizer builds (ASan, TSan) leave the filter off: their runtimes make calls of their
// own at any time (the leak check at exit stops the world with clone and ptrace).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSyscallFilterInThisBuild = false;
#else
inline constexpr bool kSyscallFilterInThisBuild = true;
#endif

enum class FilterFor : unsigned char { kUring, kDpdk };

// install_syscall_filter: sets no_new_privs (if not yet) and the filter, for every thread
// of the process (SECCOMP_FILTER_FLAG_TSYNC). kDpdk adds what a DPDK port's driver calls
// while running: a kick of the kernel's ring (sendto), AF_XDP's wake-ups (recvfrom,
// poll), and the EAL's interrupt thread (epoll_wait, recvmsg).
Status install_syscall_filter(FilterFor backend = FilterFor::kUring) noexcept;

}  // namespace relay::dp
