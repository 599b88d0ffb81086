#include "relay/validate/validate.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <memory_resource>

namespace relay::validate {

using codec::kAuthSponsored;
using codec::kAuthStandard;
using codec::SpendingCondition;
using codec::StacksTransaction;
using crypto::LowS;

namespace {

Hash32 presign_hash(const Hash32& cur, std::uint8_t flag, std::uint64_t fee, std::uint64_t nonce) {
  crypto::Sha512_256 h;
  h.update(cur.data(), 32);
  h.update_u8(flag);
  h.update_u64(fee);
  h.update_u64(nonce);
  return h.finish();
}

Hash32 postsign_hash(const Hash32& presign, std::uint8_t key_encoding, const codec::Sig65& sig) {
  crypto::Sha512_256 h;
  h.update(presign.data(), 32);
  h.update_u8(key_encoding);
  h.update(sig.data(), sig.size());
  return h.finish();
}

// cleared_header: `c` as the signature hash sees it: everything but nonce, fee,
// signature and fields (which clear_condition empties anyway), without copying them.
void cleared_header(const SpendingCondition& c, SpendingCondition& out) {
  out.hash_mode = c.hash_mode;
  out.signer = c.signer;
  out.key_encoding = c.key_encoding;
  out.signatures_required = c.signatures_required;
}

// Scripts and key lists of multisig conditions are built in a small stack arena (a
// memory resource over a local buffer): checking a multisig transaction allocates only
// when it has more keys than any wallet uses.
using Script = std::pmr::vector<std::uint8_t>;

// Bitcoin script number push (rust-bitcoin Builder::push_int semantics).
void push_int(Script& s, std::int64_t n) {
  if (n == 0) {
    s.push_back(0x00);
    return;
  }
  if (n == -1 || (n >= 1 && n <= 16)) {
    s.push_back(static_cast<std::uint8_t>(0x50 + n));
    return;
  }
  std::uint8_t num[9];
  std::size_t len = 0;
  std::uint64_t abs = static_cast<std::uint64_t>(n < 0 ? -n : n);
  while (abs != 0) {
    num[len++] = static_cast<std::uint8_t>(abs & 0xff);
    abs >>= 8;
  }
  if (num[len - 1] & 0x80) num[len++] = static_cast<std::uint8_t>(n < 0 ? 0x80 : 0x00);
  else if (n < 0) num[len - 1] = static_cast<std::uint8_t>(num[len - 1] | 0x80);
  s.push_back(static_cast<std::uint8_t>(len));
  s.insert(s.end(), num, num + len);
}

void multisig_script(std::span<const PublicKey> keys, std::span<const bool> compressed, std::uint16_t m, Script& s) {
  s.reserve(8 + keys.size() * 66);
  push_int(s, m);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (compressed[i]) {
      auto k = keys[i].compressed();
      s.push_back(33);
      s.insert(s.end(), k.begin(), k.end());
    } else {
      auto k = keys[i].uncompressed();
      s.push_back(65);
      s.insert(s.end(), k.begin(), k.end());
    }
  }
  push_int(s, static_cast<std::int64_t>(keys.size()));
  s.push_back(0xae);  // OP_CHECKMULTISIG
}

std::optional<Hash20> address_hash_in(std::uint8_t hash_mode, std::span<const PublicKey> keys,
                                      std::span<const bool> compressed, std::uint16_t signatures_required,
                                      std::pmr::memory_resource* mr);

AuthCheck fail(const char* why) {
  AuthCheck r;
  r.reason = why;
  return r;
}

AuthCheck verify_condition(const SpendingCondition& c, const Hash32& initial, std::uint8_t flag) {
  Hash32 cur = initial;
  if (codec::is_singlesig(c.hash_mode)) {  // the common case: no allocation
    Hash32 pre = presign_hash(cur, flag, c.tx_fee, c.nonce);
    auto key = crypto::recover(pre, c.signature, LowS::kEnforce);
    if (!key) return fail("signature does not recover (or is high-S)");
    const bool compressed_key = c.key_encoding == 0;
    auto got = address_hash(c.hash_mode, std::span<const PublicKey>(&*key, 1), std::span<const bool>(&compressed_key, 1),
                            c.signatures_required);
    if (!got) return fail("cannot derive the signer hash");
    if (*got != c.signer) return fail("recovered keys do not hash to the signer");
    AuthCheck ok;
    ok.ok = true;
    ok.next_sighash = postsign_hash(pre, c.key_encoding, c.signature);
    return ok;
  }
  alignas(std::max_align_t) std::byte arena[8192];
  std::pmr::monotonic_buffer_resource mr(arena, sizeof arena);
  std::pmr::vector<PublicKey> keys(&mr);
  keys.reserve(c.fields.size());
  // One flag per key (a plain array: std::vector<bool> is bit-packed, spans need bools).
  auto* compressed = static_cast<bool*>(mr.allocate(c.fields.size() + 1, alignof(bool)));
  {
    const bool independent = codec::is_order_independent(c.hash_mode);
    std::uint32_t sigs = 0;
    bool uncompressed = false;
    for (const auto& f : c.fields) {
      uncompressed |= !f.compressed();
      if (!f.is_signature()) {
        auto key = crypto::parse_public_key(ByteSpan(f.public_key.data(), 33));
        if (!key) return fail("multisig public key does not parse");
        compressed[keys.size()] = f.compressed();
        keys.push_back(*key);
        continue;
      }
      std::uint8_t encoding = f.compressed() ? 0 : 1;
      Hash32 pre = presign_hash(cur, flag, c.tx_fee, c.nonce);
      auto key = crypto::recover(pre, f.signature, LowS::kEnforce);
      if (!key) return fail("multisig signature does not recover (or is high-S)");
      compressed[keys.size()] = f.compressed();
      keys.push_back(*key);
      if (!independent) cur = postsign_hash(pre, encoding, f.signature);
      ++sigs;
    }
    if (independent ? sigs < c.signatures_required : sigs != c.signatures_required)
      return fail("wrong number of signatures");
    if (uncompressed && (c.hash_mode == 0x03 || c.hash_mode == 0x07))
      return fail("uncompressed key in a P2WSH condition");
  }
  auto got = address_hash_in(c.hash_mode, keys, std::span<const bool>(compressed, keys.size()),
                             c.signatures_required, &mr);
  if (!got) return fail("cannot derive the signer hash");
  if (*got != c.signer) return fail("recovered keys do not hash to the signer");
  AuthCheck ok;
  ok.ok = true;
  ok.next_sighash = cur;
  return ok;
}

}  // namespace

