// tests/support/tenure_lab.hpp — a small Nakamoto chain for inventory tests: first burn
// height 100, reward cycles of 10 burn blocks, tip 125; tenures T0 (height 105, before the
// inventory's window) and T1..T7 at heights 111 113 114 116 118 121 123, each of three
// signed blocks whose first carries its BlockFound tenure change; every other height a
// sortition without a winner. The sortitions as a node's /v3/sortitions reports them, and
// its /v3/tenures/info.
#pragma once

#include <string>
#include <vector>

#include "bench/sim/sim_data.hpp"
#include "control/inv/inventory.hpp"
#include "relay/base/hex.hpp"

namespace relay::test {

struct TenureLab {
  static inv::Hash20 ch_of(std::uint8_t tag) {
    inv::Hash20 h{};
    h.fill(tag);
    return h;
  }
  sim::SignerSet signers{2};
  crypto::SecretKey miner = sim::key_from_byte(9, 1);
  std::vector<std::uint64_t> heights = {105, 111, 113, 114, 116, 118, 121, 123};
  std::vector<std::vector<codec::NakamotoBlock>> tenures;  // T0..T7
  inv::ChainView v;  // what the fetcher learns (the window and older cycles' mod-1 blocks)

  explicit TenureLab(std::size_t block_bytes = 200) {
    codec::Hash32 parent{};
    inv::Hash20 prev = ch_of(0x01);
    for (std::size_t t = 0; t < heights.size(); ++t) {
      const inv::Hash20 ch = ch_of(static_cast<std::uint8_t>(0x40 + t));
      tenures.push_back(sim::tenure_chain(1000 + 3 * t, 3, ch, parent, signers, miner, block_bytes, &prev));
      parent = tenures.back().back().block_id;
      prev = ch;
    }
    v.first_height = 100;
    v.cycle_length = 10;
    v.tip_height = 125;
    v.tip_tenure = ch_of(0x47);
    v.tip_tenure_start = tenures[7][0].block_id;
    for (std::uint64_t h = 101; h <= 125; ++h) {
      if (h > 101 && h < 110) continue;
      inv::Sortition s;
      s.height = h;
      s.consensus_hash = ch_of(static_cast<std::uint8_t>(0x80 + h - 100));
      v.sortitions[h] = s;
    }
    for (std::size_t t = 1; t < heights.size(); ++t) {
      inv::Sortition& s = v.sortitions[heights[t]];
      s.consensus_hash = ch_of(static_cast<std::uint8_t>(0x40 + t));
      s.winner = true;
      s.parent_tenure = ch_of(static_cast<std::uint8_t>(0x40 + t - 1));
      s.committed = tenures[t - 1][0].block_id;
    }
  }
  // sortition_json: the node's /v3/sortitions object for height h (hashes "0x…", null when absent).
  std::string sortition_json(std::uint64_t h) const {
    const auto& s = v.sortitions.at(h);
    auto hx = [](ByteSpan b) { return "\"0x" + to_hex(b) + "\""; };
    return "{\"burn_block_height\":" + std::to_string(h) + ",\"consensus_hash\":" + hx(s.consensus_hash) +
           ",\"was_sortition\":" + (s.winner ? "true" : "false") + ",\"stacks_parent_ch\":" +
           (s.winner ? hx(s.parent_tenure) : "null") + ",\"committed_block_hash\":" + (s.winner ? hx(s.committed) : "null") + "}";
  }
  // tenure_info_json: the node's /v3/tenures/info (bare hex).
  std::string tenure_info_json() const {
    return "{\"consensus_hash\":\"" + to_hex(v.tip_tenure) + "\",\"tenure_start_block_id\":\"" + to_hex(v.tip_tenure_start) +
           "\",\"parent_consensus_hash\":\"" + to_hex(ch_of(0x46)) + "\",\"parent_tenure_start_block_id\":\"" +
           to_hex(tenures[6][0].block_id) + "\",\"tip_block_id\":\"" + to_hex(tenures[7][2].block_id) +
           "\",\"tip_height\":" + std::to_string(tenures[7][2].header.chain_length) + ",\"reward_cycle\":2}";
  }
};

}  // namespace relay::test
