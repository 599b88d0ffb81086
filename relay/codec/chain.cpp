#include "relay/codec/chain.hpp"

#include <cstring>

#include <algorithm>
#include <span>

#include "relay/codec/limits.hpp"
#include "relay/codec/strings.hpp"
#include "relay/crypto/ed25519.hpp"
#include "relay/crypto/hash.hpp"
#include "relay/crypto/hash_many.hpp"
#include "relay/crypto/merkle.hpp"
#include "relay/crypto/secp256k1.hpp"

namespace relay::codec {

namespace {

// Smallest possible encodings, used to bound element counts by the bytes left before
// anything is allocated (Reader::count).
constexpr std::size_t kMinTxSize = 60;
constexpr std::size_t kMinPostConditionSize = 3;  // Pox, origin principal
constexpr std::size_t kMinAuthFieldSize = 34;

void read_address(Reader& r, StacksAddress& a) {
  std::size_t at = r.pos();
  a.version = r.u8();
  if (r.ok() && a.version >= 32) r.fail_at(at, Errc::kBadValue, "address version >= 32");
  r.array(a.hash);
}

void write_address(Writer& w, const StacksAddress& a) {
  w.u8(a.version);
  w.array(a.hash);
}

}  // namespace

// ---- spending conditions --------------------------------------------------------

void read_spending_condition(Reader& r, SpendingCondition& c) {
  std::size_t at = r.pos();
  c.hash_mode = r.u8();
  if (!r.ok()) return;
  const std::uint8_t m = c.hash_mode;
  if (m != 0x00 && m != 0x01 && m != 0x02 && m != 0x03 && m != 0x05 && m != 0x07) {
    r.fail_at(at, Errc::kBadValue, "unknown hash mode");
    return;
  }
  r.array(c.signer);
  c.nonce = r.u64();
  c.tx_fee = r.u64();
  if (is_singlesig(m)) {
    c.fields.clear();
    c.signatures_required = 0;
    std::size_t ke_at = r.pos();
    c.key_encoding = r.u8();
    if (r.ok() && c.key_encoding > 1) r.fail_at(ke_at, Errc::kBadValue, "unknown public key encoding");
    if (r.ok() && m == 0x02 && c.key_encoding != 0)
      r.fail_at(ke_at, Errc::kBadValue, "P2WPKH requires a compressed public key");
    r.array(c.signature);
    return;
  }
  c.key_encoding = 0;
  c.signature.fill(0);
  std::uint32_t n = r.count(UINT32_MAX, kMinAuthFieldSize, "auth field count exceeds input");
  if (!r.charge(std::size_t{n} * sizeof(AuthField))) return;
  c.fields.resize(n);
  std::uint32_t sig_cnt = 0;
  bool uncompressed = false;
  for (auto& f : c.fields) {
    std::size_t fat = r.pos();
    f.id = r.u8();
    if (!r.ok()) return;
    if (f.id > 3) {
      r.fail_at(fat, Errc::kBadValue, "unknown auth field id");
      return;
    }
    if (f.is_signature()) {
      r.array(f.signature);
      f.public_key.fill(0);
      ++sig_cnt;
    } else {
      r.array(f.public_key);
      f.signature.fill(0);
      // The node parses the key while decoding: an invalid point is a decode error
      // (within the decode's point budget: Reader::take_point_check).
      if (r.ok() && r.take_point_check() && !crypto::parse_public_key(ByteSpan(f.public_key.data(), f.public_key.size())))
        return r.fail_at(fat, Errc::kBadValue, "multisig public key is not a valid point");
    }
    uncompressed |= !f.compressed();
  }
  std::size_t req_at = r.pos();
  c.signatures_required = r.u16();
  if (!r.ok()) return;
  if (is_order_independent(m)) {
    if (sig_cnt < c.signatures_required)
      r.fail_at(req_at, Errc::kBadValue, "fewer signatures than signatures_required");
  } else if (sig_cnt != c.signatures_required) {
    r.fail_at(req_at, Errc::kBadValue, "signature count != signatures_required");
  }
  if (r.ok() && (m == 0x03 || m == 0x07) && uncompressed)
    r.fail_at(at, Errc::kBadValue, "P2WSH requires compressed public keys");
}

void write_spending_condition(Writer& w, const SpendingCondition& c) {
  w.u8(c.hash_mode);
  w.array(c.signer);
  w.u64(c.nonce);
  w.u64(c.tx_fee);
  if (is_singlesig(c.hash_mode)) {
    w.u8(c.key_encoding);
    w.array(c.signature);
    return;
  }
  w.count(c.fields.size());
  for (const auto& f : c.fields) {
    w.u8(f.id);
    if (f.is_signature()) w.array(f.signature);
    else w.array(f.public_key);
  }
  w.u16(c.signatures_required);
}

namespace {

void read_auth(Reader& r, TransactionAuth& a) {
  std::size_t at = r.pos();
  a.flag = r.u8();
  if (!r.ok()) return;
  if (a.flag != kAuthStandard && a.flag != kAuthSponsored) {
    r.fail_at(at, Errc::kBadValue, "unknown transaction auth flag");
    return;
  }
  read_spending_condition(r, a.origin);
  if (a.flag == kAuthSponsored) {
    read_spending_condition(r, a.sponsor);
  } else {  // a default condition, keeping the field list's capacity for the next decode
    auto fields = std::move(a.sponsor.fields);
    fields.clear();
    a.sponsor = SpendingCondition{};
    a.sponsor.fields = std::move(fields);
  }
}

void write_auth(Writer& w, const TransactionAuth& a) {
  w.u8(a.flag);
  write_spending_condition(w, a.origin);
  if (a.sponsored()) write_spending_condition(w, a.sponsor);
}

// ---- post conditions ------------------------------------------------------------

void read_pc_principal(Reader& r, PostConditionPrincipal& p) {
  std::size_t at = r.pos();
  p.id = r.u8();
  if (!r.ok()) return;
  p.address = StacksAddress{};
  p.contract_name.clear();
  switch (p.id) {
    case 1: return;
    case 2: read_address(r, p.address); return;
    case 3:
      read_address(r, p.address);
      read_contract_name(r, p.contract_name, kMaxContractNameLen);
      return;
    default: r.fail_at(at, Errc::kBadValue, "unknown post-condition principal");
  }
}

void write_pc_principal(Writer& w, const PostConditionPrincipal& p) {
  w.u8(p.id);
  if (p.id >= 2) write_address(w, p.address);
  if (p.id == 3) write_u8_string(w, p.contract_name);
}

void read_asset_info(Reader& r, AssetInfo& a) {
  read_address(r, a.address);
  read_contract_name(r, a.contract_name, kMaxContractNameLen);
  read_clarity_name(r, a.asset_name);
}

void write_asset_info(Writer& w, const AssetInfo& a) {
  write_address(w, a.address);
  write_u8_string(w, a.contract_name);
  write_u8_string(w, a.asset_name);
}

void read_code(Reader& r, std::uint8_t& code, std::uint8_t lo, std::uint8_t hi, const char* what) {
  std::size_t at = r.pos();
  code = r.u8();
  if (r.ok() && (code < lo || code > hi)) r.fail_at(at, Errc::kBadValue, what);
}

}  // namespace

void read_post_condition(Reader& r, PostCondition& pc) {
  std::size_t at = r.pos();
  pc.kind = r.u8();
  if (!r.ok()) return;
  pc.asset = AssetInfo{};
  pc.asset_value.raw.clear();
  pc.amount = 0;
  switch (pc.kind) {
    case 0:  // STX
    case 3:  // staking
      read_pc_principal(r, pc.principal);
      read_code(r, pc.code, 0x01, 0x05, "unknown fungible condition code");
      pc.amount = r.u64();
      return;
    case 1:  // fungible
      read_pc_principal(r, pc.principal);
      read_asset_info(r, pc.asset);
      read_code(r, pc.code, 0x01, 0x05, "unknown fungible condition code");
      pc.amount = r.u64();
      return;
    case 2:  // non-fungible
      read_pc_principal(r, pc.principal);
      read_asset_info(r, pc.asset);
      read_clarity_value(r, pc.asset_value);
      read_code(r, pc.code, 0x10, 0x12, "unknown non-fungible condition code");
      return;
    case 4:  // pox
      read_pc_principal(r, pc.principal);
      read_code(r, pc.code, 0x30, 0x32, "unknown pox condition code");
      return;
    default: r.fail_at(at, Errc::kBadValue, "unknown post-condition type");
  }
}

void write_post_condition(Writer& w, const PostCondition& pc) {
  w.u8(pc.kind);
  write_pc_principal(w, pc.principal);
  switch (pc.kind) {
    case 0:
    case 3:
      w.u8(pc.code);
      w.u64(pc.amount);
      break;
    case 1:
      write_asset_info(w, pc.asset);
      w.u8(pc.code);
      w.u64(pc.amount);
      break;
    case 2:
      write_asset_info(w, pc.asset);
      write_clarity_value(w, pc.asset_value);
      w.u8(pc.code);
      break;
    case 4: w.u8(pc.code); break;
    default: break;
  }
}



namespace {


// ---- principals, VRF proofs -----------------------------------------------------

// PrincipalData: 0x05 ‖ address | 0x06 ‖ address ‖ contract name (≤ 128).
void read_principal(Reader& r, Principal& p) {
  std::size_t at = r.pos();
  std::uint8_t prefix = r.u8();
  if (!r.ok()) return;
  p.contract_name.clear();
  if (prefix == 0x05) {
    p.is_contract = false;
    read_address(r, p.address);
  } else if (prefix == 0x06) {
    p.is_contract = true;
    read_address(r, p.address);
    read_contract_name(r, p.contract_name, kMaxContractNameLenInValue);
  } else {
    r.fail_at(at, Errc::kBadValue, "expected a principal (0x05 / 0x06)");
  }
}

void write_principal(Writer& w, const Principal& p) {
  w.u8(p.is_contract ? 0x06 : 0x05);
  write_address(w, p.address);
  if (p.is_contract) write_u8_string(w, p.contract_name);
}

void read_vrf_proof(Reader& r, VrfProof& proof) {
  std::size_t at = r.pos();
  r.array(proof);
  if (!r.ok()) return;
  ByteArray<32> gamma;
  ByteArray<32> s;
  std::copy_n(proof.begin(), 32, gamma.begin());
  std::copy_n(proof.begin() + 48, 32, s.begin());
  switch (crypto::check_edwards_point(gamma)) {
    case crypto::PointCheck::kOk: break;
    case crypto::PointCheck::kNonCanonical:
      r.fail_at(at, Errc::kNonCanonical, "VRF proof Gamma is not canonically encoded");
      return;
    case crypto::PointCheck::kNotOnCurve:
      r.fail_at(at, Errc::kBadValue, "VRF proof Gamma is not a curve point");
      return;
    case crypto::PointCheck::kSmallOrder:
      r.fail_at(at, Errc::kBadValue, "VRF proof Gamma has small order");
      return;
  }
  if (!crypto::is_canonical_scalar(s)) r.fail_at(at + 48, Errc::kBadValue, "VRF proof s is not a canonical scalar");
}

// ---- payloads -------------------------------------------------------------------

void read_tx_payload(Reader& r, TxPayload& p) {
  std::size_t at = r.pos();
  p.id = r.u8();
  if (!r.ok()) return;
  switch (static_cast<PayloadId>(p.id)) {
    case PayloadId::kTokenTransfer:
      read_principal(r, p.recipient);
      p.amount = r.u64();
      r.array(p.memo);
      return;
    case PayloadId::kSmartContract:
      read_contract_name(r, p.contract_name, kMaxContractNameLen);
      read_stacks_string(r, p.code_body, kMaxTransactionLen);
      return;
    case PayloadId::kContractCall: {
      read_address(r, p.contract_address);
      read_contract_name(r, p.contract_name, kMaxContractNameLen);
      read_clarity_name(r, p.function_name);
      std::uint32_t n = r.count(kMaxVecClarityValues, 1, "too many contract-call arguments");
      // Each argument is its own heap block: charge the object and the allocator's minimum.
      if (!r.charge(std::size_t{n} * (sizeof(ClarityValue) + 32))) return;
      if (r.skimming()) {
        p.args.clear();
        ClarityValue v;  // skimming leaves it empty: nothing is allocated
        for (std::uint32_t i = 0; i < n && r.ok(); ++i) read_clarity_value(r, v);
        return;
      }
      p.args.resize(n);
      for (auto& a : p.args) read_clarity_value(r, a);
      return;
    }
    case PayloadId::kPoisonMicroblock: {
      read_microblock_header(r, p.poison_h1);
      read_microblock_header(r, p.poison_h2);
      if (!r.ok()) return;
      const MicroblockHeader& a = p.poison_h1;
      const MicroblockHeader& b = p.poison_h2;
      if (a.version == b.version && a.sequence == b.sequence && a.prev_block == b.prev_block &&
          a.tx_merkle_root == b.tx_merkle_root && a.signature == b.signature)
        r.fail_at(at, Errc::kBadValue, "poison-microblock headers are identical");
      else if (a.sequence != b.sequence && a.prev_block != b.prev_block)
        r.fail_at(at, Errc::kBadValue, "poison-microblock headers share neither sequence nor parent");
      return;
    }
    case PayloadId::kCoinbase: r.array(p.coinbase_payload); return;
    case PayloadId::kCoinbaseToAltRecipient: {
      r.array(p.coinbase_payload);
      Principal rcpt;
      read_principal(r, rcpt);
      p.alt_recipient = rcpt;
      return;
    }
    case PayloadId::kVersionedSmartContract: {
      std::size_t vat = r.pos();
      p.clarity_version = r.u8();
      if (r.ok() && (p.clarity_version < 1 || p.clarity_version > kMaxClarityVersion))
        r.fail_at(vat, Errc::kBadValue, "unknown Clarity version");
      read_contract_name(r, p.contract_name, kMaxContractNameLen);
      read_stacks_string(r, p.code_body, kMaxTransactionLen);
      return;
    }
    case PayloadId::kTenureChange: {
      TenureChange& t = p.tenure_change;
      r.array(t.tenure_consensus_hash);
      r.array(t.prev_tenure_consensus_hash);
      r.array(t.burn_view_consensus_hash);
      r.array(t.previous_tenure_end);
      t.previous_tenure_blocks = r.u32();
      std::size_t cat = r.pos();
      t.cause = r.u8();
      if (r.ok() && t.cause > 6) r.fail_at(cat, Errc::kBadValue, "unknown tenure change cause");
      r.array(t.pubkey_hash);
      return;
    }
    case PayloadId::kNakamotoCoinbase: {
      r.array(p.coinbase_payload);
      std::size_t oat = r.pos();
      std::uint8_t opt = r.u8();
      if (!r.ok()) return;
      if (opt == 0x09) {
        p.alt_recipient.reset();
      } else if (opt == 0x0a) {
        std::size_t pat = r.pos();
        std::uint8_t prefix = r.ok() && r.remaining() > 0 ? r.input()[r.pos()] : 0;
        if (prefix != 0x05 && prefix != 0x06) {
          // The node decodes (some <non-principal>) as "no recipient" and re-encodes it
          // as 0x09: accepting it would break the txid (PROTOCOL.md §7.9).
          r.fail_at(pat, Errc::kNonCanonical, "coinbase recipient (some v) where v is not a principal");
          return;
        }
        Principal rcpt;
        read_principal(r, rcpt);
        p.alt_recipient = rcpt;
      } else {
        r.fail_at(oat, Errc::kBadValue, "coinbase recipient is not an optional");
        return;
      }
      read_vrf_proof(r, p.vrf_proof);
      return;
    }
  }
  r.fail_at(at, Errc::kUnknownType, "unknown transaction payload type");
}

void write_tx_payload(Writer& w, const TxPayload& p) {
  w.u8(p.id);
  switch (static_cast<PayloadId>(p.id)) {
    case PayloadId::kTokenTransfer:
      write_principal(w, p.recipient);
      w.u64(p.amount);
      w.array(p.memo);
      break;
    case PayloadId::kSmartContract:
      write_u8_string(w, p.contract_name);
      write_u32_string(w, p.code_body);
      break;
    case PayloadId::kContractCall:
      write_address(w, p.contract_address);
      write_u8_string(w, p.contract_name);
      write_u8_string(w, p.function_name);
      w.count(p.args.size());
      for (const auto& a : p.args) write_clarity_value(w, a);
      break;
    case PayloadId::kPoisonMicroblock:
      write_microblock_header(w, p.poison_h1);
      write_microblock_header(w, p.poison_h2);
      break;
    case PayloadId::kCoinbase: w.array(p.coinbase_payload); break;
    case PayloadId::kCoinbaseToAltRecipient:
      w.array(p.coinbase_payload);
      if (p.alt_recipient) write_principal(w, *p.alt_recipient);
      break;
    case PayloadId::kVersionedSmartContract:
      w.u8(p.clarity_version);
      write_u8_string(w, p.contract_name);
      write_u32_string(w, p.code_body);
      break;
    case PayloadId::kTenureChange: {
      const TenureChange& t = p.tenure_change;
      w.array(t.tenure_consensus_hash);
      w.array(t.prev_tenure_consensus_hash);
      w.array(t.burn_view_consensus_hash);
      w.array(t.previous_tenure_end);
      w.u32(t.previous_tenure_blocks);
      w.u8(t.cause);
      w.array(t.pubkey_hash);
      break;
    }
    case PayloadId::kNakamotoCoinbase:
      w.array(p.coinbase_payload);
      if (p.alt_recipient) {
        w.u8(0x0a);
        write_principal(w, *p.alt_recipient);
      } else {
        w.u8(0x09);
      }
      w.array(p.vrf_proof);
      break;
  }
}

void read_tx_body(Reader& r, StacksTransaction& tx, TxidMode txid) {
  std::size_t start = r.pos();
  tx.version = r.u8();
  if (r.ok() && tx.version != 0x00 && tx.version != 0x80)
    r.fail_at(start, Errc::kNonCanonical, "transaction version byte is not 0x00 or 0x80");
  tx.chain_id = r.u32();
  const std::size_t auth_at = r.pos();
  read_auth(r, tx.auth);
  tx.auth_size = static_cast<std::uint32_t>(r.pos() - auth_at);
  std::size_t am_at = r.pos();
  tx.anchor_mode = r.u8();
  if (r.ok() && (tx.anchor_mode < 1 || tx.anchor_mode > 3))
    r.fail_at(am_at, Errc::kBadValue, "unknown anchor mode");
  std::size_t pm_at = r.pos();
  tx.post_condition_mode = r.u8();
  if (r.ok() && (tx.post_condition_mode < 1 || tx.post_condition_mode > 3))
    r.fail_at(pm_at, Errc::kBadValue, "unknown post-condition mode");
  std::uint32_t n = r.count(kMaxVecPostConditions, kMinPostConditionSize, "too many post-conditions");
  if (!r.charge(std::size_t{n} * sizeof(PostCondition))) return;
  if (r.skimming()) {  // checked one by one, none kept
    tx.post_conditions.clear();
    PostCondition pc;
    for (std::uint32_t i = 0; i < n && r.ok(); ++i) read_post_condition(r, pc);
  } else {
    tx.post_conditions.resize(n);
    for (auto& pc : tx.post_conditions) read_post_condition(r, pc);
  }
  read_tx_payload(r, tx.payload);
  if (!r.ok()) return;
  // Every coinbase form (4, 5, 8) and poison-microblock must be on-chain only.
  if ((tx.is_coinbase() || tx.payload.id == 3) && tx.anchor_mode != 1)
    r.fail_at(am_at, Errc::kBadValue, "coinbase / poison-microblock must be on-chain only");
  if (!r.ok()) return;
  ByteSpan raw = r.input().subspan(start, r.pos() - start);
  tx.txid = txid == TxidMode::kHash ? crypto::sha512_256(raw) : Hash32{};
  tx.encoded_size = static_cast<std::uint32_t>(raw.size());
}

// Per-thread scratch of the transaction-list checks: grows to the largest block seen,
// then block decodes allocate nothing for ids, duplicate checks or the Merkle tree.
struct ListScratch {
  std::vector<Hash32> txids;
  std::vector<ByteSpan> raw;  // each transaction's bytes, hashed together at the end
  std::vector<std::uint64_t> prefixes;  // the duplicate check's first pass
  std::vector<Hash32> sorted;
  StacksTransaction tx;  // each transaction in turn, when skimming
};
ListScratch& list_scratch() {
  thread_local ListScratch s;
  return s;
}

// What the block rules need to know of a transaction list, gathered as it decodes.
struct TxListSummary {
  std::uint32_t count = 0;
  std::uint32_t coinbases = 0;
  bool first_is_coinbase = false;
  bool any_on_chain_only = false;   // anchor mode 1
  bool any_off_chain_only = false;  // anchor mode 2
};

// Reads Vec<StacksTransaction>: every transaction is decoded (and kept in `txs` unless
// the reader skims); once all have decoded their txids go to the scratch txids, hashed
// together (several side by side, crypto::sha512_256_many).
TxListSummary read_tx_list(Reader& r, std::vector<StacksTransaction>& txs) {
  TxListSummary sum;
  ListScratch& sc = list_scratch();
  std::uint32_t n = r.count(kMaxVecTransactions, kMinTxSize, "too many transactions");
  const bool keep = !r.skimming();
  // Grow as transactions actually decode (each charged to the budget), not up front.
  txs.clear();
  if (keep) txs.reserve(std::min<std::uint32_t>(n, 1024));
  sc.txids.clear();
  sc.raw.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!r.charge(sizeof(StacksTransaction) + sizeof(Hash32))) return sum;
    StacksTransaction& tx = keep ? txs.emplace_back() : sc.tx;
    const std::size_t at = r.pos();
    read_transaction(r, tx, TxidMode::kDefer);
    if (!r.ok()) return sum;
    sc.raw.push_back(r.input().subspan(at, tx.encoded_size));
    ++sum.count;
    if (tx.is_coinbase()) {
      ++sum.coinbases;
      if (i == 0) sum.first_is_coinbase = true;
    }
    sum.any_on_chain_only |= tx.anchor_mode == 1;
    sum.any_off_chain_only |= tx.anchor_mode == 2;
  }
  sc.txids.resize(sc.raw.size());
  crypto::sha512_256_many(sc.raw, sc.txids.data());
  if (keep)
    for (std::size_t i = 0; i < txs.size(); ++i) txs[i].txid = sc.txids[i];
  return sum;
}

}  // namespace

