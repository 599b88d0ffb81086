// relay/validate/validate.hpp — signatures and consensus rules a relay checks before it
// forwards anything (PROTOCOL.md §2, §7, ARCHITECTURE.md §3.3–3.4).
//
// Every function is pure (no I/O, no globals besides the crypto contexts), thread-safe,
// and costs roughly one secp256k1 recovery per signature it checks.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "relay/base/parallel.hpp"
#include "relay/codec/chain.hpp"
#include "relay/codec/message.hpp"
#include "relay/crypto/secp256k1.hpp"

namespace relay::validate {

using codec::Hash20;
using codec::Hash32;
using crypto::PublicKey;

// ---- p2p messages (§2) ------------------------------------------------------------

// message_digest: H(preamble with 65 zero signature bytes ‖ body), where `preamble`
// is the 165 bytes as they are (payload_len included) and body the payload_len bytes.
Hash32 message_digest(ByteSpan preamble165, ByteSpan body) noexcept;

// sign_message: set payload_len and the signature of `m` (seq and burn view are the
// caller's) and return the encoded bytes, signed with `key`.
Bytes sign_message(codec::Message& m, const crypto::SecretKey& key);

// recover_message_signer: the key that signed a whole encoded message (low-S enforced,
// as the node's verify does); nullopt if the signature does not recover or is high-S.
std::optional<PublicKey> recover_message_signer(ByteSpan message) noexcept;

// verify_message: the message is signed by `expected` (recover, compare, low-S).
bool verify_message(ByteSpan message, const PublicKey& expected) noexcept;

// ---- transactions (§7.5) --------------------------------------------------------

// initial_sighash: txid of the transaction with its auth cleared (and the sponsor
// replaced by the sentinel), the start of every signature chain.
Hash32 initial_sighash(const codec::StacksTransaction& tx);
// initial_sighash(tx, raw): the same from the bytes `tx` was decoded from (works on a
// skimmed transaction, whose contents were not kept).
Hash32 initial_sighash(const codec::StacksTransaction& tx, ByteSpan raw);

// address_hash: the signer hash160 a set of public keys gives under a hash mode
// (P2PKH, P2SH, P2WPKH, P2WSH and their order-independent variants).
// `compressed[i]` says how key i is encoded in the hash.
std::optional<Hash20> address_hash(std::uint8_t hash_mode, std::span<const PublicKey> keys,
                                   std::span<const bool> compressed, std::uint16_t signatures_required);

struct AuthCheck {
  bool ok = false;
  const char* reason = "";
  Hash32 next_sighash{};  // the sighash the next condition (the sponsor) starts from
};

// verify_origin / verify_sponsor: check one spending condition's signatures, the way
// StacksTransaction::verify does (low-S enforced, signer hash compared).
AuthCheck verify_origin(const codec::StacksTransaction& tx);
AuthCheck verify_sponsor(const codec::StacksTransaction& tx, const Hash32& origin_final_sighash);
// verify_transaction: origin, and sponsor when sponsored.
AuthCheck verify_transaction(const codec::StacksTransaction& tx);
// verify_transaction(tx, raw): from the bytes `tx` was decoded from (skimmed or not).
// Single-sig conditions are checked without allocating.
AuthCheck verify_transaction(const codec::StacksTransaction& tx, ByteSpan raw);

// sign_singlesig_origin: fill a P2PKH/P2WPKH origin's signature (and, when `sponsor`
// is set, the sponsor's). Used by tests, benches and tools that build transactions.
void sign_singlesig_origin(codec::StacksTransaction& tx, const crypto::SecretKey& key);
void sign_singlesig_sponsor(codec::StacksTransaction& tx, const crypto::SecretKey& key);

// ---- blocks -----------------------------------------------------------------------

// microblock_signer_hash: hash160 of the compressed key that signed the header
// (recovery without low-S, as check_recover_pubkey), or nullopt.
std::optional<Hash20> microblock_signer_hash(const codec::MicroblockHeader& h);

// verify_microblock_signature: the header is signed by the key the anchored block
// commits to (its microblock_pubkey_hash).
bool verify_microblock_signature(const codec::MicroblockHeader& h, const Hash20& microblock_pubkey_hash);

// verify_microblock_stream: what can be checked of pushed microblocks without their
// anchored block: each header's signature recovers, all are signed by one key, the
// sequence numbers are consecutive and each links to the previous one's hash (decoding
// already checked every Merkle root). `signer` receives the key's hash
// (to compare with the anchored block's microblock_pubkey_hash when it is known).
struct MicroblockStreamCheck {
  bool ok = false;
  const char* reason = "";
  Hash20 signer{};
};
MicroblockStreamCheck verify_microblock_stream(std::span<const codec::StacksMicroblock> mbs);

// MicroblockStream: the same checks one microblock at a time, as they are decoded.
class MicroblockStream {
 public:
  // add: check the next microblock; false from the first one that breaks the stream on.
  bool add(const codec::StacksMicroblock& mb);
  // result: ok when at least one microblock was added and none broke the stream.
  MicroblockStreamCheck result() const;

