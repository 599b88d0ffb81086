// NakamotoStream: the checks of a NakamotoBlocks push run as its bytes arrive agree with
// PushCheck on the whole payload — it passes exactly the valid pushes, with the same
// ids, at every read size; it gives up on everything else (so the whole check decides);
// and the costly checks are done before the last byte.
#include <gtest/gtest.h>

#include "relay/codec/message.hpp"
#include "relay/validate/nakamoto_stream.hpp"
#include "tests/support/push_corpus.hpp"

namespace relay::validate {
namespace {

using namespace relay::codec;
using test::PushSample;
using State = NakamotoStream::State;

const test::PushCorpus& corpus() {
  static const test::PushCorpus c = test::push_corpus();
  return c;
}

// feed: the payload in reads of `chunk` bytes (0: all at once); the state at the end.
State feed(NakamotoStream& s, PushCheck& check, ByteSpan payload, std::size_t chunk, std::size_t declared = 0) {
  s.begin(declared != 0 ? declared : payload.size());
  if (chunk == 0) chunk = payload.size();
  for (std::size_t have = std::min(chunk, payload.size());; have = std::min(have + chunk, payload.size())) {
    s.advance(payload.first(have), check);
    if (have == payload.size()) break;
  }
  return s.state();
}

void use_signers(PushCheck& c, PushSample::Signers which) {
  if (which == PushSample::Signers::kSim) c.set_reward_set(corpus().sim_signers);
  else if (which == PushSample::Signers::kReal) c.set_reward_set(corpus().real_signers);
  else c.set_reward_set({});
}

TEST(NakamotoStream, PassesValidBlocksWithTheirIdsAtEveryReadSize) {
  NakamotoStream s;
  int passed = 0;
  for (const auto& smp : corpus().samples) {
    if (smp.payload[0] != static_cast<std::uint8_t>(MsgId::kNakamotoBlocks)) continue;
    PushCheck check;
    use_signers(check, smp.signers);
    const auto whole = check.check(smp.payload, 0, true, nullptr);
    const std::vector<Hash32> ids(check.ids().begin(), check.ids().end());
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{100}, std::size_t{1500}, std::size_t{65536},
                              std::size_t{0}}) {
      if (chunk == 1 && smp.payload.size() > 20000) continue;  // the big ones byte by byte: slow, nothing new
      const State st = feed(s, check, smp.payload, chunk);
      if (whole.verdict != PushCheck::Verdict::kValid) {
        // Unknown signers: the stream gives up and the whole check reports.
        EXPECT_EQ(st, State::kGaveUp) << smp.name;
        continue;
      }
      ASSERT_EQ(st, State::kPassed) << smp.name << " in reads of " << chunk << ": " << s.why();
      ASSERT_EQ(std::vector<Hash32>(s.ids().begin(), s.ids().end()), ids) << smp.name;
      ++passed;
    }
  }
  EXPECT_GE(passed, 2 * 6 - 1);  // the mainnet block and the simulated pair, every read size
}

TEST(NakamotoStream, SignerChecksAreDoneBeforeTheLastByte) {
  // With the reward set taken away just before the last byte, the push still passes:
  // every signature was checked while the transactions were arriving.
  const auto& smp = *std::find_if(corpus().samples.begin(), corpus().samples.end(),
                                  [](const PushSample& p) { return p.name == "simulated Nakamoto blocks"; });
  PushCheck check;
  check.set_reward_set(corpus().sim_signers);
  NakamotoStream s;
  s.begin(smp.payload.size());
  const ByteSpan p(smp.payload);
  for (std::size_t have = 4096; have < p.size(); have += 4096) s.advance(p.first(have), check);
  s.advance(p.first(p.size() - 1), check);
  ASSERT_EQ(s.state(), State::kReading);
  EXPECT_EQ(s.ids().size(), 2u);  // both headers read and checked
  check.set_reward_set({});
  s.advance(p, check);
  EXPECT_EQ(s.state(), State::kPassed) << s.why();

  // Without a reward set from the start it gives up (the whole check says why).
  EXPECT_EQ(feed(s, check, p, 4096), State::kGaveUp);
  EXPECT_EQ(check.check(p, 0, true, nullptr).verdict, PushCheck::Verdict::kNoRewardSet);
  // And with the wrong signers.
  check.set_reward_set(corpus().real_signers);
  EXPECT_EQ(feed(s, check, p, 4096), State::kGaveUp);
  EXPECT_EQ(check.check(p, 0, true, nullptr).verdict, PushCheck::Verdict::kInvalid);
}

