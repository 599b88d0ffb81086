// The relay path's reading and checking of pushes allocates nothing once its scratch is
// in place: every kind of push (real mainnet and @stacks/transactions transactions of
// every hash mode and payload, the mainnet Nakamoto block, 64 KiB simulated blocks,
// microblocks, a 2.x block, a StackerDB chunk) checked with jemalloc counting every byte
// this thread allocates (C libraries included). The whole dataplane process is measured
// the same way in tests/integration/relay_process_test.cpp.
#include <gtest/gtest.h>
#include <jemalloc/jemalloc.h>

#include <memory>

#include "relay/validate/nakamoto_stream.hpp"
#include "relay/validate/push_check.hpp"
#include "tests/support/push_corpus.hpp"

namespace relay::validate {
namespace {

std::uint64_t thread_allocated() {
  std::uint64_t v = 0;
  std::size_t sz = sizeof v;
  return mallctl("thread.allocated", &v, &sz, nullptr, 0) == 0 ? v : 0;
}

// Whether allocations are counted here at all (a sanitizer's allocator replaces jemalloc's).
bool counting_works() {
  const std::uint64_t before = thread_allocated();
  auto p = std::make_unique<std::uint8_t[]>(1 << 16);
  p[0] = 1;
  return thread_allocated() >= before + (1 << 16);
}

TEST(NoAllocation, CheckingPushesOfEveryKind) {
  if (!counting_works()) GTEST_SKIP() << "jemalloc does not see this build's allocations (sanitizer build)";
  const test::PushCorpus corpus = test::push_corpus();
  PushCheck real, sim, none;
  real.set_reward_set(corpus.real_signers);
  sim.set_reward_set(corpus.sim_signers);
  auto checker = [&](const test::PushSample& s) -> PushCheck& {
    return s.signers == test::PushSample::Signers::kSim ? sim : s.signers == test::PushSample::Signers::kReal ? real : none;
  };
  std::vector<PushCheck::Verdict> verdicts(corpus.samples.size());
  auto run = [&] {
    for (std::size_t i = 0; i < corpus.samples.size(); ++i) {
      const auto& s = corpus.samples[i];
      verdicts[i] = checker(s).check(s.payload, 0, s.signers != test::PushSample::Signers::kUnknown, nullptr).verdict;
    }
  };
  // PushCheck reserved its scratch and this thread's decode scratch when it was built:
  // even the first push of each kind finds its memory in place.
  const std::uint64_t before = thread_allocated();
  run();
  run();
  const std::uint64_t after = thread_allocated();
  EXPECT_EQ(after - before, 0u) << "bytes allocated checking " << 2 * corpus.samples.size() << " pushes";
  if (after != before) {  // name the culprits
    for (const auto& s : corpus.samples) {
      const std::uint64_t b = thread_allocated();
      (void)checker(s).check(s.payload, 0, s.signers != test::PushSample::Signers::kUnknown, nullptr);
      if (const std::uint64_t n = thread_allocated() - b; n != 0) ADD_FAILURE() << s.name << ": " << n << " bytes";
    }
  }
  for (std::size_t i = 0; i < verdicts.size(); ++i)
    EXPECT_EQ(verdicts[i], PushCheck::Verdict::kValid) << corpus.samples[i].name;

  // Block pushes checked while they arrive (NakamotoStream, reads of one packet's worth):
  // the stream's tables were reserved when it was built.
  NakamotoStream stream;
  std::size_t streamed = 0;
  const std::uint64_t stream_before = thread_allocated();
  for (int round = 0; round < 2; ++round)
    for (const auto& smp : corpus.samples) {
      if (smp.signers != test::PushSample::Signers::kSim && smp.signers != test::PushSample::Signers::kReal) continue;
      if (smp.payload[0] != static_cast<std::uint8_t>(codec::MsgId::kNakamotoBlocks)) continue;
      stream.begin(smp.payload.size());
      for (std::size_t have = 1448;; have += 1448) {
        stream.advance(ByteSpan(smp.payload).first(std::min(have, smp.payload.size())), checker(smp));
        if (have >= smp.payload.size()) break;
      }
      streamed += stream.state() == NakamotoStream::State::kPassed;
    }
  EXPECT_EQ(thread_allocated() - stream_before, 0u) << "bytes allocated streaming " << streamed << " block pushes";
  EXPECT_EQ(streamed, 4u);  // the mainnet block and the simulated pair, twice

  // The same measured with the full decode, so this test is known to see what it claims
  // to rule out: decoding these pushes the ordinary way allocates.
  const std::uint64_t full_before = thread_allocated();
  for (const auto& s : corpus.samples) {
    Reader r(s.payload);
    codec::Payload p;
    codec::read_payload(r, p);
  }
  EXPECT_GT(thread_allocated() - full_before, 100'000u);
}

}  // namespace
}  // namespace relay::validate
