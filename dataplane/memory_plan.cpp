#include "dataplane/memory_plan.hpp"

#include "relay/codec/limits.hpp"

namespace relay::dp {

MemoryPlan MemoryPlan::relay() {
  MemoryPlan p;
  p.send = {{4096, 4096},                // 16 MiB of 4 KiB slots: transactions and small messages
            {64 * 1024, 256},            // 16 MiB of 64 KiB slots
            {2 * 1024 * 1024, 16},       // 32 MiB of 2 MiB slots: blocks
            {kLargestForward, 2}};       // 32 MiB of 16 MiB slots: the largest messages a node accepts
  p.rx_own_bytes = 64 * 1024;            // reserved per session at start-up
  p.rx = {{256 * 1024, 32}, {2 * 1024 * 1024, 16}, {codec::kMaxMessageLen, 1}};  // 8 + 32 + 16 MiB
  return p;
}

MemoryPlan MemoryPlan::small() {
  MemoryPlan p;
  p.send = {{4096, 256}, {64 * 1024, 16}, {2 * 1024 * 1024, 2}};
  p.rx_own_bytes = 64 * 1024;
  p.rx = {{256 * 1024, 16}, {2 * 1024 * 1024, 4}, {codec::kMaxMessageLen, 1}};
  return p;
}

namespace {
std::size_t total(const std::vector<BufPool::Class>& cs) noexcept {
  std::size_t n = 0;
  for (const auto& c : cs) n += std::size_t{c.slot_bytes} * c.count;
  return n;
}
}  // namespace

std::size_t MemoryPlan::send_bytes() const noexcept { return total(send); }
std::size_t MemoryPlan::rx_bytes() const noexcept { return total(rx); }

}  // namespace relay::dp
