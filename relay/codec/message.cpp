#include "relay/codec/message.hpp"

#include <algorithm>

#include "relay/codec/strings.hpp"

namespace relay::codec {

namespace {

constexpr const char* kMsgNames[] = {
    "Handshake", "HandshakeAccept", "HandshakeReject", "GetNeighbors", "Neighbors",
    "GetBlocksInv", "BlocksInv", "GetPoxInv", "PoxInv", "BlocksAvailable",
    "MicroblocksAvailable", "Blocks", "Microblocks", "Transaction", "Nack", "Ping", "Pong",
    "NatPunchRequest", "NatPunchReply", "StackerDBHandshakeAccept", "",
    "StackerDBGetChunkInv", "StackerDBChunkInv", "StackerDBGetChunk", "StackerDBChunk",
    "StackerDBPushChunk", "GetNakamotoInv", "NakamotoInv", "NakamotoBlocks"};

std::size_t bytes_for_bits(std::uint16_t bits) { return (std::size_t{bits} + 7) / 8; }

// Vec<u8> whose length must be exactly `want` (read_next_exact).
void read_exact_bytes(Reader& r, Bytes& out, std::size_t want, const char* what) {
  std::size_t at = r.pos();
  std::uint32_t n = r.u32();
  if (!r.ok()) return;
  if (n != want) {
    r.fail_at(at, Errc::kBadValue, what);
    return;
  }
  ByteSpan s = r.take(n);
  out.assign(s.begin(), s.end());
}

void write_bytes_vec(Writer& w, const Bytes& b) {
  w.count(b.size());
  w.bytes(b);
}

void read_handshake_data(Reader& r, HandshakeData& h) {
  r.array(h.addrbytes);
  std::size_t port_at = r.pos();
  h.port = r.u16();
  if (r.ok() && h.port == 0) r.fail_at(port_at, Errc::kBadValue, "handshake port is 0");
  h.services = r.u16();
  r.array(h.node_public_key);
  h.expire_block_height = r.u64();
  read_url_string(r, h.data_url);
}

void write_handshake_data(Writer& w, const HandshakeData& h) {
  w.array(h.addrbytes);
  w.u16(h.port);
  w.u16(h.services);
  w.array(h.node_public_key);
  w.u64(h.expire_block_height);
  write_u8_string(w, h.data_url);
}

void read_accept_data(Reader& r, HandshakeAcceptData& a) {
  read_handshake_data(r, a.handshake);
  a.heartbeat_interval = r.u32();
}

void write_accept_data(Writer& w, const HandshakeAcceptData& a) {
  write_handshake_data(w, a.handshake);
  w.u32(a.heartbeat_interval);
}

void read_contract_id(Reader& r, ContractId& c) {
  std::size_t at = r.pos();
  c.address.version = r.u8();
  if (r.ok() && c.address.version >= 32) r.fail_at(at, Errc::kBadValue, "address version >= 32");
  r.array(c.address.hash);
  read_contract_name(r, c.name, kMaxContractNameLen);
}

void write_contract_id(Writer& w, const ContractId& c) {
  w.u8(c.address.version);
  w.array(c.address.hash);
  write_u8_string(w, c.name);
}

void read_block_available(Reader& r, std::vector<BlockAvailable>& out) {
  std::uint32_t n = r.count(kBlocksAvailableMaxLen, 52, "too many BlocksAvailable entries");
  out.resize(n);
  for (auto& e : out) {
    r.array(e.consensus_hash);
    r.array(e.burn_header_hash);
  }
}

void write_block_available(Writer& w, const std::vector<BlockAvailable>& v) {
  w.count(v.size());
  for (const auto& e : v) {
    w.array(e.consensus_hash);
    w.array(e.burn_header_hash);
  }
}

template <typename T>
void read_body(Reader& r, T& out);

template <>
void read_body(Reader& r, Handshake& m) { read_handshake_data(r, m.data); }
template <>
void read_body(Reader& r, HandshakeAccept& m) { read_accept_data(r, m.data); }
template <>
void read_body(Reader&, HandshakeReject&) {}
template <>
void read_body(Reader&, GetNeighbors&) {}
template <>
void read_body(Reader& r, Neighbors& m) {
  std::uint32_t n = r.count(kMaxNeighborsDataLen, kNeighborAddressSize, "too many neighbors");
  m.neighbors.resize(n);
  for (auto& a : m.neighbors) read_neighbor_address(r, a);
}
template <>
void read_body(Reader& r, GetBlocksInv& m) {
  r.array(m.consensus_hash);
  std::size_t at = r.pos();
  m.num_blocks = r.u16();
  if (r.ok() && m.num_blocks == 0) r.fail_at(at, Errc::kBadValue, "GetBlocksInv num_blocks is 0");
}
template <>
void read_body(Reader& r, BlocksInv& m) {
  std::size_t at = r.pos();
  m.bitlen = r.u16();
  if (r.ok() && m.bitlen == 0) r.fail_at(at, Errc::kBadValue, "BlocksInv bitlen is 0");
  read_exact_bytes(r, m.block_bitvec, bytes_for_bits(m.bitlen), "block bitvec length != ceil(bitlen/8)");
  read_exact_bytes(r, m.microblocks_bitvec, bytes_for_bits(m.bitlen),
                   "microblock bitvec length != ceil(bitlen/8)");
}
template <>
void read_body(Reader& r, GetPoxInv& m) {
  r.array(m.consensus_hash);
  std::size_t at = r.pos();
  m.num_cycles = r.u16();
  if (r.ok() && (m.num_cycles == 0 || m.num_cycles > kGetPoxInvMaxBitlen))
    r.fail_at(at, Errc::kLimit, "GetPoxInv num_cycles not in 1..4096");
}
template <>
void read_body(Reader& r, PoxInv& m) {
  std::size_t at = r.pos();
  m.bitlen = r.u16();
  if (r.ok() && (m.bitlen == 0 || m.bitlen > kGetPoxInvMaxBitlen))
    r.fail_at(at, Errc::kLimit, "PoxInv bitlen not in 1..4096");
  read_exact_bytes(r, m.pox_bitvec, bytes_for_bits(m.bitlen), "pox bitvec length != ceil(bitlen/8)");
}
template <>
void read_body(Reader& r, BlocksAvailable& m) { read_block_available(r, m.available); }
template <>
void read_body(Reader& r, MicroblocksAvailable& m) { read_block_available(r, m.available); }
// The pushed block lists, one element at a time: each is decoded into `b` and handed to
// `each` before the next is read (read_body keeps them, read_push only looks).
template <typename F>
void each_block(Reader& r, StacksBlock& b, F&& each) {
  std::uint32_t n = r.count(kBlocksPushedMax, 20 + kStacksBlockHeaderSize + 4, "too many blocks");
  Hash20 seen[kBlocksPushedMax];
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    std::size_t at = r.pos();
    Hash20 ch;
    r.array(ch);
    const std::size_t start = r.pos();
    r.bounded(kMaxBlockLen, [&](Reader& sub) { read_stacks_block(sub, b); });
    if (!r.ok()) return;
    for (std::uint32_t j = 0; j < i; ++j)
      if (seen[j] == ch) return r.fail_at(at, Errc::kDuplicate, "duplicate consensus hash in Blocks");
    seen[i] = ch;
    each(ch, b, r.input().subspan(start, r.pos() - start));
  }
}

template <typename F>
void each_microblock(Reader& r, Hash32& index_anchor_block, StacksMicroblock& mb, F&& each) {
  r.array(index_anchor_block);
  std::uint32_t n = r.count(kMaxVecMicroblocks, kMicroblockHeaderSize + 4, "too many microblocks");
  if (!r.charge(std::size_t{n} * sizeof(StacksMicroblock))) return;
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    const std::size_t start = r.pos();
    read_microblock(r, mb);
    if (r.ok()) each(mb, r.input().subspan(start, r.pos() - start));
  }
}

