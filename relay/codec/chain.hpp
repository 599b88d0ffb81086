// relay/codec/chain.hpp — Stacks chain objects a relay must look inside
// (PROTOCOL.md §7): transactions, 2.x blocks and microblocks, Nakamoto blocks.
//
// Decoding is strict: every encoding that would not re-encode to the same bytes is
// rejected (PROTOCOL.md §7.9), so an object that decodes is canonical and its ids are
// the hashes of the very bytes received. Ids (txid, block hashes) are computed during
// decode from the raw bytes and stored in the object; objects built in code get them
// from compute_ids().
//
// read_*(Reader&, T&) overwrite `out` (reusing its capacity) and report failure through
// the Reader's sticky error. write_*(Writer&, const T&) are their exact inverses.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "relay/base/bytes.hpp"
#include "relay/codec/clarity.hpp"
#include "relay/codec/types.hpp"

namespace relay::codec {

// ---- transactions (§7.5) --------------------------------------------------------

enum class HashMode : std::uint8_t {
  kP2PKH = 0x00, kP2SH = 0x01, kP2WPKH = 0x02, kP2WSH = 0x03,
  kP2SHNonSequential = 0x05, kP2WSHNonSequential = 0x07,
};
bool is_singlesig(std::uint8_t hash_mode) noexcept;
bool is_order_independent(std::uint8_t hash_mode) noexcept;

// AuthField id: 0 pubkey (compressed), 1 pubkey (uncompressed), 2 sig (compressed key),
// 3 sig (uncompressed key).
struct AuthField {
  std::uint8_t id = 0;
  PubKey33 public_key{};  // ids 0, 1
  Sig65 signature{};      // ids 2, 3
  bool is_signature() const noexcept { return id >= 2; }
  bool compressed() const noexcept { return id == 0 || id == 2; }
};

struct SpendingCondition {
  std::uint8_t hash_mode = 0;
  Hash20 signer{};
  std::uint64_t nonce = 0;
  std::uint64_t tx_fee = 0;
  // singlesig
  std::uint8_t key_encoding = 0;  // 0 compressed, 1 uncompressed
  Sig65 signature{};
  // multisig
  std::vector<AuthField> fields;
  std::uint16_t signatures_required = 0;
};

inline constexpr std::uint8_t kAuthStandard = 0x04;
inline constexpr std::uint8_t kAuthSponsored = 0x05;

struct TransactionAuth {
  std::uint8_t flag = kAuthStandard;
  SpendingCondition origin;
  SpendingCondition sponsor;  // meaningful only when flag == kAuthSponsored
  bool sponsored() const noexcept { return flag == kAuthSponsored; }
};

// Post-condition principal: 1 origin, 2 standard, 3 contract.
struct PostConditionPrincipal {
  std::uint8_t id = 1;
  StacksAddress address;
  std::string contract_name;
};

struct AssetInfo {
  StacksAddress address;
  std::string contract_name;
  std::string asset_name;
};

// Post-condition kinds: 0 STX, 1 fungible, 2 non-fungible, 3 staking, 4 pox.
struct PostCondition {
  std::uint8_t kind = 0;
  PostConditionPrincipal principal;
  AssetInfo asset;           // kinds 1, 2
  ClarityValue asset_value;  // kind 2
  std::uint8_t code = 0;     // fungible / nft / pox condition code
  std::uint64_t amount = 0;  // kinds 0, 1, 3
};

// PrincipalData as in a TokenTransfer recipient: Clarity 0x05 / 0x06 layout.
struct Principal {
  bool is_contract = false;
  StacksAddress address;
  std::string contract_name;  // ≤ 128 bytes
};

struct MicroblockHeader {
  std::uint8_t version = 0;
  std::uint16_t sequence = 0;
  Hash32 prev_block{};
  Hash32 tx_merkle_root{};
  Sig65 signature{};
};

enum class PayloadId : std::uint8_t {
  kTokenTransfer = 0, kSmartContract = 1, kContractCall = 2, kPoisonMicroblock = 3,
  kCoinbase = 4, kCoinbaseToAltRecipient = 5, kVersionedSmartContract = 6,
  kTenureChange = 7, kNakamotoCoinbase = 8,
};
const char* payload_name(std::uint8_t id) noexcept;

struct TenureChange {
  Hash20 tenure_consensus_hash{};
  Hash20 prev_tenure_consensus_hash{};
  Hash20 burn_view_consensus_hash{};
  Hash32 previous_tenure_end{};
  std::uint32_t previous_tenure_blocks = 0;
  std::uint8_t cause = 0;
  Hash20 pubkey_hash{};
};

// TransactionPayload: one struct with the fields of every kind; `id` says which apply.
struct TxPayload {
  std::uint8_t id = 0;
  // 0 token transfer
  Principal recipient;
  std::uint64_t amount = 0;
  ByteArray<34> memo{};
  // 1, 6 smart contract; 2 contract call (contract_name, function_name, args)
  std::uint8_t clarity_version = 0;  // 6 only
  std::string contract_name;
  std::string code_body;
  StacksAddress contract_address;
  std::string function_name;
  std::vector<ClarityValue> args;
  // 3 poison microblock
  MicroblockHeader poison_h1, poison_h2;
  // 4, 5, 8 coinbase
  Hash32 coinbase_payload{};
  std::optional<Principal> alt_recipient;  // 5 (required), 8 (optional)
  VrfProof vrf_proof{};                    // 8
  // 7 tenure change
  TenureChange tenure_change;
};

struct StacksTransaction {
  std::uint8_t version = 0;   // 0x00 mainnet, 0x80 testnet
  std::uint32_t chain_id = 0;
  TransactionAuth auth;
  std::uint8_t anchor_mode = 3;          // 1 on-chain, 2 off-chain, 3 any
  std::uint8_t post_condition_mode = 2;  // 1 allow, 2 deny, 3 originator
  std::vector<PostCondition> post_conditions;
  TxPayload payload;
  // derived
  Hash32 txid{};
  std::uint32_t encoded_size = 0;
  std::uint32_t auth_size = 0;  // bytes of the auth, which starts at offset 5

