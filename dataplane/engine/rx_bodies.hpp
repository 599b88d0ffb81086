// dataplane/engine/rx_bodies.hpp — where message bodies larger than a session's own
// buffer are read into, under one memory budget for the whole dataplane.
//
// A body first takes a slot of the receive pool (mapped at start-up); when no slot that
// large is free it takes heap, as long as the heap taken by bodies stays within what
// the budget leaves beside the pool. Otherwise nothing: the session's framer waits with
// its body unread (its connection is not read either: TCP holds the sender back) until
// a body ends and gives its memory back (freed()). Heap bodies are freed when their
// message ends, so memory taken in a burst goes back, never kept as a session's capacity.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/transport/buf_pool.hpp"
#include "relay/codec/framer.hpp"

namespace relay::dp {

class RxBodies final : public codec::BodySource {
 public:
  // pool: may be null (heap only). budget: bytes for bodies in flight, the pool's
  // included (a budget below the pool's size leaves no heap).
  RxBodies(BufPool* pool, std::size_t budget) noexcept;

  codec::BodyLease lease(std::size_t n) noexcept override;
  void release(const codec::BodyLease& l) noexcept override;

  // freed: memory came back since the last call (waiting bodies may fit now).
  bool freed() noexcept {
    const bool f = freed_;
    freed_ = false;
    return f;
  }
  std::size_t heap_bytes() const noexcept { return heap_used_; }  // heap bodies now
  std::uint64_t heap_bodies() const noexcept { return heap_bodies_; }  // taken from the heap, ever
  std::uint64_t refused() const noexcept { return refused_; }          // leases that found no room

 private:
  static void free_heap(void* ctx, SharedBuf* b) noexcept;

  BufPool* pool_;
  std::size_t heap_allow_;
  std::size_t heap_used_ = 0;
  std::uint64_t heap_bodies_ = 0;
  std::uint64_t refused_ = 0;
  bool freed_ = false;
};

}  // namespace relay::dp
