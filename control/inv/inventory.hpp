// control/inv/inventory.hpp — the relay's answer to GetNakamotoInv: for each reward cycle,
// one bit per burn block, set where a canonical tenure began whose blocks this relay can
// serve through its data_url exactly as a node does (issue 18).
//
// What a bit commits to (stackslib net/download/nakamoto, read for issue 18): a node that
// sees bit i set takes the tenure's start block id and end block id from the sortitions of
// the next two set bits j and k (their winning commits name the start block of the tenure
// they build on), then fetches /v3/blocks/{start}, /v3/blocks/{end} and
// /v3/tenures/{end's parent} back to the start. So the set bits must be a run of the
// canonical tenure chain with no tenure left out in the middle (a gap makes the node
// compute wrong ids and drop us); leaving out the newest or the oldest is safe. The bits
// set here are the newest run of canonical tenures, within the window the trusted node
// described, each of which the store can serve whole (the last two, which no download can
// target yet, need only their start block).
//
// The chain comes from a trusted node's RPC (sortition_fetcher.hpp): its sortitions by
// burn height and its tip tenure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "control/store/block_store.hpp"
#include "relay/codec/chain.hpp"

namespace relay::inv {

using Hash20 = store::Hash20;
using Hash32 = store::Hash32;

// One sortition (GET /v3/sortitions/burn_height/{h} of a node).
struct Sortition {
  std::uint64_t height = 0;
  Hash20 consensus_hash{};
  bool winner = false;      // was_sortition
  Hash20 parent_tenure{};   // stacks_parent_ch: the tenure the winner builds on
  Hash32 committed{};       // committed_block_hash: that parent tenure's start block id
};

// What the trusted node said.
struct ChainView {
  std::uint64_t first_height = 0;   // first_burnchain_block_height
  std::uint32_t cycle_length = 0;   // reward_cycle_length (≤ 2100)
  std::uint64_t tip_height = 0;     // its burn tip
  Hash20 tip_tenure{};              // /v3/tenures/info consensus_hash
  Hash32 tip_tenure_start{};        // /v3/tenures/info tenure_start_block_id
  std::map<std::uint64_t, Sortition> sortitions;  // by burn height: the window, and each older cycle's mod-1 block
};

struct InvTable {
  std::map<Hash20, std::uint64_t> request_cycle;  // a cycle's mod-1 consensus hash → the cycle
  std::map<std::uint64_t, codec::BitVec> bits;    // by cycle (all zeros outside the window)
  std::size_t canonical = 0;  // canonical tenures in the window
  std::size_t claimed = 0;    // bits set
  std::string stopped;        // why the run stops where it does ("" : it covers the window)
};

// Servable tenures stay servable while the store evicts nothing: remembered per tenure
// with the store's eviction count at the time.
struct ServableCache {
  // (tenure, its start block, its end block) → StoreTotals::evicted when found whole
  std::map<std::tuple<Hash20, Hash32, Hash32>, std::uint64_t> whole_at;
};

// build: the table for `v` over the store's snapshot (`evicted`: its eviction count, read
// before the snapshot was taken, so that a block evicted since is never counted as held).
InvTable build(const ChainView& v, const store::BlockStore::Snapshot& snap, std::uint64_t evicted, ServableCache& cache);

// answer: the bits for a GetNakamotoInv naming `ch`, or nullopt (a hash we do not know:
// Nack 2, as a node answers).
std::optional<codec::BitVec> answer(const InvTable& t, const Hash20& ch);

}  // namespace relay::inv
