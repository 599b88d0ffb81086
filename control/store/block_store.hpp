// control/store/block_store.hpp — every block the relay forwarded, kept by id in LMDB for
// the HTTP endpoint (issue 4): Nakamoto blocks, and 2.x blocks and microblocks on 2.x
// networks.
//
// One write transaction per block, durable when put() returns (LMDB's default sync), so a
// crash or kill -9 loses nothing that was reported stored and never leaves a torn entry.
// Bounded by count and bytes: the oldest blocks (in the order they were stored) are
// evicted in the same transaction that goes over a limit. Reads are snapshots whose
// byte views point into the map: a block is served without being copied.
//
// Layout (four named databases in one environment):
//   blocks  id[32]            → Entry header ‖ block bytes
//   order   seq (u64 BE)      → id[32]           insertion order: the log a partner catches
//                                                up from (Snapshot::log_from), and eviction
//   meta    "totals"          → count, bytes, evicted, next seq (u64 BE each)
//   index   'S' anchor[32] seq (u16 BE) → microblock hash   a 2.x stream, by position
//           'A' alias[32]     → id[32]           a microblock's index hash H(hash ‖ anchor's consensus hash)
// The tenure of a Nakamoto block is walked through `parent` and `consensus_hash`; a
// microblock stream through `parent` (the previous microblock's hash). Index entries go
// and come with the microblock they point to.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relay/base/bytes.hpp"
#include "relay/base/result.hpp"

struct MDB_env;

namespace relay::store {

using Hash20 = ByteArray<20>;
using Hash32 = ByteArray<32>;

enum class BlockKind : std::uint8_t { kNakamoto = 1, kStacks = 2, kMicroblock = 3 };
const char* kind_name(BlockKind k) noexcept;

// microblock_index_hash: how a node names a microblock in /v2/microblocks/{id}:
// H(microblock hash ‖ consensus hash of the anchored block its stream builds on).
Hash32 microblock_index_hash(const Hash32& microblock_hash, const Hash20& anchor_consensus_hash);

struct BlockMeta {
  BlockKind kind = BlockKind::kNakamoto;
  std::uint64_t height = 0;  // Nakamoto chain_length; 2.x: 0 (unknown to a relay); microblock: sequence
  Hash20 consensus_hash{};   // the tenure (Nakamoto), the block's (2.x), the anchor's (microblock; zero if unknown)
  Hash32 parent{};           // parent block id (Nakamoto), parent block hash (2.x), prev block (microblock)
  Hash32 anchor{};           // microblock: index hash of the anchored block its stream builds on
  std::uint32_t size = 0;    // bytes (filled by the store)
  std::uint64_t seq = 0;     // insertion order (filled by the store)
};

struct StoreLimits {
  std::uint64_t max_bytes = std::uint64_t{4} << 30;  // block bytes kept
  std::uint64_t max_blocks = 200'000;
};

struct StoreTotals {
  std::uint64_t blocks = 0;
  std::uint64_t bytes = 0;
  std::uint64_t evicted = 0;
  std::uint64_t next_seq = 0;  // the seq the next block stored gets (the log's end)
};

// One entry of the store's log: the block stored as the seq-th (seqs count from 1 and
// only grow; an evicted block leaves the log with it).
struct LogEntry {
  std::uint64_t seq = 0;
  Hash32 id{};
};

class BlockStore {
 public:
  // open: create or open the store in directory `dir` (created if missing). The map is
  // sized for the limits; a store written with larger limits is trimmed on its next put.
  static Result<std::unique_ptr<BlockStore>> open(const std::string& dir, const StoreLimits& limits);
  ~BlockStore();
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

  // put: keep `bytes` under `id` (true), or nothing if the id is already there (false).
  // Evicts the oldest blocks while over a limit; a block larger than max_bytes is refused.
  Result<bool> put(const Hash32& id, const BlockMeta& meta, ByteSpan bytes);

  // Snapshot: a consistent read view; the spans it returns stay valid while it lives.
  class Snapshot {
   public:
    Snapshot(Snapshot&&) noexcept;
    Snapshot& operator=(Snapshot&&) = delete;
    ~Snapshot();
    struct Block {
      BlockMeta meta;
      ByteSpan bytes;
    };
    std::optional<Block> get(const Hash32& id) const;
    // by_alias: the microblock whose index hash is `alias`.
    std::optional<Block> by_alias(const Hash32& alias) const;
    // microblock_at: the microblock at `seq` of the stream building on `anchor`.
    std::optional<Block> microblock_at(const Hash32& anchor, std::uint16_t seq) const;
    // log_from: the log's entries from `seq` on (oldest first), at most `max`.
    std::vector<LogEntry> log_from(std::uint64_t seq, std::size_t max) const;

   private:
    friend class BlockStore;
    Snapshot(const BlockStore* s, void* txn) : store_(s), txn_(txn) {}
    const BlockStore* store_;
    void* txn_;  // MDB_txn*
  };
  Result<Snapshot> snapshot() const;

  StoreTotals totals() const;
  const std::string& dir() const noexcept { return dir_; }

 private:
  BlockStore() = default;
  Status evict_until_within(void* txn, std::uint64_t incoming_bytes);
  void unindex(void* txn, const Hash32& id, const BlockMeta& m);

  std::string dir_;
  StoreLimits limits_;
  MDB_env* env_ = nullptr;
  unsigned blocks_ = 0, order_ = 0, meta_ = 0, index_ = 0;  // MDB_dbi
};

}  // namespace relay::store
