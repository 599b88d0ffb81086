// relay/crypto/hash_many.hpp — SHA-512/256 of many independent messages at once, and of
// two streams side by side.
//
// A block check hashes every transaction (its txid), every Merkle leaf and every
// Merkle node: for a 2 MiB block some 40 000 SHA-512 compressions of one or two blocks
// each, which one at a time is most of the block's check. Those messages are
// independent, so they are hashed several at a time in the 64-bit lanes of vector
// registers ("multi-buffer" hashing): each lane runs its own message, and a lane whose
// message ends takes the next one at once, so messages of different lengths keep every
// lane busy until the queue runs dry.
//
// The lanes come in three instruction sets, chosen once at run time from what the CPU
// reports: AVX-512 (eight lanes; a rotate instruction and three-input logic), AVX-512VL
// (four lanes in 256-bit registers, the same instructions) and AVX2 (four lanes; a
// rotation costs three instructions). Machines with none hash one message at a time with
// OpenSSL's scalar code; the results are the same bytes on every path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "relay/crypto/hash.hpp"

namespace relay::crypto {

// sha512_256_many: out[i] = SHA-512/256(in[i]) for every i. `out` holds in.size()
// digests. No allocation.
void sha512_256_many(std::span<const ByteSpan> in, Hash32* out) noexcept;

// The lanes sha512_256_many runs side by side on this machine (8, 4 or 1).
std::size_t sha512_256_lanes() noexcept;

// Sha512_256Pair: two SHA-512/256 streams that take mostly the same bytes — the
// framer's two digests: the sender's message and our forward of it carry one payload
// behind different heads. Each stream is fed on its own (update) or both are fed the
// same bytes (update_both); there the two streams' blocks are compressed side by side,
// two lanes of one call, when this machine has lanes that make that cheaper than two
// scalar compressions (AVX-512: see pair_isa()). The streams' block boundaries need not
// line up: each keeps its own partial block. No allocation.
class Sha512_256Pair {
 public:
  Sha512_256Pair() noexcept { reset(); }
  void reset() noexcept;
  void update(std::size_t stream, const void* p, std::size_t n) noexcept;  // stream 0 or 1
  void update_u32(std::size_t stream, std::uint32_t v) noexcept;
  void update_both(const void* p, std::size_t n) noexcept;
  // finish: the stream's digest; that stream starts again (the other is untouched).
  Hash32 finish(std::size_t stream) noexcept;

  // Blocks of update_both compressed two to a call, and alone (tests, benchmarks).
  std::uint64_t paired_blocks() const noexcept { return paired_; }

 private:
  struct Stream {
    std::uint64_t h[8];
    std::uint64_t total;  // bytes fed
    std::size_t fill;     // bytes in buf
    std::uint8_t buf[128];
  };
  static void restart(Stream& s) noexcept;
  static void feed(Stream& s, const std::uint8_t* p, std::size_t n) noexcept;
  Stream s_[2];
  std::uint64_t paired_ = 0;
};

namespace detail {
// The implementations, exposed for tests and benchmarks to compare.
enum class Isa : std::uint8_t { kScalar, kAvx2, kAvx512vl, kAvx512 };
bool isa_available(Isa isa) noexcept;
std::size_t isa_lanes(Isa isa) noexcept;
const char* isa_name(Isa isa) noexcept;
// Only with isa_available(isa).
void sha512_256_many_on(Isa isa, std::span<const ByteSpan> in, Hash32* out) noexcept;
// many_isa: what sha512_256_many uses; pair_isa: what Sha512_256Pair pairs blocks with
// (kScalar: two scalar compressions). Settable for tests and benchmarks (only to an
// available set); returns the previous one.
Isa many_isa() noexcept;
Isa pair_isa() noexcept;
Isa set_many_isa(Isa isa) noexcept;
Isa set_pair_isa(Isa isa) noexcept;
}  // namespace detail

}  // namespace relay::crypto
