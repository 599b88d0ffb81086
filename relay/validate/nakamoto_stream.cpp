#include "relay/validate/nakamoto_stream.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "relay/codec/limits.hpp"
#include "relay/crypto/hash_many.hpp"
#include "relay/crypto/secp256k1.hpp"

namespace relay::validate {

NakamotoStream::TxidSet::TxidSet() {
  std::size_t cap = 16;
  while (cap < 2 * std::size_t{codec::kMaxVecTransactions}) cap <<= 1;
  slots_.assign(cap, 0);
  ids_.reserve(codec::kMaxVecTransactions);
  crypto::fill_random(reinterpret_cast<std::uint8_t*>(&seed_), sizeof seed_);
}

void NakamotoStream::TxidSet::reset(std::uint32_t expected) noexcept {
  std::size_t cap = 16;
  while (cap < 2 * std::size_t{expected}) cap <<= 1;  // expected ≤ kMaxVecTransactions: fits
  mask_ = cap - 1;
  std::fill_n(slots_.begin(), cap, 0u);
  ids_.clear();
}

bool NakamotoStream::TxidSet::insert(const Hash32& id) noexcept {
  // At most `expected` ids go in (the caller reads no more transactions than the block
  // declares), so the table stays at most half full and a probe always ends.
  std::size_t i = XXH3_64bits_withSeed(id.data(), id.size(), seed_) & mask_;
  for (; slots_[i] != 0; i = (i + 1) & mask_)
    if (ids_[slots_[i] - 1] == id) return false;
  ids_.push_back(id);
  slots_[i] = static_cast<std::uint32_t>(ids_.size());
  return true;
}

NakamotoStream::NakamotoStream() {
  scratch_.reserve();
  ids_.reserve(codec::kNakamotoBlocksPushedMax);
}

void NakamotoStream::begin(std::size_t size, bool validate) noexcept {
  state_ = State::kReading;
  validate_ = validate;
  step_ = Step::kType;
  why_ = "";
  size_ = size;
  pos_ = 0;
  retry_at_ = 0;
  budget_ = kDecodeMemoryBudget;
  points_ = codec::kMaxPushKeyChecks;
  blocks_ = 0;
  txs_left_ = 0;
  held_n_ = 0;
  ids_.clear();
}

bool NakamotoStream::hash_txs(ByteSpan have) noexcept {
  ByteSpan raw[kTxBatch];
  Hash32 ids[kTxBatch];
  for (std::uint32_t i = 0; i < held_n_; ++i) raw[i] = have.subspan(held_[i].at, held_[i].len);
  crypto::sha512_256_many(std::span<const ByteSpan>(raw, held_n_), ids);
  const std::uint32_t n = held_n_;
  held_n_ = 0;
  for (std::uint32_t i = 0; i < n; ++i)
    if (!txids_.insert(ids[i])) {
      give_up("duplicate transaction in block");
      return false;
    }
  merkle_.add(std::span<const Hash32>(ids, n));
  return true;
}

void NakamotoStream::stalled(const Error& e, std::size_t rest, bool all_in) noexcept {
  // Running out of bytes on a prefix is not an error yet: try again once twice as many
  // bytes are in (or all of them). Any other failure, or running out with everything
  // in, is for the whole-payload check to report.
  if (e.code == Errc::kTruncated && !all_in) {
    retry_at_ = std::max<std::size_t>(2 * rest, rest + 1);
    return;
  }
  give_up(e.reason);
}

void NakamotoStream::advance(ByteSpan have, PushCheck& check) noexcept {
  if (state_ != State::kReading) return;
  if (have.size() > size_) return give_up("more bytes than the payload holds");
  const bool all_in = have.size() == size_;
  while (state_ == State::kReading) {
    const ByteSpan rest = have.subspan(pos_);
    if (!all_in && rest.size() < retry_at_) return;
    retry_at_ = 0;
    switch (step_) {
      case Step::kType:
        if (rest.empty()) return stalled(Error{Errc::kTruncated, 0, "empty payload"}, 0, all_in);
        if (static_cast<codec::MsgId>(rest[0]) != codec::MsgId::kNakamotoBlocks) return give_up("not NakamotoBlocks");
        pos_ += 1;
        step_ = Step::kBlockCount;
        break;
      case Step::kBlockCount:
        if (rest.size() < 4) return stalled(Error{Errc::kTruncated, 0, "block count"}, rest.size(), all_in);
        blocks_ = load_be32(rest.data());
        if (blocks_ > codec::kNakamotoBlocksPushedMax) return give_up("too many Nakamoto blocks");
        pos_ += 4;
        step_ = blocks_ == 0 ? Step::kEnd : Step::kHeader;
        break;
      case Step::kHeader: {
        Reader r(rest);
        r.set_skim(true);
        r.set_budget(budget_);
        codec::NakamotoHeaderIds hids;
        codec::read_nakamoto_header_ids(r, scratch_.nakamoto.header, hids);
        if (!r.ok()) return stalled(r.error(), rest.size(), all_in);
        budget_ = r.budget();
        if (std::find(ids_.begin(), ids_.end(), hids.block_id) != ids_.end())
          return give_up("duplicate block id in NakamotoBlocks");
        // The signer signatures now, while the transactions are still arriving.
        if (validate_ && check.verify_signers(scratch_.nakamoto.header, hids.block_hash) != PushCheck::Verdict::kValid)
          return give_up("signer signatures do not pass");
        ids_.push_back(hids.block_id);
        root_ = scratch_.nakamoto.header.tx_merkle_root;
        pos_ += r.pos();
        step_ = Step::kTxCount;
        break;
      }
      case Step::kTxCount:
        if (rest.size() < 4) return stalled(Error{Errc::kTruncated, 0, "transaction count"}, rest.size(), all_in);
        txs_left_ = load_be32(rest.data());
        if (txs_left_ > codec::kMaxVecTransactions) return give_up("too many transactions");
        txids_.reset(txs_left_);
        merkle_.reset();
        pos_ += 4;
        step_ = txs_left_ == 0 ? Step::kBlockEnd : Step::kTx;
        break;
      case Step::kTx: {
        // As read_tx_list charges each transaction before decoding it.
        constexpr std::size_t kTxCharge = sizeof(codec::StacksTransaction) + sizeof(Hash32);
        if (budget_ < kTxCharge) return give_up("decoded object too large in memory");
        Reader r(rest);
        r.set_skim(true);
        r.set_budget(budget_ - kTxCharge);
        r.set_point_budget(points_);
        codec::read_transaction(r, scratch_.tx, codec::TxidMode::kDefer);
        if (!r.ok()) return stalled(r.error(), rest.size(), all_in);
        // Past the budget the whole-payload check judges it (beyond policy, unless worse).
        if (r.points_skipped()) return give_up("more multisig keys than the relay parses per push");
        budget_ = r.budget();
        points_ = r.point_budget();
        held_[held_n_++] = TxSpan{pos_, scratch_.tx.encoded_size};
        if (held_n_ == kTxBatch && !hash_txs(have)) return;
        pos_ += r.pos();
        if (--txs_left_ == 0) step_ = Step::kBlockEnd;
        break;
      }
      case Step::kBlockEnd:
        if (held_n_ != 0 && !hash_txs(have)) return;
        if (merkle_.root() != root_) return give_up("tx Merkle root mismatch");
        step_ = ids_.size() == blocks_ ? Step::kEnd : Step::kHeader;
        break;
      case Step::kEnd:
        if (!rest.empty()) return give_up("trailing bytes after NakamotoBlocks");
        if (all_in) state_ = State::kPassed;
        return;
    }
  }
}

}  // namespace relay::validate