// Corruptions, cuts and extra bytes: whenever the stream passes, the whole check passes
// with the same ids; nearly all corruptions make it give up.
TEST(NakamotoStream, NeverPassesWhatTheWholeCheckRefuses) {
  NakamotoStream s;
  std::size_t cases = 0, gave_up = 0;
  for (const auto& smp : corpus().samples) {
    if (smp.payload[0] != static_cast<std::uint8_t>(MsgId::kNakamotoBlocks)) continue;
    if (smp.signers == PushSample::Signers::kUnknown) continue;
    PushCheck check;
    use_signers(check, smp.signers);
    const Bytes& p = smp.payload;
    auto judge = [&](const std::string& what, ByteSpan m, std::size_t declared) {
      const State st = feed(s, check, m, 1500, declared);
      ++cases;
      if (st == State::kGaveUp) {
        ++gave_up;
        return;
      }
      ASSERT_EQ(st, declared == m.size() ? State::kPassed : State::kReading) << what;
      if (st != State::kPassed) return;
      const auto out = check.check(m, 0, true, nullptr);
      ASSERT_EQ(out.verdict, PushCheck::Verdict::kValid) << what << " passed the stream, whole: " << out.reason;
      ASSERT_EQ(std::vector<Hash32>(s.ids().begin(), s.ids().end()),
                std::vector<Hash32>(check.ids().begin(), check.ids().end())) << what;
    };
    const std::size_t stride = std::max<std::size_t>(1, p.size() / 300);
    for (std::size_t i = 0; i < p.size(); i += stride) {
      Bytes m = p;
      m[i] ^= static_cast<std::uint8_t>(1u << (i % 8));
      judge(smp.name + " bit flip at " + std::to_string(i), m, m.size());
      if (HasFatalFailure()) return;
      // Cut short: the payload ends early (declared as that long) — gives up at the end.
      if (i > 0) {
        judge(smp.name + " cut at " + std::to_string(i), ByteSpan(p).first(i), i);
        if (HasFatalFailure()) return;
      }
    }
    Bytes longer = p;
    longer.push_back(0);
    judge(smp.name + " trailing byte", longer, longer.size());
    EXPECT_EQ(s.state(), State::kGaveUp);
  }
  EXPECT_GT(cases, 1000u);
  EXPECT_GT(gave_up, cases * 95 / 100);
}

TEST(NakamotoStream, GivesUpOnDuplicateTransactionsAndOtherPayloads) {
  sim::SignerSet signers(4);
  const auto miner = sim::key_from_byte(0x4d, 0x11);
  auto [txs, root] = sim::block_txs(2000, 77);
  ASSERT_GE(txs.size(), 2u);
  txs.push_back(txs[0]);  // the same transaction twice, with a Merkle root that covers it
  std::vector<Hash32> ids;
  for (const auto& t : txs) ids.push_back(t.txid);
  NakamotoBlocks nb;
  nb.blocks.push_back(sim::nakamoto_block_of(txs, crypto::merkle_root(ids), 9, signers, miner));
  const Bytes p = test::push_payload(nb);
  PushCheck check;
  check.set_reward_set(signers.reward_set);
  NakamotoStream s;
  EXPECT_EQ(feed(s, check, p, 512), State::kGaveUp);
  EXPECT_STREQ(s.why(), "duplicate transaction in block");
  EXPECT_EQ(check.check(p, 0, true, nullptr).verdict, PushCheck::Verdict::kUndecodable);

  // A transaction push is not for the stream.
  const auto& tx = *std::find_if(corpus().samples.begin(), corpus().samples.end(),
                                 [](const PushSample& x) { return x.payload[0] == static_cast<std::uint8_t>(MsgId::kTransaction); });
  EXPECT_EQ(feed(s, check, tx.payload, 0), State::kGaveUp);
  EXPECT_STREQ(s.why(), "not NakamotoBlocks");
}

}  // namespace
}  // namespace relay::validate
