// relay/codec/message.hpp — the Stacks p2p message: 165-byte preamble, relayers and
// one of the payload types 0–19, 21–28 (PROTOCOL.md §1).
//
// decode_message() takes exactly one whole message (preamble ‖ payload_len bytes) and
// rejects unknown ids, trailing bytes inside payload_len and every limit of §1.6 before
// allocating. The framing layer (dataplane) first calls decode_preamble() on the first
// 165 bytes to learn how many more to read.
#pragma once

#include <optional>
#include <string>
#include <span>
#include <variant>
#include <vector>

#include "relay/base/bytes.hpp"
#include "relay/codec/chain.hpp"
#include "relay/codec/limits.hpp"
#include "relay/codec/types.hpp"

namespace relay::codec {

struct Preamble {
  std::uint32_t peer_version = 0;
  std::uint32_t network_id = 0;
  std::uint32_t seq = 0;
  std::uint64_t burn_block_height = 0;
  Hash32 burn_block_hash{};
  std::uint64_t burn_stable_block_height = 0;
  Hash32 burn_stable_block_hash{};
  std::uint32_t additional_data = 0;
  Sig65 signature{};
  std::uint32_t payload_len = 0;
  bool operator==(const Preamble&) const = default;
};
inline constexpr std::size_t kPreambleSignatureOffset = 96;
inline constexpr std::size_t kPreamblePayloadLenOffset = 161;

// read_preamble: the 165 bytes plus the decode-time checks of §1.3 (payload_len in
// [5, MAX_MESSAGE_LEN), burn_block_height > burn_stable_block_height).
void read_preamble(Reader& r, Preamble& out);
void write_preamble(Writer& w, const Preamble& p);
Result<Preamble> decode_preamble(ByteSpan first165);

struct NeighborAddress {
  Addr16 addrbytes{};
  std::uint16_t port = 0;
  Hash20 public_key_hash{};
  bool operator==(const NeighborAddress&) const = default;
};

struct RelayData {
  NeighborAddress peer;
  std::uint32_t seq = 0;
  bool operator==(const RelayData&) const = default;
};

inline constexpr std::uint16_t kServiceRelay = 0x01;
inline constexpr std::uint16_t kServiceRpc = 0x02;
inline constexpr std::uint16_t kServiceStackerDb = 0x04;

struct HandshakeData {
  Addr16 addrbytes{};
  std::uint16_t port = 0;
  std::uint16_t services = 0;
  PubKey33 node_public_key{};
  std::uint64_t expire_block_height = 0;
  std::string data_url;
};

struct HandshakeAcceptData {
  HandshakeData handshake;
  std::uint32_t heartbeat_interval = 0;
};

struct ContractId {  // QualifiedContractIdentifier on the p2p wire
  StacksAddress address;
  std::string name;
};

struct StackerDBHandshakeData {
  Hash20 rc_consensus_hash{};
  std::vector<ContractId> smart_contracts;  // u8 count
};

struct StackerDBChunkData {
  std::uint32_t slot_id = 0;
  std::uint32_t slot_version = 0;
  Sig65 sig{};
  Bytes data;
};

enum class MsgId : std::uint8_t {
  kHandshake = 0, kHandshakeAccept = 1, kHandshakeReject = 2, kGetNeighbors = 3,
  kNeighbors = 4, kGetBlocksInv = 5, kBlocksInv = 6, kGetPoxInv = 7, kPoxInv = 8,
  kBlocksAvailable = 9, kMicroblocksAvailable = 10, kBlocks = 11, kMicroblocks = 12,
  kTransaction = 13, kNack = 14, kPing = 15, kPong = 16, kNatPunchRequest = 17,
  kNatPunchReply = 18, kStackerDBHandshakeAccept = 19, kStackerDBGetChunkInv = 21,
  kStackerDBChunkInv = 22, kStackerDBGetChunk = 23, kStackerDBChunk = 24,
  kStackerDBPushChunk = 25, kGetNakamotoInv = 26, kNakamotoInv = 27, kNakamotoBlocks = 28,
};
const char* msg_name(std::uint8_t id) noexcept;  // "" for unknown ids

// One struct per message id; `kId` ties each to its wire id.
struct Handshake { static constexpr MsgId kId = MsgId::kHandshake; HandshakeData data; };
struct HandshakeAccept { static constexpr MsgId kId = MsgId::kHandshakeAccept; HandshakeAcceptData data; };
struct HandshakeReject { static constexpr MsgId kId = MsgId::kHandshakeReject; };
struct GetNeighbors { static constexpr MsgId kId = MsgId::kGetNeighbors; };
struct Neighbors { static constexpr MsgId kId = MsgId::kNeighbors; std::vector<NeighborAddress> neighbors; };
struct GetBlocksInv {
  static constexpr MsgId kId = MsgId::kGetBlocksInv;
  Hash20 consensus_hash{};
  std::uint16_t num_blocks = 0;
};
struct BlocksInv {
  static constexpr MsgId kId = MsgId::kBlocksInv;
  std::uint16_t bitlen = 0;
  Bytes block_bitvec;
  Bytes microblocks_bitvec;
};
struct GetPoxInv {
  static constexpr MsgId kId = MsgId::kGetPoxInv;
  Hash20 consensus_hash{};
  std::uint16_t num_cycles = 0;
};
struct PoxInv {
  static constexpr MsgId kId = MsgId::kPoxInv;
  std::uint16_t bitlen = 0;
  Bytes pox_bitvec;
};
struct BlockAvailable {
  Hash20 consensus_hash{};
  Hash32 burn_header_hash{};
};
struct BlocksAvailable { static constexpr MsgId kId = MsgId::kBlocksAvailable; std::vector<BlockAvailable> available; };
struct MicroblocksAvailable { static constexpr MsgId kId = MsgId::kMicroblocksAvailable; std::vector<BlockAvailable> available; };
struct BlockWithConsensus {
  Hash20 consensus_hash{};
  StacksBlock block;
};
struct Blocks { static constexpr MsgId kId = MsgId::kBlocks; std::vector<BlockWithConsensus> blocks; };
struct Microblocks {
  static constexpr MsgId kId = MsgId::kMicroblocks;
  Hash32 index_anchor_block{};
  std::vector<StacksMicroblock> microblocks;
};
struct Transaction { static constexpr MsgId kId = MsgId::kTransaction; StacksTransaction tx; };
struct Nack { static constexpr MsgId kId = MsgId::kNack; std::uint32_t error_code = 0; };
struct Ping { static constexpr MsgId kId = MsgId::kPing; std::uint32_t nonce = 0; };
struct Pong { static constexpr MsgId kId = MsgId::kPong; std::uint32_t nonce = 0; };
struct NatPunchRequest { static constexpr MsgId kId = MsgId::kNatPunchRequest; std::uint32_t nonce = 0; };
struct NatPunchReply {
  static constexpr MsgId kId = MsgId::kNatPunchReply;
  Addr16 addrbytes{};
  std::uint16_t port = 0;
  std::uint32_t nonce = 0;
};
struct StackerDBHandshakeAccept {
  static constexpr MsgId kId = MsgId::kStackerDBHandshakeAccept;
  HandshakeAcceptData accept;
  StackerDBHandshakeData db;
};
struct StackerDBGetChunkInv {
  static constexpr MsgId kId = MsgId::kStackerDBGetChunkInv;
  ContractId contract_id;
  Hash20 rc_consensus_hash{};
};
struct StackerDBChunkInv {
  static constexpr MsgId kId = MsgId::kStackerDBChunkInv;
  std::vector<std::uint32_t> slot_versions;
  std::uint32_t num_outbound_replicas = 0;
};
struct StackerDBGetChunk {
  static constexpr MsgId kId = MsgId::kStackerDBGetChunk;
  ContractId contract_id;
  Hash20 rc_consensus_hash{};
  std::uint32_t slot_id = 0;
  std::uint32_t slot_version = 0;
};
struct StackerDBChunk { static constexpr MsgId kId = MsgId::kStackerDBChunk; StackerDBChunkData chunk; };
struct StackerDBPushChunk {
  static constexpr MsgId kId = MsgId::kStackerDBPushChunk;
  ContractId contract_id;
  Hash20 rc_consensus_hash{};
  StackerDBChunkData chunk;
};
struct GetNakamotoInv { static constexpr MsgId kId = MsgId::kGetNakamotoInv; Hash20 consensus_hash{}; };
struct NakamotoInv { static constexpr MsgId kId = MsgId::kNakamotoInv; BitVec tenures; };
struct NakamotoBlocks { static constexpr MsgId kId = MsgId::kNakamotoBlocks; std::vector<NakamotoBlock> blocks; };

using Payload = std::variant<Handshake, HandshakeAccept, HandshakeReject, GetNeighbors, Neighbors,
                             GetBlocksInv, BlocksInv, GetPoxInv, PoxInv, BlocksAvailable,
                             MicroblocksAvailable, Blocks, Microblocks, Transaction, Nack, Ping, Pong,
                             NatPunchRequest, NatPunchReply, StackerDBHandshakeAccept,
                             StackerDBGetChunkInv, StackerDBChunkInv, StackerDBGetChunk,
                             StackerDBChunk, StackerDBPushChunk, GetNakamotoInv, NakamotoInv,
                             NakamotoBlocks>;

MsgId payload_id(const Payload& p) noexcept;

struct Message {
  Preamble preamble;
  std::vector<RelayData> relayers;
  Payload payload;
};

void read_neighbor_address(Reader& r, NeighborAddress& out);
void write_neighbor_address(Writer& w, const NeighborAddress& a);
void read_relayers(Reader& r, std::vector<RelayData>& out);
void write_relayers(Writer& w, const std::vector<RelayData>& v);
// read_payload: type byte + body.
void read_payload(Reader& r, Payload& out);
void write_payload(Writer& w, const Payload& p);
void read_stackerdb_chunk(Reader& r, StackerDBChunkData& out);
void write_stackerdb_chunk(Writer& w, const StackerDBChunkData& c);

// ---- pushes, one object at a time (the relay path) ------------------------------------
//
// read_push decodes a pushed payload (Transaction, NakamotoBlocks, Blocks, Microblocks,
// StackerDBPushChunk, BlocksAvailable, MicroblocksAvailable) with exactly the rules of
// read_payload, skimming (Reader::set_skim): every object is handed to the visitor as
// soon as it is complete, then overwritten by the next. With one PushScratch kept by the
// caller, a push of any size decodes without allocating once the scratch has grown to
// the largest objects seen; PushScratch::reserve and reserve_decode_scratch() grow
// everything up front. The visitor sees every object even after an earlier one failed
// its own checks, so a message that does not decode is always reported as such (a node
// drops the sender for that before validating anything).

class PushVisitor {
 public:
  // raw: the transaction's bytes (for the signature hash, without re-encoding).
  virtual void transaction(const StacksTransaction& tx, ByteSpan raw) = 0;
  // Blocks come with their own bytes (`raw`) too; their transactions are skimmed.
  virtual void nakamoto_block(const NakamotoBlock& b, ByteSpan raw) = 0;
  virtual void block(const Hash20& consensus_hash, const StacksBlock& b, ByteSpan raw) = 0;
  // One call per microblock, in order (the stream checks need each one's predecessor).
  virtual void microblock(const Hash32& index_anchor_block, const StacksMicroblock& mb, ByteSpan raw) = 0;
  virtual void chunk(const StackerDBPushChunk& c) = 0;  // without its data
  virtual void available(MsgId id, std::span<const BlockAvailable> entries) = 0;
  // beyond_policy: the push decodes, but more multisig keys than kMaxPushKeyChecks were
  // left unparsed (Reader::take_point_check): its objects were not checked as a node
  // checks them. Called once, after the last object.
  virtual void beyond_policy(const char* why) = 0;

