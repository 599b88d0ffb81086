// relay/crypto/merkle.hpp — the transaction Merkle root of Stacks blocks
// (PROTOCOL.md §7.1): leaves H(0x00 ‖ txid), nodes H(0x01 ‖ left ‖ right), a row of
// odd length duplicates its last element, the empty tree is 32 zero bytes.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "relay/crypto/hash.hpp"

namespace relay::crypto {

// MerkleBuilder: the root computed as txids arrive, in constant memory. Every row of the
// tree holds back at most kBatch of its newest nodes; when a row has kBatch of them
// (an even number, so the pairs line up with the row's) they are hashed in pairs, all
// at once (sha512_256_many: several hashes side by side in vector lanes), and the
// results join the row above. Txids likewise wait in groups of kBatch for their leaf
// hashes. root() closes the rows from the bottom, so after the last txid it costs the
// few hashes of the tree's right edge: the relay path builds a block's tree while the
// block is still being received.
class MerkleBuilder {
 public:
  static constexpr std::size_t kBatch = 16;

  void reset() noexcept;
  void add(const Hash32& txid) noexcept;
  void add(std::span<const Hash32> txids) noexcept;
  std::uint64_t leaves() const noexcept { return leaves_; }
  // root: the tree's root over every txid added (zero for none). The builder is left
  // as it was, so more txids may follow.
  Hash32 root() const noexcept;

 private:
  // Enough rows for any count of leaves a 64-bit counter can hold.
  static constexpr std::size_t kRows = 65;
  struct Row {
    std::uint64_t made = 0;  // nodes this row has had so far
    std::uint32_t held = 0;  // the newest of them, not yet paired
    std::array<Hash32, kBatch> nodes;
  };
  void append(std::size_t row, std::span<const Hash32> nodes) noexcept;
  void flush_txids() noexcept;

  std::uint64_t leaves_ = 0;
  std::uint32_t queued_ = 0;  // txids waiting for their leaf hashes
  std::array<Hash32, kBatch> txids_;
  std::array<Row, kRows> rows_;
};

Hash32 merkle_root(std::span<const Hash32> txids) noexcept;

}  // namespace relay::crypto
