#include "relay/policy/preamble.hpp"

namespace relay::policy {

const char* preamble_problem(const codec::Preamble& p, const NetworkParams& net, const BurnView& ours) noexcept {
  if (p.network_id != net.network_id) return "wrong network id";
  if ((p.peer_version & 0xff000000u) != (net.peer_version & 0xff000000u)) return "wrong peer version major";
  std::uint64_t sum = p.burn_stable_block_height + net.stable_confirmations;
  if (sum < p.burn_stable_block_height || sum != p.burn_block_height)
    return "burn_stable_block_height + confirmations != burn_block_height";
  if (ours.stable_height != 0 && ours.stable_height == p.burn_stable_block_height &&
      ours.stable_hash != p.burn_stable_block_hash)
    return "stable burn block hash disagrees with our view";
  // Epoch acceptance (has_acceptable_epoch) is left to the nodes: a relay forwards for
  // every peer on the network and never claims an epoch it does not have.
  return nullptr;
}

}  // namespace relay::policy
