#include "relay/dedup/tag_cache.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace relay::dedup {

std::size_t TagCache::map_slots(std::size_t depth) noexcept {
  std::size_t n = 2;
  while (n < 2 * depth) n <<= 1;  // load factor ≤ 1/2 keeps probe chains short
  return n;
}

std::size_t TagCache::footprint(std::size_t depth) noexcept {
  if (depth == 0) return 0;
  return (depth + map_slots(depth)) * sizeof(std::uint64_t);
}

TagCache::TagCache(std::size_t depth, std::uint64_t seed)
    : ring_(depth == 0 ? 1 : depth, 0), map_(map_slots(depth == 0 ? 1 : depth), 0), seed_(seed) {
  mask_ = map_.size() - 1;
}

std::uint64_t TagCache::tag_of(const ByteArray<32>& id) const noexcept {
  std::uint64_t t = XXH3_64bits_withSeed(id.data(), id.size(), seed_);
  return t == 0 ? 1 : t;  // 0 marks an empty slot
}

std::size_t TagCache::find(std::uint64_t tag) const noexcept {
  for (std::size_t i = tag & mask_;; i = (i + 1) & mask_) {
    std::uint64_t v = map_[i];
    if (v == tag) return i;
    if (v == 0) return kNone;
  }
}

void TagCache::map_insert(std::uint64_t tag) noexcept {
  std::size_t i = tag & mask_;
  while (map_[i] != 0) i = (i + 1) & mask_;
  map_[i] = tag;
}

// Backward-shift deletion keeps every remaining tag reachable from its home slot
// without tombstones, so probe lengths do not grow with churn.
void TagCache::map_remove(std::uint64_t tag) noexcept {
  std::size_t hole = find(tag);
  if (hole == kNone) return;
  map_[hole] = 0;
  for (std::size_t j = (hole + 1) & mask_; map_[j] != 0; j = (j + 1) & mask_) {
    std::size_t home = map_[j] & mask_;
    // Move map_[j] into the hole if the hole lies on its probe path [home, j).
    bool on_path = (hole <= j) ? (home <= hole || home > j) : (home <= hole && home > j);
    if (on_path) {
      map_[hole] = map_[j];
      map_[j] = 0;
      hole = j;
    }
  }
}

bool TagCache::contains(const ByteArray<32>& id) const noexcept { return find(tag_of(id)) != kNone; }

bool TagCache::insert(const ByteArray<32>& id) noexcept {
  std::uint64_t tag = tag_of(id);
  if (find(tag) != kNone) return false;
  if (count_ == ring_.size()) {
    map_remove(ring_[head_]);  // evict the oldest
  } else {
    ++count_;
  }
  ring_[head_] = tag;
  head_ = (head_ + 1) % ring_.size();
  map_insert(tag);
  return true;
}

}  // namespace relay::dedup
