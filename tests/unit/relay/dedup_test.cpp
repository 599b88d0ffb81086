#include <gtest/gtest.h>

#include <deque>
#include <set>

#include "relay/dedup/tag_cache.hpp"

namespace relay {
namespace {

ByteArray<32> id(std::uint64_t n) {
  ByteArray<32> a{};
  for (int i = 0; i < 8; ++i) a[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  a[31] = 0x5a;
  return a;
}

TEST(TagCache, InsertThenDuplicate) {
  dedup::TagCache c(4, 1234);
  EXPECT_TRUE(c.insert(id(1)));
  EXPECT_FALSE(c.insert(id(1)));
  EXPECT_TRUE(c.contains(id(1)));
  EXPECT_FALSE(c.contains(id(2)));
  EXPECT_EQ(c.size(), 1u);
}

TEST(TagCache, EvictsOldestFirst) {
  dedup::TagCache c(3, 7);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(c.insert(id(static_cast<std::uint64_t>(i))));
  EXPECT_TRUE(c.insert(id(3)));  // evicts 0
  EXPECT_FALSE(c.contains(id(0)));
  EXPECT_TRUE(c.contains(id(1)));
  EXPECT_TRUE(c.contains(id(2)));
  EXPECT_TRUE(c.contains(id(3)));
  EXPECT_EQ(c.size(), 3u);
  EXPECT_TRUE(c.insert(id(0)));  // it was forgotten, so it is new again; evicts 1
  EXPECT_FALSE(c.contains(id(1)));
}

// Long churn against a reference model: exactly the last `depth` distinct ids are
// remembered, whatever the probe chains look like after many backward-shift deletions.
TEST(TagCache, ChurnMatchesModel) {
  constexpr std::size_t kDepth = 97;
  dedup::TagCache c(kDepth, 99);
  std::deque<std::uint64_t> model;
  std::set<std::uint64_t> in_model;
  std::uint64_t x = 88172645463325252ull;
  for (int step = 0; step < 200000; ++step) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::uint64_t v = x % 400;  // small universe → many duplicates and re-inserts
    bool fresh = c.insert(id(v));
    EXPECT_EQ(fresh, !in_model.count(v)) << "step " << step;
    if (fresh) {
      model.push_back(v);
      in_model.insert(v);
      if (model.size() > kDepth) {
        in_model.erase(model.front());
        model.pop_front();
      }
    }
    if (step % 1000 == 0) {
      for (std::uint64_t u = 0; u < 400; ++u) ASSERT_EQ(c.contains(id(u)), in_model.count(u) == 1) << u;
    }
  }
  EXPECT_EQ(c.size(), kDepth);
}

TEST(TagCache, FootprintIsFixed) {
  EXPECT_EQ(dedup::TagCache::footprint(0), 0u);
  EXPECT_EQ(dedup::TagCache::footprint(1000), (1000 + 2048) * 8u);
}

}  // namespace
}  // namespace relay
