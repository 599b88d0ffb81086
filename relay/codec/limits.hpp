// relay/codec/limits.hpp — every size limit of the Stacks wire format (PROTOCOL.md §1.6),
// checked before anything is allocated.
#pragma once

#include <cstddef>
#include <cstdint>

namespace relay::codec {

inline constexpr std::size_t kPreambleSize = 165;
inline constexpr std::uint32_t kMaxPayloadLen = 1 + 16 * 1024 * 1024;        // 16 777 217
inline constexpr std::uint32_t kMaxRelayersLen = 16;
inline constexpr std::size_t kRelayDataSize = 42;
inline constexpr std::size_t kNeighborAddressSize = 38;
// preamble requires payload_len < kMaxMessageLen
inline constexpr std::uint32_t kMaxMessageLen =
    kMaxPayloadLen + static_cast<std::uint32_t>(kPreambleSize) + kMaxRelayersLen * 42;  // 16 778 054
inline constexpr std::uint32_t kMinPayloadLen = 5;  // empty relayers (4) + type byte (1)

inline constexpr std::uint32_t kMaxNeighborsDataLen = 128;
inline constexpr std::uint32_t kBlocksAvailableMaxLen = 32;
inline constexpr std::uint32_t kBlocksPushedMax = 32;
inline constexpr std::uint32_t kNakamotoBlocksPushedMax = 32;
inline constexpr std::uint16_t kGetPoxInvMaxBitlen = 4096;
inline constexpr std::uint32_t kStackerDbInvMax = 4096;
inline constexpr std::uint32_t kStackerDbMaxChunkSize = 16 * 1024 * 1024;
inline constexpr std::uint32_t kMaxBlockLen = 2 * 1024 * 1024;        // each 2.x block in Blocks
inline constexpr std::uint32_t kMaxTransactionLen = 2 * 1024 * 1024;  // each tx
inline constexpr std::uint32_t kMinTransactionLen = 180;
inline constexpr std::uint32_t kMaxProblematicTxMarkers = kMaxTransactionLen / kMinTransactionLen;  // 11650
inline constexpr std::uint16_t kNakamotoInvMaxBits = 2100;
inline constexpr std::uint16_t kPoxTreatmentMaxBits = 4000;
inline constexpr std::size_t kMaxUrlLen = 128;
inline constexpr std::size_t kMaxClarityNameLen = 128;
inline constexpr std::size_t kMaxContractNameLen = 40;            // tx / p2p codec
inline constexpr std::size_t kMaxContractNameLenInValue = 128;    // inside Clarity principals

// The largest handshake body (relayers ‖ payload): a StackerDBHandshakeAccept with 16
// relayers, the longest data_url and 255 contracts with the longest names
// (PROTOCOL.md §2: HandshakeAcceptData ‖ rc_consensus_hash ‖ count ‖ ContractId…).
inline constexpr std::size_t kMaxHandshakeBody =
    4 + kMaxRelayersLen * kRelayDataSize + 1 + (16 + 2 + 2 + 33 + 8 + 1 + kMaxUrlLen) + 4 + 20 + 1 +
    255 * (1 + 20 + 1 + kMaxContractNameLen);

// The reference decoder (read_next_vec) refuses a vector whose count × size_of::<T>()
// exceeds MAX_MESSAGE_LEN, with Rust's in-memory sizes. We cannot know those exactly,
// so we use sizes at least as large as the reference's (estimated from its type
// layouts): we then never accept a count a node would refuse (which would get us
// disconnected for forwarding it); the extra counts we refuse are far beyond anything
// valid (a 2 MiB block holds at most ~11 650 transactions).
inline constexpr std::uint32_t kMaxVecTransactions = kMaxMessageLen / 768;    // StacksTransaction ≲ 600 B
inline constexpr std::uint32_t kMaxVecClarityValues = kMaxMessageLen / 144;   // Value ≲ 128 B
inline constexpr std::uint32_t kMaxVecPostConditions = kMaxMessageLen / 320;  // TransactionPostCondition ≲ 260 B
inline constexpr std::uint32_t kMaxVecMicroblocks = kMaxMessageLen / 256;     // StacksMicroblock ≲ 160 B
inline constexpr std::uint32_t kMaxVecSignatures = kMaxMessageLen / 65;       // MessageSignature = 65 B

// Our own policy, not the reference node's (it has no such limits; PROTOCOL.md §7.5): the
// work one push may cost before it is judged. Past either, the push is not relayed and
// its sender is not punished (it may be valid: a node still takes it).
//  - kMaxPushKeyChecks: multisig public keys parsed while decoding one push (~6 us each:
//    25 ms). A 16 MiB push could otherwise carry ~490 000 (3 s of one core).
//  - kMaxTxAuthFields: fields (keys and signatures) of one multisig spending condition
//    that the relay verifies (~45 us per signature). Multisig accounts in use have a
//    handful; a 2 MiB transaction could carry ~31 000 signatures.
inline constexpr std::size_t kMaxPushKeyChecks = 4096;
inline constexpr std::size_t kMaxTxAuthFields = 128;

// Highest Clarity version a VersionedSmartContract may name (stacks-core 4.0.2: 1..=6).
// Version-sensitive: raise it with the node release that activates the next version.
inline constexpr std::uint8_t kMaxClarityVersion = 6;

// Clarity values (clarity-types serialization.rs)
inline constexpr std::uint32_t kClarityMaxValueSize = 1024 * 1024;             // MAX_VALUE_SIZE
inline constexpr std::uint32_t kClarityBoundValueSerializationBytes = 2 * 1024 * 1024;
inline constexpr int kClarityMaxDepth = 16;  // frames incl. the top-level one

}  // namespace relay::codec
