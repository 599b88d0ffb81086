// relay/dedup/tag_cache.hpp — "have we relayed this object recently?" in O(1).
//
// A fixed-depth cache of 64-bit tags of object ids (txid, block id, microblock hash,
// chunk hash), after Firedancer's tcache: a ring remembers insertion order (the oldest
// tag is evicted when full) and an open-addressed, linearly probed map at most half
// full answers lookups. Tags are XXH3-64 of the 32-byte id under a per-process random
// seed, so an outsider cannot aim collisions; two distinct ids collide with
// probability 2^-64 per pair, in which case the later one is treated as a duplicate.
// All memory is allocated by the constructor; insert/contains never allocate.
// Not thread-safe: one cache per core (shard), as ARCHITECTURE.md §3.5 says.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "relay/base/bytes.hpp"

namespace relay::dedup {

class TagCache {
 public:
  // depth: how many recent ids are remembered (≥ 1). seed: tag key.
  TagCache(std::size_t depth, std::uint64_t seed);

  // insert: remember `id`; returns true if it was new, false if already present
  // (a duplicate). Evicts the oldest id when full. Hot path: no alloc, O(1) expected.
  bool insert(const ByteArray<32>& id) noexcept;
  // contains: whether `id` is remembered. Does not change recency.
  bool contains(const ByteArray<32>& id) const noexcept;

  std::size_t size() const noexcept { return count_; }
  std::size_t depth() const noexcept { return ring_.size(); }
  // footprint: bytes of memory a cache of `depth` uses (ring + map).
  static std::size_t footprint(std::size_t depth) noexcept;

 private:
  std::uint64_t tag_of(const ByteArray<32>& id) const noexcept;
  std::size_t find(std::uint64_t tag) const noexcept;  // map slot or kNone
  void map_insert(std::uint64_t tag) noexcept;
  void map_remove(std::uint64_t tag) noexcept;
  static std::size_t map_slots(std::size_t depth) noexcept;

  static constexpr std::size_t kNone = ~std::size_t{0};
  std::vector<std::uint64_t> ring_;  // tags in insertion order; 0 = empty
  std::vector<std::uint64_t> map_;   // open addressing; 0 = empty slot
  std::size_t mask_ = 0;
  std::size_t head_ = 0;   // next ring slot to write (= oldest when full)
  std::size_t count_ = 0;
  std::uint64_t seed_ = 0;
};

}  // namespace relay::dedup
