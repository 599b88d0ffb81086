// relay/validate/push_check.hpp — everything the relay checks of a pushed payload before
// forwarding it (ARCHITECTURE.md §3.3–3.4), in one pass over the received bytes and
// without allocating: codec::read_push skims the payload (strict decode, contents not
// copied) and each object is checked as it completes:
//
//   Transaction          origin (and sponsor) signatures, from the bytes as received
//                        (up to codec::kMaxTxAuthFields fields per multisig condition)
//   NakamotoBlocks       signer signatures against the reward set, ≥ 70 % of its weight
//   Blocks (2.x)         decode only (Merkle root, coinbase rules); no signatures exist
//   Microblocks (2.x)    one signer, consecutive sequence numbers, each linked to the last
//   StackerDBPushChunk   of the signers' contracts: signed by its slot's signer, when the
//                        reward sets say who that is (slot_signers); others decode only
//   (Micro)BlocksAvailable  decode only
//
// Objects the caller already relayed (`known`) are not checked again: an id is only
// remembered after its object passed these checks, and the ids cover what the checks
// cover (a Nakamoto block id leaves out signer signatures, but a block we relayed had a
// valid set). The ids of every object are collected for the caller's dedup.
#pragma once

#include <span>
#include <vector>

#include "relay/codec/message.hpp"
#include "relay/dedup/tag_cache.hpp"
#include "relay/validate/validate.hpp"

namespace relay::validate {

class PushCheck final : private codec::PushVisitor {
 public:
  // kBeyondPolicy: it decodes, but checking it would cost more than the relay's own
  // limits allow (codec::kMaxPushKeyChecks, kMaxTxAuthFields): not relayed, and not held
  // against the sender (a node has no such limit).
  // kWrongSigner: a signers' StackerDB chunk not signed by its slot's signer in the sets
  // we know: no node stores it (BadSlotSigner), so it is not relayed; not held against the
  // sender either (a node does not punish it, and our sets may be a cycle behind).
  enum class Verdict : std::uint8_t { kValid, kUndecodable, kInvalid, kNoRewardSet, kBeyondPolicy, kWrongSigner };
  struct Outcome {
    Verdict verdict = Verdict::kValid;
    const char* reason = "";
    Error error{};             // kUndecodable: where and why
    std::size_t new_ids = 0;   // ids not `known`
    std::size_t signature_checks = 0;  // transaction signatures (and multisig keys) verified
    bool chunk_signer_checked = false;  // a chunk's signature was checked against its slot's signer
  };

  // What is reserved up front. kLargestPush: everything a push can need (the ids of the
  // largest microblock stream, 2 MiB; the decode scratch of this thread), so check()
  // never allocates. kSignerChecks: all but the ids (a checker that only runs
  // verify_signers). kOnDemand: nothing (tests and fuzzing: the same code, buffers
  // grown as needed).
  enum class Reserve : std::uint8_t { kLargestPush, kSignerChecks, kOnDemand };
  explicit PushCheck(Reserve r = Reserve::kLargestPush);

  // The signers Nakamoto blocks are checked against: the current reward cycle's and,
  // optionally, the previous one's (a block passes with either).
  void set_reward_set(std::span<const RewardSetSigner> set, std::span<const RewardSetSigner> previous = {}) {
    signers_ = SignerSet(set);
    previous_ = SignerSet(previous);
  }
  const SignerSet& signer_set() const noexcept { return signers_; }
  // set_parallel: where the signer signatures of a block may be recovered side by side
  // (nullptr: one after another on the caller's thread, the default).
  void set_parallel(ParallelFor* par) noexcept { par_ = par; }
  const SignerSet& previous_signer_set() const noexcept { return previous_; }
  // set_slot_signers: who owns each slot of the signers' StackerDBs (validate::slot_signers).
  void set_slot_signers(SlotSigners s) { slots_ = std::move(s); }

  // check: decode `payload` (from its type byte; `base_off` places errors in the whole
  // message) and, when `validate`, run the checks above on each object not in `known`.
  // ids() then lists every object's id, in order.
  Outcome check(ByteSpan payload, std::uint32_t base_off, bool validate, const dedup::TagCache* known);
  std::span<const Hash32> ids() const noexcept { return ids_; }

  // verify_signers: a Nakamoto header's signer signatures against the current reward
  // set or, failing that, the previous one (kValid, kInvalid or kNoRewardSet). Each
  // signature is recovered once for both.
  Verdict verify_signers(const codec::NakamotoBlockHeader& h, const Hash32& block_hash, const char** why = nullptr);
  // accept_streamed: the outcome of a push whose checks all passed while it arrived
  // (NakamotoStream::kPassed): `ids` are its objects' ids; ids() lists them after.
  Outcome accept_streamed(std::span<const Hash32> ids, const dedup::TagCache* known);
  // signer_recoveries: signer signatures recovered by verify_signers so far.
  std::uint64_t signer_recoveries() const noexcept { return recoveries_; }

 private:
  void transaction(const codec::StacksTransaction& tx, ByteSpan raw) override;
  void nakamoto_block(const codec::NakamotoBlock& b, ByteSpan raw) override;
  void block(const Hash20& consensus_hash, const codec::StacksBlock& b, ByteSpan raw) override;
  void microblock(const Hash32& index_anchor_block, const codec::StacksMicroblock& mb, ByteSpan raw) override;
  void chunk(const codec::StackerDBPushChunk& c) override;
  void available(codec::MsgId id, std::span<const codec::BlockAvailable> entries) override;
  void beyond_policy(const char* why) override;

  // add: record an id; true when it still has to be checked.
  bool add(const Hash32& id);
  void invalid(Verdict v, const char* why);

  codec::PushScratch scratch_;
  SignerSet signers_;
  SignerSet previous_;
  SlotSigners slots_;
  ParallelFor* par_ = nullptr;
  std::uint64_t recoveries_ = 0;
  MicroblockStream stream_;
  std::vector<Hash32> ids_;
  // per check
  ByteSpan payload_;
  bool validate_ = false;
  const dedup::TagCache* known_ = nullptr;
  Outcome out_;
};

const char* verdict_name(PushCheck::Verdict v) noexcept;

}  // namespace relay::validate