void reserve_decode_scratch() {
  ListScratch& sc = list_scratch();
  sc.txids.reserve(kMaxVecTransactions);
  sc.raw.reserve(kMaxVecTransactions);
  sc.prefixes.reserve(kMaxVecTransactions);
  sc.sorted.reserve(kMaxVecTransactions);
  sc.tx.auth.origin.fields.reserve(64);
  sc.tx.auth.sponsor.fields.reserve(64);
  reserve_clarity_scratch();
}

namespace {

// has_duplicate: sorting 8-byte prefixes of the ids is several times cheaper than
// sorting the 32-byte ids; only when two prefixes are equal (a duplicate, or a 2^-64
// coincidence) are the whole ids compared.
bool has_duplicate(std::span<const Hash32> ids, std::vector<std::uint64_t>& prefixes, std::vector<Hash32>& sorted) {
  prefixes.resize(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) std::memcpy(&prefixes[i], ids[i].data(), sizeof(std::uint64_t));
  std::sort(prefixes.begin(), prefixes.end());
  if (std::adjacent_find(prefixes.begin(), prefixes.end()) == prefixes.end()) return false;
  sorted.assign(ids.begin(), ids.end());
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
}

// Checks shared by every block kind, on the txids read_tx_list gathered: unique and
// matching the Merkle root.
void check_txs(Reader& r, std::size_t at, const Hash32& root) {
  if (!r.ok()) return;
  ListScratch& sc = list_scratch();
  if (has_duplicate(sc.txids, sc.prefixes, sc.sorted)) {
    r.fail_at(at, Errc::kDuplicate, "duplicate transaction in block");
    return;
  }
  if (crypto::merkle_root(sc.txids) != root) r.fail_at(at, Errc::kMerkleMismatch, "tx Merkle root mismatch");
}

Hash32 hash_spans(ByteSpan a, ByteSpan b) {
  crypto::Sha512_256 h;
  h.update(a);
  h.update(b);
  return h.finish();
}

}  // namespace

