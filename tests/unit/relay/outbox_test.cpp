// link::Outbox: nothing sent is lost or reordered when the ring has no credit; what
// bypasses the queue does so only when asked; a restart's discard keeps what it must.
#include "relay/link/outbox.hpp"
#include "relay/link/link.hpp"

#include <gtest/gtest.h>

#include "relay/shm/region.hpp"

namespace relay::link {
namespace {

struct Ring {
  shm::RingParams params{4, 4096, 256, true};  // room for 4 fragments at a time
  shm::Region region = shm::Region::anonymous(shm::ring_footprint(params)).value();
  Ring() { EXPECT_TRUE(shm::ring_format(region.data(), region.size(), params).ok()); }
  shm::RingProducer producer() { return shm::RingProducer::join(region.data(), region.size()).value(); }
  shm::RingConsumer consumer() { return shm::RingConsumer::join(region.data(), region.size()).value(); }
};

Bytes msg(std::uint8_t tag, std::size_t n = 10) { return Bytes(n, tag); }

// drain: (kind, first byte) of every fragment the consumer can take now.
std::vector<std::pair<std::uint16_t, std::uint8_t>> drain(shm::RingConsumer& c) {
  std::vector<std::pair<std::uint16_t, std::uint8_t>> got;
  shm::Frag f;
  while (c.poll(f) == shm::RingConsumer::Poll::kFrag) {
    got.emplace_back(f.kind, f.payload.empty() ? 0 : f.payload[0]);
    c.release();
  }
  return got;
}

TEST(Outbox, WhatTheRingCannotTakeWaitsAndGoesInOrder) {
  Ring r;
  Outbox out(r.producer());
  auto cons = r.consumer();
  for (std::uint8_t i = 1; i <= 7; ++i) {
    const Bytes m = msg(i);
    out.send(1, i, ByteSpan(m.data(), 3), ByteSpan(m.data() + 3, 3), ByteSpan(m.data() + 6, 4));
  }
  EXPECT_FALSE(out.idle());
  EXPECT_EQ(out.queued(), 3u);  // four fit
  EXPECT_EQ(out.queued_bytes(), 30u);
  auto got = drain(cons);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(out.try_send_now(1, 0, msg(9)));  // credit came back: this one goes now, ahead of the queue
  EXPECT_TRUE(out.flush());
  got = drain(cons);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].second, 9);  // the unordered one went first
  EXPECT_EQ(got[1].second, 5);  // then the queue, in order
  EXPECT_EQ(got[2].second, 6);
  EXPECT_EQ(got[3].second, 7);
  EXPECT_TRUE(out.idle());
  EXPECT_EQ(out.queued_bytes(), 0u);
  EXPECT_FALSE(out.flush());  // nothing left
}

TEST(Outbox, SendQueuesBehindWhatWaitsEvenWhenTheRingHasRoom) {
  Ring r;
  Outbox out(r.producer());
  auto cons = r.consumer();
  out.queue(2, 0, msg(1));
  out.send(2, 0, msg(2));  // the ring has room, but 1 waits: 2 goes behind it
  EXPECT_EQ(out.queued(), 2u);
  EXPECT_TRUE(drain(cons).empty());
  out.flush();
  auto got = drain(cons);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].second, 1);
  EXPECT_EQ(got[1].second, 2);
}

TEST(Outbox, TrySendNowKeepsNothingWhenTheRingIsFull) {
  Ring r;
  Outbox out(r.producer());
  for (std::uint8_t i = 0; i < 4; ++i) EXPECT_TRUE(out.try_send_now(3, 0, msg(i)));
  EXPECT_FALSE(out.try_send_now(3, 0, msg(4)));
  EXPECT_TRUE(out.idle());
}

TEST(Outbox, DiscardAllButKeepsOneKindInOrder) {
  Ring r;
  Outbox out(r.producer());
  auto cons = r.consumer();
  out.queue(1, 0, msg(1));
  out.queue(7, 0, msg(2, 20));
  out.queue(1, 0, msg(3));
  out.queue(7, 0, msg(4, 5));
  out.discard_all_but(1);
  EXPECT_EQ(out.queued(), 2u);
  EXPECT_EQ(out.queued_bytes(), 20u);
  out.flush();
  auto got = drain(cons);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (std::pair<std::uint16_t, std::uint8_t>{1, 1}));
  EXPECT_EQ(got[1], (std::pair<std::uint16_t, std::uint8_t>{1, 3}));
}


// kRewardSet's body: the sets, the cycle and the next set round-trip; a body of the
// current set alone (or with the previous one) still reads; anything after the next set,
// or a cut one, is refused.
TEST(LinkMessages, RewardSetsRoundTripWithTheirCycleAndTheNextSet) {
  auto signer = [](std::uint8_t b, std::uint32_t w) {
    validate::RewardSetSigner s;
    s.signing_key.fill(b);
    s.weight = w;
    return s;
  };
  RewardSets in{{signer(2, 5), signer(3, 6)}, {signer(4, 1)}, 91, {signer(7, 2), signer(8, 3), signer(9, 4)}};
  Bytes body;
  {
    Writer w(body);
    put_reward_sets(w, in);
  }
  Reader r(body);
  auto out = get_reward_sets(r);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->current, in.current);
  EXPECT_EQ(out->previous, in.previous);
  EXPECT_EQ(out->cycle, 91u);
  EXPECT_EQ(out->next, in.next);
  Bytes only;
  {
    Writer w(only);
    put_reward_set(w, in.current);
  }
  Reader r1(only);
  auto cur = get_reward_sets(r1);
  ASSERT_TRUE(cur);
  EXPECT_EQ(cur->current, in.current);
  EXPECT_EQ(cur->cycle, 0u);
  EXPECT_TRUE(cur->next.empty());
  Bytes longer = body;
  longer.push_back(0);
  Reader r2(longer);
  EXPECT_FALSE(get_reward_sets(r2));
  for (std::size_t cut = body.size() - 1; cut + 40 > body.size(); --cut) {
    Reader r3(ByteSpan(body.data(), cut));
    auto got = get_reward_sets(r3);
    EXPECT_FALSE(got && got->next == in.next) << cut;
  }
}

}  // namespace
}  // namespace relay::link
