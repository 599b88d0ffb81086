// Signer sets fetched from trusted nodes' RPC: the node's JSON parsed strictly, the
// current and previous cycles fetched, a new cycle picked up at its boundary without
// refetching what is known, a dead node skipped, and the cache read back after a restart.
#include "control/rewards/reward_fetcher.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/support/fake_node_rpc.hpp"

namespace relay::rewards {
namespace {

Signers signers(std::uint8_t tag, std::size_t n) {
  Signers s;
  for (std::size_t i = 0; i < n; ++i)
    s.push_back({crypto::SecretKey::from_bytes(Bytes(32, static_cast<std::uint8_t>(tag + i)))->public_key().compressed(),
                 static_cast<std::uint32_t>(i + 1)});
  return s;
}

TEST(RewardFetcher, ParsesTheNodesJsonStrictly) {
  std::string err;
  EXPECT_EQ(parse_pox_current_cycle(R"({"current_cycle":{"id":95,"is_pox_active":true},"next_cycle":{"id":96}})", err), 95u);
  EXPECT_FALSE(parse_pox_current_cycle(R"({"current_cycle":{"id":-1}})", err));
  EXPECT_FALSE(parse_pox_current_cycle(R"({"next_cycle":{"id":96}})", err));
  EXPECT_FALSE(parse_pox_current_cycle("not json", err));
  const std::string key = to_hex(signers(3, 1)[0].signing_key);
  auto s = parse_stacker_set(R"({"stacker_set":{"signers":[{"signing_key":"0x)" + key + R"(","weight":7}]}})", err);
  ASSERT_TRUE(s) << err;
  EXPECT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].weight, 7u);
  EXPECT_FALSE(parse_stacker_set(R"({"stacker_set":{"signers":[]}})", err));
  EXPECT_FALSE(parse_stacker_set(R"({"stacker_set":{"signers":[{"signing_key":"0x00","weight":7}]}})", err));
  EXPECT_FALSE(parse_stacker_set(R"({"stacker_set":{"signers":[{"signing_key":"0x)" + key + R"(","weight":0}]}})", err));
  EXPECT_FALSE(parse_stacker_set(R"({"stacker_set":{"signers":[{"signing_key":"0x)" + key + R"("}]}})", err));
  EXPECT_FALSE(parse_stacker_set("[1,2", err));
}

std::optional<CycleSets> wait_take(RewardFetcher& f, int ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto s = f.take()) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

TEST(RewardFetcher, FollowsTheCycleFromTheFirstNodeThatAnswersAndCachesIt) {
  test::FakeNodeRpc node;
  node.set_signers(89, signers(10, 3));
  node.set_signers(90, signers(20, 4));
  node.set_signers(91, signers(30, 5));
  char tmpl[] = "/tmp/stacks-relay-rs-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  FetcherOptions fo;
  fo.node_urls = {"http://127.0.0.1:1", node.url()};  // the first refuses connections
  fo.cache_dir = dir + "/reward-sets";
  fo.poll_s = 1;
  fo.timeout_s = 2;
  {
    RewardFetcher f(fo);
    EXPECT_FALSE(f.load_cache());
    f.start();
    auto s = wait_take(f);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->cycle, 90u);
    EXPECT_EQ(s->current, signers(20, 4));
    EXPECT_EQ(s->previous, signers(10, 3));
    EXPECT_EQ(s->next, signers(30, 5));  // the prepare phase: the node has the next one
    EXPECT_GE(f.stats().failures.load(), 1u);  // the dead node
    node.set_cycle(91);  // the boundary
    s = wait_take(f);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->cycle, 91u);
    EXPECT_EQ(s->current, signers(30, 5));
    EXPECT_EQ(s->previous, signers(20, 4));
    EXPECT_TRUE(s->next.empty());  // 92: not yet
    EXPECT_EQ(node.requests("/v3/stacker_set/90"), 1u);  // known already: not asked again
    EXPECT_EQ(node.requests("/v3/stacker_set/91"), 1u);
    // The next cycle's set is asked for at every poll until it comes; its absence is
    // expected, not a failure.
    // Each poll counts two failures, the dead node's refused connections (/v2/pox and
    // the next set); the live node's 404 would make it three.
    const std::uint64_t failures = f.stats().failures.load();
    const std::uint64_t asked = node.requests("/v3/stacker_set/92");
    for (int i = 0; i < 100 && node.requests("/v3/stacker_set/92") < asked + 3; ++i) ::usleep(50'000);
    const std::uint64_t polls = node.requests("/v3/stacker_set/92") - asked;
    const std::uint64_t failed = f.stats().failures.load() - failures;
    EXPECT_GE(polls, 3u);
    EXPECT_LE(failed, 2 * polls + 2);  // (a poll under way as counting started)
    EXPECT_FALSE(f.take());  // nothing new since
    node.set_signers(92, signers(40, 6));
    s = wait_take(f);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->cycle, 91u);
    EXPECT_EQ(s->current, signers(30, 5));
    EXPECT_EQ(s->previous, signers(20, 4));
    EXPECT_EQ(s->next, signers(40, 6));
  }
  // A restarted relay starts from the cache.
  RewardFetcher again(fo);
  auto c = again.load_cache();
  ASSERT_TRUE(c);
  // (The next cycle's set is cached too, and is then the newest: a relay restarted in the
  // prepare phase takes it as current and the running cycle's as previous; blocks pass
  // with either, the signers' slots map the same, and the next poll sets it right.)
  EXPECT_EQ(c->cycle, 92u);
  EXPECT_EQ(c->current, signers(40, 6));
  EXPECT_EQ(c->previous, signers(30, 5));
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace relay::rewards