// ---- messages ------------------------------------------------------------------------

Hash32 message_digest(ByteSpan preamble165, ByteSpan body) noexcept {
  crypto::Sha512_256 h;
  h.update(preamble165.data(), codec::kPreambleSignatureOffset);
  static constexpr std::uint8_t kZeroSig[65] = {};
  h.update(kZeroSig, sizeof kZeroSig);
  h.update(preamble165.data() + codec::kPreamblePayloadLenOffset, 4);
  h.update(body);
  return h.finish();
}

Bytes sign_message(codec::Message& m, const crypto::SecretKey& key) {
  Bytes body = codec::encode_body(m.relayers, m.payload);
  m.preamble.payload_len = static_cast<std::uint32_t>(body.size());
  m.preamble.signature.fill(0);
  Bytes out;
  {
    Writer w(out);
    codec::write_preamble(w, m.preamble);
  }
  Hash32 d = message_digest(ByteSpan(out.data(), codec::kPreambleSize), body);
  m.preamble.signature = key.sign(d);
  std::memcpy(out.data() + codec::kPreambleSignatureOffset, m.preamble.signature.data(), 65);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::optional<PublicKey> recover_message_signer(ByteSpan message) noexcept {
  if (message.size() < codec::kPreambleSize) return std::nullopt;
  Hash32 d = message_digest(message.first(codec::kPreambleSize), message.subspan(codec::kPreambleSize));
  codec::Sig65 sig;
  std::memcpy(sig.data(), message.data() + codec::kPreambleSignatureOffset, 65);
  return crypto::recover(d, sig, LowS::kEnforce);
}

bool verify_message(ByteSpan message, const PublicKey& expected) noexcept {
  if (message.size() < codec::kPreambleSize) return false;
  Hash32 d = message_digest(message.first(codec::kPreambleSize), message.subspan(codec::kPreambleSize));
  codec::Sig65 sig;
  std::memcpy(sig.data(), message.data() + codec::kPreambleSignatureOffset, 65);
  return crypto::verify(d, sig, expected, LowS::kEnforce);
}

// ---- transactions -----------------------------------------------------------------------

namespace {
// The auth the signature chain starts from: the origin's condition cleared (nonce, fee,
// signatures and fields gone) and, when sponsored, the sentinel sponsor (P2PKH, zero
// signer, compressed, empty signature), which is what a default condition encodes.
codec::TransactionAuth initial_auth(const StacksTransaction& tx) {
  codec::TransactionAuth auth;
  auth.flag = tx.auth.flag;
  cleared_header(tx.auth.origin, auth.origin);
  return auth;
}
}  // namespace

// Both hash the cleared auth while encoding: neither the transaction nor its multisig
// fields are copied.
Hash32 initial_sighash(const StacksTransaction& tx) { return codec::txid_with_auth(tx, initial_auth(tx)); }
Hash32 initial_sighash(const StacksTransaction& tx, ByteSpan raw) {
  return codec::txid_with_auth(raw, tx, initial_auth(tx));
}

std::optional<Hash20> address_hash(std::uint8_t hash_mode, std::span<const PublicKey> keys,
                                   std::span<const bool> compressed, std::uint16_t signatures_required) {
  alignas(std::max_align_t) std::byte arena[2048];
  std::pmr::monotonic_buffer_resource mr(arena, sizeof arena);
  return address_hash_in(hash_mode, keys, compressed, signatures_required, &mr);
}

namespace {
std::optional<Hash20> address_hash_in(std::uint8_t hash_mode, std::span<const PublicKey> keys,
                                      std::span<const bool> compressed, std::uint16_t signatures_required,
                                      std::pmr::memory_resource* mr) {
  if (keys.size() != compressed.size()) return std::nullopt;
  // Multisig conditions may list no keys at all (0-of-0: OP_0 OP_0 OP_CHECKMULTISIG),
  // which the reference accepts; single-sig needs exactly one key.
  switch (hash_mode) {
    case 0x00: {  // P2PKH
      if (keys.size() != 1) return std::nullopt;
      if (compressed[0]) {
        auto k = keys[0].compressed();
        return crypto::hash160(ByteSpan(k.data(), k.size()));
      }
      auto k = keys[0].uncompressed();
      return crypto::hash160(ByteSpan(k.data(), k.size()));
    }
    case 0x02: {  // P2WPKH
      if (keys.size() != 1 || !compressed[0]) return std::nullopt;
      auto k = keys[0].compressed();
      Hash20 inner = crypto::hash160(ByteSpan(k.data(), k.size()));
      std::uint8_t wit[22] = {0x00, 0x14};
      std::memcpy(wit + 2, inner.data(), 20);
      return crypto::hash160(ByteSpan(wit, sizeof wit));
    }
    case 0x01:
    case 0x05: {  // P2SH
      Script script(mr);
      multisig_script(keys, compressed, signatures_required, script);
      return crypto::hash160(ByteSpan(script.data(), script.size()));
    }
    case 0x03:
    case 0x07: {  // P2WSH
      for (bool c : compressed)
        if (!c) return std::nullopt;
      Script script(mr);
      multisig_script(keys, compressed, signatures_required, script);
      Hash32 sh = crypto::sha256(ByteSpan(script.data(), script.size()));
      std::uint8_t wit[34] = {0x00, 0x20};
      std::memcpy(wit + 2, sh.data(), 32);
      return crypto::hash160(ByteSpan(wit, sizeof wit));
    }
    default: return std::nullopt;
  }
}

}  // namespace

AuthCheck verify_origin(const StacksTransaction& tx) {
  return verify_condition(tx.auth.origin, initial_sighash(tx), kAuthStandard);
}

AuthCheck verify_sponsor(const StacksTransaction& tx, const Hash32& origin_final_sighash) {
  if (!tx.auth.sponsored()) return fail("transaction is not sponsored");
  return verify_condition(tx.auth.sponsor, origin_final_sighash, kAuthSponsored);
}

namespace {
AuthCheck verify_from(const StacksTransaction& tx, const Hash32& initial) {
  AuthCheck o = verify_condition(tx.auth.origin, initial, kAuthStandard);
  if (!o.ok || !tx.auth.sponsored()) return o;
  return verify_sponsor(tx, o.next_sighash);
}
}  // namespace

AuthCheck verify_transaction(const StacksTransaction& tx) { return verify_from(tx, initial_sighash(tx)); }
AuthCheck verify_transaction(const StacksTransaction& tx, ByteSpan raw) {
  return verify_from(tx, initial_sighash(tx, raw));
}

void sign_singlesig_origin(StacksTransaction& tx, const crypto::SecretKey& key) {
  SpendingCondition& c = tx.auth.origin;
  Hash32 pre = presign_hash(initial_sighash(tx), kAuthStandard, c.tx_fee, c.nonce);
  c.signature = key.sign(pre);
  codec::compute_ids(tx);
}

void sign_singlesig_sponsor(StacksTransaction& tx, const crypto::SecretKey& key) {
  const SpendingCondition& o = tx.auth.origin;
  Hash32 pre = presign_hash(initial_sighash(tx), kAuthStandard, o.tx_fee, o.nonce);
  Hash32 origin_final = postsign_hash(pre, o.key_encoding, o.signature);
  SpendingCondition& s = tx.auth.sponsor;
  s.signature = key.sign(presign_hash(origin_final, kAuthSponsored, s.tx_fee, s.nonce));
  codec::compute_ids(tx);
}

// ---- blocks -------------------------------------------------------------------------------

std::optional<Hash20> microblock_signer_hash(const codec::MicroblockHeader& h) {
  auto key = crypto::recover(codec::microblock_sighash(h), h.signature, LowS::kIgnore);
  if (!key) return std::nullopt;
  auto c = key->compressed();
  return crypto::hash160(ByteSpan(c.data(), c.size()));
}

bool verify_microblock_signature(const codec::MicroblockHeader& h, const Hash20& microblock_pubkey_hash) {
  auto signer = microblock_signer_hash(h);
  return signer && *signer == microblock_pubkey_hash;
}

std::optional<PublicKey> nakamoto_miner_key(const codec::NakamotoBlock& b) {
  return crypto::recover(b.miner_sighash, b.header.miner_signature, LowS::kIgnore);
}

std::uint64_t threshold_weight(std::uint64_t total) noexcept {
  std::uint64_t t = total * 7;
  return t / 10 + (t % 10 != 0 ? 1 : 0);
}

SignerSet::SignerSet(std::span<const RewardSetSigner> reward_set)
    : signers_(reward_set.begin(), reward_set.end()), used_(reward_set.size(), 0), keys_(reward_set.size()) {
  by_key_.reserve(reward_set.size());
  indexes_.reserve(reward_set.size());
  for (std::size_t i = 0; i < reward_set.size(); ++i) {
    total_weight_ += reward_set[i].weight;
    by_key_.push_back(KeyIndex{reward_set[i].signing_key, static_cast<std::uint32_t>(i)});
  }
  std::sort(by_key_.begin(), by_key_.end());
}

SignerCheck SignerSet::refuse(const codec::NakamotoBlockHeader& h) const {
  SignerCheck r;
  r.total_weight = total_weight_;
  r.threshold = threshold_weight(total_weight_);
  if (signers_.empty() || total_weight_ == 0) r.reason = "empty reward set";
  else if (h.version & 0x80) r.reason = "shadow block";
  else if (h.signer_signature.size() > signers_.size())  // some key would have to sign twice
    r.reason = "signature from a key not in the reward set (or repeated)";
  return r;
}

SignerCheck SignerSet::verify(const codec::NakamotoBlockHeader& h, const Hash32& block_hash, ParallelFor* par) {
  recovered_ = {};
  SignerCheck r = refuse(h);
  if (r.reason[0] != '\0') {
    indexes_.clear();
    return r;
  }
  // Every signature is recovered (side by side through `par`), but none past the first
  // one found not to give a key of this set: the rules below stop there anyway, and a
  // block of junk signatures must not cost a recovery each. Whatever the order pieces
  // run in, those before the first such signature are all recovered (the mark only ever
  // moves down to a failing index); taken in increasing order, as TaskBoard and the
  // plain loop take them, the pieces after it are mostly skipped.
  const std::size_t n = h.signer_signature.size();
  const std::span<codec::PubKey33> keys(keys_.data(), n);
  std::atomic<std::size_t> first_bad{n};
  std::atomic<std::uint32_t> recoveries{0};
  auto one = [&](std::size_t i) noexcept {
    if (i > first_bad.load(std::memory_order_relaxed)) {
      keys[i].fill(0);  // never read: the rules stop at or before first_bad
      return;
    }
    recoveries.fetch_add(1, std::memory_order_relaxed);
    auto key = crypto::recover(block_hash, h.signer_signature[i], LowS::kIgnore);
    if (key) keys[i] = key->compressed();
    else keys[i].fill(0);
    if (!key || !std::binary_search(by_key_.begin(), by_key_.end(), KeyIndex{keys[i], 0},
                                    [](const KeyIndex& a, const KeyIndex& b) { return a.key < b.key; })) {
      std::size_t cur = first_bad.load(std::memory_order_relaxed);
      while (i < cur && !first_bad.compare_exchange_weak(cur, i, std::memory_order_relaxed)) {
      }
    }
  };
  for_each_index(par, n, one);
  if (first_bad.load() == n) recovered_ = keys;  // complete: another set may judge the same keys
  r = verify_recovered(h, keys);
  r.recoveries = recoveries.load();
  return r;
}

SignerCheck SignerSet::verify_recovered(const codec::NakamotoBlockHeader& h, std::span<const codec::PubKey33> keys) {
  SignerCheck r = refuse(h);
  indexes_.clear();
  if (r.reason[0] != '\0') return r;
  if (keys.size() != h.signer_signature.size()) {
    r.reason = "signer signatures and recovered keys differ in number";
    return r;
  }
  const bool strict = h.has_problematic_txs();  // header v1 = epoch 4.0 rules
  std::optional<std::uint32_t> last;
  const char* why = nullptr;
  for (const codec::PubKey33& k33 : keys) {
    if (k33[0] == 0) {
      why = "signer signature does not recover";
      break;
    }
    // The first entry with this key not used yet (a key listed twice may sign twice).
    auto it = std::lower_bound(by_key_.begin(), by_key_.end(), KeyIndex{k33, 0});
    while (it != by_key_.end() && it->key == k33 && used_[it->index]) ++it;
    if (it == by_key_.end() || it->key != k33) {
      why = "signature from a key not in the reward set (or repeated)";
      break;
    }
    const std::uint32_t idx = it->index;
    used_[idx] = 1;
    indexes_.push_back(idx);
    if (last) {
      if (*last >= idx) {
        why = "signer signatures out of order";
        break;
      }
      if (strict) last = idx;
    } else {
      last = idx;
    }
    r.weight_signed += signers_[idx].weight;
  }
  for (std::uint32_t i : indexes_) used_[i] = 0;  // the scratch is clean for the next block
  if (why != nullptr) {
    r.reason = why;
    return r;
  }
  if (r.weight_signed < r.threshold) {
    r.reason = "signer weight below 70% threshold";
    return r;
  }
  r.ok = true;
  return r;
}

SignerCheck verify_signer_signatures(const codec::NakamotoBlock& b,
                                     std::span<const RewardSetSigner> reward_set) {
  SignerSet set(reward_set);
  return set.verify(b.header, b.block_hash);
}

Hash32 stackerdb_chunk_digest(std::uint32_t slot_id, std::uint32_t slot_version, ByteSpan data) noexcept {
  const Hash32 data_hash = crypto::sha512_256(data);
  crypto::Sha512_256 h;
  h.update_u32(slot_id);
  h.update_u32(slot_version);
  h.update(data_hash.data(), 32);
  return h.finish();
}

Hash32 stackerdb_chunk_digest(const codec::StackerDBChunkData& c) noexcept {
  return stackerdb_chunk_digest(c.slot_id, c.slot_version, c.data);
}

std::optional<Hash20> stackerdb_chunk_signer_hash(const codec::StackerDBChunkData& c) {
  auto k = stackerdb_chunk_key(c.slot_id, c.slot_version, c.sig, c.data);
  if (!k) return std::nullopt;
  return crypto::hash160(ByteSpan(k->data(), k->size()));
}

bool verify_stackerdb_chunk(const codec::StackerDBChunkData& c, const Hash20& slot_owner) {
  auto signer = stackerdb_chunk_signer_hash(c);
  return signer && *signer == slot_owner;
}

std::optional<codec::PubKey33> stackerdb_chunk_key(std::uint32_t slot_id, std::uint32_t slot_version,
                                                   const codec::Sig65& sig, ByteSpan data) {
  auto key = crypto::recover(stackerdb_chunk_digest(slot_id, slot_version, data), sig, LowS::kIgnore);
  if (!key) return std::nullopt;
  return key->compressed();
}

int signers_contract_parity(const codec::StacksAddress& address, std::string_view n) noexcept {
  static constexpr Hash20 kBoot{};
  if (address.hash != kBoot || (address.version != 22 && address.version != 26)) return -1;
  constexpr std::string_view kPrefix = "signers-";
  if (n.size() < kPrefix.size() + 3 || n.substr(0, kPrefix.size()) != kPrefix) return -1;
  const char p = n[kPrefix.size()];
  if ((p != '0' && p != '1') || n[kPrefix.size() + 1] != '-') return -1;
  for (char ch : n.substr(kPrefix.size() + 2))
    if (ch < '0' || ch > '9') return -1;
  return p - '0';
}

SlotSigners slot_signers(std::uint64_t cycle, std::span<const RewardSetSigner> current,
                         std::span<const RewardSetSigner> previous, std::span<const RewardSetSigner> next) {
  SlotSigners s;
  if (cycle == 0) return s;
  auto keys = [](std::span<const RewardSetSigner> set) {
    std::vector<codec::PubKey33> k;
    k.reserve(set.size());
    for (const auto& sg : set) k.push_back(sg.signing_key);
    return k;
  };
  s.by_parity[cycle % 2] = keys(current);
  s.by_parity[(cycle + 1) % 2] = keys(next.empty() ? previous : next);
  return s;
}

bool MicroblockStream::add(const codec::StacksMicroblock& mb) {
  if (broken_ != nullptr) return false;
  auto signer = microblock_signer_hash(mb.header);
  if (!signer) broken_ = "microblock signature does not recover";
  else if (count_ > 0 && *signer != signer_) broken_ = "microblocks signed by different keys";
  else if (count_ > 0 && (mb.header.sequence != static_cast<std::uint16_t>(prev_seq_ + 1) ||
                          mb.header.prev_block != prev_hash_))
    broken_ = "microblocks do not form a chain";
  if (broken_ != nullptr) return false;
  signer_ = *signer;
  prev_seq_ = mb.header.sequence;
  prev_hash_ = mb.block_hash;
  ++count_;
  return true;
}

MicroblockStreamCheck MicroblockStream::result() const {
  MicroblockStreamCheck out;
  out.signer = signer_;
  if (broken_ != nullptr) out.reason = broken_;
  else if (count_ == 0) out.reason = "no microblocks";
  else out.ok = true;
  return out;
}

MicroblockStreamCheck verify_microblock_stream(std::span<const codec::StacksMicroblock> mbs) {
  MicroblockStream stream;
  for (const auto& mb : mbs)
    if (!stream.add(mb)) break;
  return stream.result();
}

}  // namespace relay::validate
