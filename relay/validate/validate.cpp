#include "relay/validate/validate.hpp"

#include <algorithm>
#include <cstring>
#include <memory>

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

// Bitcoin script number push (rust-bitcoin Builder::push_int semantics).
void push_int(Bytes& s, std::int64_t n) {
  if (n == 0) {
    s.push_back(0x00);
    return;
  }
  if (n == -1 || (n >= 1 && n <= 16)) {
    s.push_back(static_cast<std::uint8_t>(0x50 + n));
    return;
  }
  Bytes num;
  std::uint64_t abs = static_cast<std::uint64_t>(n < 0 ? -n : n);
  while (abs != 0) {
    num.push_back(static_cast<std::uint8_t>(abs & 0xff));
    abs >>= 8;
  }
  if (num.back() & 0x80) num.push_back(static_cast<std::uint8_t>(n < 0 ? 0x80 : 0x00));
  else if (n < 0) num.back() = static_cast<std::uint8_t>(num.back() | 0x80);
  s.push_back(static_cast<std::uint8_t>(num.size()));
  s.insert(s.end(), num.begin(), num.end());
}

Bytes multisig_script(std::span<const PublicKey> keys, std::span<const bool> compressed, std::uint16_t m) {
  Bytes s;
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
  return s;
}

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
  std::vector<PublicKey> keys;
  std::vector<bool> compressed;
  {
    const bool independent = codec::is_order_independent(c.hash_mode);
    std::uint32_t sigs = 0;
    bool uncompressed = false;
    for (const auto& f : c.fields) {
      uncompressed |= !f.compressed();
      if (!f.is_signature()) {
        auto key = crypto::parse_public_key(ByteSpan(f.public_key.data(), 33));
        if (!key) return fail("multisig public key does not parse");
        keys.push_back(*key);
        compressed.push_back(f.compressed());
        continue;
      }
      std::uint8_t encoding = f.compressed() ? 0 : 1;
      Hash32 pre = presign_hash(cur, flag, c.tx_fee, c.nonce);
      auto key = crypto::recover(pre, f.signature, LowS::kEnforce);
      if (!key) return fail("multisig signature does not recover (or is high-S)");
      keys.push_back(*key);
      compressed.push_back(f.compressed());
      if (!independent) cur = postsign_hash(pre, encoding, f.signature);
      ++sigs;
    }
    if (independent ? sigs < c.signatures_required : sigs != c.signatures_required)
      return fail("wrong number of signatures");
    if (uncompressed && (c.hash_mode == 0x03 || c.hash_mode == 0x07))
      return fail("uncompressed key in a P2WSH condition");
  }
  // std::vector<bool> is bit-packed; address_hash takes a span of bool.
  std::unique_ptr<bool[]> flags(new bool[compressed.size()]);
  for (std::size_t i = 0; i < compressed.size(); ++i) flags[i] = compressed[i];
  auto got = address_hash(c.hash_mode, keys, std::span<const bool>(flags.get(), compressed.size()),
                          c.signatures_required);
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

Hash32 initial_sighash(const StacksTransaction& tx) {
  // The txid with the origin's condition cleared (and a sentinel sponsor), hashed while
  // encoding: neither the transaction nor its multisig fields are copied.
  codec::TransactionAuth auth;
  auth.flag = tx.auth.flag;
  cleared_header(tx.auth.origin, auth.origin);
  // (a sponsored tx's sponsor becomes the sentinel: P2PKH, zero signer, compressed, empty signature)
  return codec::txid_with_auth(tx, auth);
}

std::optional<Hash20> address_hash(std::uint8_t hash_mode, std::span<const PublicKey> keys,
                                   std::span<const bool> compressed, std::uint16_t signatures_required) {
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
      Bytes script = multisig_script(keys, compressed, signatures_required);
      return crypto::hash160(script);
    }
    case 0x03:
    case 0x07: {  // P2WSH
      for (bool c : compressed)
        if (!c) return std::nullopt;
      Bytes script = multisig_script(keys, compressed, signatures_required);
      Hash32 sh = crypto::sha256(script);
      std::uint8_t wit[34] = {0x00, 0x20};
      std::memcpy(wit + 2, sh.data(), 32);
      return crypto::hash160(ByteSpan(wit, sizeof wit));
    }
    default: return std::nullopt;
  }
}

