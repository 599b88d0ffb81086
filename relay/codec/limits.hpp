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

// Clarity values (clarity-types serialization.rs)
inline constexpr std::uint32_t kClarityMaxValueSize = 1024 * 1024;             // MAX_VALUE_SIZE
inline constexpr std::uint32_t kClarityBoundValueSerializationBytes = 2 * 1024 * 1024;
inline constexpr int kClarityMaxDepth = 16;  // frames incl. the top-level one

}  // namespace relay::codec
