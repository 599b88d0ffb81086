#include "dataplane/transport/buf_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>

namespace relay::dp {

Result<std::unique_ptr<BufPool>> BufPool::create(std::span<const Class> classes) {
  std::unique_ptr<BufPool> p(new BufPool());
  std::size_t total = 0;
  std::vector<Class> sorted(classes.begin(), classes.end());
  std::sort(sorted.begin(), sorted.end(), [](const Class& a, const Class& b) { return a.slot_bytes < b.slot_bytes; });
  for (const auto& c : sorted) {
    if (c.count == 0 || c.slot_bytes == 0) continue;
    ClassState s;
    s.slot_bytes = c.slot_bytes;
    s.stride = (SharedBuf::header_size() + c.slot_bytes + 63) / 64 * 64;
    s.off = total;
    s.count = c.count;
    s.free.reserve(c.count);
    for (std::uint32_t i = c.count; i > 0; --i) s.free.push_back(i - 1);  // slot 0 on top
    total += s.stride * c.count;
    p->classes_.push_back(std::move(s));
  }
  if (total == 0) return make_error(Errc::kBadValue, "buffer pool has no slots");
  void* m = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) return make_error(Errc::kIo, "cannot map the send buffer pool", static_cast<std::uint32_t>(errno));
  p->base_ = static_cast<std::uint8_t*>(m);
  p->size_ = total;
  return p;
}

BufPool::~BufPool() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

SharedBuf* BufPool::alloc(std::size_t n) noexcept {
  for (auto& c : classes_) {
    if (n > c.slot_bytes || c.free.empty()) continue;
    std::uint32_t slot = c.free.back();
    c.free.pop_back();
    ++in_use_;
    return SharedBuf::place(base_ + c.off + c.stride * slot, n, &BufPool::release, this);
  }
  ++exhausted_;
  return nullptr;
}

SharedBuf* BufPool::holder(const void* p) const noexcept {
  if (!owns(p)) return nullptr;
  const auto off = static_cast<std::size_t>(static_cast<const std::uint8_t*>(p) - base_);
  for (const auto& c : classes_) {
    if (off < c.off || off >= c.off + c.stride * c.count) continue;
    return reinterpret_cast<SharedBuf*>(base_ + c.off + (off - c.off) / c.stride * c.stride);
  }
  return nullptr;
}

void BufPool::release(void* ctx, SharedBuf* b) noexcept {
  auto* self = static_cast<BufPool*>(ctx);
  const std::size_t off = static_cast<std::size_t>(reinterpret_cast<std::uint8_t*>(b) - self->base_);
  for (auto& c : self->classes_) {
    if (off < c.off || off >= c.off + c.stride * c.count) continue;
    c.free.push_back(static_cast<std::uint32_t>((off - c.off) / c.stride));
    --self->in_use_;
    return;
  }
}

}  // namespace relay::dp
