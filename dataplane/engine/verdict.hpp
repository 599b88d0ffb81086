// dataplane/engine/verdict.hpp — what becomes of one push, decided once, by a pure
// function of what the relay path learnt of it (ARCHITECTURE.md §3): each verdict is
// counted by exactly one counter, and three of them drop the sender, as a node would.
//
// The header's facts (type, relayers, our burn view) are judged first, on their own:
// only a push that could be forwarded has its contents' signatures checked (the decode
// is always whole, since a node drops whoever sends it what it cannot decode). The
// final verdict then adds the sender's signature and the contents' check, in the order
// a reader of the list below expects: a bad signature decides before anything else.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "relay/link/link.hpp"
#include "relay/policy/relay_policy.hpp"
#include "relay/validate/push_check.hpp"

namespace relay::dp {

enum class Verdict : std::uint8_t {
  kForward,          // valid, new, and ours to relay: signed once, sent to every eligible peer
  kBadSignature,     // the sender's message signature does not verify   (sender dropped)
  kUndecodable,      // the relayers or the payload do not decode        (sender dropped)
  kNotRelayedType,   // a kind this network does not relay
  kCameBack,         // our own key hash is among the relayers
  kRelayersCycle,    // a key hash twice among the relayers, or too many (sender dropped)
  kRelayersFull,     // 16 relayers already: no room to add ourselves
  kNoBurnView,       // no burn view yet: every node would refuse our preamble
  kDuplicate,        // every object in it was relayed already
  kNoRewardSet,      // a Nakamoto block, and no reward set to check its signers against
  kBeyondPolicy,     // checking it would cost more than the relay's own limits allow
  kChunkSigner,      // a signers' StackerDB chunk not signed by its slot's signer
  kInvalid,          // fails validation
};

// header_verdict: the push's header alone. kForward: nothing in it stops the push, so
// its contents are checked in full (signatures included).
Verdict header_verdict(std::optional<policy::Priority> priority, policy::RelayersVerdict relayers, bool room_for_us,
                       bool have_burn_view) noexcept;

// What the relay path knows once the push is read and checked.
struct PushFacts {
  bool signature_ok = true;      // the sender's message signature (true: not ours to check)
  bool relayers_decode = true;   // the relayers vector decodes and a payload follows it
  Verdict header = Verdict::kForward;  // header_verdict()
  validate::PushCheck::Verdict check = validate::PushCheck::Verdict::kValid;
  std::size_t new_ids = 0;       // objects not relayed before
};

// decide: the one verdict.
Verdict decide(const PushFacts& f) noexcept;

// counter_of: the dataplane counter that counts `v` (kForward: `relayed`).
std::atomic<std::uint64_t> link::DpCounters::*counter_of(Verdict v) noexcept;
// sender_drop_reason: why the sender is dropped for `v`, or nullptr when it is not.
const char* sender_drop_reason(Verdict v) noexcept;
const char* verdict_name(Verdict v) noexcept;

}  // namespace relay::dp