bool is_singlesig(std::uint8_t m) noexcept { return m == 0x00 || m == 0x02; }
bool is_order_independent(std::uint8_t m) noexcept { return m == 0x05 || m == 0x07; }

const char* payload_name(std::uint8_t id) noexcept {
  static constexpr const char* kNames[] = {"token_transfer", "smart_contract", "contract_call",
                                           "poison_microblock", "coinbase", "coinbase_to_alt_recipient",
                                           "versioned_smart_contract", "tenure_change",
                                           "nakamoto_coinbase"};
  return id < 9 ? kNames[id] : "unknown";
}

bool StacksTransaction::is_coinbase() const noexcept {
  return payload.id == 4 || payload.id == 5 || payload.id == 8;
}

void read_transaction(Reader& r, StacksTransaction& tx, TxidMode txid) {
  r.bounded(kMaxTransactionLen, [&](Reader& sub) { read_tx_body(sub, tx, txid); });
}
void read_transaction(Reader& r, StacksTransaction& tx) { read_transaction(r, tx, TxidMode::kHash); }

namespace {
void write_transaction_auth(Writer& w, const StacksTransaction& tx, const TransactionAuth& auth) {
  w.u8(tx.version);
  w.u32(tx.chain_id);
  write_auth(w, auth);
  w.u8(tx.anchor_mode);
  w.u8(tx.post_condition_mode);
  w.count(tx.post_conditions.size());
  for (const auto& pc : tx.post_conditions) write_post_condition(w, pc);
  write_tx_payload(w, tx.payload);
}
}  // namespace

