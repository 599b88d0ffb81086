// relay/crypto/hash_many.hpp — SHA-512/256 of many independent messages at once.
//
// A block check hashes every transaction (its txid), every Merkle leaf and every
// Merkle node: for a 2 MiB block some 40 000 SHA-512 compressions of one or two blocks
// each, which one at a time is most of the block's check. Those messages are
// independent, so they are hashed four at a time in the four 64-bit lanes of AVX2
// registers ("multi-buffer" hashing): each lane runs its own message, and a lane whose
// message ends takes the next one at once, so messages of different lengths keep every
// lane busy until the queue runs dry.
//
// Machines without AVX2 (checked once, at run time) hash the messages one by one with
// the scalar code; the results are the same bytes either way.
#pragma once

#include <cstddef>
#include <span>

#include "relay/crypto/hash.hpp"

namespace relay::crypto {

// sha512_256_many: out[i] = SHA-512/256(in[i]) for every i. `out` holds in.size()
// digests. No allocation.
void sha512_256_many(std::span<const ByteSpan> in, Hash32* out) noexcept;

// The lanes sha512_256_many runs side by side on this machine (4 with AVX2, else 1).
std::size_t sha512_256_lanes() noexcept;

namespace detail {
// The two implementations, exposed for tests and benchmarks to compare.
void sha512_256_many_scalar(std::span<const ByteSpan> in, Hash32* out) noexcept;
void sha512_256_many_avx2(std::span<const ByteSpan> in, Hash32* out) noexcept;  // AVX2 machines only
bool have_avx2() noexcept;
}  // namespace detail

}  // namespace relay::crypto
