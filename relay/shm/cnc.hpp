// relay/shm/cnc.hpp — command-and-control word of one process in the shared region
// (after Firedancer's fd_cnc): its state, pid and a heartbeat it bumps every loop, so
// the other process and the supervisor can tell "alive" from "stalled" or "dead".
#pragma once

#include <atomic>
#include <cstdint>

#include "relay/base/result.hpp"
#include "relay/shm/frag_ring.hpp"

namespace relay::shm {

enum class CncState : std::uint32_t { kBoot = 1, kRun = 2, kHalt = 3, kFail = 4 };

struct alignas(kRingAlign) Cnc {
  std::atomic<std::uint64_t> magic;
  std::atomic<std::uint32_t> state;
  std::atomic<std::uint32_t> pid;
  std::atomic<std::uint64_t> heartbeat_ns;  // monotonic clock of the owner's last beat
};
static_assert(sizeof(Cnc) == kRingAlign);

inline constexpr std::uint64_t kCncMagic = 0x53524c59434e4330ull;  // "SRLYCNC0"

// cnc_format: initialise a Cnc in `mem` (kRingAlign-aligned, sizeof(Cnc) bytes).
Status cnc_format(void* mem, std::size_t mem_sz) noexcept;
// cnc_join: validate and return the Cnc in `mem`.
Result<Cnc*> cnc_join(void* mem, std::size_t mem_sz) noexcept;
// cnc_beat: record state and a heartbeat at `now_ns` (owner only).
void cnc_beat(Cnc& c, CncState s, std::uint32_t pid, std::uint64_t now_ns) noexcept;
// cnc_stale: whether the owner has not beaten for longer than `timeout_ns`.
bool cnc_stale(const Cnc& c, std::uint64_t now_ns, std::uint64_t timeout_ns) noexcept;
// monotonic_ns: CLOCK_MONOTONIC in nanoseconds.
std::uint64_t monotonic_ns() noexcept;
// thread_cpu_ns: the calling thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID:
// a system call, not the vDSO; time the thread was not running is not in it).
std::uint64_t thread_cpu_ns() noexcept;

}  // namespace relay::shm
