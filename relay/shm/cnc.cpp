#include "relay/shm/cnc.hpp"

#include <time.h>

#include <new>

namespace relay::shm {

Status cnc_format(void* mem, std::size_t mem_sz) noexcept {
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % kRingAlign != 0 || mem_sz < sizeof(Cnc))
    return make_error(Errc::kBadValue, "cnc memory too small or misaligned");
  auto* c = new (mem) Cnc;
  c->state.store(static_cast<std::uint32_t>(CncState::kBoot), std::memory_order_relaxed);
  c->pid.store(0, std::memory_order_relaxed);
  c->heartbeat_ns.store(0, std::memory_order_relaxed);
  c->magic.store(kCncMagic, std::memory_order_release);
  return Ok{};
}

Result<Cnc*> cnc_join(void* mem, std::size_t mem_sz) noexcept {
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % kRingAlign != 0 || mem_sz < sizeof(Cnc))
    return make_error(Errc::kBadValue, "cnc memory too small or misaligned");
  auto* c = static_cast<Cnc*>(mem);
  if (c->magic.load(std::memory_order_acquire) != kCncMagic) return make_error(Errc::kBadValue, "not a cnc (bad magic)");
  return c;
}

void cnc_beat(Cnc& c, CncState s, std::uint32_t pid, std::uint64_t now_ns) noexcept {
  c.pid.store(pid, std::memory_order_relaxed);
  c.state.store(static_cast<std::uint32_t>(s), std::memory_order_relaxed);
  c.heartbeat_ns.store(now_ns, std::memory_order_release);
}

bool cnc_stale(const Cnc& c, std::uint64_t now_ns, std::uint64_t timeout_ns) noexcept {
  std::uint64_t hb = c.heartbeat_ns.load(std::memory_order_acquire);
  return hb == 0 || (now_ns > hb && now_ns - hb > timeout_ns);
}

namespace {
std::uint64_t clock_ns(clockid_t clock) noexcept {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}
}  // namespace

std::uint64_t monotonic_ns() noexcept { return clock_ns(CLOCK_MONOTONIC); }
std::uint64_t thread_cpu_ns() noexcept { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

}  // namespace relay::shm
