// The relay path's verdict on its own (dataplane/engine/verdict.hpp): a pure function,
// checked over every combination of what it is given.
#include "dataplane/engine/verdict.hpp"

#include <gtest/gtest.h>

#include <set>

namespace relay::dp {
namespace {

using Check = validate::PushCheck::Verdict;
using policy::RelayersVerdict;

TEST(Verdict, TheHeaderAloneInItsOrder) {
  const auto tx = policy::Priority::kTransaction;
  EXPECT_EQ(header_verdict(tx, RelayersVerdict::kOk, true, true), Verdict::kForward);
  EXPECT_EQ(header_verdict(std::nullopt, RelayersVerdict::kCycle, false, false), Verdict::kNotRelayedType);
  EXPECT_EQ(header_verdict(tx, RelayersVerdict::kContainsUs, false, false), Verdict::kCameBack);
  EXPECT_EQ(header_verdict(tx, RelayersVerdict::kCycle, false, false), Verdict::kRelayersCycle);
  EXPECT_EQ(header_verdict(tx, RelayersVerdict::kTooMany, true, true), Verdict::kRelayersCycle);
  EXPECT_EQ(header_verdict(tx, RelayersVerdict::kOk, false, false), Verdict::kRelayersFull);
  EXPECT_EQ(header_verdict(tx, RelayersVerdict::kOk, true, false), Verdict::kNoBurnView);
}

TEST(Verdict, EveryCombinationHasOneVerdictInTheDocumentedOrder) {
  const Verdict headers[] = {Verdict::kForward,     Verdict::kNotRelayedType, Verdict::kCameBack,
                             Verdict::kRelayersCycle, Verdict::kRelayersFull, Verdict::kNoBurnView};
  const Check checks[] = {Check::kValid, Check::kUndecodable, Check::kInvalid, Check::kNoRewardSet,
                          Check::kBeyondPolicy, Check::kWrongSigner};
  int forwards = 0;
  for (bool sig : {true, false})
    for (bool rel : {true, false})
      for (Verdict h : headers)
        for (Check c : checks)
          for (std::size_t ids : {0u, 1u}) {
            const Verdict v = decide({sig, rel, h, c, ids});
            if (!sig) {
              EXPECT_EQ(v, Verdict::kBadSignature);  // decides before anything else
            } else if (!rel || c == Check::kUndecodable) {
              EXPECT_EQ(v, Verdict::kUndecodable);  // a node drops whoever sends what does not decode
            } else if (h != Verdict::kForward) {
              EXPECT_EQ(v, h);
            } else if (ids == 0) {
              EXPECT_EQ(v, Verdict::kDuplicate);
            } else if (c == Check::kNoRewardSet) {
              EXPECT_EQ(v, Verdict::kNoRewardSet);
            } else if (c == Check::kBeyondPolicy) {
              EXPECT_EQ(v, Verdict::kBeyondPolicy);  // not relayed, and not invalid
            } else if (c == Check::kWrongSigner) {
              EXPECT_EQ(v, Verdict::kChunkSigner);  // not relayed, and not invalid
            } else if (c == Check::kInvalid) {
              EXPECT_EQ(v, Verdict::kInvalid);
            } else {
              EXPECT_EQ(v, Verdict::kForward);
              ++forwards;
            }
          }
  EXPECT_EQ(forwards, 1);  // only everything good forwards
}

TEST(Verdict, EachHasOneCounterAndOnlyThreeDropTheSender) {
  const Verdict all[] = {Verdict::kForward,      Verdict::kBadSignature, Verdict::kUndecodable, Verdict::kNotRelayedType,
                         Verdict::kCameBack,     Verdict::kRelayersCycle, Verdict::kRelayersFull, Verdict::kNoBurnView,
                         Verdict::kDuplicate,    Verdict::kNoRewardSet,  Verdict::kInvalid,
                         Verdict::kBeyondPolicy, Verdict::kChunkSigner};
  link::DpCounters c{};
  std::set<std::string> names;
  for (Verdict v : all) {
    (c.*counter_of(v)).fetch_add(1);
    names.insert(verdict_name(v));
    const bool drops = v == Verdict::kBadSignature || v == Verdict::kUndecodable || v == Verdict::kRelayersCycle;
    EXPECT_EQ(sender_drop_reason(v) != nullptr, drops) << verdict_name(v);
  }
  EXPECT_EQ(names.size(), std::size(all));
  EXPECT_EQ(c.relayed.load(), 1u);
  EXPECT_EQ(c.drop_bad_signature.load(), 1u);
  EXPECT_EQ(c.drop_framing.load(), 1u);
  EXPECT_EQ(c.drop_not_relayed_type.load(), 1u);
  EXPECT_EQ(c.drop_relayers.load(), 3u);  // came back, cycle, full
  EXPECT_EQ(c.drop_no_burn_view.load(), 1u);
  EXPECT_EQ(c.drop_dup.load(), 1u);
  EXPECT_EQ(c.drop_no_reward_set.load(), 1u);
  EXPECT_EQ(c.drop_invalid.load(), 1u);
  EXPECT_EQ(c.drop_beyond_policy.load(), 1u);
  EXPECT_EQ(c.drop_chunk_signer.load(), 1u);
}

}  // namespace
}  // namespace relay::dp
