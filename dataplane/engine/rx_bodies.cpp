#include "dataplane/engine/rx_bodies.hpp"

#include <cstdlib>

namespace relay::dp {

RxBodies::RxBodies(BufPool* pool, std::size_t budget) noexcept
    : pool_(pool), heap_allow_(pool != nullptr && pool->size() < budget ? budget - pool->size() : pool != nullptr ? 0 : budget) {}

codec::BodyLease RxBodies::lease(std::size_t n) noexcept {
  if (SharedBuf* b = pool_ != nullptr ? pool_->alloc(n) : nullptr; b != nullptr) return {b->fill(), b};
  if (n > heap_allow_ - heap_used_) {
    ++refused_;
    return {};
  }
  void* mem = std::malloc(SharedBuf::header_size() + (n < 16 ? 16 : n));
  if (mem == nullptr) {
    ++refused_;
    return {};
  }
  SharedBuf* b = SharedBuf::place(mem, n, &RxBodies::free_heap, this);
  heap_used_ += n;
  ++heap_bodies_;
  return {b->fill(), b};
}

void RxBodies::free_heap(void* ctx, SharedBuf* b) noexcept {
  auto* self = static_cast<RxBodies*>(ctx);
  self->heap_used_ -= b->bytes().size();
  std::free(b);
}

void RxBodies::release(const codec::BodyLease& l) noexcept {
  static_cast<SharedBuf*>(l.handle)->unref();
  freed_ = true;
}

}  // namespace relay::dp
