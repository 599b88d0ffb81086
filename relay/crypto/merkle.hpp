// relay/crypto/merkle.hpp — the transaction Merkle root of Stacks blocks
// (PROTOCOL.md §7.1): leaves H(0x00 ‖ txid), nodes H(0x01 ‖ left ‖ right), a row of
// odd length duplicates its last element, the empty tree is 32 zero bytes.
#pragma once

#include <span>
#include <vector>

#include "relay/crypto/hash.hpp"

namespace relay::crypto {

// merkle_root: root over `txids`. `scratch` is reused between calls (no allocation once
// it has grown to the largest block seen).
Hash32 merkle_root(std::span<const Hash32> txids, std::vector<Hash32>& scratch) noexcept;
Hash32 merkle_root(std::span<const Hash32> txids);

}  // namespace relay::crypto
