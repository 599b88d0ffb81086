// control/store/routes.hpp — what a node's immutable HTTP routes serve, built from a
// store snapshot: shared by the HTTP endpoint (control/http/relay_api.cpp), which serves
// them, and the Gaia mirror (control/gaia/), which writes the same bytes under the same
// paths so that a hub's read side is the node's routes as a static tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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

}  // namespace relay::store