template <typename F>
void each_nakamoto_block(Reader& r, NakamotoBlock& b, F&& each) {
  std::uint32_t n = r.count(kNakamotoBlocksPushedMax, 200, "too many Nakamoto blocks");
  Hash32 seen[kNakamotoBlocksPushedMax];
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    std::size_t at = r.pos();
    read_nakamoto_block(r, b);
    if (!r.ok()) return;
    for (std::uint32_t j = 0; j < i; ++j)
      if (seen[j] == b.block_id) return r.fail_at(at, Errc::kDuplicate, "duplicate block id in NakamotoBlocks");
    seen[i] = b.block_id;
    each(b, r.input().subspan(at, r.pos() - at));
  }
}

template <>
void read_body(Reader& r, Blocks& m) {
  m.blocks.clear();
  StacksBlock b;
  each_block(r, b, [&](const Hash20& ch, StacksBlock& blk, ByteSpan) {
    m.blocks.push_back(BlockWithConsensus{ch, std::move(blk)});
  });
}
template <>
void read_body(Reader& r, Microblocks& m) {
  m.microblocks.clear();
  StacksMicroblock mb;
  each_microblock(r, m.index_anchor_block, mb, [&](StacksMicroblock& x, ByteSpan) { m.microblocks.push_back(std::move(x)); });
}
template <>
void read_body(Reader& r, Transaction& m) { read_transaction(r, m.tx); }
template <>
void read_body(Reader& r, Nack& m) { m.error_code = r.u32(); }
template <>
void read_body(Reader& r, Ping& m) { m.nonce = r.u32(); }
template <>
void read_body(Reader& r, Pong& m) { m.nonce = r.u32(); }
template <>
void read_body(Reader& r, NatPunchRequest& m) { m.nonce = r.u32(); }
template <>
void read_body(Reader& r, NatPunchReply& m) {
  r.array(m.addrbytes);
  m.port = r.u16();
  m.nonce = r.u32();
}
template <>
void read_body(Reader& r, StackerDBHandshakeAccept& m) {
  read_accept_data(r, m.accept);
  r.array(m.db.rc_consensus_hash);
  std::uint8_t n = r.u8();
  if (!r.ok()) return;
  if (std::size_t{n} * 23 > r.remaining()) {
    r.fail(Errc::kTruncated, "StackerDB contract list exceeds input");
    return;
  }
  m.db.smart_contracts.resize(n);
  for (auto& c : m.db.smart_contracts) read_contract_id(r, c);
}
template <>
void read_body(Reader& r, StackerDBGetChunkInv& m) {
  read_contract_id(r, m.contract_id);
  r.array(m.rc_consensus_hash);
}
template <>
void read_body(Reader& r, StackerDBChunkInv& m) {
  std::uint32_t n = r.count(kStackerDbInvMax, 4, "too many StackerDB slot versions");
  m.slot_versions.resize(n);
  for (auto& v : m.slot_versions) v = r.u32();
  m.num_outbound_replicas = r.u32();
}
template <>
void read_body(Reader& r, StackerDBGetChunk& m) {
  read_contract_id(r, m.contract_id);
  r.array(m.rc_consensus_hash);
  m.slot_id = r.u32();
  m.slot_version = r.u32();
}
template <>
void read_body(Reader& r, StackerDBChunk& m) { read_stackerdb_chunk(r, m.chunk); }
template <>
void read_body(Reader& r, StackerDBPushChunk& m) {
  read_contract_id(r, m.contract_id);
  r.array(m.rc_consensus_hash);
  read_stackerdb_chunk(r, m.chunk);
}
template <>
void read_body(Reader& r, GetNakamotoInv& m) { r.array(m.consensus_hash); }
template <>
void read_body(Reader& r, NakamotoInv& m) { read_bitvec(r, m.tenures, kNakamotoInvMaxBits); }
template <>
void read_body(Reader& r, NakamotoBlocks& m) {
  m.blocks.clear();
  NakamotoBlock b;
  each_nakamoto_block(r, b, [&](NakamotoBlock& x, ByteSpan) { m.blocks.push_back(std::move(x)); });
}

