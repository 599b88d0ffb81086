#include "relay/policy/relay_policy.hpp"
#include "relay/policy/allowance.hpp"

#include <gtest/gtest.h>

namespace relay::policy {
namespace {

codec::Hash20 pkh(std::uint8_t b) {
  codec::Hash20 h;
  h.fill(b);
  return h;
}

std::vector<codec::RelayData> relayers(std::initializer_list<std::uint8_t> ids) {
  std::vector<codec::RelayData> v;
  for (auto id : ids) {
    codec::RelayData r;
    r.peer.public_key_hash = pkh(id);
    v.push_back(r);
  }
  return v;
}

TEST(Relayers, ReceiverChecks) {
  EXPECT_EQ(check_relayers(relayers({1, 2, 3}), pkh(9)), RelayersVerdict::kOk);
  EXPECT_EQ(check_relayers(relayers({1, 2, 1}), pkh(9)), RelayersVerdict::kCycle);
  EXPECT_EQ(check_relayers(relayers({1, 9}), pkh(9)), RelayersVerdict::kContainsUs);
  std::vector<codec::RelayData> sixteen;
  for (std::uint8_t i = 0; i < 16; ++i) sixteen.push_back(relayers({i})[0]);
  EXPECT_EQ(check_relayers(sixteen, pkh(99)), RelayersVerdict::kOk);
  EXPECT_FALSE(can_append_self(sixteen));  // TTL of 16 hops
  sixteen.pop_back();
  EXPECT_TRUE(can_append_self(sixteen));
  sixteen.push_back(relayers({20})[0]);
  sixteen.push_back(relayers({21})[0]);
  EXPECT_EQ(check_relayers(sixteen, pkh(99)), RelayersVerdict::kTooMany);
}

TEST(Relayers, RecipientsNeverInListNeverSender) {
  auto r = relayers({1, 2, 7});  // 7 = us, appended
  EXPECT_TRUE(may_send_to(r, pkh(3), pkh(2)));
  EXPECT_FALSE(may_send_to(r, pkh(1), pkh(2)));  // already relayed it: would drop us
  EXPECT_FALSE(may_send_to(r, pkh(4), pkh(4)));  // the sender
  EXPECT_FALSE(may_send_to(r, pkh(7), pkh(2)));
}

TEST(Relayers, WhatIsRelayed) {
  using codec::MsgId;
  EXPECT_EQ(push_priority(MsgId::kNakamotoBlocks, false), Priority::kBlock);
  EXPECT_EQ(push_priority(MsgId::kTransaction, false), Priority::kTransaction);
  EXPECT_EQ(push_priority(MsgId::kStackerDBPushChunk, false), Priority::kStackerDb);
  EXPECT_FALSE(push_priority(MsgId::kBlocks, false));       // mainnet nodes drop 2.x pushes
  EXPECT_FALSE(push_priority(MsgId::kMicroblocks, false));
  EXPECT_EQ(push_priority(MsgId::kBlocks, true), Priority::kBlock);
  EXPECT_EQ(push_priority(MsgId::kMicroblocks, true), Priority::kMicroblock);
  EXPECT_FALSE(push_priority(MsgId::kPing, true));
  EXPECT_FALSE(push_priority(MsgId::kGetNeighbors, true));
  EXPECT_FALSE(push_priority(MsgId::kStackerDBChunk, true));  // a reply, not a push
}

TEST(Pacer, BlocksFirstTransactionsDroppedOldestFirst) {
  SessionPacer p(3);
  EXPECT_EQ(p.admit({1, Priority::kTransaction}).result, SessionPacer::Admit::kQueued);
  EXPECT_EQ(p.admit({2, Priority::kTransaction}).result, SessionPacer::Admit::kQueued);
  EXPECT_EQ(p.admit({3, Priority::kBlock}).result, SessionPacer::Admit::kQueued);
  // Full: a new transaction pushes out the oldest transaction.
  auto r = p.admit({4, Priority::kTransaction});
  EXPECT_EQ(r.result, SessionPacer::Admit::kQueuedDropped);
  ASSERT_TRUE(r.dropped);
  EXPECT_EQ(r.dropped->handle, 1u);
  // A block also makes room by dropping a transaction, never a block.
  r = p.admit({5, Priority::kBlock});
  EXPECT_EQ(r.dropped->handle, 2u);
  r = p.admit({6, Priority::kBlock});
  EXPECT_EQ(r.dropped->handle, 4u);
  // Only blocks wait now: the next block is refused (kept by the caller), not dropped.
  EXPECT_EQ(p.admit({7, Priority::kBlock}).result, SessionPacer::Admit::kRefused);
  EXPECT_EQ(p.dropped_tx(), 3u);
  EXPECT_EQ(p.refused(), 1u);
  // Blocks leave in arrival order.
  EXPECT_EQ(p.next()->handle, 3u);
  EXPECT_EQ(p.next()->handle, 5u);
  EXPECT_EQ(p.next()->handle, 6u);
  EXPECT_FALSE(p.next());
}

// Chunks never hold a block back (issue 15.2): a queue full of chunks makes room for a
// block by dropping the oldest chunk; a chunk makes room by dropping a transaction, then
// an older chunk; a transaction cannot push out a chunk.
TEST(Pacer, ChunksNeverHoldABlockBack) {
  SessionPacer p(3);
  for (std::uint64_t h = 1; h <= 3; ++h) EXPECT_EQ(p.admit({h, Priority::kStackerDb}).result, SessionPacer::Admit::kQueued);
  auto r = p.admit({4, Priority::kBlock});
  EXPECT_EQ(r.result, SessionPacer::Admit::kQueuedDropped);
  ASSERT_TRUE(r.dropped);
  EXPECT_EQ(r.dropped->handle, 1u);
  EXPECT_EQ(p.admit({5, Priority::kTransaction}).result, SessionPacer::Admit::kRefused);  // not for a chunk
  r = p.admit({6, Priority::kStackerDb});  // the oldest chunk goes for a newer one
  EXPECT_EQ(r.dropped->handle, 2u);
  EXPECT_EQ(p.admit({7, Priority::kBlock}).dropped->handle, 3u);
  EXPECT_EQ(p.admit({8, Priority::kBlock}).dropped->handle, 6u);
  EXPECT_EQ(p.admit({9, Priority::kBlock}).result, SessionPacer::Admit::kRefused);  // only blocks wait
  EXPECT_EQ(p.dropped_chunks(), 4u);
  EXPECT_EQ(p.next()->handle, 4u);
  EXPECT_EQ(p.next()->handle, 7u);
  EXPECT_EQ(p.next()->handle, 8u);
}

TEST(Pacer, PriorityOrder) {
  SessionPacer p(10);
  p.admit({1, Priority::kTransaction});
  p.admit({2, Priority::kStackerDb});
  p.admit({3, Priority::kBlock});
  p.admit({4, Priority::kTransaction});
  EXPECT_EQ(p.next()->handle, 3u);
  EXPECT_EQ(p.next()->handle, 2u);
  EXPECT_EQ(p.next()->handle, 1u);
  EXPECT_EQ(p.next()->handle, 4u);
  EXPECT_EQ(p.waiting(), 0u);
}


// A sender's allowance: full at first use, refilled at its rate up to its burst; take()
// is all or nothing; charge() may run into debt (down to -burst), and nothing is taken
// until the debt is paid back by time.
TEST(Allowance, RefillsAtItsRateUpToItsBurstAndPaysBackDebt) {
  constexpr std::uint64_t kSec = 1'000'000'000;
  const Rate r{1000, 3000};  // 1000 a second, at most 3000 at once
  Allowance a;
  const std::uint64_t t0 = 5 * kSec;
  EXPECT_TRUE(a.take(t0, 3000, r));  // full at first use
  EXPECT_FALSE(a.take(t0, 1, r));
  EXPECT_FALSE(a.take(t0 + kSec / 2, 501, r));  // half a second earns 500: all or nothing
  EXPECT_TRUE(a.take(t0 + kSec / 2, 500, r));
  EXPECT_TRUE(a.take(t0 + 100 * kSec, 3000, r));  // a long pause refills to the burst only
  EXPECT_FALSE(a.take(t0 + 100 * kSec, 1, r));
  // Debt: charged after the fact, floored at -burst.
  Allowance d;
  EXPECT_TRUE(d.in_credit(t0, r));
  d.charge(t0, 10'000, r);
  EXPECT_EQ(d.tokens(), -3000);
  EXPECT_FALSE(d.in_credit(t0 + 2 * kSec, r));     // -1000
  EXPECT_FALSE(d.take(t0 + 2 * kSec, 0, r));       // nothing while in debt
  EXPECT_FALSE(d.in_credit(t0 + 3 * kSec, r));     // 0: paid back, nothing to spend yet
  EXPECT_TRUE(d.in_credit(t0 + 3 * kSec + kSec / 1000, r));
  // A clock that steps back earns nothing and takes nothing away.
  Allowance b;
  EXPECT_TRUE(b.take(t0, 3000, r));
  EXPECT_FALSE(b.take(t0 - kSec, 1, r));
  EXPECT_FALSE(b.take(t0, 1, r));
}

}  // namespace
}  // namespace relay::policy
