// relay/shm/region.hpp — a shared-memory mapping (RAII): a file under /dev/shm (or a
// hugetlbfs mount) that both processes map, or an anonymous shared mapping inherited
// across fork(). The region is created once; processes only join it, so either may
// restart without the other losing state (ARCHITECTURE.md §1–2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "relay/base/result.hpp"

namespace relay::shm {

class Region {
 public:
  // create: a new file of `size` bytes (fails if it exists), mapped read-write shared.
  static Result<Region> create(const std::string& path, std::size_t size) noexcept;
  // How a mapping's pages are first touched. kLazy: at first use, one minor fault per
  // page (tools that read a few counters). kPopulate: all of them now, writable, so the
  // rings' hot paths never fault: without it a fresh process faults each page of a
  // 64 MiB ring the first time a message crosses it (about 1 ms per 2 MiB block here).
  enum class Touch : std::uint8_t { kLazy, kPopulate };
  // open: map an existing region file in full. With kPopulate the page tables are filled
  // at once (MADV_POPULATE_WRITE; the file's pages already exist), and populated() says
  // whether that worked (a kernel before 5.14 refuses it: the mapping stays lazy).
  static Result<Region> open(const std::string& path, Touch touch = Touch::kLazy) noexcept;
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
  bool populated() const noexcept { return populated_; }
  // errno of the last failed create/open on this thread, for the caller's log line.
  static int last_errno() noexcept;

 private:
  void* base_ = nullptr;
  std::size_t size_ = 0;
  bool populated_ = false;
};

}  // namespace relay::shm
