#include "control/store/store_push.hpp"

#include <cstring>

#include "relay/codec/chain.hpp"

namespace relay::store {

namespace {

// Puts every block of a push into the store, by the id the relay keys it on.
class Feeder final : public codec::PushVisitor {
 public:
  Feeder(BlockStore& s, PushStored& out) : store_(s), out_(out) {}
  void transaction(const codec::StacksTransaction&, ByteSpan) override {}
  void chunk(const codec::StackerDBPushChunk&) override {}
  void available(codec::MsgId, std::span<const codec::BlockAvailable>) override {}
  void beyond_policy(const char*) override {}
  void nakamoto_block(const codec::NakamotoBlock& b, ByteSpan raw) override {
    BlockMeta m;
    m.kind = BlockKind::kNakamoto;
    m.height = b.header.chain_length;
    m.consensus_hash = b.header.consensus_hash;
    m.parent = b.header.parent_block_id;
    put(b.block_id, m, raw);
  }
  void block(const codec::Hash20& consensus_hash, const codec::StacksBlock& b, ByteSpan raw) override {
    BlockMeta m;
    m.kind = BlockKind::kStacks;
    m.consensus_hash = consensus_hash;
    m.parent = b.header.parent_block;
    put(codec::block_index_hash(b.block_hash, consensus_hash), m, raw);
  }
  void microblock(const codec::Hash32& anchor, const codec::StacksMicroblock& mb, ByteSpan raw) override {
    BlockMeta m;
    m.kind = BlockKind::kMicroblock;
    m.height = mb.header.sequence;
    m.parent = mb.header.prev_block;
    m.anchor = anchor;
    // The anchor's consensus hash names the microblock for /v2/microblocks/{id}; known
    // when the anchored block was kept before its stream.
    if (auto snap = store_.snapshot(); snap.ok())
      if (auto a = snap->get(anchor); a && a->meta.kind == BlockKind::kStacks) m.consensus_hash = a->meta.consensus_hash;
    put(mb.block_hash, m, raw);
  }

 private:
  void put(const codec::Hash32& id, const BlockMeta& m, ByteSpan raw) {
    ++out_.blocks;
    auto r = store_.put(id, m, raw);
    if (!r.ok()) ++out_.errors;
    else if (*r) ++out_.stored;
  }
  BlockStore& store_;
  PushStored& out_;
};

void put_u32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

}  // namespace

PushStored store_push(BlockStore& s, ByteSpan payload, codec::PushScratch& scratch) {
  PushStored out;
  Feeder f(s, out);
  out.decoded = codec::read_push(payload, 0, scratch, f).ok();
  return out;
}

Bytes push_of(const BlockMeta& m, ByteSpan bytes) {
  Bytes p;
  p.reserve(1 + 32 + 4 + 20 + bytes.size());
  switch (m.kind) {
    case BlockKind::kNakamoto:
      p.push_back(static_cast<std::uint8_t>(codec::MsgId::kNakamotoBlocks));
      put_u32(p, 1);
      break;
    case BlockKind::kStacks:
      p.push_back(static_cast<std::uint8_t>(codec::MsgId::kBlocks));
      put_u32(p, 1);
      p.insert(p.end(), m.consensus_hash.begin(), m.consensus_hash.end());
      break;
    case BlockKind::kMicroblock:
      p.push_back(static_cast<std::uint8_t>(codec::MsgId::kMicroblocks));
      p.insert(p.end(), m.anchor.begin(), m.anchor.end());
      put_u32(p, 1);
      break;
  }
  p.insert(p.end(), bytes.begin(), bytes.end());
  return p;
}

}  // namespace relay::store