void write_body(Writer& w, const Handshake& m) { write_handshake_data(w, m.data); }
void write_body(Writer& w, const HandshakeAccept& m) { write_accept_data(w, m.data); }
void write_body(Writer&, const HandshakeReject&) {}
void write_body(Writer&, const GetNeighbors&) {}
void write_body(Writer& w, const Neighbors& m) {
  w.count(m.neighbors.size());
  for (const auto& a : m.neighbors) write_neighbor_address(w, a);
}
void write_body(Writer& w, const GetBlocksInv& m) {
  w.array(m.consensus_hash);
  w.u16(m.num_blocks);
}
void write_body(Writer& w, const BlocksInv& m) {
  w.u16(m.bitlen);
  write_bytes_vec(w, m.block_bitvec);
  write_bytes_vec(w, m.microblocks_bitvec);
}
void write_body(Writer& w, const GetPoxInv& m) {
  w.array(m.consensus_hash);
  w.u16(m.num_cycles);
}
void write_body(Writer& w, const PoxInv& m) {
  w.u16(m.bitlen);
  write_bytes_vec(w, m.pox_bitvec);
}
void write_body(Writer& w, const BlocksAvailable& m) { write_block_available(w, m.available); }
void write_body(Writer& w, const MicroblocksAvailable& m) { write_block_available(w, m.available); }
void write_body(Writer& w, const Blocks& m) {
  w.count(m.blocks.size());
  for (const auto& b : m.blocks) {
    w.array(b.consensus_hash);
    write_stacks_block(w, b.block);
  }
}
void write_body(Writer& w, const Microblocks& m) {
  w.array(m.index_anchor_block);
  w.count(m.microblocks.size());
  for (const auto& mb : m.microblocks) write_microblock(w, mb);
}
void write_body(Writer& w, const Transaction& m) { write_transaction(w, m.tx); }
void write_body(Writer& w, const Nack& m) { w.u32(m.error_code); }
void write_body(Writer& w, const Ping& m) { w.u32(m.nonce); }
void write_body(Writer& w, const Pong& m) { w.u32(m.nonce); }
void write_body(Writer& w, const NatPunchRequest& m) { w.u32(m.nonce); }
void write_body(Writer& w, const NatPunchReply& m) {
  w.array(m.addrbytes);
  w.u16(m.port);
  w.u32(m.nonce);
}
void write_body(Writer& w, const StackerDBHandshakeAccept& m) {
  write_accept_data(w, m.accept);
  w.array(m.db.rc_consensus_hash);
  w.u8(static_cast<std::uint8_t>(m.db.smart_contracts.size()));
  for (const auto& c : m.db.smart_contracts) write_contract_id(w, c);
}
void write_body(Writer& w, const StackerDBGetChunkInv& m) {
  write_contract_id(w, m.contract_id);
  w.array(m.rc_consensus_hash);
}
void write_body(Writer& w, const StackerDBChunkInv& m) {
  w.count(m.slot_versions.size());
  for (auto v : m.slot_versions) w.u32(v);
  w.u32(m.num_outbound_replicas);
}
void write_body(Writer& w, const StackerDBGetChunk& m) {
  write_contract_id(w, m.contract_id);
  w.array(m.rc_consensus_hash);
  w.u32(m.slot_id);
  w.u32(m.slot_version);
}
void write_body(Writer& w, const StackerDBChunk& m) { write_stackerdb_chunk(w, m.chunk); }
void write_body(Writer& w, const StackerDBPushChunk& m) {
  write_contract_id(w, m.contract_id);
  w.array(m.rc_consensus_hash);
  write_stackerdb_chunk(w, m.chunk);
}
void write_body(Writer& w, const GetNakamotoInv& m) { w.array(m.consensus_hash); }
void write_body(Writer& w, const NakamotoInv& m) { write_bitvec(w, m.tenures); }
void write_body(Writer& w, const NakamotoBlocks& m) {
  w.count(m.blocks.size());
  for (const auto& b : m.blocks) write_nakamoto_block(w, b);
}

