#include "control/store/routes.hpp"

#include <cstring>

#include "relay/base/hex.hpp"
#include "relay/codec/chain.hpp"
#include "relay/codec/limits.hpp"

namespace relay::store {

std::optional<std::string> microblock_stream(const BlockStore::Snapshot& snap, BlockStore::Snapshot::Block tail) {
  std::string body(4, '\0');
  store_be32(reinterpret_cast<std::uint8_t*>(body.data()), static_cast<std::uint32_t>(tail.meta.height + 1));
  auto cur = tail;
  for (;;) {
    if (body.size() + cur.bytes.size() > codec::kMaxMessageLen) return std::nullopt;
    body.append(reinterpret_cast<const char*>(cur.bytes.data()), cur.bytes.size());
    if (cur.meta.height == 0) return body;
    auto prev = snap.get(cur.meta.parent);
    if (!prev || prev->meta.kind != BlockKind::kMicroblock || prev->meta.height + 1 != cur.meta.height) return std::nullopt;
    cur = *prev;
  }
}

std::optional<ConfirmedTail> confirmed_tail(ByteSpan b) {
  // StacksBlockHeader: version 1, total_work 16, proof 80, parent_block 32, then
  // parent_microblock 32 and parent_microblock_sequence u16.
  constexpr std::size_t kParentMicroblock = 1 + 16 + 80 + 32;
  if (b.size() < kParentMicroblock + 34) return std::nullopt;
  ConfirmedTail t;
  std::memcpy(t.microblock.data(), b.data() + kParentMicroblock, 32);
  t.seq = static_cast<std::uint16_t>(b[kParentMicroblock + 32] << 8 | b[kParentMicroblock + 33]);
  return t;
}

namespace {

// tenure_start: walk from `from` back through parents of the same tenure to its first
// block held here; that block must carry its tenure's BlockFound tenure change (cause 0),
// whose fields are returned. nullopt when a block is missing before the start is reached.
struct Start {
  Hash32 id{};
  codec::TenureChange change;
};
std::optional<Start> tenure_start(const BlockStore::Snapshot& snap, const Hash32& from, std::string& why) {
  auto b = snap.get(from);
  if (!b || b->meta.kind != BlockKind::kNakamoto) {
    why = "block " + to_hex(from) + " is not held here";
    return std::nullopt;
  }
  Hash32 id = from;
  for (int steps = 0; steps < 100'000; ++steps) {
    auto parent = snap.get(b->meta.parent);
    if (parent && parent->meta.kind == BlockKind::kNakamoto && parent->meta.consensus_hash == b->meta.consensus_hash) {
      id = b->meta.parent;
      b = parent;
      continue;
    }
    // The earliest block of the tenure held here: its first transaction says whether it
    // is the tenure's start.
    auto blk = codec::decode_exact<codec::NakamotoBlock>(b->bytes, codec::read_nakamoto_block);
    if (!blk.ok()) {
      why = "a stored block does not decode";
      return std::nullopt;
    }
    for (const auto& tx : blk->txs)
      if (tx.payload.id == static_cast<std::uint8_t>(codec::PayloadId::kTenureChange) && tx.payload.tenure_change.cause == 0 &&
          tx.payload.tenure_change.tenure_consensus_hash == b->meta.consensus_hash)
        return Start{id, tx.payload.tenure_change};
    why = "the start of tenure " + to_hex(b->meta.consensus_hash) + " is not held here";
    return std::nullopt;
  }
  why = "tenure too long";
  return std::nullopt;
}

}  // namespace

std::optional<TenureInfo> tenure_info(const BlockStore::Snapshot& snap, const std::vector<LogEntry>& recent, std::string& why) {
  std::optional<BlockStore::Snapshot::Block> tip;
  Hash32 tip_id{};
  for (const auto& e : recent) {
    auto b = snap.get(e.id);
    if (b && b->meta.kind == BlockKind::kNakamoto && (!tip || b->meta.height > tip->meta.height)) {
      tip = b;
      tip_id = e.id;
    }
  }
  if (!tip) {
    why = "no Nakamoto block held here";
    return std::nullopt;
  }
  auto start = tenure_start(snap, tip_id, why);
  if (!start) return std::nullopt;
  auto parent_start = tenure_start(snap, start->change.previous_tenure_end, why);
  if (!parent_start) return std::nullopt;
  if (parent_start->change.tenure_consensus_hash != start->change.prev_tenure_consensus_hash) {
    why = "the tenure change names another parent tenure";
    return std::nullopt;
  }
  TenureInfo t;
  t.consensus_hash = tip->meta.consensus_hash;
  t.tenure_start_block_id = start->id;
  t.parent_consensus_hash = start->change.prev_tenure_consensus_hash;
  t.parent_tenure_start_block_id = parent_start->id;
  t.tip_block_id = tip_id;
  t.tip_height = tip->meta.height;
  return t;
}

}  // namespace relay::store
