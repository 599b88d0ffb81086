#include "relay/validate/push_check.hpp"

#include <algorithm>

#include "relay/codec/limits.hpp"

namespace relay::validate {

PushCheck::PushCheck(Reserve r) {
  if (r == Reserve::kOnDemand) return;
  scratch_.reserve();
  codec::reserve_decode_scratch();
  if (r == Reserve::kLargestPush) ids_.reserve(codec::kMaxVecMicroblocks);  // the longest list of objects one push holds
}

const char* verdict_name(PushCheck::Verdict v) noexcept {
  switch (v) {
    case PushCheck::Verdict::kValid: return "valid";
    case PushCheck::Verdict::kUndecodable: return "undecodable";
    case PushCheck::Verdict::kInvalid: return "invalid";
    case PushCheck::Verdict::kNoRewardSet: return "no reward set";
    case PushCheck::Verdict::kBeyondPolicy: return "beyond relay policy";
    case PushCheck::Verdict::kWrongSigner: return "not signed by its slot's signer";
  }
  return "?";
}

PushCheck::Outcome PushCheck::check(ByteSpan payload, std::uint32_t base_off, bool validate,
                                    const dedup::TagCache* known) {
  ids_.clear();
  stream_ = MicroblockStream{};
  payload_ = payload;
  validate_ = validate;
  known_ = known;
  out_ = Outcome{};
  Status st = codec::read_push(payload, base_off, scratch_, *this);
  if (!st.ok()) {
    Outcome o;
    o.verdict = Verdict::kUndecodable;
    o.error = st.error();
    o.reason = st.error().reason;
    return o;
  }
  // Microblocks are judged as one stream, once all are in (unless none is new).
  if (validate_ && out_.new_ids > 0 && static_cast<codec::MsgId>(payload[0]) == codec::MsgId::kMicroblocks) {
    const MicroblockStreamCheck m = stream_.result();
    if (!m.ok) invalid(Verdict::kInvalid, m.reason);
  }
  return out_;
}

bool PushCheck::add(const Hash32& id) {
  // The list is reserved for the longest possible push; a count past it is a decode
  // error already (read_push bounds every list), so this never grows in practice.
  ids_.push_back(id);
  const bool is_new = known_ == nullptr || !known_->contains(id);
  if (is_new) ++out_.new_ids;
  return validate_ && is_new && out_.verdict == Verdict::kValid;
}

void PushCheck::invalid(Verdict v, const char* why) {
  if (out_.verdict != Verdict::kValid) return;  // the first problem is the one reported
  out_.verdict = v;
  out_.reason = why;
}

void PushCheck::transaction(const codec::StacksTransaction& tx, ByteSpan raw) {
  if (!add(tx.txid)) return;
  // Each field costs a recovery (signatures) or a parse (keys); counted before any is done.
  const std::size_t origin = tx.auth.origin.fields.size();
  const std::size_t sponsor = tx.auth.sponsored() ? tx.auth.sponsor.fields.size() : 0;
  if (origin > codec::kMaxTxAuthFields || sponsor > codec::kMaxTxAuthFields)
    return invalid(Verdict::kBeyondPolicy, "more multisig fields than the relay verifies per transaction");
  out_.signature_checks += std::max<std::size_t>(origin, 1) + (tx.auth.sponsored() ? std::max<std::size_t>(sponsor, 1) : 0);
  AuthCheck a = verify_transaction(tx, raw);
  if (!a.ok) invalid(Verdict::kInvalid, a.reason);
}

PushCheck::Verdict PushCheck::verify_signers(const codec::NakamotoBlockHeader& h, const Hash32& block_hash,
                                             const char** why) {
  if (signers_.empty() && previous_.empty()) {
    if (why != nullptr) *why = "no reward set to check signer signatures";
    return Verdict::kNoRewardSet;
  }
  SignerCheck s = signers_.verify(h, block_hash, par_);
  recoveries_ += s.recoveries;
  if (!s.ok && !previous_.empty()) {  // a block of the last cycle: the same keys if all were recovered
    const auto keys = signers_.recovered();
    if (keys.size() == h.signer_signature.size() && !keys.empty()) {
      s = previous_.verify_recovered(h, keys);
    } else {
      s = previous_.verify(h, block_hash, par_);
      recoveries_ += s.recoveries;
    }
  }
  if (s.ok) return Verdict::kValid;
  if (why != nullptr) *why = s.reason;
  return Verdict::kInvalid;
}

PushCheck::Outcome PushCheck::accept_streamed(std::span<const Hash32> ids, const dedup::TagCache* known) {
  ids_.clear();
  validate_ = false;
  known_ = known;
  out_ = Outcome{};
  for (const Hash32& id : ids) add(id);
  return out_;
}

void PushCheck::nakamoto_block(const codec::NakamotoBlock& b, ByteSpan) {
  if (!add(b.block_id)) return;
  const char* why = "";
  const Verdict v = verify_signers(b.header, b.block_hash, &why);
  if (v != Verdict::kValid) invalid(v, why);
}

void PushCheck::block(const Hash20& consensus_hash, const codec::StacksBlock& b, ByteSpan) {
  add(codec::block_index_hash(b.block_hash, consensus_hash));
}

void PushCheck::microblock(const Hash32&, const codec::StacksMicroblock& mb, ByteSpan) {
  add(mb.block_hash);
  // The chain is checked across all of them (seen or not): one stream, one signer.
  if (validate_) stream_.add(mb);
}

void PushCheck::chunk(const codec::StackerDBPushChunk& c) {
  if (!add(crypto::sha512_256(payload_))) return;
  // A skimmed contract id keeps no name: it is read from the payload (type, address
  // version and hash, name length, name), which decoded already.
  const std::size_t name_len = payload_[22];
  const auto name = std::string_view(reinterpret_cast<const char*>(payload_.data()) + 23, name_len);
  const int parity = signers_contract_parity(c.contract_id.address, name);
  if (parity < 0) return;
  const auto& owners = slots_.by_parity[parity];
  if (owners.empty()) return;  // not known: the sender's chunk bandwidth bounds it
  out_.chunk_signer_checked = true;
  if (c.chunk.slot_id >= owners.size()) return invalid(Verdict::kWrongSigner, "chunk slot beyond the signer set");
  // The data is the payload's tail: type, contract id, rc_consensus_hash, slot id and
  // version, signature, data length (a skimmed chunk keeps no copy).
  const std::size_t at = 1 + 21 + 1 + name_len + 20 + 4 + 4 + 65 + 4;
  if (at > payload_.size()) return invalid(Verdict::kWrongSigner, "chunk data not where expected");
  const auto key = stackerdb_chunk_key(c.chunk.slot_id, c.chunk.slot_version, c.chunk.sig, payload_.subspan(at));
  if (!key || *key != owners[c.chunk.slot_id]) invalid(Verdict::kWrongSigner, "chunk not signed by its slot's signer");
}

void PushCheck::available(codec::MsgId, std::span<const codec::BlockAvailable>) {
  add(crypto::sha512_256(payload_));
}

void PushCheck::beyond_policy(const char* why) { invalid(Verdict::kBeyondPolicy, why); }

}  // namespace relay::validate