// Payload alternative index for a wire id (ids 0–19 map to 0–19, 21–28 to 20–27).
int payload_index(std::uint8_t id) {
  if (id <= 19) return id;
  if (id >= 21 && id <= 28) return id - 1;
  return -1;
}

template <std::size_t I>
void read_alternative(Reader& r, Payload& out, std::size_t index) {
  if constexpr (I < std::variant_size_v<Payload>) {
    if (index == I) {
      // Reuse the existing alternative (and its capacity) when the type is unchanged.
      if (out.index() != I) out.template emplace<I>();
      read_body(r, std::get<I>(out));
      return;
    }
    read_alternative<I + 1>(r, out, index);
  }
}

}  // namespace

const char* msg_name(std::uint8_t id) noexcept {
  if (id < sizeof kMsgNames / sizeof kMsgNames[0]) return kMsgNames[id];
  return "";
}

MsgId payload_id(const Payload& p) noexcept {
  return std::visit([](const auto& m) { return std::decay_t<decltype(m)>::kId; }, p);
}

void read_preamble(Reader& r, Preamble& p) {
  std::size_t start = r.pos();
  p.peer_version = r.u32();
  p.network_id = r.u32();
  p.seq = r.u32();
  p.burn_block_height = r.u64();
  r.array(p.burn_block_hash);
  p.burn_stable_block_height = r.u64();
  r.array(p.burn_stable_block_hash);
  p.additional_data = r.u32();
  r.array(p.signature);
  p.payload_len = r.u32();
  if (!r.ok()) return;
  if (p.payload_len < kMinPayloadLen)
    r.fail_at(start + kPreamblePayloadLenOffset, Errc::kBadValue, "payload_len < 5");
  else if (p.payload_len >= kMaxMessageLen)
    r.fail_at(start + kPreamblePayloadLenOffset, Errc::kLimit, "payload_len >= MAX_MESSAGE_LEN");
  else if (p.burn_block_height <= p.burn_stable_block_height)
    r.fail_at(start + 12, Errc::kBadValue, "burn_block_height <= burn_stable_block_height");
}

