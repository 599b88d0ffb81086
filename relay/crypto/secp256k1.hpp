// relay/crypto/secp256k1.hpp — the ECDSA operations Stacks uses, on libsecp256k1.
//
// Signatures are 65 bytes "VRS": recid(1) ‖ r(32, BE) ‖ s(32, BE) (PROTOCOL.md §0.4).
// Signing is RFC6979 with no extra entropy, so it is deterministic and always low-S.
// Verification in Stacks is always "recover, then compare keys"; whether a high-S
// signature is accepted depends on the context (LowS below), see PROTOCOL.md §2, §7.
// All functions are thread-safe (one read-only, randomized context per process).
#pragma once

#include <optional>

#include "relay/base/bytes.hpp"
#include "relay/crypto/hash.hpp"

namespace relay::crypto {

using Sig65 = ByteArray<65>;
using PubKey33 = ByteArray<33>;
using SecKey32 = ByteArray<32>;

// PublicKey: a parsed curve point (libsecp256k1's opaque 64-byte form).
struct PublicKey {
  ByteArray<64> opaque{};
  PubKey33 compressed() const noexcept;
  ByteArray<65> uncompressed() const noexcept;
  bool operator==(const PublicKey& o) const noexcept;
};

enum class LowS : std::uint8_t {
  kEnforce,  // high-S signatures are rejected (p2p messages, transaction auth)
  kIgnore,   // high-S accepted (microblocks, Nakamoto miner/signers, StackerDB)
};

// recover: the public key that produced `sig` over `digest`. nullopt if the recid is
// not 0..3, r or s do not parse, recovery fails, or (kEnforce) s > n/2.
std::optional<PublicKey> recover(const Hash32& digest, const Sig65& sig, LowS mode) noexcept;

// verify: recover and compare with `expected` (PROTOCOL.md §2: compare, then low-S).
bool verify(const Hash32& digest, const Sig65& sig, const PublicKey& expected, LowS mode) noexcept;

// parses_as_recoverable: recid 0..3 and r, s below the group order (zero allowed),
// the check the microblock decoder makes.
bool parses_as_recoverable(const Sig65& sig) noexcept;

// is_high_s: s > n/2 (or the signature does not parse).
bool is_high_s(const Sig65& sig) noexcept;

// parse_public_key: 33-byte compressed or 65-byte uncompressed SEC1.
std::optional<PublicKey> parse_public_key(ByteSpan sec1) noexcept;

class SecretKey {
 public:
  // from_bytes: 32 bytes, or 33 with a trailing 0x01 (Stacks' "compressed" marker).
  static std::optional<SecretKey> from_bytes(ByteSpan b) noexcept;
  // generate: a fresh key from the OS CSPRNG (getrandom). nullopt only if it fails.
  static std::optional<SecretKey> generate() noexcept;

  const SecKey32& bytes() const noexcept { return key_; }
  PublicKey public_key() const noexcept;
  // sign: RFC6979 recoverable signature over `digest`, always low-S.
  Sig65 sign(const Hash32& digest) const noexcept;

 private:
  SecKey32 key_{};
};

// fill_random: OS CSPRNG bytes; false if getrandom fails.
bool fill_random(std::uint8_t* out, std::size_t n) noexcept;

}  // namespace relay::crypto
