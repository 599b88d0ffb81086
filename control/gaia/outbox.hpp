// control/gaia/outbox.hpp — the Gaia mirror's durable outbox (LMDB, its own environment
// in the data dir): the files still to write into the hub, copied from the block store
// as the store's log grows.
//
// The outbox follows the store's log (BlockStore::Snapshot::log_from) with a cursor kept
// in the same transaction as the files it adds, so a crash or kill -9 neither loses a
// block nor queues one twice. A file leaves only once the hub has it (remove()): a
// restart, a hub outage or a full disk loses nothing. While the outbox is over its byte
// limit (or its disk is full), the cursor waits, and the store's log keeps the blocks
// meanwhile; only a block the store evicts before the outbox took it is missed (counted).
//
// Each stored block becomes the files a node's immutable routes would serve for it
// (control/store/routes.hpp), under `prefix`:
//   Nakamoto block   {prefix}v3/blocks/{block id}
//   2.x block        {prefix}v2/blocks/{index block hash}
//                    {prefix}v2/microblocks/confirmed/{index block hash}   (when it confirms
//                    a stream the store holds whole)
//   microblock       {prefix}v2/microblocks/{index microblock hash}       (the stream ending
//                    there, when the store holds it whole and knows the anchor's consensus hash)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control/store/block_store.hpp"
#include "relay/base/result.hpp"

struct MDB_env;

namespace relay::gaia {

struct OutboxFile {
  std::uint64_t seq = 0;  // the outbox's own order (oldest first)
  std::string path;       // under the bucket, prefix included
  Bytes bytes;
};

struct OutboxTotals {
  std::uint64_t files = 0;         // waiting
  std::uint64_t bytes = 0;         // their bytes
  std::uint64_t store_cursor = 0;  // the store log's next seq to copy (0: not started)
  std::uint64_t queued = 0;        // files ever added
  std::uint64_t missed = 0;        // blocks the store evicted before the outbox took them
  std::uint64_t skipped = 0;       // microblocks whose stream is not whole here (no file for them)
};

struct FillResult {
  std::size_t blocks = 0;  // store log entries taken
  std::size_t files = 0;   // files added
  bool full = false;       // stopped at the byte limit
  bool store_replaced = false;  // the store's log is behind the cursor: a new store, followed from its start
};

class Outbox {
 public:
  static Result<std::unique_ptr<Outbox>> open(const std::string& dir, std::uint64_t max_bytes);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // fill: take up to `max_blocks` new entries of the store's log. The first fill of a new
  // outbox starts at the log's oldest entry (the whole store is mirrored).
  Result<FillResult> fill(const store::BlockStore& store, const std::string& prefix, std::size_t max_blocks);
  // front: up to `max` files, oldest first (copies).
  std::vector<OutboxFile> front(std::size_t max) const;
  // remove: the hub has file `seq` (absent: nothing to do).
  Status remove(std::uint64_t seq);
  OutboxTotals totals() const;

 private:
  Outbox() = default;
  std::uint64_t max_bytes_ = 0;
  MDB_env* env_ = nullptr;
  unsigned files_ = 0, meta_ = 0;  // MDB_dbi
};

}  // namespace relay::gaia
