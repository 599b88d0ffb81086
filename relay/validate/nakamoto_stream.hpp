// relay/validate/nakamoto_stream.hpp — the checks of a NakamotoBlocks push run while its
// bytes arrive (ARCHITECTURE.md §3.2, §3.4), so that when the last byte lands only the
// Merkle tree's right edge, the message signature and our own signature are left.
//
// Fed the payload's growing prefix, the stream reads each piece as soon as all of its
// bytes are in, with the same strict decoder PushCheck uses:
//   - a block header: its ids, then its signer signatures against the reward set
//     (PushCheck::verify_signers) — the costly part, done while the transactions are
//     still on the wire;
//   - each transaction: decoded (skimmed); every kTxBatch of them their txids are
//     hashed together (crypto::sha512_256_many), checked for duplicates in a keyed
//     table and added to an incremental Merkle tree;
//   - a block's end: the Merkle root against the header's.
//
// The stream only ever says "passed" (every block read, checked and valid, the payload
// consumed exactly) or "gave up". Anything it cannot vouch for — a decode error, an
// invalid block, no reward set, a piece that failed on a prefix for a reason other than
// running out of bytes — makes it give up, and the caller checks the whole payload with
// PushCheck::check once it is in, which gives the verdict and the reason exactly as
// before. Streaming is an acceleration, never a second set of rules.
//
// Work is bounded: a piece that stopped for lack of bytes is retried only once the bytes
// after its start have doubled (or the payload is complete), so a large transaction
// arriving in small reads costs at most about twice its decode. No allocation after
// construction (the largest block's tables are reserved up front, ~1 MiB).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "relay/codec/message.hpp"
#include "relay/crypto/merkle.hpp"
#include "relay/validate/push_check.hpp"

namespace relay::validate {

class NakamotoStream {
 public:
  enum class State : std::uint8_t { kIdle, kReading, kPassed, kGaveUp };

  NakamotoStream();

  // begin: a payload of `size` bytes (from its type byte) starts arriving. Without
  // `validate` the signer signatures are not checked (PushCheck::check's validate flag:
  // decode, ids, duplicates and Merkle roots only).
  void begin(std::size_t size, bool validate = true) noexcept;
  // advance: `have` is the payload's first bytes received so far (at most `size`).
  // Reads and checks every piece whose bytes are all in; cheap when nothing new is.
  void advance(ByteSpan have, PushCheck& check) noexcept;
  void reset() noexcept { state_ = State::kIdle; }

  State state() const noexcept { return state_; }
  // ids: the blocks' ids, in order (complete once kPassed).
  std::span<const Hash32> ids() const noexcept { return ids_; }
  // why: the reason it gave up (for logs and tests).
  const char* why() const noexcept { return why_; }

 private:
  enum class Step : std::uint8_t { kType, kBlockCount, kHeader, kTxCount, kTx, kBlockEnd, kEnd };

  // TxidSet: duplicate detection over one block's txids; open addressing on a keyed hash
  // (XXH3 with a secret seed), so chosen txids cannot pile into one probe chain.
  class TxidSet {
   public:
    TxidSet();
    void reset(std::uint32_t expected) noexcept;
    bool insert(const Hash32& id) noexcept;  // false: already present

   private:
    std::vector<std::uint32_t> slots_;  // index + 1 into ids_, 0 = empty
    std::vector<Hash32> ids_;
    std::size_t mask_ = 0;
    std::uint64_t seed_;
  };

  // Transactions decoded but not hashed yet, as (payload offset, length).
  static constexpr std::size_t kTxBatch = 32;
  struct TxSpan {
    std::size_t at;
    std::uint32_t len;
  };
  // hash_txs: the held transactions' txids, their duplicate check and Merkle leaves.
  // False if it gave up.
  bool hash_txs(ByteSpan have) noexcept;

  // stalled: the piece at pos_ did not read from `rest`; wait for more bytes or give up.
  void stalled(const Error& e, std::size_t rest, bool all_in) noexcept;
  void give_up(const char* why) noexcept {
    state_ = State::kGaveUp;
    why_ = why;
  }

  State state_ = State::kIdle;
  Step step_ = Step::kType;
  const char* why_ = "";
  std::size_t size_ = 0;
  bool validate_ = true;
  std::size_t pos_ = 0;       // payload bytes read so far (pieces complete)
  std::size_t retry_at_ = 0;  // bytes after pos_ needed before the current piece is tried again
  std::size_t budget_ = 0;    // the decode's memory budget, as one whole decode spends it
  std::size_t points_ = 0;    // multisig keys it may still parse (codec::kMaxPushKeyChecks per push)
  std::uint32_t blocks_ = 0;
  std::uint32_t txs_left_ = 0;
  codec::PushScratch scratch_;  // the header and each transaction in turn
  Hash32 root_{};               // the current block's header Merkle root
  crypto::MerkleBuilder merkle_;
  TxSpan held_[kTxBatch];
  std::uint32_t held_n_ = 0;
  TxidSet txids_;
  std::vector<Hash32> ids_;
};

}  // namespace relay::validate
