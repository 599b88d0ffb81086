#include <cstring>
#include <new>

#include "dataplane/transport/transport.hpp"

namespace relay::dp {

SharedBuf* SharedBuf::make(ByteSpan bytes) {
  void* mem = std::malloc(sizeof(SharedBuf) + bytes.size());
  if (mem == nullptr) return nullptr;
  auto* b = new (mem) SharedBuf();
  b->size_ = bytes.size();
  if (!bytes.empty()) std::memcpy(b->data_, bytes.data(), bytes.size());
  return b;
}

}  // namespace relay::dp