 protected:
  ~PushVisitor() = default;
};

struct PushScratch {
  StacksTransaction tx;
  NakamotoBlock nakamoto;
  StacksBlock block;
  StacksMicroblock microblock;
  StackerDBPushChunk chunk;
  std::vector<BlockAvailable> available;
  // reserve: grow every buffer to what the largest honest objects need.
  void reserve();
};

// is_push_id: the ids read_push accepts.
bool is_push_id(MsgId id) noexcept;

// read_push: `payload` starts at the type byte and must be consumed exactly.
Status read_push(ByteSpan payload, std::uint32_t base_off, PushScratch& scratch, PushVisitor& v);

// reserve_decode_scratch: grow this thread's decode scratch (transaction-list ids, the
// Merkle tree, Clarity type checking) so that decoding the largest block allocates nothing.
void reserve_decode_scratch();

// decode_message: one whole message; the input must be exactly 165 + payload_len bytes.
Result<Message> decode_message(ByteSpan in);
// decode_body: relayers + payload from the payload_len bytes after a preamble.
// `base_off` is added to error offsets (165 when decoding after a preamble).
Status decode_body(ByteSpan body, std::vector<RelayData>& relayers, Payload& payload,
                   std::uint32_t base_off = 0);
// encode_message: preamble (payload_len as given) ‖ relayers ‖ payload.
Bytes encode_message(const Message& m);
// encode_body: relayers ‖ payload (what payload_len counts).
Bytes encode_body(const std::vector<RelayData>& relayers, const Payload& payload);

// validate_url: the UrlString rules (≤ 128 bytes, allowed characters, "" or an
// http(s) URL with a host and no userinfo/query/fragment). Returns a reason or nullptr.
const char* validate_url(std::string_view url) noexcept;

}  // namespace relay::codec