 private:
  std::size_t count_ = 0;
  const char* broken_ = nullptr;
  Hash20 signer_{};
  std::uint16_t prev_seq_ = 0;
  Hash32 prev_hash_{};
};

// nakamoto_miner_key: the key recovered from the miner signature (no low-S check).
std::optional<PublicKey> nakamoto_miner_key(const codec::NakamotoBlock& b);

struct RewardSetSigner {
  codec::PubKey33 signing_key{};
  std::uint32_t weight = 0;
  bool operator==(const RewardSetSigner&) const = default;
};

struct SignerCheck {
  bool ok = false;
  const char* reason = "";
  std::uint64_t weight_signed = 0;
  std::uint64_t total_weight = 0;
  std::uint64_t threshold = 0;
  std::uint32_t recoveries = 0;  // signatures recovered to reach this verdict
};

// threshold_weight: ⌈70 % of total⌉, NAKAMOTO_SIGNER_BLOCK_APPROVAL_THRESHOLD = 7/10.
std::uint64_t threshold_weight(std::uint64_t total) noexcept;

// verify_signer_signatures: every signature recovers (no low-S) to a distinct reward-set
// key, in the order the header version requires (v1+: strictly increasing index;
// v0: each index greater than the first one's), and the weight reaches the threshold.
SignerCheck verify_signer_signatures(const codec::NakamotoBlock& b,
                                     std::span<const RewardSetSigner> reward_set);

// SignerSet: a reward set prepared for checking many blocks: keys sorted for lookup and
// scratch sized once, so verify() allocates nothing. Not thread-safe (the scratch).
class SignerSet {
 public:
  SignerSet() = default;
  explicit SignerSet(std::span<const RewardSetSigner> reward_set);
  bool empty() const noexcept { return signers_.empty(); }
  std::span<const RewardSetSigner> signers() const noexcept { return signers_; }
  // verify: verify_signer_signatures for a block with this header and signer-signature
  // hash (block_hash), the recoveries spread through `par` when given, none past the
  // first signature seen to give no key of this set;
  // indexes() then holds each signature's reward-set index, and recovered() the keys
  // recovered when every signature was (empty otherwise).
  SignerCheck verify(const codec::NakamotoBlockHeader& h, const Hash32& block_hash, ParallelFor* par = nullptr);
  // verify_recovered: the same with the keys already recovered (another set's
  // recovered(): a block is tried against two reward sets for the cost of one set of
  // recoveries). A key of all zero bytes stands for a signature that did not recover.
  SignerCheck verify_recovered(const codec::NakamotoBlockHeader& h, std::span<const codec::PubKey33> keys);
  std::span<const std::uint32_t> indexes() const noexcept { return indexes_; }
  std::span<const codec::PubKey33> recovered() const noexcept { return recovered_; }

 private:
  struct KeyIndex {
    codec::PubKey33 key;
    std::uint32_t index;
    auto operator<=>(const KeyIndex&) const = default;
  };
  std::vector<RewardSetSigner> signers_;
  std::vector<KeyIndex> by_key_;  // sorted by key, then reward-set index
  std::uint64_t total_weight_ = 0;
  std::vector<std::uint8_t> used_;
  std::vector<std::uint32_t> indexes_;
  std::vector<codec::PubKey33> keys_;       // recovery scratch, one per reward-set entry
  std::span<const codec::PubKey33> recovered_;
  SignerCheck refuse(const codec::NakamotoBlockHeader& h) const;  // the checks before any recovery
};

// stackerdb_chunk_digest: H(slot_id ‖ slot_version ‖ H(data)) (the data given apart: a
// skimmed chunk holds none).
Hash32 stackerdb_chunk_digest(std::uint32_t slot_id, std::uint32_t slot_version, ByteSpan data) noexcept;
Hash32 stackerdb_chunk_digest(const codec::StackerDBChunkData& c) noexcept;
// stackerdb_chunk_signer_hash: hash160(compressed key) recovered from the chunk signature.
std::optional<Hash20> stackerdb_chunk_signer_hash(const codec::StackerDBChunkData& c);
// verify_stackerdb_chunk: the chunk is signed by the slot owner (address bytes; the
// address version is not part of the check, as in StackerDBChunkData::verify).
bool verify_stackerdb_chunk(const codec::StackerDBChunkData& c, const Hash20& slot_owner);
// stackerdb_chunk_key: the key recovered from a chunk's signature (no low-S check, as the
// node's SlotMetadata::verify), its data given apart (a skimmed chunk holds none).
std::optional<codec::PubKey33> stackerdb_chunk_key(std::uint32_t slot_id, std::uint32_t slot_version,
                                                   const codec::Sig65& sig, ByteSpan data);

// The signers' StackerDBs: `signers-P-M` (P 0 or 1, M a message id) at the boot address.
// The node fills slot i of every signers-P-* with the i-th signer of the reward set of
// the cycle whose parity is P (NakamotoSigners::update_signers: one slot per signer, in
// reward-set order, the signer's address the hash of its signing key), written at the
// start of the prepare phase before that cycle. signers_contract_parity: P, or -1 when
// `id` is not such a contract.
int signers_contract_parity(const codec::StacksAddress& address, std::string_view name) noexcept;
inline int signers_contract_parity(const codec::ContractId& id) noexcept {
  return signers_contract_parity(id.address, id.name);
}
// SlotSigners: each parity's slot owners (empty: not known, nothing checked).
struct SlotSigners {
  std::vector<codec::PubKey33> by_parity[2];
};
// slot_signers: from the current cycle's number (0: not known) and its set, the
// previous and the next (empty when not known yet): the current cycle's parity holds the
// current set; the other parity the next cycle's once it is known, else the previous.
SlotSigners slot_signers(std::uint64_t cycle, std::span<const RewardSetSigner> current,
                         std::span<const RewardSetSigner> previous, std::span<const RewardSetSigner> next);

}  // namespace relay::validate
