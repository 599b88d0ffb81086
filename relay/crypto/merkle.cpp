#include "relay/crypto/merkle.hpp"

#include <algorithm>

#include "relay/crypto/hash_many.hpp"

namespace relay::crypto {

namespace {

// hash_prefixed: out[i] = H(tag ‖ parts...) for n groups of `width` consecutive
// hashes in `in` (width 1: leaves, tag 0x00; width 2: nodes, tag 0x01), all at once.
// A pair's right element may be its left one again (the odd row's duplicate): `in` then
// holds it twice, as the caller arranges.
template <std::size_t kWidth>
void hash_prefixed(std::uint8_t tag, const Hash32* in, std::size_t n, Hash32* out) noexcept {
  constexpr std::size_t kLen = 1 + 32 * kWidth;
  constexpr std::size_t kMax = 2 * MerkleBuilder::kBatch;
  std::uint8_t msgs[kMax][kLen];
  ByteSpan spans[kMax];
  for (std::size_t i = 0; i < n; ++i) {
    msgs[i][0] = tag;
    for (std::size_t k = 0; k < kWidth; ++k) std::copy(in[kWidth * i + k].begin(), in[kWidth * i + k].end(), msgs[i] + 1 + 32 * k);
    spans[i] = ByteSpan(msgs[i], kLen);
  }
  sha512_256_many(std::span<const ByteSpan>(spans, n), out);
}

// pair_up: the parents of `n` consecutive row nodes starting at an even position: n/2
// pairs, plus the last node with itself when n is odd.
std::size_t pair_up(Hash32* nodes, std::size_t n, Hash32* parents) noexcept {
  if (n & 1) nodes[n] = nodes[n - 1];  // the caller's array has room for it
  const std::size_t m = (n + 1) / 2;
  hash_prefixed<2>(0x01, nodes, m, parents);
  return m;
}

}  // namespace

void MerkleBuilder::reset() noexcept {
  leaves_ = 0;
  queued_ = 0;
  for (Row& r : rows_) r.made = r.held = 0;
}

void MerkleBuilder::append(std::size_t row, std::span<const Hash32> nodes) noexcept {
  for (const Hash32& node : nodes) {
    Row& r = rows_[row];
    r.nodes[r.held++] = node;
    ++r.made;
    if (r.held < kBatch) continue;
    // A full batch: kBatch nodes from an even position of the row, kBatch / 2 parents.
    Hash32 parents[kBatch / 2];
    hash_prefixed<2>(0x01, r.nodes.data(), kBatch / 2, parents);
    r.held = 0;
    append(row + 1, parents);  // a row of 2^64 nodes is out of reach: row + 1 < kRows
  }
}

void MerkleBuilder::flush_txids() noexcept {
  Hash32 leaf[kBatch];
  hash_prefixed<1>(0x00, txids_.data(), queued_, leaf);
  const std::uint32_t n = queued_;
  queued_ = 0;
  append(0, std::span<const Hash32>(leaf, n));
}

void MerkleBuilder::add(const Hash32& txid) noexcept {
  txids_[queued_++] = txid;
  ++leaves_;
  if (queued_ == kBatch) flush_txids();
}

void MerkleBuilder::add(std::span<const Hash32> txids) noexcept {
  for (const Hash32& t : txids) add(t);
}

// The rows the whole-block algorithm builds are the rows here: row R has had made
// nodes, of which the newest `held` are not paired yet (they start at an even position).
// Closing from the bottom: a row's held nodes pair up (the last with itself if odd) and
// their parents join the row above after its own held nodes; the first row above the
// leaves with one node in all is the root (the leaf row is always combined once, so a
// single leaf L gives H(0x01 ‖ L ‖ L)).
Hash32 MerkleBuilder::root() const noexcept {
  if (leaves_ == 0) return Hash32{};
  // At most kBatch - 1 held nodes plus kBatch / 2 parents from below, plus the odd
  // node's duplicate; the leaf row also takes the queued txids' leaves.
  Hash32 cur[2 * kBatch + 1];
  Hash32 up[kBatch];
  std::size_t n = rows_[0].held;
  std::copy_n(rows_[0].nodes.begin(), n, cur);
  hash_prefixed<1>(0x00, txids_.data(), queued_, cur + n);
  n += queued_;
  std::uint64_t total = rows_[0].made + queued_;
  for (std::size_t row = 0; row + 1 < kRows; ++row) {
    if (row > 0 && total == 1) return cur[0];
    const std::size_t m = pair_up(cur, n, up);
    const Row& above = rows_[row + 1];
    std::copy_n(above.nodes.begin(), above.held, cur);
    std::copy_n(up, m, cur + above.held);
    n = above.held + m;
    total = above.made + m;
  }
  return Hash32{};  // unreachable: 2^64 leaves
}

Hash32 merkle_root(std::span<const Hash32> txids) noexcept {
  MerkleBuilder b;
  b.add(txids);
  return b.root();
}

}  // namespace relay::crypto
