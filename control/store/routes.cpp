#include "control/store/routes.hpp"

#include <cstring>

#include "relay/codec/limits.hpp"

namespace relay::store {

std::optional<std::string> microblock_stream(const BlockStore::Snapshot& snap, BlockStore::Snapshot::Block tail) {
  std::string body(4, '\0');
  store_be32(reinterpret_cast<std::uint8_t*>(body.data()), static_cast<std::uint32_t>(tail.meta.height + 1));
  auto cur = tail;
  for (;;) {
    if (body.size() + cur.bytes.size() > codec::kMaxMessageLen) return std::nullopt;
    body.append(reinterpret_cast<const char*>(cur.bytes.data()), cur.bytes.size());
    if (cur.meta.height == 0) return body;
    auto prev = snap.get(cur.meta.parent);
    if (!prev || prev->meta.kind != BlockKind::kMicroblock || prev->meta.height + 1 != cur.meta.height) return std::nullopt;
    cur = *prev;
  }
}

std::optional<ConfirmedTail> confirmed_tail(ByteSpan b) {
  // StacksBlockHeader: version 1, total_work 16, proof 80, parent_block 32, then
  // parent_microblock 32 and parent_microblock_sequence u16.
  constexpr std::size_t kParentMicroblock = 1 + 16 + 80 + 32;
  if (b.size() < kParentMicroblock + 34) return std::nullopt;
  ConfirmedTail t;
  std::memcpy(t.microblock.data(), b.data() + kParentMicroblock, 32);
  t.seq = static_cast<std::uint16_t>(b[kParentMicroblock + 32] << 8 | b[kParentMicroblock + 33]);
  return t;
}

}  // namespace relay::store
