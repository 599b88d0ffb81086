// dataplane/transport/buf_pool.hpp — send buffers allocated once, at start-up: one
// populated anonymous mapping cut into slots of a few size classes, each slot holding a
// SharedBuf. The io_uring transport registers the whole mapping with the kernel (fixed
// buffers), so a relayed message is written once into a slot and sent from it to every
// peer; the last reference returns the slot. No allocation, no page fault, on the hot
// path. Single-threaded, like the dataplane loop that owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "dataplane/transport/transport.hpp"
#include "relay/base/result.hpp"

namespace relay::dp {

class BufPool {
 public:
  struct Class {
    std::uint32_t slot_bytes;  // payload bytes a slot holds
    std::uint32_t count;       // slots
  };
  // create: map and populate the arena (fails with the errno of mmap).
  static Result<std::unique_ptr<BufPool>> create(std::span<const Class> classes);
  ~BufPool();
  BufPool(const BufPool&) = delete;
  BufPool& operator=(const BufPool&) = delete;

  // alloc: a SharedBuf of `n` bytes (refcount 1) in the smallest class that fits and has
  // a free slot; nullptr when none does (the caller falls back to the heap).
  SharedBuf* alloc(std::size_t n) noexcept;
  // owns: whether `p` points into the arena (so it may be sent as a fixed buffer).
  bool owns(const void* p) const noexcept {
    auto a = reinterpret_cast<std::uintptr_t>(p), b = reinterpret_cast<std::uintptr_t>(base_);
    return a >= b && a < b + size_;
  }
  // holder: the SharedBuf whose slot holds the byte at `p` (any byte of its header or
  // payload), or nullptr when `p` is not in the arena: a sender that was handed only a
  // pointer into a buffer (lwIP's segments) can take a reference to it.
  SharedBuf* holder(const void* p) const noexcept;
  void* base() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }
  std::uint32_t in_use() const noexcept { return in_use_; }
  std::uint64_t exhausted() const noexcept { return exhausted_; }  // allocs no slot could serve

 private:
  struct ClassState {
    std::uint32_t slot_bytes;  // payload
    std::size_t stride;        // header + payload, 64-aligned
    std::size_t off;           // first slot, from base_
    std::uint32_t count;
    std::vector<std::uint32_t> free;  // stack of free slot indexes (capacity reserved)
  };
  BufPool() = default;
  static void release(void* ctx, SharedBuf* b) noexcept;

  std::uint8_t* base_ = nullptr;
  std::size_t size_ = 0;
  std::vector<ClassState> classes_;
  std::uint32_t in_use_ = 0;
  std::uint64_t exhausted_ = 0;
};

}  // namespace relay::dp