void write_transaction(Writer& w, const StacksTransaction& tx) { write_transaction_auth(w, tx, tx.auth); }

Hash32 txid_with_auth(const StacksTransaction& tx, const TransactionAuth& auth, std::size_t* encoded_size) {
  crypto::Sha512_256 h;
  {
    Writer w(crypto::Sha512_256::sink, &h);
    write_transaction_auth(w, tx, auth);
    w.flush();
    if (encoded_size != nullptr) *encoded_size = w.size();
  }
  return h.finish();
}

Hash32 txid_with_auth(ByteSpan raw, const StacksTransaction& tx, const TransactionAuth& auth) {
  constexpr std::size_t kAuthAt = 5;  // version, chain id
  if (raw.size() != tx.encoded_size || raw.size() < kAuthAt + tx.auth_size) return txid_with_auth(tx, auth);
  crypto::Sha512_256 h;
  h.update(raw.data(), kAuthAt);
  {
    Writer w(crypto::Sha512_256::sink, &h);
    write_auth(w, auth);
  }
  const std::size_t rest = kAuthAt + tx.auth_size;
  h.update(raw.data() + rest, raw.size() - rest);
  return h.finish();
}

void read_microblock_header(Reader& r, MicroblockHeader& h) {
  h.version = r.u8();
  h.sequence = r.u16();
  r.array(h.prev_block);
  r.array(h.tx_merkle_root);
  std::size_t sig_at = r.pos();
  r.array(h.signature);
  // The node's decoder requires a signature that parses as recoverable (recid 0..3,
  // r and s below the group order); this also applies inside poison-microblock txs.
  if (r.ok() && !crypto::parses_as_recoverable(h.signature))
    r.fail_at(sig_at, Errc::kBadSignature, "microblock signature does not parse");
}

