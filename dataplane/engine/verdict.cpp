#include "dataplane/engine/verdict.hpp"

namespace relay::dp {

Verdict header_verdict(std::optional<policy::Priority> priority, policy::RelayersVerdict relayers, bool room_for_us,
                       bool have_burn_view) noexcept {
  if (!priority) return Verdict::kNotRelayedType;
  switch (relayers) {
    case policy::RelayersVerdict::kOk: break;
    case policy::RelayersVerdict::kContainsUs: return Verdict::kCameBack;
    case policy::RelayersVerdict::kCycle:
    case policy::RelayersVerdict::kTooMany: return Verdict::kRelayersCycle;
  }
  if (!room_for_us) return Verdict::kRelayersFull;
  if (!have_burn_view) return Verdict::kNoBurnView;
  return Verdict::kForward;
}

Verdict decide(const PushFacts& f) noexcept {
  using Check = validate::PushCheck::Verdict;
  if (!f.signature_ok) return Verdict::kBadSignature;
  if (!f.relayers_decode || f.check == Check::kUndecodable) return Verdict::kUndecodable;
  if (f.header != Verdict::kForward) return f.header;
  if (f.new_ids == 0) return Verdict::kDuplicate;
  if (f.check == Check::kNoRewardSet) return Verdict::kNoRewardSet;
  if (f.check == Check::kBeyondPolicy) return Verdict::kBeyondPolicy;
  if (f.check == Check::kWrongSigner) return Verdict::kChunkSigner;
  if (f.check != Check::kValid) return Verdict::kInvalid;
  return Verdict::kForward;
}

std::atomic<std::uint64_t> link::DpCounters::*counter_of(Verdict v) noexcept {
  using C = link::DpCounters;
  switch (v) {
    case Verdict::kForward: return &C::relayed;
    case Verdict::kBadSignature: return &C::drop_bad_signature;
    case Verdict::kUndecodable: return &C::drop_framing;
    case Verdict::kNotRelayedType: return &C::drop_not_relayed_type;
    case Verdict::kCameBack:
    case Verdict::kRelayersCycle:
    case Verdict::kRelayersFull: return &C::drop_relayers;
    case Verdict::kNoBurnView: return &C::drop_no_burn_view;
    case Verdict::kDuplicate: return &C::drop_dup;
    case Verdict::kNoRewardSet: return &C::drop_no_reward_set;
    case Verdict::kBeyondPolicy: return &C::drop_beyond_policy;
    case Verdict::kChunkSigner: return &C::drop_chunk_signer;
    case Verdict::kInvalid: return &C::drop_invalid;
  }
  return &C::drop_invalid;
}

const char* sender_drop_reason(Verdict v) noexcept {
  switch (v) {
    case Verdict::kBadSignature: return "message signature invalid";
    case Verdict::kUndecodable: return "message does not decode";
    case Verdict::kRelayersCycle: return "relayers contain a cycle";
    default: return nullptr;
  }
}

const char* verdict_name(Verdict v) noexcept {
  switch (v) {
    case Verdict::kForward: return "forward";
    case Verdict::kBadSignature: return "bad_signature";
    case Verdict::kUndecodable: return "undecodable";
    case Verdict::kNotRelayedType: return "not_relayed_type";
    case Verdict::kCameBack: return "came_back";
    case Verdict::kRelayersCycle: return "relayers_cycle";
    case Verdict::kRelayersFull: return "relayers_full";
    case Verdict::kNoBurnView: return "no_burn_view";
    case Verdict::kDuplicate: return "duplicate";
    case Verdict::kNoRewardSet: return "no_reward_set";
    case Verdict::kBeyondPolicy: return "beyond_policy";
    case Verdict::kChunkSigner: return "chunk_signer";
    case Verdict::kInvalid: return "invalid";
  }
  return "?";
}

}  // namespace relay::dp