  bool is_coinbase() const noexcept;  // payloads 4, 5, 8
  bool mainnet() const noexcept { return (version & 0x80) == 0; }
};

void read_spending_condition(Reader& r, SpendingCondition& out);
void write_spending_condition(Writer& w, const SpendingCondition& c);
void read_post_condition(Reader& r, PostCondition& out);
void write_post_condition(Writer& w, const PostCondition& pc);
// kDefer leaves out.txid zero for the caller to compute — many at once
// (crypto::sha512_256_many over the transactions' encoded_size bytes).
enum class TxidMode : std::uint8_t { kHash, kDefer };
void read_transaction(Reader& r, StacksTransaction& out, TxidMode txid);
void read_transaction(Reader& r, StacksTransaction& out);  // kHash
void write_transaction(Writer& w, const StacksTransaction& tx);
void read_microblock_header(Reader& r, MicroblockHeader& out);
void write_microblock_header(Writer& w, const MicroblockHeader& h);

// ---- Stacks 2.x blocks (§7.2, §7.3) ---------------------------------------------

struct StacksBlockHeader {
  std::uint8_t version = 0;
  std::uint64_t total_burn = 0;
  std::uint64_t total_work = 0;
  VrfProof proof{};
  Hash32 parent_block{};
  Hash32 parent_microblock{};
  std::uint16_t parent_microblock_sequence = 0;
  Hash32 tx_merkle_root{};
  Hash32 state_index_root{};
  Hash20 microblock_pubkey_hash{};
};
inline constexpr std::size_t kStacksBlockHeaderSize = 247;
inline constexpr std::size_t kMicroblockHeaderSize = 132;

struct StacksBlock {
  StacksBlockHeader header;
  std::vector<StacksTransaction> txs;
  Hash32 block_hash{};  // derived: H(247-byte header), zero for the genesis header
};

struct StacksMicroblock {
  MicroblockHeader header;
  std::vector<StacksTransaction> txs;
  Hash32 block_hash{};  // derived: H(132-byte header incl. signature)
};

void read_block_header(Reader& r, StacksBlockHeader& out);
void write_block_header(Writer& w, const StacksBlockHeader& h);
void read_stacks_block(Reader& r, StacksBlock& out);
void write_stacks_block(Writer& w, const StacksBlock& b);
void read_microblock(Reader& r, StacksMicroblock& out);
void write_microblock(Writer& w, const StacksMicroblock& m);

// ---- Nakamoto blocks (§7.4) -----------------------------------------------------

struct BitVec {
  std::uint16_t len = 0;  // bits
  Bytes data;             // ⌈len/8⌉ bytes, bit i = (data[i/8] >> (i%8)) & 1
  bool get(std::size_t i) const noexcept { return (data[i / 8] >> (i % 8)) & 1; }
  bool operator==(const BitVec&) const = default;
};
// pack_bits: LSB-first bit packing of inventories and BitVecs (bit i → byte i/8, bit i%8).
Bytes pack_bits(const std::vector<bool>& bits);
void read_bitvec(Reader& r, BitVec& out, std::uint16_t max_bits);
void write_bitvec(Writer& w, const BitVec& b);

struct ProblematicTxMarker {
  std::uint32_t tx_index = 0;
  std::uint8_t category = 0;
};

struct NakamotoBlockHeader {
  std::uint8_t version = 0;  // low 7 bits: header version; 0x80: shadow block
  std::uint64_t chain_length = 0;
  std::uint64_t burn_spent = 0;
  Hash20 consensus_hash{};
  Hash32 parent_block_id{};
  Hash32 tx_merkle_root{};
  Hash32 state_index_root{};
  std::uint64_t timestamp = 0;
  Sig65 miner_signature{};
  std::vector<Sig65> signer_signature;
  BitVec pox_treatment;
  std::vector<ProblematicTxMarker> problematic_txs;  // only when (version & 0x7f) >= 1
  bool has_problematic_txs() const noexcept { return (version & 0x7f) >= 1; }
};

struct NakamotoBlock {
  NakamotoBlockHeader header;
  std::vector<StacksTransaction> txs;
  // derived
  Hash32 block_hash{};         // = signer signature hash
  Hash32 miner_sighash{};
  Hash32 block_id{};           // H(block_hash ‖ consensus_hash)
  std::uint32_t encoded_size = 0;
};

void read_nakamoto_header(Reader& r, NakamotoBlockHeader& out);
// The ids a Nakamoto header gives its block (PROTOCOL.md §7.4), from its bytes.
struct NakamotoHeaderIds {
  Hash32 block_hash{};  // = signer signature hash
  Hash32 miner_sighash{};
  Hash32 block_id{};
};
// read_nakamoto_header_ids: read_nakamoto_header, and the ids from the bytes read (no
// re-encoding). The relay path reads a block's header this way as soon as it arrives.
void read_nakamoto_header_ids(Reader& r, NakamotoBlockHeader& out, NakamotoHeaderIds& ids);
void write_nakamoto_header(Writer& w, const NakamotoBlockHeader& h);
void read_nakamoto_block(Reader& r, NakamotoBlock& out);
void write_nakamoto_block(Writer& w, const NakamotoBlock& b);

// ---- ids ---------------------------------------------------------------------

Hash32 block_index_hash(const Hash32& block_hash, const Hash20& consensus_hash) noexcept;
// txid_with_auth: the txid `tx` would have with `auth` in place of its own (the
// signature hashes start from the txid with cleared conditions); hashed as it is
// encoded, no buffer. `encoded_size` receives the encoding's length when given.
Hash32 txid_with_auth(const StacksTransaction& tx, const TransactionAuth& auth, std::size_t* encoded_size = nullptr);
// txid_with_auth(raw, ...): the same from the bytes `tx` was decoded from: only the auth
// is encoded, the rest is hashed as received (decoding is canonical, so it is exactly
// what re-encoding would give). Nothing of the transaction needs to have been kept.
Hash32 txid_with_auth(ByteSpan raw, const StacksTransaction& tx, const TransactionAuth& auth);

// compute_ids: fill the derived fields of an object built in code.
void compute_ids(StacksTransaction& tx);
void compute_ids(StacksBlock& b);
void compute_ids(StacksMicroblock& m);
void compute_ids(NakamotoBlock& b);
Hash32 nakamoto_block_hash(const NakamotoBlockHeader& h);
Hash32 nakamoto_miner_sighash(const NakamotoBlockHeader& h);
Hash32 microblock_sighash(const MicroblockHeader& h);

// ---- convenience: whole-buffer decode / encode ------------------------------------

template <typename T>
using ReadFn = void (*)(Reader&, T&);

// decode_exact: decode one object that must span all of `in`.
template <typename T>
Result<T> decode_exact(ByteSpan in, ReadFn<T> fn) {
  Reader r(in);
  T out{};
  fn(r, out);
  r.expect_end("trailing bytes after object");
  if (!r.ok()) return r.error();
  return out;
}

template <typename T>
Bytes encode_with(void (*fn)(Writer&, const T&), const T& v) {
  Bytes out;
  {
    Writer w(out);
    fn(w, v);
  }
  return out;
}

}  // namespace relay::codec
