// StreamWorker: block streams checked on a second thread give the inline results; a slot
// released mid-block is left by the worker before release() returns (the body buffer is
// freed right after — ASan builds catch a worker still reading it); reward sets may
// change while it runs.
#include "dataplane/engine/stream_worker.hpp"

#include <gtest/gtest.h>

#include "tests/support/push_corpus.hpp"

namespace relay::dp {
namespace {

using State = validate::NakamotoStream::State;
using codec::Hash32;

const test::PushSample& sim_blocks(const test::PushCorpus& c) {
  for (const auto& s : c.samples)
    if (s.name == "simulated Nakamoto blocks") return s;
  ADD_FAILURE() << "no simulated blocks in the corpus";
  return c.samples.front();
}

// feed: the payload into a fresh heap buffer in reads of `chunk`, as a framer would.
State feed(StreamWorker& w, const Bytes& payload, std::size_t chunk, std::vector<Hash32>* ids = nullptr) {
  auto buf = std::make_unique<std::uint8_t[]>(payload.size());
  StreamWorker::Slot* s = w.acquire(buf.get(), payload.size());
  if (s == nullptr) return State::kIdle;
  for (std::size_t have = 0; have < payload.size();) {
    const std::size_t n = std::min(chunk, payload.size() - have);
    std::memcpy(buf.get() + have, payload.data() + have, n);
    have += n;
    w.publish(s, have);
  }
  const auto& st = w.finish(s);
  const State out = st.state();
  if (ids) ids->assign(st.ids().begin(), st.ids().end());
  w.release(s);
  return out;
}

TEST(StreamWorker, ThreadedGivesTheInlineResults) {
  const auto corpus = test::push_corpus();
  const Bytes& p = sim_blocks(corpus).payload;
  StreamWorker threaded(2, true), inline_(2, false);
  ASSERT_TRUE(threaded.threaded());
  ASSERT_FALSE(inline_.threaded());
  // No reward set yet: both give up.
  EXPECT_EQ(feed(threaded, p, 1448), State::kGaveUp);
  EXPECT_EQ(feed(inline_, p, 1448), State::kGaveUp);
  threaded.set_reward_set(corpus.sim_signers, {});
  inline_.set_reward_set(corpus.sim_signers, {});
  std::vector<Hash32> a, b;
  for (std::size_t chunk : {std::size_t{1448}, std::size_t{9000}, p.size()}) {
    ASSERT_EQ(feed(threaded, p, chunk, &a), State::kPassed) << chunk;
    ASSERT_EQ(feed(inline_, p, chunk, &b), State::kPassed) << chunk;
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.size(), 2u);
  }
  // A corrupted copy gives up on both.
  Bytes bad = p;
  bad[bad.size() / 2] ^= 0x10;
  EXPECT_EQ(feed(threaded, bad, 1448), State::kGaveUp);
  EXPECT_EQ(feed(inline_, bad, 1448), State::kGaveUp);
}

TEST(StreamWorker, ReleaseMidBlockWaitsForTheWorker) {
  const auto corpus = test::push_corpus();
  const Bytes& p = sim_blocks(corpus).payload;
  StreamWorker w(2, true);
  w.set_reward_set(corpus.sim_signers, {});
  for (int i = 0; i < 200; ++i) {
    auto buf = std::make_unique<std::uint8_t[]>(p.size());
    StreamWorker::Slot* s = w.acquire(buf.get(), p.size());
    ASSERT_NE(s, nullptr);
    const std::size_t cut = 1 + (static_cast<std::size_t>(i) * 7919) % p.size();
    std::memcpy(buf.get(), p.data(), cut);
    w.publish(s, cut);
    if (i % 3 == 0) w.set_reward_set(corpus.sim_signers, corpus.real_signers);  // while it may be reading
    w.release(s);  // the worker is out of the slot: the buffer can go
    buf.reset();
  }
  // Every slot came back and still works.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(feed(w, p, 4096), State::kPassed);
  StreamWorker::Slot* x = w.acquire(nullptr, 0);
  StreamWorker::Slot* y = w.acquire(nullptr, 0);
  EXPECT_NE(x, nullptr);
  EXPECT_NE(y, nullptr);
  EXPECT_EQ(w.acquire(nullptr, 0), nullptr);  // two slots, both taken
  w.release(x);
  w.release(y);
}

}  // namespace
}  // namespace relay::dp
