#include "relay/shm/frag_ring.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "relay/shm/cnc.hpp"
#include "relay/shm/region.hpp"

namespace relay::shm {
namespace {

// Payload of fragment `seq`: its length and bytes are a function of seq, so a reader
// can check every byte it got.
std::uint32_t frag_len(std::uint64_t seq, std::uint32_t mtu) { return static_cast<std::uint32_t>((seq * 2654435761u) % (mtu + 1)); }
std::uint8_t frag_byte(std::uint64_t seq, std::uint32_t i) { return static_cast<std::uint8_t>(seq * 31 + i * 7); }

Bytes make_payload(std::uint64_t seq, std::uint32_t mtu) {
  Bytes b(frag_len(seq, mtu));
  for (std::uint32_t i = 0; i < b.size(); ++i) b[i] = frag_byte(seq, i);
  return b;
}

bool payload_ok(std::uint64_t seq, ByteSpan p, std::uint32_t mtu) {
  if (p.size() != frag_len(seq, mtu)) return false;
  for (std::uint32_t i = 0; i < p.size(); ++i)
    if (p[i] != frag_byte(seq, i)) return false;
  return true;
}

struct Ring {
  explicit Ring(RingParams p) : params(p), region(Region::anonymous(ring_footprint(p)).value()) {
    EXPECT_TRUE(ring_format(region.data(), region.size(), p).ok());
  }
  RingParams params;
  Region region;
};

TEST(FragRing, FootprintRejectsBadParams) {
  EXPECT_EQ(ring_footprint({3, 4096, 100, true}), 0u);     // depth not a power of two
  EXPECT_EQ(ring_footprint({1, 4096, 100, true}), 0u);     // depth < 2
  EXPECT_EQ(ring_footprint({8, 50, 100, true}), 0u);       // arena < mtu
  EXPECT_EQ(ring_footprint({8, 4096, 0, true}), 0u);       // mtu 0
  EXPECT_GT(ring_footprint({8, 4096, 100, true}), 8 * 32 + 4096u);
  EXPECT_EQ(ring_footprint({8, 4096, 100, true}) % kRingAlign, 0u);
}

TEST(FragRing, SendReceiveInOrderWithCredits) {
  Ring r({4, 1024, 256, true});
  auto prod = RingProducer::join(r.region.data(), r.region.size());
  auto cons = RingConsumer::join(r.region.data(), r.region.size());
  ASSERT_TRUE(prod.ok() && cons.ok());
  EXPECT_EQ(prod->credits(), 4u);
  for (std::uint64_t s = 1; s <= 4; ++s) ASSERT_TRUE(prod->try_send(make_payload(s, 256), 7, 42));
  EXPECT_EQ(prod->credits(), 0u);
  EXPECT_FALSE(prod->try_send(make_payload(5, 256), 7, 42));  // no credit: nothing lost
  Frag f;
  for (std::uint64_t s = 1; s <= 4; ++s) {
    ASSERT_EQ(cons->poll(f), RingConsumer::Poll::kFrag);
    EXPECT_EQ(f.seq, s);
    EXPECT_EQ(f.kind, 7);
    EXPECT_EQ(f.session, 42u);
    EXPECT_TRUE(payload_ok(s, f.payload, 256));
    EXPECT_TRUE(cons->still_valid(f));
    cons->release();
  }
  EXPECT_EQ(cons->poll(f), RingConsumer::Poll::kEmpty);
  EXPECT_EQ(prod->credits(), 4u);
  EXPECT_TRUE(prod->try_send(make_payload(5, 256), 7, 42));
  EXPECT_EQ(cons->lost(), 0u);
}

TEST(FragRing, ArenaBytesAreCreditsToo) {
  // Two 400-byte fragments fill a 1000-byte arena; a third must wait for a release.
  Ring r({16, 1000, 400, true});
  auto prod = RingProducer::join(r.region.data(), r.region.size());
  auto cons = RingConsumer::join(r.region.data(), r.region.size());
  Bytes big(400, 0xaa);
  ASSERT_TRUE(prod->try_send(big, 1, 1));
  ASSERT_TRUE(prod->try_send(big, 1, 1));
  EXPECT_FALSE(prod->try_send(big, 1, 1));
  Frag f;
  ASSERT_EQ(cons->poll(f), RingConsumer::Poll::kFrag);
  cons->release();
  EXPECT_TRUE(prod->try_send(big, 1, 1));  // wraps to the arena start, now free
}

TEST(FragRing, OccupancyIsWhatWaitsForTheConsumer) {
  Ring r({16, 1000, 400, true});
  auto prod = RingProducer::join(r.region.data(), r.region.size());
  auto cons = RingConsumer::join(r.region.data(), r.region.size());
  auto o = ring_occupancy(r.region.data(), r.region.size());
  ASSERT_TRUE(o);
  EXPECT_EQ(o->frags, 0u);
  EXPECT_EQ(o->bytes, 0u);
  EXPECT_EQ(o->depth, 16u);
  EXPECT_EQ(o->arena_sz, 1000u);
  ASSERT_TRUE(prod->try_send(Bytes(300, 1), 1, 1));
  ASSERT_TRUE(prod->try_send(Bytes(100, 2), 1, 1));
  o = ring_occupancy(r.region.data(), r.region.size());
  EXPECT_EQ(o->frags, 2u);
  EXPECT_GE(o->bytes, 400u);
  Frag f;
  ASSERT_EQ(cons->poll(f), RingConsumer::Poll::kFrag);
  EXPECT_EQ(ring_occupancy(r.region.data(), r.region.size())->frags, 2u);  // polled is not released
  cons->release();
  o = ring_occupancy(r.region.data(), r.region.size());
  EXPECT_EQ(o->frags, 1u);
  EXPECT_GE(o->bytes, 100u);
  EXPECT_LT(o->bytes, 300u);
  ASSERT_EQ(cons->poll(f), RingConsumer::Poll::kFrag);
  cons->release();
  EXPECT_EQ(ring_occupancy(r.region.data(), r.region.size())->frags, 0u);
  EXPECT_EQ(ring_occupancy(r.region.data(), r.region.size())->bytes, 0u);
  Bytes junk(4096, 0x5a);
  EXPECT_FALSE(ring_occupancy(junk.data(), junk.size()));
  EXPECT_FALSE(ring_occupancy(nullptr, 0));
  EXPECT_FALSE(ring_occupancy(r.region.data(), 1024));  // the ring is larger than that
}

// The other process is trusted for liveness, never for memory safety: once joined, a
// ring's shape is its own copy, so a header scribbled over afterwards (an arena of 0
// bytes, a huge depth and MTU, bogus offsets) cannot make either end read or write
// outside the ring, nor divide by zero. Fragments keep flowing; a third party reading
// the occupancy sees an invalid ring.
TEST(FragRing, AHeaderScribbledAfterJoinChangesNothingAboutWhereItReadsAndWrites) {
  Ring r({8, 4096, 512, true});
  auto prod = RingProducer::join(r.region.data(), r.region.size());
  auto cons = RingConsumer::join(r.region.data(), r.region.size());
  ASSERT_TRUE(prod.ok() && cons.ok());
  // The header's shape fields, as frag_ring.cpp lays them out: magic (8 bytes), abi (4),
  // lossless (4), then depth, arena_sz, mtu, meta_off, arena_off (8 bytes each).
  auto* h = static_cast<std::uint8_t*>(r.region.data());
  const std::uint64_t junk[] = {std::uint64_t{1} << 40, 0, std::uint64_t{1} << 31, 1u << 30, 7};
  std::memcpy(h + 16, junk, sizeof junk);
  for (std::uint8_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(prod->try_send(Bytes(300, i), 1, i)) << int{i};
    Frag f;
    ASSERT_EQ(cons->poll(f), RingConsumer::Poll::kFrag);
    ASSERT_EQ(f.payload.size(), 300u);
    EXPECT_EQ(f.payload[0], i);
    EXPECT_GE(f.payload.data(), h);
    EXPECT_LE(f.payload.data() + f.payload.size(), h + r.region.size());
    cons->release();
  }
  EXPECT_FALSE(ring_occupancy(r.region.data(), r.region.size()));
}

TEST(FragRing, JoinValidatesEverything) {
  Ring r({8, 4096, 512, true});
  EXPECT_FALSE(RingConsumer::join(r.region.data(), 100).ok());            // mapping too small
  EXPECT_FALSE(RingConsumer::join(static_cast<std::uint8_t*>(r.region.data()) + 8, r.region.size()).ok());
  auto* words = static_cast<std::uint64_t*>(r.region.data());
  std::uint64_t depth = words[2];
  words[2] = 1024;  // claims more descriptors than the mapping holds
  EXPECT_FALSE(RingConsumer::join(r.region.data(), r.region.size()).ok());
  words[2] = depth;
  EXPECT_TRUE(RingConsumer::join(r.region.data(), r.region.size()).ok());
  ring_unformat(r.region.data());
  EXPECT_FALSE(RingProducer::join(r.region.data(), r.region.size()).ok());
}

TEST(FragRing, ReaderSurvivesCorruptedDescriptor) {
  Ring r({8, 4096, 512, true});
  auto prod = RingProducer::join(r.region.data(), r.region.size());
  auto cons = RingConsumer::join(r.region.data(), r.region.size());
  for (std::uint64_t s = 1; s <= 3; ++s) ASSERT_TRUE(prod->try_send(make_payload(s, 512), 1, 1));
  // The "other process" scribbles on descriptor 2: a size past the mtu and a position
  // that would put the payload outside the arena.
  auto* base = static_cast<std::uint8_t*>(r.region.data());
  auto* meta = reinterpret_cast<FragMeta*>(base + 3 * kRingAlign);
  meta[2].sz = 0xfffffff0;
  meta[2].pos = 4090;
  Frag f;
  ASSERT_EQ(cons->poll(f), RingConsumer::Poll::kFrag);
  EXPECT_TRUE(payload_ok(1, f.payload, 512));
  cons->release();
  EXPECT_EQ(cons->poll(f), RingConsumer::Poll::kCorrupt);
  EXPECT_EQ(cons->corrupt(), 1u);
  ASSERT_EQ(cons->poll(f), RingConsumer::Poll::kFrag);  // and carries on
  EXPECT_EQ(f.seq, 3u);
  EXPECT_TRUE(payload_ok(3, f.payload, 512));
  cons->release();
  // A consumer that publishes an impossible fseq costs the producer credit, not memory.
  auto* fseq = reinterpret_cast<std::atomic<std::uint64_t>*>(base + 2 * kRingAlign);
  fseq->store(1u << 30);
  EXPECT_EQ(prod->credits(), 0u);
  EXPECT_GE(prod->bad_fseq(), 1u);
  EXPECT_FALSE(prod->try_send(make_payload(4, 512), 1, 1));
}

TEST(FragRing, LossyRingReportsOverrun) {
  Ring r({8, 8 * 600, 512, false});
  auto prod = RingProducer::join(r.region.data(), r.region.size());
  auto cons = RingConsumer::join(r.region.data(), r.region.size());
  for (std::uint64_t s = 1; s <= 30; ++s) ASSERT_TRUE(prod->try_send(make_payload(s, 512), 1, 1));
  Frag f;
  ASSERT_EQ(cons->poll(f), RingConsumer::Poll::kOverrun);
  EXPECT_EQ(cons->lost(), 22u);  // 1..22 are gone, 23..30 remain
  std::uint64_t expect = 23;
  while (cons->poll(f) == RingConsumer::Poll::kFrag) {
    EXPECT_EQ(f.seq, expect);
    if (cons->still_valid(f)) {
      EXPECT_TRUE(payload_ok(f.seq, f.payload, 512));
    }
    cons->release();
    ++expect;
  }
  EXPECT_EQ(expect, 31u);
}

TEST(FragRing, TwoThreadsLosslessNothingLostOrTorn) {
  constexpr std::uint32_t kMtu = 3000;
  constexpr std::uint64_t kCount = 200000;
  Ring r({64, 16 * 1024, kMtu, true});
  std::atomic<bool> bad{false};
  std::thread consumer([&] {
    auto cons = RingConsumer::join(r.region.data(), r.region.size());
    Frag f;
    std::uint64_t next = 1;
    while (next <= kCount) {
      auto p = cons->poll(f);
      if (p == RingConsumer::Poll::kEmpty) continue;
      if (p != RingConsumer::Poll::kFrag || f.seq != next || !payload_ok(next, f.payload, kMtu)) {
        bad = true;
        return;
      }
      cons->release();
      ++next;
    }
  });
  auto prod = RingProducer::join(r.region.data(), r.region.size());
  for (std::uint64_t s = 1; s <= kCount && !bad;) {
    if (prod->try_send(make_payload(s, kMtu), 1, static_cast<std::uint32_t>(s))) ++s;
  }
  consumer.join();
  EXPECT_FALSE(bad);
}

TEST(FragRing, TwoThreadsLossyValidatedReadsAreNeverTorn) {
  constexpr std::uint32_t kMtu = 2000;
  constexpr std::uint64_t kCount = 300000;
  Ring r({16, 4 * kMtu, kMtu, false});
  std::atomic<bool> done{false}, torn{false};
  std::atomic<std::uint64_t> good{0};
  std::thread consumer([&] {
    auto cons = RingConsumer::join(r.region.data(), r.region.size());
    Frag f;
    Bytes copy;
    while (!done.load() || cons->poll(f) != RingConsumer::Poll::kEmpty) {
      if (cons->poll(f) != RingConsumer::Poll::kFrag) continue;
      copy.assign(f.payload.begin(), f.payload.end());
      if (cons->still_valid(f)) {  // only a validated copy counts, and it must be exact
        if (!payload_ok(f.seq, copy, kMtu)) torn = true;
        ++good;
      }
      cons->release();
    }
  });
  auto prod = RingProducer::join(r.region.data(), r.region.size());
  for (std::uint64_t s = 1; s <= kCount; ++s) ASSERT_TRUE(prod->try_send(make_payload(s, kMtu), 1, 1));
  done = true;
  consumer.join();
  EXPECT_FALSE(torn);
  EXPECT_GT(good.load(), 0u);
}

TEST(FragRing, TwoProcessesThroughARegionFile) {
  constexpr std::uint32_t kMtu = 1500;
  constexpr std::uint64_t kCount = 50000;
  RingParams p{128, 64 * 1024, kMtu, true};
  std::string path = "/dev/shm/stacks-relay-test-" + std::to_string(::getpid());
  (void)Region::remove(path);
  std::size_t cnc_sz = sizeof(Cnc);
  auto region = Region::create(path, cnc_sz + ring_footprint(p));
  ASSERT_TRUE(region.ok()) << region.error().reason;
  auto* base = static_cast<std::uint8_t*>(region->data());
  ASSERT_TRUE(cnc_format(base, cnc_sz).ok());
  ASSERT_TRUE(ring_format(base + cnc_sz, region->size() - cnc_sz, p).ok());

  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The consumer maps the file itself (at another address) and joins.
    auto mine = Region::open(path);
    if (!mine.ok()) ::_exit(10);
    auto* b = static_cast<std::uint8_t*>(mine->data());
    auto cnc = cnc_join(b, cnc_sz);
    auto cons = RingConsumer::join(b + cnc_sz, mine->size() - cnc_sz);
    if (!cnc.ok() || !cons.ok()) ::_exit(11);
    Frag f;
    std::uint64_t next = 1;
    while (next <= kCount) {
      cnc_beat(**cnc, CncState::kRun, static_cast<std::uint32_t>(::getpid()), monotonic_ns());
      auto r = cons->poll(f);
      if (r == RingConsumer::Poll::kEmpty) continue;
      if (r != RingConsumer::Poll::kFrag || f.seq != next || !payload_ok(next, f.payload, kMtu)) ::_exit(12);
      cons->release();
      ++next;
    }
    ::_exit(0);
  }
  auto prod = RingProducer::join(base + cnc_sz, region->size() - cnc_sz);
  ASSERT_TRUE(prod.ok());
  auto cnc = cnc_join(base, cnc_sz);
  ASSERT_TRUE(cnc.ok());
  std::uint64_t deadline = monotonic_ns() + 60'000'000'000ull;
  for (std::uint64_t s = 1; s <= kCount && monotonic_ns() < deadline;) {
    if (prod->try_send(make_payload(s, kMtu), 3, 9)) ++s;
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // The consumer's heartbeat is visible here; it is stale a little later.
  std::uint64_t now = monotonic_ns();
  EXPECT_FALSE(cnc_stale(**cnc, now, 10'000'000'000ull));
  EXPECT_TRUE(cnc_stale(**cnc, now + 20'000'000'000ull, 10'000'000'000ull));
  EXPECT_EQ((*cnc)->pid.load(), static_cast<std::uint32_t>(child));
  EXPECT_TRUE(Region::remove(path).ok());
}

TEST(FragRing, ProducerResumesAfterRestart) {
  Ring r({8, 4096, 256, true});
  {
    auto prod = RingProducer::join(r.region.data(), r.region.size());
    ASSERT_TRUE(prod->try_send(make_payload(1, 256), 1, 1));
    ASSERT_TRUE(prod->try_send(make_payload(2, 256), 1, 1));
  }  // the producer process "dies"
  auto prod = RingProducer::join(r.region.data(), r.region.size());
  EXPECT_EQ(prod->next_seq(), 3u);
  ASSERT_TRUE(prod->try_send(make_payload(3, 256), 1, 1));
  auto cons = RingConsumer::join(r.region.data(), r.region.size());
  Frag f;
  for (std::uint64_t s = 1; s <= 3; ++s) {
    ASSERT_EQ(cons->poll(f), RingConsumer::Poll::kFrag);
    EXPECT_TRUE(payload_ok(s, f.payload, 256)) << s;
    cons->release();
  }
}

// minor_faults: this thread's minor page faults so far.
long minor_faults() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return u.ru_minflt;
}

// A process that joins the region populated writes every page of it without a fault; a
// lazy mapping faults once a page (what the rings paid on their first pass). Both see
// the same bytes.
TEST(Region, APopulatedJoinWritesWithoutFaults) {
  constexpr std::size_t kPages = 2048;
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::string path = "/dev/shm/stacks-relay-test-pop-" + std::to_string(::getpid());
  (void)Region::remove(path);
  auto made = Region::create(path, kPages * page);
  ASSERT_TRUE(made.ok()) << made.error().reason;
  auto lazy = Region::open(path, Region::Touch::kLazy);
  auto hot = Region::open(path, Region::Touch::kPopulate);
  (void)Region::remove(path);
  ASSERT_TRUE(lazy.ok() && hot.ok());
  EXPECT_FALSE(lazy->populated());
  ASSERT_TRUE(hot->populated()) << std::strerror(Region::last_errno());

  auto touch = [&](const Region& r, std::uint8_t v) {
    auto* b = static_cast<volatile std::uint8_t*>(r.data());
    const long before = minor_faults();
    for (std::size_t i = 0; i < kPages; ++i) b[i * page + (i % 64)] = v;
    return minor_faults() - before;
  };
  const long hot_faults = touch(*hot, 0x5a);
  const long lazy_faults = touch(*lazy, 0xa5);
  // (A sanitizer's shadow of the range faults in too, one page per eight: the bound
  // leaves room for that, and still catches a mapping that faults once a page.)
  EXPECT_LT(hot_faults, static_cast<long>(kPages / 4)) << "a populated mapping faulted on its pages";
  EXPECT_GE(lazy_faults, static_cast<long>(kPages / 2)) << "the lazy mapping did not fault: the test measures nothing";
  const auto* h = static_cast<const std::uint8_t*>(hot->data());
  for (std::size_t i = 0; i < kPages; i += 97) EXPECT_EQ(h[i * page + (i % 64)], 0xa5) << "page " << i;
}

}  // namespace
}  // namespace relay::shm
