// relay/shm/region.hpp — a shared-memory mapping (RAII): a file under /dev/shm (or a
// hugetlbfs mount) that both processes map, or an anonymous shared mapping inherited
// across fork(). The region is created once; processes only join it, so either may
// restart without the other losing state (ARCHITECTURE.md §1–2).
#pragma once

#include <cstddef>
#include <string>

#include "relay/base/result.hpp"

namespace relay::shm {

class Region {
 public:
  // create: a new file of `size` bytes (fails if it exists), mapped read-write shared.
  static Result<Region> create(const std::string& path, std::size_t size) noexcept;
  // open: map an existing region file in full.
  static Result<Region> open(const std::string& path) noexcept;
  // anonymous: a MAP_SHARED anonymous mapping (shared with children after fork()).
  static Result<Region> anonymous(std::size_t size) noexcept;
  // remove: unlink a region file (mappings stay valid until unmapped).
  static Status remove(const std::string& path) noexcept;

  Region() = default;
  Region(Region&& o) noexcept;
  Region& operator=(Region&& o) noexcept;
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  ~Region();

  void* data() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }
  // errno of the last failed create/open on this thread, for the caller's log line.
  static int last_errno() noexcept;

 private:
  void* base_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace relay::shm
