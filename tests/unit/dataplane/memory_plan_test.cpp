// MemoryPlan: the relay's pools hold every message a node may send or accept, and the
// sizes the operator docs quote are the ones the dataplane takes.
#include "dataplane/memory_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "relay/codec/limits.hpp"
#include "relay/codec/message.hpp"

namespace relay::dp {
namespace {

std::uint32_t largest(const std::vector<BufPool::Class>& cs) {
  std::uint32_t m = 0;
  for (const auto& c : cs) m = std::max(m, c.slot_bytes);
  return m;
}

TEST(MemoryPlan, TheRelaysPoolsHoldTheLargestMessages) {
  const MemoryPlan p = MemoryPlan::relay();
  // Our forward of the largest message a node accepts: our preamble, one more relayer.
  EXPECT_GE(largest(p.send), codec::kPreambleSize + codec::kMaxMessageLen + codec::kRelayDataSize);
  EXPECT_GE(largest(p.rx), codec::kMaxMessageLen);
  EXPECT_EQ(p.send_bytes() >> 20, 96u);  // dataplane/README.md quotes these
  EXPECT_EQ(p.rx_bytes() >> 20, 56u);
  for (const auto* cs : {&p.send, &p.rx})
    EXPECT_TRUE(std::is_sorted(cs->begin(), cs->end(), [](auto a, auto b) { return a.slot_bytes < b.slot_bytes; }));
}

TEST(MemoryPlan, TheSmallPlanStaysSmall) {
  const MemoryPlan p = MemoryPlan::small();
  EXPECT_LT(p.send_bytes(), std::size_t{8} << 20);
  EXPECT_GE(largest(p.rx), codec::kMaxMessageLen);  // any message can still be received
}

}  // namespace
}  // namespace relay::dp
