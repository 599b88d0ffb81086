#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
#include <new>

#include "dataplane/transport/transport.hpp"

namespace relay::dp {

SharedBuf* SharedBuf::make_uninit(std::size_t n) {
  static_assert(offsetof(SharedBuf, data_) == header_size());
  if (n > std::numeric_limits<std::uint32_t>::max()) return nullptr;
  void* mem = std::malloc(header_size() + std::max<std::size_t>(n, 16));
  if (mem == nullptr) return nullptr;
  auto* b = new (mem) SharedBuf();
  b->size_ = static_cast<std::uint32_t>(n);
  return b;
}

SharedBuf* SharedBuf::make(ByteSpan bytes) {
  SharedBuf* b = make_uninit(bytes.size());
  if (b != nullptr && !bytes.empty()) std::memcpy(b->data_, bytes.data(), bytes.size());
  return b;
}

SharedBuf* SharedBuf::place(void* mem, std::size_t n, Releaser release, void* ctx) noexcept {
  auto* b = new (mem) SharedBuf();
  b->size_ = static_cast<std::uint32_t>(n);
  b->release_ = release;
  b->ctx_ = ctx;
  return b;
}

}  // namespace relay::dp