void write_preamble(Writer& w, const Preamble& p) {
  w.u32(p.peer_version);
  w.u32(p.network_id);
  w.u32(p.seq);
  w.u64(p.burn_block_height);
  w.array(p.burn_block_hash);
  w.u64(p.burn_stable_block_height);
  w.array(p.burn_stable_block_hash);
  w.u32(p.additional_data);
  w.array(p.signature);
  w.u32(p.payload_len);
}

Result<Preamble> decode_preamble(ByteSpan first165) {
  return decode_exact<Preamble>(first165, read_preamble);
}

void read_neighbor_address(Reader& r, NeighborAddress& a) {
  r.array(a.addrbytes);
  a.port = r.u16();
  r.array(a.public_key_hash);
}

void write_neighbor_address(Writer& w, const NeighborAddress& a) {
  w.array(a.addrbytes);
  w.u16(a.port);
  w.array(a.public_key_hash);
}

void read_relayers(Reader& r, std::vector<RelayData>& out) {
  std::uint32_t n = r.count(kMaxRelayersLen, kRelayDataSize, "more than 16 relayers");
  out.resize(n);
  for (auto& d : out) {
    read_neighbor_address(r, d.peer);
    d.seq = r.u32();
  }
}

void write_relayers(Writer& w, const std::vector<RelayData>& v) {
  w.count(v.size());
  for (const auto& d : v) {
    write_neighbor_address(w, d.peer);
    w.u32(d.seq);
  }
}

void read_payload(Reader& r, Payload& out) {
  std::size_t at = r.pos();
  std::uint8_t id = r.u8();
  if (!r.ok()) return;
  int index = payload_index(id);
  if (index < 0) {
    r.fail_at(at, Errc::kUnknownType, "unknown message type id");
    return;
  }
  read_alternative<0>(r, out, static_cast<std::size_t>(index));
}

void write_payload(Writer& w, const Payload& p) {
  w.u8(static_cast<std::uint8_t>(payload_id(p)));
  std::visit([&](const auto& m) { write_body(w, m); }, p);
}

void read_stackerdb_chunk(Reader& r, StackerDBChunkData& c) {
  c.slot_id = r.u32();
  c.slot_version = r.u32();
  r.array(c.sig);
  std::uint32_t n = r.count(kStackerDbMaxChunkSize, 1, "StackerDB chunk larger than 16 MiB");
  if (!r.charge(n)) return;
  ByteSpan s = r.take(n);
  if (r.skimming()) c.data.clear();
  else c.data.assign(s.begin(), s.end());
}

void write_stackerdb_chunk(Writer& w, const StackerDBChunkData& c) {
  w.u32(c.slot_id);
  w.u32(c.slot_version);
  w.array(c.sig);
  write_bytes_vec(w, c.data);
}

Status decode_body(ByteSpan body, std::vector<RelayData>& relayers, Payload& payload,
                   std::uint32_t base_off) {
  Reader r(body, base_off);
  read_relayers(r, relayers);
  read_payload(r, payload);
  r.expect_end("trailing bytes inside payload_len");
  if (!r.ok()) return r.error();
  return Ok{};
}