void write_microblock_header(Writer& w, const MicroblockHeader& h) {
  w.u8(h.version);
  w.u16(h.sequence);
  w.array(h.prev_block);
  w.array(h.tx_merkle_root);
  w.array(h.signature);
}

// ---- 2.x blocks -------------------------------------------------------------------

void read_block_header(Reader& r, StacksBlockHeader& h) {
  h.version = r.u8();
  h.total_burn = r.u64();
  h.total_work = r.u64();
  read_vrf_proof(r, h.proof);
  r.array(h.parent_block);
  r.array(h.parent_microblock);
  h.parent_microblock_sequence = r.u16();
  r.array(h.tx_merkle_root);
  r.array(h.state_index_root);
  r.array(h.microblock_pubkey_hash);
}

void write_block_header(Writer& w, const StacksBlockHeader& h) {
  w.u8(h.version);
  w.u64(h.total_burn);
  w.u64(h.total_work);
  w.array(h.proof);
  w.array(h.parent_block);
  w.array(h.parent_microblock);
  w.u16(h.parent_microblock_sequence);
  w.array(h.tx_merkle_root);
  w.array(h.state_index_root);
  w.array(h.microblock_pubkey_hash);
}

void read_stacks_block(Reader& r, StacksBlock& b) {
  std::size_t start = r.pos();
  read_block_header(r, b.header);
  if (!r.ok()) return;
  ByteSpan header_raw = r.input().subspan(start, kStacksBlockHeaderSize);
  std::size_t txs_at = r.pos();
  const TxListSummary sum = read_tx_list(r, b.txs);
  if (!r.ok()) return;
  if (sum.count == 0) return r.fail_at(txs_at, Errc::kBadValue, "block has no transactions");
  if (sum.any_off_chain_only)
    return r.fail_at(txs_at, Errc::kBadValue, "off-chain-only transaction in anchored block");
  check_txs(r, txs_at, b.header.tx_merkle_root);
  if (!r.ok()) return;
  if (sum.coinbases != 1 || !sum.first_is_coinbase)
    return r.fail_at(txs_at, Errc::kBadValue, "block must have exactly one coinbase, first");
  b.block_hash = b.header.total_work == 0 ? Hash32{} : crypto::sha512_256(header_raw);
}

