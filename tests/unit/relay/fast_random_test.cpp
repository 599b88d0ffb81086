// crypto::FastRandom / thread_random: the published xoshiro256** outputs, seeds that
// differ give streams that differ, and every thread draws its own stream.
#include "relay/crypto/fast_random.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace relay::crypto {
namespace {

TEST(FastRandom, MatchesTheReferenceOutputs) {
  FastRandom g({1, 2, 3, 4});
  EXPECT_EQ(g.next(), 11520u);
  EXPECT_EQ(g.next(), 0u);
  EXPECT_EQ(g.next(), 1509978240u);
  EXPECT_EQ(g.next(), 1215971899390074240u);
}

TEST(FastRandom, AZeroSeedStillDraws) {
  FastRandom g({0, 0, 0, 0});
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(g.next());
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(FastRandom, EachThreadDrawsItsOwnStream) {
  constexpr int kThreads = 4, kDraws = 2000;
  std::vector<std::vector<std::uint64_t>> got(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kDraws; ++i) got[static_cast<std::size_t>(t)].push_back(thread_random());
    });
  for (auto& t : ts) t.join();
  std::set<std::uint64_t> all;
  for (const auto& v : got) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), std::size_t{kThreads} * kDraws);  // 64-bit draws: no repeats, no shared stream
  // Seqs are the top 32 bits: they spread over the range.
  std::uint32_t lo = UINT32_MAX, hi = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t s = thread_random_u32();
    lo = std::min(lo, s);
    hi = std::max(hi, s);
  }
  EXPECT_LT(lo, 1u << 26);
  EXPECT_GT(hi, UINT32_MAX - (1u << 26));
}

}  // namespace
}  // namespace relay::crypto