Result<Message> decode_message(ByteSpan in) {
  Reader r(in);
  Message m;
  read_preamble(r, m.preamble);
  if (!r.ok()) return r.error();
  if (r.remaining() < m.preamble.payload_len)
    return make_error(Errc::kTruncated, "message shorter than preamble payload_len",
                      static_cast<std::uint32_t>(in.size()));
  if (r.remaining() > m.preamble.payload_len)
    return make_error(Errc::kTrailingBytes, "bytes after payload_len",
                      static_cast<std::uint32_t>(kPreambleSize + m.preamble.payload_len));
  RELAY_TRY(decode_body(in.subspan(kPreambleSize), m.relayers, m.payload,
                        static_cast<std::uint32_t>(kPreambleSize)));
  return m;
}

Bytes encode_body(const std::vector<RelayData>& relayers, const Payload& payload) {
  Bytes out;
  {
    Writer w(out);
    write_relayers(w, relayers);
    write_payload(w, payload);
  }
  return out;
}

Bytes encode_message(const Message& m) {
  Bytes out;
  {
    Writer w(out);
    write_preamble(w, m.preamble);
    write_relayers(w, m.relayers);
    write_payload(w, m.payload);
  }
  return out;
}

// ---- pushes, one object at a time -------------------------------------------------------

bool is_push_id(MsgId id) noexcept {
  switch (id) {
    case MsgId::kTransaction:
    case MsgId::kNakamotoBlocks:
    case MsgId::kBlocks:
    case MsgId::kMicroblocks:
    case MsgId::kStackerDBPushChunk:
    case MsgId::kBlocksAvailable:
    case MsgId::kMicroblocksAvailable: return true;
    default: return false;
  }
}

void PushScratch::reserve() {
  nakamoto.header.signer_signature.reserve(4096);  // reward sets have at most 4 000 slots
  nakamoto.header.pox_treatment.data.reserve((kPoxTreatmentMaxBits + 7) / 8);
  nakamoto.header.problematic_txs.reserve(256);
  tx.auth.origin.fields.reserve(64);
  tx.auth.sponsor.fields.reserve(64);
  chunk.contract_id.name.reserve(kMaxContractNameLenInValue);
  available.reserve(kBlocksAvailableMaxLen);
}

Status read_push(ByteSpan payload, std::uint32_t base_off, PushScratch& sc, PushVisitor& v) {
  Reader r(payload, base_off);
  r.set_skim(true);
  r.set_point_budget(kMaxPushKeyChecks);
  const std::size_t at = r.pos();
  const auto id = static_cast<MsgId>(r.u8());
  if (!r.ok()) return r.error();
  switch (id) {
    case MsgId::kTransaction: {
      const std::size_t start = r.pos();
      read_transaction(r, sc.tx);
      if (r.ok()) v.transaction(sc.tx, payload.subspan(start, r.pos() - start));
      break;
    }
    case MsgId::kNakamotoBlocks:
      each_nakamoto_block(r, sc.nakamoto, [&](const NakamotoBlock& b, ByteSpan raw) { v.nakamoto_block(b, raw); });
      break;
    case MsgId::kBlocks:
      each_block(r, sc.block, [&](const Hash20& ch, const StacksBlock& b, ByteSpan raw) { v.block(ch, b, raw); });
      break;
    case MsgId::kMicroblocks: {
      Hash32 anchor{};
      each_microblock(r, anchor, sc.microblock,
                      [&](const StacksMicroblock& mb, ByteSpan raw) { v.microblock(anchor, mb, raw); });
      break;
    }
    case MsgId::kStackerDBPushChunk:
      read_body(r, sc.chunk);
      if (r.ok()) v.chunk(sc.chunk);
      break;
    case MsgId::kBlocksAvailable:
    case MsgId::kMicroblocksAvailable:
      read_block_available(r, sc.available);
      if (r.ok()) v.available(id, sc.available);
      break;
    default: r.fail_at(at, Errc::kUnknownType, "not a push message type"); break;
  }
  r.expect_end("trailing bytes inside payload_len");
  if (!r.ok()) return r.error();
  if (r.points_skipped()) v.beyond_policy("more multisig keys than the relay parses per push");
  return Ok{};
}

}  // namespace relay::codec
