// relay/codec/types.hpp — fixed-size wire types shared by every codec.
#pragma once

#include "relay/base/bytes.hpp"

namespace relay::codec {

using Hash20 = ByteArray<20>;   // hash160, consensus hash
using Hash32 = ByteArray<32>;   // SHA-512/256 digests, block hashes, txids
using Sig65 = ByteArray<65>;    // recid ‖ r ‖ s
using PubKey33 = ByteArray<33>; // compressed SEC1
using Addr16 = ByteArray<16>;   // IPv6 / IPv4-mapped
using VrfProof = ByteArray<80>; // Gamma(32) ‖ c(16) ‖ s(32)

// StacksAddress: version (< 32) ‖ hash160.
struct StacksAddress {
  std::uint8_t version = 0;
  Hash20 hash{};
  bool operator==(const StacksAddress&) const = default;
};

}  // namespace relay::codec
