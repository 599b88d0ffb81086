// relay/policy/relay_policy.hpp — which pushes the relay forwards, to whom, and in what
// order (ARCHITECTURE.md §3.6–3.8, PROTOCOL.md §3, §5).
//
// Pure logic, no I/O: used by the dataplane's relay path and unit-tested on its own.
#pragma once

#include <bit>
#include <cstdint>
#include <vector>
#include <optional>
#include <span>

#include "relay/codec/message.hpp"

namespace relay::policy {

// ---- relayers (PROTOCOL.md §3 constraints 1–2, chat.rs process_relayers) -------------

enum class RelayersVerdict : std::uint8_t {
  kOk,
  kTooMany,     // more than 16 entries (a decode error already; kept for completeness)
  kCycle,       // the same public-key hash twice: the receiver drops the connection
  kContainsUs,  // our own hash is in it: the message came back round
};

// check_relayers: what a receiving node checks, applied to a message that reached us.
RelayersVerdict check_relayers(std::span<const codec::RelayData> relayers, const codec::Hash20& our_pkh) noexcept;

// can_append_self: the message can carry us as one more hop (fewer than 16 entries).
bool can_append_self(std::span<const codec::RelayData> relayers) noexcept;

// may_send_to: whether `peer_pkh` may receive a message whose relayers (after we
// appended ourselves) are `relayers`: never to a peer already in the list (it would
// drop us), never back to the peer we got it from.
bool may_send_to(std::span<const codec::RelayData> relayers, const codec::Hash20& peer_pkh,
                 const codec::Hash20& sender_pkh) noexcept;

// ---- what is relayed --------------------------------------------------------------

// Lower value = sent first. Blocks never wait behind transactions.
enum class Priority : std::uint8_t { kBlock = 0, kMicroblock = 1, kStackerDb = 2, kTransaction = 3 };
inline constexpr std::size_t kPriorityCount = 4;

// push_priority: the class of a pushed message we relay, or nullopt for anything that is
// not relayed (requests, replies, and the 2.x pushes unless the network is 2.x).
std::optional<Priority> push_priority(codec::MsgId id, bool relay_2x) noexcept;

// is_push: a message a node pushes unasked (handled by the relay path, not answered).
constexpr bool is_push(codec::MsgId id) noexcept {
  using codec::MsgId;
  return id == MsgId::kTransaction || id == MsgId::kNakamotoBlocks || id == MsgId::kStackerDBPushChunk ||
         id == MsgId::kBlocks || id == MsgId::kMicroblocks || id == MsgId::kBlocksAvailable ||
         id == MsgId::kMicroblocksAvailable;
}

// ---- per-session pacing (PROTOCOL.md §1.6: a node drops a peer with > 100 queued) ---

struct QueuedPush {
  std::uint64_t handle = 0;  // caller's reference to the signed bytes
  Priority priority = Priority::kTransaction;
  std::uint32_t order = 0;  // the caller's number for the push (the dataplane: its fan-out's)
};

// SessionPacer: the messages waiting to go to one node, at most `budget` of them.
// When full, a new push makes room by dropping the oldest waiting push of the lowest
// class that may go for it: transactions first, then StackerDB chunks (a chunk makes room
// only by dropping a transaction or an older chunk; a transaction only another
// transaction). Blocks and microblocks are never dropped, and never refused because of
// transactions or chunks: a block is refused (counted; the caller lets it go) only when
// nothing but blocks and microblocks wait.
class SessionPacer {
 public:
  // All the queue memory is taken here, at session start: admit/next never allocate.
  explicit SessionPacer(std::uint32_t budget) : budget_(budget == 0 ? 1 : budget) {
    for (auto& q : q_) q.init(budget_);
  }

  enum class Admit : std::uint8_t { kQueued, kQueuedDropped, kRefused };
  struct AdmitResult {
    Admit result;
    std::optional<QueuedPush> dropped;  // the push that made room (a transaction or a chunk)
  };
  AdmitResult admit(const QueuedPush& p);
  // next: the highest-priority waiting push (oldest first within a priority), or nullopt.
  std::optional<QueuedPush> next();
  // peek: the push next() would return, left waiting (nullptr: none).
  const QueuedPush* peek() noexcept {
    for (auto& q : q_)
      if (!q.empty()) return &q.at(0);
    return nullptr;
  }
  std::uint32_t waiting() const noexcept { return waiting_; }
  // for_each: visit every waiting push (the caller may replace its handle).
  template <typename F>
  void for_each(F&& f) {
    for (auto& q : q_)
      for (std::uint32_t i = 0; i < q.size(); ++i) f(q.at(i));
  }
  std::uint64_t dropped_tx() const noexcept { return dropped_tx_; }
  std::uint64_t dropped_chunks() const noexcept { return dropped_chunks_; }
  std::uint64_t refused() const noexcept { return refused_; }

 private:
  // Fifo: a fixed-capacity ring holding at least the budget, which bounds every queue
  // (its capacity a power of two: a mask, not a division, finds a slot).
  class Fifo {
   public:
    void init(std::uint32_t cap) {
      buf_.resize(std::bit_ceil(cap));
      mask_ = static_cast<std::uint32_t>(buf_.size()) - 1;
    }
    bool empty() const noexcept { return n_ == 0; }
    std::uint32_t size() const noexcept { return n_; }
    QueuedPush& at(std::uint32_t i) noexcept { return buf_[(head_ + i) & mask_]; }
    void push_back(const QueuedPush& p) noexcept {
      buf_[(head_ + n_) & mask_] = p;
      ++n_;
    }
    QueuedPush pop_front() noexcept {
      QueuedPush p = buf_[head_];
      head_ = (head_ + 1) & mask_;
      --n_;
      return p;
    }

   private:
    std::vector<QueuedPush> buf_;
    std::uint32_t mask_ = 0;
    std::uint32_t head_ = 0, n_ = 0;
  };
  std::uint32_t budget_;
  std::uint32_t waiting_ = 0;  // in every class (next to the budget: a fan-out reads both)
  Fifo q_[kPriorityCount];
  std::uint64_t dropped_tx_ = 0;
  std::uint64_t dropped_chunks_ = 0;
  std::uint64_t refused_ = 0;
};

}  // namespace relay::policy
