// relay/crypto/merkle.hpp — the transaction Merkle root of Stacks blocks
// (PROTOCOL.md §7.1): leaves H(0x00 ‖ txid), nodes H(0x01 ‖ left ‖ right), a row of
// odd length duplicates its last element, the empty tree is 32 zero bytes.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "relay/crypto/hash.hpp"

namespace relay::crypto {

// MerkleBuilder: the same root computed one txid at a time, as transactions arrive.
// Each level keeps at most one node waiting for its right sibling (a binary counter),
// so memory is constant and root() costs O(log n) hashes after the last txid: the
// relay path builds a block's tree while the block is still being received.
class MerkleBuilder {
 public:
  void reset() noexcept { std::fill(std::begin(made_), std::end(made_), 0); }
  void add(const Hash32& txid) noexcept;
  std::uint64_t leaves() const noexcept { return made_[0]; }
  // root: the tree's root over every txid added (zero for none). The builder is left
  // as it was, so more txids may follow.
  Hash32 root() const noexcept;

 private:
  static constexpr std::size_t kLevels = 64;
  void push(std::size_t level, Hash32 node) noexcept;
  std::uint64_t made_[kLevels] = {};   // nodes produced at each level so far
  std::array<Hash32, kLevels> waiting_{};  // level L's left node when made_[L] is odd
  Sha512_256 h_;
};

Hash32 merkle_root(std::span<const Hash32> txids) noexcept;

}  // namespace relay::crypto
