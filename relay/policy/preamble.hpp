// relay/policy/preamble.hpp — the burn view our preambles carry, and the preamble
// validity checks of PROTOCOL.md §4.3 that every received message must pass. Shared by
// the dataplane (pushes on authenticated sessions) and the control plane (everything
// else), so both drop a peer for exactly the same reasons.
#pragma once

#include <cstdint>

#include "relay/codec/message.hpp"

namespace relay::policy {

// The relay's view of the Bitcoin chain, sent in every preamble.
struct BurnView {
  std::uint64_t height = 0;
  codec::Hash32 hash{};
  std::uint64_t stable_height = 0;
  codec::Hash32 stable_hash{};
  bool operator==(const BurnView&) const = default;
};

// burn_view_of: the view a received preamble carries.
inline BurnView burn_view_of(const codec::Preamble& p) noexcept {
  return BurnView{p.burn_block_height, p.burn_block_hash, p.burn_stable_block_height, p.burn_stable_block_hash};
}

// The network we speak on.
struct NetworkParams {
  std::uint32_t network_id = 1;
  std::uint32_t peer_version = 0x18000010;
  std::uint32_t stable_confirmations = 7;
};

// far_behind_view: what we claim before we know any burn view: a chain `confirmations`
// blocks long. Nodes check the stable hash only for heights inside their recent window
// (§4.3 check 5), so a view this far behind passes every node past its first few
// hundred blocks; it is replaced by the first real view a peer shows us.
constexpr BurnView far_behind_view(std::uint32_t confirmations) noexcept {
  return BurnView{confirmations, {}, 0, {}};
}

// preamble_problem: why a node would drop a peer that sent this preamble, or nullptr.
const char* preamble_problem(const codec::Preamble& p, const NetworkParams& net, const BurnView& ours) noexcept;

}  // namespace relay::policy
