// control/store/routes.hpp — what a node's immutable HTTP routes serve, built from a
// store snapshot: shared by the HTTP endpoint (control/http/relay_api.cpp), which serves
// them, and the Gaia mirror (control/gaia/), which writes the same bytes under the same
// paths so that a hub's read side is the node's routes as a static tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/store/block_store.hpp"

namespace relay::store {

// microblock_stream: the 2.x stream from `tail` back to sequence 0 as a node serves it —
// a Vec<StacksMicroblock>: u32 count, then the microblocks newest first. nullopt when the
// store lacks one of them (a partial stream would not decode as what was asked for) or
// the stream would exceed a message.
std::optional<std::string> microblock_stream(const BlockStore::Snapshot& snap, BlockStore::Snapshot::Block tail);

// ConfirmedTail: the microblock stream an anchored 2.x block confirms (its header's
// parent_microblock and parent_microblock_sequence, PROTOCOL.md §7.2).
struct ConfirmedTail {
  Hash32 microblock{};  // zero: it confirms none
  std::uint16_t seq = 0;
};
// confirmed_tail: nullopt when the block is too short to hold the header fields.
std::optional<ConfirmedTail> confirmed_tail(ByteSpan stacks_block);

// TenureInfo: GET /v3/tenures/info as a node answers it, for the newest tenure this store
// can describe: its tip block (the highest Nakamoto block among the `recent` log entries),
// the tenure's start block (the one carrying its BlockFound tenure change), and the parent
// tenure (from that tenure change) with its own start block, every one of them held here.
// A node downloading the ongoing tenure from a peer asks this first and drops a peer that
// answers 404 or wrongly (PROTOCOL.md §8, as corrected in issue 18's note).
struct TenureInfo {
  Hash20 consensus_hash{};
  Hash32 tenure_start_block_id{};
  Hash20 parent_consensus_hash{};
  Hash32 parent_tenure_start_block_id{};
  Hash32 tip_block_id{};
  std::uint64_t tip_height = 0;
};
// tenure_info: nullopt (with `why`) when the store cannot describe it whole.
std::optional<TenureInfo> tenure_info(const BlockStore::Snapshot& snap, const std::vector<LogEntry>& recent, std::string& why);

}  // namespace relay::store
