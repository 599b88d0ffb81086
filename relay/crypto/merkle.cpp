#include "relay/crypto/merkle.hpp"

namespace relay::crypto {

namespace {
Hash32 node_hash(Sha512_256& h, const Hash32& left, const Hash32& right) noexcept {
  h.update_u8(0x01);
  h.update(left.data(), 32);
  h.update(right.data(), 32);
  return h.finish();
}
}  // namespace

void MerkleBuilder::push(std::size_t level, Hash32 node) noexcept {
  // A left node waits; a right node joins it and the pair moves up a level.
  for (; level < kLevels; ++level) {
    if ((made_[level]++ & 1) == 0) {
      waiting_[level] = node;
      return;
    }
    node = node_hash(h_, waiting_[level], node);
  }
}

void MerkleBuilder::add(const Hash32& txid) noexcept {
  h_.update_u8(0x00);
  h_.update(txid.data(), 32);
  push(0, h_.finish());
}

// The rows the whole-block algorithm builds are the levels here: level L holds made_[L]
// nodes, each row's left-waiting node is its unpaired last element. Closing the rows
// from the bottom, an odd row pairs its last node with itself and carries the result
// into the row above; the first row above the leaves with one node is the root (the
// leaf row is always combined once, so a single leaf L gives H(0x01 ‖ L ‖ L)).
Hash32 MerkleBuilder::root() const noexcept {
  if (made_[0] == 0) return Hash32{};
  MerkleBuilder b = *this;  // closing the rows changes them; more txids may follow
  for (std::size_t level = 0; level < kLevels; ++level) {
    if (level > 0 && b.made_[level] == 1) return b.waiting_[level];
    if (b.made_[level] & 1) b.push(level + 1, node_hash(b.h_, b.waiting_[level], b.waiting_[level]));
  }
  return Hash32{};  // unreachable: 2^64 leaves
}

Hash32 merkle_root(std::span<const Hash32> txids) noexcept {
  MerkleBuilder b;
  for (const Hash32& t : txids) b.add(t);
  return b.root();
}

}  // namespace relay::crypto