void write_stacks_block(Writer& w, const StacksBlock& b) {
  write_block_header(w, b.header);
  w.count(b.txs.size());
  for (const auto& tx : b.txs) write_transaction(w, tx);
}

void read_microblock(Reader& r, StacksMicroblock& m) {
  std::size_t start = r.pos();
  read_microblock_header(r, m.header);
  if (!r.ok()) return;
  ByteSpan header_raw = r.input().subspan(start, kMicroblockHeaderSize);
  std::size_t txs_at = r.pos();
  const TxListSummary sum = read_tx_list(r, m.txs);
  if (!r.ok()) return;
  if (sum.count == 0) return r.fail_at(txs_at, Errc::kBadValue, "microblock has no transactions");
  if (sum.any_on_chain_only) return r.fail_at(txs_at, Errc::kBadValue, "on-chain-only transaction in microblock");
  if (sum.coinbases != 0) return r.fail_at(txs_at, Errc::kBadValue, "coinbase in microblock");
  check_txs(r, txs_at, m.header.tx_merkle_root);
  if (!r.ok()) return;
  m.block_hash = crypto::sha512_256(header_raw);
}

void write_microblock(Writer& w, const StacksMicroblock& m) {
  write_microblock_header(w, m.header);
  w.count(m.txs.size());
  for (const auto& tx : m.txs) write_transaction(w, tx);
}

