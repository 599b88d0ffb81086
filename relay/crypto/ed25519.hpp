// relay/crypto/ed25519.hpp — the two Edwards25519 checks Stacks' VRF proof decoder makes
// (PROTOCOL.md §7.2): Gamma must be a canonical compressed point that decompresses and is
// not of small order, and s must be a canonical scalar (< ℓ). No VRF verification here.
#pragma once

#include "relay/base/bytes.hpp"

namespace relay::crypto {

enum class PointCheck : std::uint8_t { kOk, kNonCanonical, kNotOnCurve, kSmallOrder };

// check_edwards_point: classify a 32-byte compressed Edwards25519 point. kNonCanonical
// covers y ≥ p and "negative zero" (x = 0 with the sign bit set), i.e. every encoding
// that would not re-encode to the same bytes. Cost: ~3 field exponentiations.
PointCheck check_edwards_point(const ByteArray<32>& enc) noexcept;

// is_canonical_scalar: little-endian s < ℓ = 2^252 + 27742317777372353535851937790883648493.
bool is_canonical_scalar(const ByteArray<32>& s) noexcept;

}  // namespace relay::crypto
