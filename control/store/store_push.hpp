// control/store/store_push.hpp — between pushes and the block store, both ways:
// store_push keeps every block of a push (as relayed, or as a partner served it during
// catch-up) under the id the relay keys it on; push_of gives a stored block back as the
// push that carries it alone (what the pair's catch-up route serves, so the partner
// checks it exactly as a push).
#pragma once

#include <cstddef>

#include "control/store/block_store.hpp"
#include "relay/codec/message.hpp"

namespace relay::store {

struct PushStored {
  bool decoded = true;      // false: the payload did not decode (nothing after the error is kept)
  std::size_t blocks = 0;   // blocks in it
  std::size_t stored = 0;   // new to the store
  std::size_t errors = 0;   // the store could not keep them
};
// store_push: `payload` from its type byte (a NakamotoBlocks, Blocks or Microblocks push;
// other pushes hold no block).
PushStored store_push(BlockStore& s, ByteSpan payload, codec::PushScratch& scratch);

// push_of: the push (type byte and body) carrying the stored block `bytes` described by
// `m`: NakamotoBlocks [block]; Blocks [(consensus hash, block)]; Microblocks (anchor,
// [microblock]).
Bytes push_of(const BlockMeta& m, ByteSpan bytes);

}  // namespace relay::store