// ---- Nakamoto -----------------------------------------------------------------------

Bytes pack_bits(const std::vector<bool>& bits) {
  Bytes out((bits.size() + 7) / 8, 0);
  for (std::size_t i = 0; i < bits.size(); ++i)
    if (bits[i]) out[i / 8] = static_cast<std::uint8_t>(out[i / 8] | (1u << (i % 8)));
  return out;
}

void read_bitvec(Reader& r, BitVec& b, std::uint16_t max_bits) {
  std::size_t at = r.pos();
  b.len = r.u16();
  if (!r.ok()) return;
  if (b.len == 0 || b.len > max_bits) return r.fail_at(at, Errc::kLimit, "bit vector length out of range");
  std::size_t want = (std::size_t{b.len} + 7) / 8;
  std::size_t cat = r.pos();
  std::uint32_t n = r.u32();
  if (!r.ok()) return;
  if (n != want) return r.fail_at(cat, Errc::kBadValue, "bit vector byte count != ceil(len/8)");
  ByteSpan s = r.take(n);
  b.data.assign(s.begin(), s.end());
}

void write_bitvec(Writer& w, const BitVec& b) {
  w.u16(b.len);
  w.count(b.data.size());
  w.bytes(b.data);
}

namespace {
struct NakamotoHeaderOffsets {
  std::size_t start, miner_sig, signer_sigs, pox, end;
};

void read_nakamoto_header_at(Reader& r, NakamotoBlockHeader& h, NakamotoHeaderOffsets& o) {
  o.start = r.pos();
  h.version = r.u8();
  h.chain_length = r.u64();
  h.burn_spent = r.u64();
  r.array(h.consensus_hash);
  r.array(h.parent_block_id);
  r.array(h.tx_merkle_root);
  r.array(h.state_index_root);
  h.timestamp = r.u64();
  o.miner_sig = r.pos();
  r.array(h.miner_signature);
  o.signer_sigs = r.pos();
  std::uint32_t n = r.count(kMaxVecSignatures, 65, "too many signer signatures");
  if (!r.charge(std::size_t{n} * sizeof(Sig65))) return;
  h.signer_signature.resize(n);
  for (auto& s : h.signer_signature) r.array(s);
  o.pox = r.pos();
  read_bitvec(r, h.pox_treatment, kPoxTreatmentMaxBits);
  h.problematic_txs.clear();
  if (r.ok() && h.has_problematic_txs()) {
    std::uint32_t m = r.count(kMaxProblematicTxMarkers, 5, "too many problematic-tx markers");
    h.problematic_txs.resize(m);
    for (auto& p : h.problematic_txs) {
      p.tx_index = r.u32();
      p.category = r.u8();
    }
  }
  o.end = r.pos();
}
}  // namespace

void read_nakamoto_header(Reader& r, NakamotoBlockHeader& h) {
  NakamotoHeaderOffsets o{};
  read_nakamoto_header_at(r, h, o);
}

void read_nakamoto_header_ids(Reader& r, NakamotoBlockHeader& h, NakamotoHeaderIds& ids) {
  NakamotoHeaderOffsets o{};
  read_nakamoto_header_at(r, h, o);
  if (!r.ok()) return;
  // The two header hashes leave signature fields out; the rest is hashed as received
  // (decoding is canonical: it is exactly what re-encoding would give).
  ByteSpan in = r.input();
  ByteSpan tail = in.subspan(o.pox, o.end - o.pox);  // pox_treatment [‖ problematic_txs]
  ids.block_hash = hash_spans(in.subspan(o.start, o.signer_sigs - o.start), tail);
  ids.miner_sighash = hash_spans(in.subspan(o.start, o.miner_sig - o.start), tail);
  ids.block_id = block_index_hash(ids.block_hash, h.consensus_hash);
}