AuthCheck verify_origin(const StacksTransaction& tx) {
  return verify_condition(tx.auth.origin, initial_sighash(tx), kAuthStandard);
}

AuthCheck verify_sponsor(const StacksTransaction& tx, const Hash32& origin_final_sighash) {
  if (!tx.auth.sponsored()) return fail("transaction is not sponsored");
  return verify_condition(tx.auth.sponsor, origin_final_sighash, kAuthSponsored);
}

AuthCheck verify_transaction(const StacksTransaction& tx) {
  AuthCheck o = verify_origin(tx);
  if (!o.ok || !tx.auth.sponsored()) return o;
  return verify_sponsor(tx, o.next_sighash);
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

SignerCheck verify_signer_signatures(const codec::NakamotoBlock& b,
                                     std::span<const RewardSetSigner> reward_set) {
  SignerCheck r;
  for (const auto& s : reward_set) r.total_weight += s.weight;
  r.threshold = threshold_weight(r.total_weight);
  if (reward_set.empty() || r.total_weight == 0) {
    r.reason = "empty reward set";
    return r;
  }
  if (b.header.version & 0x80) {
    r.reason = "shadow block";
    return r;
  }
  const bool strict = b.header.has_problematic_txs();  // header v1 = epoch 4.0 rules
  std::vector<bool> used(reward_set.size(), false);
  std::optional<std::size_t> last;
  for (const auto& sig : b.header.signer_signature) {
    auto key = crypto::recover(b.block_hash, sig, LowS::kIgnore);
    if (!key) {
      r.reason = "signer signature does not recover";
      return r;
    }
    auto k33 = key->compressed();
    std::size_t idx = reward_set.size();
    for (std::size_t i = 0; i < reward_set.size(); ++i)
      if (!used[i] && reward_set[i].signing_key == k33) {
        idx = i;
        break;
      }
    if (idx == reward_set.size()) {
      r.reason = "signature from a key not in the reward set (or repeated)";
      return r;
    }
    used[idx] = true;
    if (last) {
      if (*last >= idx) {
        r.reason = "signer signatures out of order";
        return r;
      }
      if (strict) last = idx;
    } else {
      last = idx;
    }
    r.signer_indexes.push_back(idx);
    r.weight_signed += reward_set[idx].weight;
  }
  if (r.weight_signed < r.threshold) {
    r.reason = "signer weight below 70% threshold";
    return r;
  }
  r.ok = true;
  return r;
}

Hash32 stackerdb_chunk_digest(const codec::StackerDBChunkData& c) noexcept {
  Hash32 data_hash = crypto::sha512_256(c.data);
  crypto::Sha512_256 h;
  h.update_u32(c.slot_id);
  h.update_u32(c.slot_version);
  h.update(data_hash.data(), 32);
  return h.finish();
}

std::optional<Hash20> stackerdb_chunk_signer_hash(const codec::StackerDBChunkData& c) {
  auto key = crypto::recover(stackerdb_chunk_digest(c), c.sig, LowS::kIgnore);
  if (!key) return std::nullopt;
  auto k = key->compressed();
  return crypto::hash160(ByteSpan(k.data(), k.size()));
}

bool verify_stackerdb_chunk(const codec::StackerDBChunkData& c, const Hash20& slot_owner) {
  auto signer = stackerdb_chunk_signer_hash(c);
  return signer && *signer == slot_owner;
}

MicroblockStreamCheck verify_microblock_stream(std::span<const codec::StacksMicroblock> mbs) {
  MicroblockStreamCheck out;
  if (mbs.empty()) return out.reason = "no microblocks", out;
  for (std::size_t i = 0; i < mbs.size(); ++i) {
    const auto& mb = mbs[i];
    auto signer = microblock_signer_hash(mb.header);
    if (!signer) return out.reason = "microblock signature does not recover", out;
    if (i == 0) out.signer = *signer;
    else if (*signer != out.signer) return out.reason = "microblocks signed by different keys", out;
    if (i > 0 && (mb.header.sequence != static_cast<std::uint16_t>(mbs[i - 1].header.sequence + 1) ||
                  mb.header.prev_block != mbs[i - 1].block_hash))
      return out.reason = "microblocks do not form a chain", out;
  }
  out.ok = true;
  return out;
}

}  // namespace relay::validate