namespace {
enum HeaderParts : unsigned { kMinerSig = 1, kSignerSigs = 2, kAllParts = kMinerSig | kSignerSigs };

// The header, optionally without its signature fields: both the encoding and the two
// header hashes (PROTOCOL.md §7.4) come from this one field list.
void write_nakamoto_header_parts(Writer& w, const NakamotoBlockHeader& h, unsigned parts) {
  w.u8(h.version);
  w.u64(h.chain_length);
  w.u64(h.burn_spent);
  w.array(h.consensus_hash);
  w.array(h.parent_block_id);
  w.array(h.tx_merkle_root);
  w.array(h.state_index_root);
  w.u64(h.timestamp);
  if (parts & kMinerSig) w.array(h.miner_signature);
  if (parts & kSignerSigs) {
    w.count(h.signer_signature.size());
    for (const auto& s : h.signer_signature) w.array(s);
  }
  write_bitvec(w, h.pox_treatment);
  if (h.has_problematic_txs()) {
    w.count(h.problematic_txs.size());
    for (const auto& p : h.problematic_txs) {
      w.u32(p.tx_index);
      w.u8(p.category);
    }
  }
}
}  // namespace

void write_nakamoto_header(Writer& w, const NakamotoBlockHeader& h) { write_nakamoto_header_parts(w, h, kAllParts); }

void read_nakamoto_block(Reader& r, NakamotoBlock& b) {
  r.bounded(kMaxMessageLen, [&](Reader& sub) {
    const std::size_t start = sub.pos();
    NakamotoHeaderIds ids;
    read_nakamoto_header_ids(sub, b.header, ids);
    std::size_t txs_at = sub.pos();
    read_tx_list(sub, b.txs);
    check_txs(sub, txs_at, b.header.tx_merkle_root);
    if (!sub.ok()) return;
    b.block_hash = ids.block_hash;
    b.miner_sighash = ids.miner_sighash;
    b.block_id = ids.block_id;
    b.encoded_size = static_cast<std::uint32_t>(sub.pos() - start);
  });
}

void write_nakamoto_block(Writer& w, const NakamotoBlock& b) {
  write_nakamoto_header(w, b.header);
  w.count(b.txs.size());
  for (const auto& tx : b.txs) write_transaction(w, tx);
}

// ---- ids --------------------------------------------------------------------------

Hash32 block_index_hash(const Hash32& block_hash, const Hash20& consensus_hash) noexcept {
  crypto::Sha512_256 h;
  h.update(block_hash.data(), 32);
  h.update(consensus_hash.data(), 20);
  return h.finish();
}

namespace {
template <typename T>
Hash32 hash_encoding(void (*fn)(Writer&, const T&), const T& v) {
  crypto::Sha512_256 h;
  {
    Writer w(crypto::Sha512_256::sink, &h);
    fn(w, v);
  }
  return h.finish();
}

Hash32 nakamoto_header_hash(const NakamotoBlockHeader& h, unsigned parts) {
  crypto::Sha512_256 hs;
  {
    Writer w(crypto::Sha512_256::sink, &hs);
    write_nakamoto_header_parts(w, h, parts);
  }
  return hs.finish();
}
}  // namespace

Hash32 nakamoto_block_hash(const NakamotoBlockHeader& h) { return nakamoto_header_hash(h, kMinerSig); }
Hash32 nakamoto_miner_sighash(const NakamotoBlockHeader& h) { return nakamoto_header_hash(h, 0); }

Hash32 microblock_sighash(const MicroblockHeader& h) {
  MicroblockHeader z = h;
  z.signature.fill(0);
  return hash_encoding(write_microblock_header, z);
}

void compute_ids(StacksTransaction& tx) {
  std::size_t n = 0;
  tx.txid = txid_with_auth(tx, tx.auth, &n);  // streamed into the hash: no buffer
  tx.encoded_size = static_cast<std::uint32_t>(n);
  Writer count([](void*, const std::uint8_t*, std::size_t) noexcept {}, nullptr);
  write_auth(count, tx.auth);
  count.flush();
  tx.auth_size = static_cast<std::uint32_t>(count.size());
}

void compute_ids(StacksBlock& b) {
  for (auto& tx : b.txs) compute_ids(tx);
  b.block_hash = b.header.total_work == 0 ? Hash32{} : hash_encoding(write_block_header, b.header);
}

void compute_ids(StacksMicroblock& m) {
  for (auto& tx : m.txs) compute_ids(tx);
  m.block_hash = hash_encoding(write_microblock_header, m.header);
}

void compute_ids(NakamotoBlock& b) {
  for (auto& tx : b.txs) compute_ids(tx);
  b.block_hash = nakamoto_block_hash(b.header);
  b.miner_sighash = nakamoto_miner_sighash(b.header);
  b.block_id = block_index_hash(b.block_hash, b.header.consensus_hash);
  b.encoded_size = static_cast<std::uint32_t>(encode_with(write_nakamoto_block, b).size());
}

}  // namespace relay::codec
