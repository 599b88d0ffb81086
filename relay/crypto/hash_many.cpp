#include "relay/crypto/hash_many.hpp"

// SHA512_Transform (one block into a state) is deprecated in OpenSSL 3 with the rest of
// the low-level interface; hash.cpp explains why it is used anyway.
#define OPENSSL_SUPPRESS_DEPRECATED
// GCC 12's AVX-512 headers make their "undefined" vectors by reading a variable
// uninitialised on purpose, which -Wuninitialized reports wherever such an intrinsic
// is inlined (GCC bug 105593): silenced for the headers' own lines.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

// SHA-512 (FIPS 180-4 §6.4) several messages at a time: the eight working variables and
// the message schedule are vectors, one 64-bit word per lane. The rounds are written once
// (sha512_lanes.inc) over a few operations each instruction set defines below. The code
// is compiled for those sets through function attributes only, so the rest of the
// project keeps its baseline ISA and each path runs only where the CPU says it can.
//
// Measured here (Intel Xeon with AVX-512, bench/micro BM_Sha512_256Many, 180-byte
// messages): scalar 356 MB/s, AVX2 550, AVX-512VL 868, AVX-512 (8 lanes) 1 138.

namespace relay::crypto {

namespace {

constexpr std::size_t kBlock = 128;

// The round constants: the first 64 bits of the fractional parts of the cube roots of
// the first 80 primes.
alignas(64) constexpr std::uint64_t kRound[80] = {
    0x428a2f98d728ae22ull, 0x7137449123ef65cdull, 0xb5c0fbcfec4d3b2full,
    0xe9b5dba58189dbbcull, 0x3956c25bf348b538ull, 0x59f111f1b605d019ull,
    0x923f82a4af194f9bull, 0xab1c5ed5da6d8118ull, 0xd807aa98a3030242ull,
    0x12835b0145706fbeull, 0x243185be4ee4b28cull, 0x550c7dc3d5ffb4e2ull,
    0x72be5d74f27b896full, 0x80deb1fe3b1696b1ull, 0x9bdc06a725c71235ull,
    0xc19bf174cf692694ull, 0xe49b69c19ef14ad2ull, 0xefbe4786384f25e3ull,
    0x0fc19dc68b8cd5b5ull, 0x240ca1cc77ac9c65ull, 0x2de92c6f592b0275ull,
    0x4a7484aa6ea6e483ull, 0x5cb0a9dcbd41fbd4ull, 0x76f988da831153b5ull,
    0x983e5152ee66dfabull, 0xa831c66d2db43210ull, 0xb00327c898fb213full,
    0xbf597fc7beef0ee4ull, 0xc6e00bf33da88fc2ull, 0xd5a79147930aa725ull,
    0x06ca6351e003826full, 0x142929670a0e6e70ull, 0x27b70a8546d22ffcull,
    0x2e1b21385c26c926ull, 0x4d2c6dfc5ac42aedull, 0x53380d139d95b3dfull,
    0x650a73548baf63deull, 0x766a0abb3c77b2a8ull, 0x81c2c92e47edaee6ull,
    0x92722c851482353bull, 0xa2bfe8a14cf10364ull, 0xa81a664bbc423001ull,
    0xc24b8b70d0f89791ull, 0xc76c51a30654be30ull, 0xd192e819d6ef5218ull,
    0xd69906245565a910ull, 0xf40e35855771202aull, 0x106aa07032bbd1b8ull,
    0x19a4c116b8d2d0c8ull, 0x1e376c085141ab53ull, 0x2748774cdf8eeb99ull,
    0x34b0bcb5e19b48a8ull, 0x391c0cb3c5c95a63ull, 0x4ed8aa4ae3418acbull,
    0x5b9cca4f7763e373ull, 0x682e6ff3d6b2b8a3ull, 0x748f82ee5defb2fcull,
    0x78a5636f43172f60ull, 0x84c87814a1f0ab72ull, 0x8cc702081a6439ecull,
    0x90befffa23631e28ull, 0xa4506cebde82bde9ull, 0xbef9a3f7b2c67915ull,
    0xc67178f2e372532bull, 0xca273eceea26619cull, 0xd186b8c721c0c207ull,
    0xeada7dd6cde0eb1eull, 0xf57d4f7fee6ed178ull, 0x06f067aa72176fbaull,
    0x0a637dc5a2c898a6ull, 0x113f9804bef90daeull, 0x1b710b35131c471bull,
    0x28db77f523047d84ull, 0x32caab7b40c72493ull, 0x3c9ebe0a15c9bebcull,
    0x431d67c49c100d4cull, 0x4cc5d4becb3e42b6ull, 0x597f299cfc657e2aull,
    0x5fcb6fab3ad6faecull, 0x6c44198c4a475817ull,
};

// SHA-512/256's initial hash value (FIPS 180-4 §5.3.6.2).
constexpr std::uint64_t kIv[8] = {0x22312194fc2bf72cull, 0x9f555fa3c84c64c2ull, 0x2393b86b6f53b151ull,
                                  0x963877195940eabdull, 0x96283ee2a88effe3ull, 0xbe5e1e2553863992ull,
                                  0x2b0199fc2c85b8aaull, 0x0eb72ddc81c52ca2ull};

void store_be64(std::uint8_t* p, std::uint64_t v) noexcept {
  store_be32(p, static_cast<std::uint32_t>(v >> 32));
  store_be32(p + 4, static_cast<std::uint32_t>(v));
}

// copy_short: n < 128 bytes with fixed-size moves, overlapping at the end. (A
// variable-length memcpy is inlined here as `rep movsq`, whose start-up cost was more than
// half of the lanes' bookkeeping: perf, BM_PushCheckDecodeOnly_SimBlock2MiB.)
inline void copy_short(std::uint8_t* d, const std::uint8_t* s, std::size_t n) noexcept {
  if (n >= 16) {
    for (std::size_t i = 0; i + 16 < n; i += 16) std::memcpy(d + i, s + i, 16);
    std::memcpy(d + n - 16, s + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(d, s, 8);
    std::memcpy(d + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(d, s, 4);
    std::memcpy(d + n - 4, s + n - 4, 4);
  } else {
    for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
  }
}

// Lane: one message being hashed. Its whole blocks are read in place; its last one or
// two blocks (the remainder, 0x80, zeros, the 128-bit bit length) are built in `tail`.
struct Lane {
  const std::uint8_t* data = nullptr;
  std::size_t whole = 0;   // whole 128-byte blocks of the message
  std::size_t blocks = 0;  // whole + padded tail blocks
  std::size_t next = 0;    // the next block to compress
  std::size_t msg = 0;     // the message's index in the batch
  alignas(32) std::uint8_t tail[2 * kBlock];

  void load(ByteSpan m, std::size_t index) noexcept {
    data = m.data();
    whole = m.size() / kBlock;
    msg = index;
    next = 0;
    const std::size_t rem = m.size() - whole * kBlock;
    const std::size_t tail_blocks = rem + 1 + 16 <= kBlock ? 1 : 2;
    blocks = whole + tail_blocks;
    // (Fixed sizes: vector stores; `rep stosq` for a variable size costs more here.)
    if (tail_blocks == 1) std::memset(tail, 0, kBlock);
    else std::memset(tail, 0, 2 * kBlock);
    copy_short(tail, data + whole * kBlock, rem);
    tail[rem] = 0x80;
    std::uint8_t* len = tail + tail_blocks * kBlock - 16;
    store_be64(len, static_cast<std::uint64_t>(m.size()) >> 61);
    store_be64(len + 8, static_cast<std::uint64_t>(m.size()) << 3);
  }
  const std::uint8_t* block() const noexcept {
    return next < whole ? data + next * kBlock : tail + (next - whole) * kBlock;
  }
};

alignas(kBlock) constexpr std::uint8_t kIdleBlock[kBlock] = {};  // what an idle lane compresses

// BlockRun: consecutive blocks of one stream: the first may sit apart (a stream's
// buffered partial block, completed), the rest follow each other in the caller's bytes.
struct BlockRun {
  const std::uint8_t* first = nullptr;
  const std::uint8_t* rest = nullptr;
  const std::uint8_t* block(std::size_t i) const noexcept { return i == 0 ? first : rest + (i - 1) * kBlock; }
};

// ---- AVX2: four lanes. No 64-bit rotate: a rotation is two shifts and an or, except by
// 8, which is a byte shuffle. ----
#define RELAY_AVX2 __attribute__((target("avx2")))

namespace avx2 {
#define RELAY_LANES_TARGET RELAY_AVX2
using V = __m256i;
constexpr std::size_t kLanes = 4;
RELAY_AVX2 inline V add(V a, V b) noexcept { return _mm256_add_epi64(a, b); }
RELAY_AVX2 inline V xor3(V a, V b, V c) noexcept { return _mm256_xor_si256(_mm256_xor_si256(a, b), c); }
template <int N>
RELAY_AVX2 inline V ror(V x) noexcept {
  if constexpr (N == 8) {
    const __m256i by_one_byte = _mm256_setr_epi8(1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12, 13, 14, 15, 8,  //
                                                 1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12, 13, 14, 15, 8);
    return _mm256_shuffle_epi8(x, by_one_byte);
  } else {
    return _mm256_or_si256(_mm256_srli_epi64(x, N), _mm256_slli_epi64(x, 64 - N));
  }
}
template <int N>
RELAY_AVX2 inline V shr(V x) noexcept { return _mm256_srli_epi64(x, N); }
// Ch(e,f,g) = (e ∧ f) ⊕ (¬e ∧ g) = ((f ⊕ g) ∧ e) ⊕ g; Maj(a,b,c) = ((a ⊕ b) ∧ (b ⊕ c)) ⊕ b.
RELAY_AVX2 inline V ch(V e, V f, V g) noexcept { return _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256(f, g), e), g); }
RELAY_AVX2 inline V maj(V a, V b, V c) noexcept {
  return _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(b, c)), b);
}
RELAY_AVX2 inline V splat(std::uint64_t v) noexcept { return _mm256_set1_epi64x(static_cast<long long>(v)); }
RELAY_AVX2 inline V load(const std::uint64_t* p) noexcept { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
RELAY_AVX2 inline void store(std::uint64_t* p, V v) noexcept { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
// load_words: lane l's block words 0..15 into w[i] (lane l = element l), big-endian:
// four 4×4 transposes of 64-bit words.
RELAY_AVX2 inline void load_words(const std::uint8_t* const blk[kLanes], V w[16]) noexcept {
  const __m256i swap = _mm256_setr_epi8(7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8,  //
                                        7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8);
  for (std::size_t q = 0; q < 4; ++q) {
    const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[0] + 32 * q));
    const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[1] + 32 * q));
    const __m256i r2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[2] + 32 * q));
    const __m256i r3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[3] + 32 * q));
    const __m256i t0 = _mm256_unpacklo_epi64(r0, r1);  // a0 b0 a2 b2
    const __m256i t1 = _mm256_unpackhi_epi64(r0, r1);  // a1 b1 a3 b3
    const __m256i t2 = _mm256_unpacklo_epi64(r2, r3);  // c0 d0 c2 d2
    const __m256i t3 = _mm256_unpackhi_epi64(r2, r3);  // c1 d1 c3 d3
    w[4 * q + 0] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(t0, t2, 0x20), swap);
    w[4 * q + 1] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(t1, t3, 0x20), swap);
    w[4 * q + 2] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(t0, t2, 0x31), swap);
    w[4 * q + 3] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(t1, t3, 0x31), swap);
  }
}
RELAY_AVX2 inline V with_iv(V s, V iv, unsigned lanes) noexcept {
  const auto m = [&](unsigned l) { return (lanes >> l & 1u) != 0 ? -1ll : 0ll; };
  return _mm256_blendv_epi8(s, iv, _mm256_setr_epi64x(m(0), m(1), m(2), m(3)));
}
#include "relay/crypto/sha512_lanes.inc"
#undef RELAY_LANES_TARGET
}  // namespace avx2

// ---- AVX-512: a rotate instruction, and three-input logic (vpternlogq) for Ch, Maj and
// the three-way xors. ----
#define RELAY_AVX512 __attribute__((target("avx2,avx512f,avx512vl,avx512bw")))
// Truth tables for vpternlogq (bit i = f(a, b, c) with i = a·4 + b·2 + c).
constexpr int kXor3 = 0x96, kChoose = 0xca, kMajority = 0xe8;

// Four lanes in 256-bit registers (AVX-512VL).
namespace avx512vl {
#define RELAY_LANES_TARGET RELAY_AVX512
using V = __m256i;
constexpr std::size_t kLanes = 4;
// What 256-bit AVX2 already does the same way (AVX2 functions inline into AVX-512 ones).
using avx2::add;
using avx2::load;
using avx2::load_words;
using avx2::shr;
using avx2::splat;
using avx2::store;
RELAY_AVX512 inline V xor3(V a, V b, V c) noexcept { return _mm256_ternarylogic_epi64(a, b, c, kXor3); }
template <int N>
RELAY_AVX512 inline V ror(V x) noexcept { return _mm256_ror_epi64(x, N); }
RELAY_AVX512 inline V ch(V e, V f, V g) noexcept { return _mm256_ternarylogic_epi64(e, f, g, kChoose); }
RELAY_AVX512 inline V maj(V a, V b, V c) noexcept { return _mm256_ternarylogic_epi64(a, b, c, kMajority); }
RELAY_AVX512 inline V with_iv(V s, V iv, unsigned lanes) noexcept {
  return _mm256_mask_blend_epi64(static_cast<__mmask8>(lanes), s, iv);
}
#include "relay/crypto/sha512_lanes.inc"
#undef RELAY_LANES_TARGET
}  // namespace avx512vl

// Eight lanes in 512-bit registers.
namespace avx512 {
#define RELAY_LANES_TARGET RELAY_AVX512
using V = __m512i;
constexpr std::size_t kLanes = 8;
RELAY_AVX512 inline V add(V a, V b) noexcept { return _mm512_add_epi64(a, b); }
RELAY_AVX512 inline V xor3(V a, V b, V c) noexcept { return _mm512_ternarylogic_epi64(a, b, c, kXor3); }
template <int N>
RELAY_AVX512 inline V ror(V x) noexcept { return _mm512_ror_epi64(x, N); }
template <int N>
RELAY_AVX512 inline V shr(V x) noexcept { return _mm512_srli_epi64(x, N); }
RELAY_AVX512 inline V ch(V e, V f, V g) noexcept { return _mm512_ternarylogic_epi64(e, f, g, kChoose); }
RELAY_AVX512 inline V maj(V a, V b, V c) noexcept { return _mm512_ternarylogic_epi64(a, b, c, kMajority); }
RELAY_AVX512 inline V splat(std::uint64_t v) noexcept { return _mm512_set1_epi64(static_cast<long long>(v)); }
RELAY_AVX512 inline V load(const std::uint64_t* p) noexcept { return _mm512_load_si512(p); }
RELAY_AVX512 inline void store(std::uint64_t* p, V v) noexcept { _mm512_store_si512(p, v); }
// load_words: word i of every lane in one gather (lanes addressed relative to lane 0),
// then each 64-bit word byte-swapped.
RELAY_AVX512 inline void load_words(const std::uint8_t* const blk[kLanes], V w[16]) noexcept {
  const auto at = [&](std::size_t l) {
    return static_cast<long long>(reinterpret_cast<std::uintptr_t>(blk[l]) - reinterpret_cast<std::uintptr_t>(blk[0]));
  };
  const __m512i index = _mm512_setr_epi64(0, at(1), at(2), at(3), at(4), at(5), at(6), at(7));
  const __m512i swap = _mm512_broadcast_i32x4(_mm_setr_epi8(7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8));
  // (Unoptimised builds get the gather as a header macro whose mask cast -Wsign-conversion flags.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
  for (std::size_t i = 0; i < 16; ++i)
    w[i] = _mm512_shuffle_epi8(_mm512_i64gather_epi64(index, blk[0] + 8 * i, 1), swap);
#pragma GCC diagnostic pop
}
RELAY_AVX512 inline V with_iv(V s, V iv, unsigned lanes) noexcept {
  return _mm512_mask_blend_epi64(static_cast<__mmask8>(lanes), s, iv);
}
#include "relay/crypto/sha512_lanes.inc"
#undef RELAY_LANES_TARGET
}  // namespace avx512

}  // namespace

namespace detail {

bool isa_available(Isa isa) noexcept {
  static const bool avx2 = __builtin_cpu_supports("avx2") != 0;
  static const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512vl") != 0 &&
                             __builtin_cpu_supports("avx512bw") != 0;
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return avx2;
    case Isa::kAvx512vl:
    case Isa::kAvx512: return avx512;
  }
  return false;
}

std::size_t isa_lanes(Isa isa) noexcept {
  switch (isa) {
    case Isa::kScalar: return 1;
    case Isa::kAvx2: return avx2::kLanes;
    case Isa::kAvx512vl: return avx512vl::kLanes;
    case Isa::kAvx512: return avx512::kLanes;
  }
  return 1;
}

const char* isa_name(Isa isa) noexcept {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512vl: return "avx512vl";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

void sha512_256_many_on(Isa isa, std::span<const ByteSpan> in, Hash32* out) noexcept {
  switch (isa) {
    case Isa::kAvx2: return avx2::many(in, out);
    case Isa::kAvx512vl: return avx512vl::many(in, out);
    case Isa::kAvx512: return avx512::many(in, out);
    case Isa::kScalar: break;
  }
  Sha512_256 h;
  for (std::size_t i = 0; i < in.size(); ++i) {
    h.update(in[i]);
    out[i] = h.finish();
  }
}

namespace {
Isa best_many_isa() noexcept {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx512vl, Isa::kAvx2})
    if (isa_available(isa)) return isa;
  return Isa::kScalar;
}
// Two streams in lanes pay only where one call with two busy lanes costs less than two
// scalar compressions: with AVX-512's rotate and three-input logic, not with AVX2's
// (measured: BM_Sha512_256Pair_2MiB).
Isa best_pair_isa() noexcept { return isa_available(Isa::kAvx512vl) ? Isa::kAvx512vl : Isa::kScalar; }
std::atomic<Isa> g_many{best_many_isa()};
std::atomic<Isa> g_pair{best_pair_isa()};
}  // namespace

Isa many_isa() noexcept { return g_many.load(std::memory_order_relaxed); }
Isa pair_isa() noexcept { return g_pair.load(std::memory_order_relaxed); }
Isa set_many_isa(Isa isa) noexcept { return isa_available(isa) ? g_many.exchange(isa) : many_isa(); }
Isa set_pair_isa(Isa isa) noexcept { return isa_available(isa) ? g_pair.exchange(isa) : pair_isa(); }

}  // namespace detail

using detail::Isa;

std::size_t sha512_256_lanes() noexcept { return detail::isa_lanes(detail::many_isa()); }

void sha512_256_many(std::span<const ByteSpan> in, Hash32* out) noexcept {
  // One or two messages leave most lanes idle: one at a time is as fast.
  detail::sha512_256_many_on(in.size() > 2 ? detail::many_isa() : Isa::kScalar, in, out);
}

// ---- Sha512_256Pair ----

namespace {
// transform: SHA-512's compression of `n` consecutive blocks into `h`, one at a time
// (OpenSSL's assembly).
void transform(std::uint64_t h[8], const std::uint8_t* blk, std::size_t n) noexcept {
  SHA512_CTX c;
  std::memcpy(c.h, h, sizeof c.h);
  for (std::size_t i = 0; i < n; ++i) SHA512_Transform(&c, blk + i * kBlock);
  std::memcpy(h, c.h, sizeof c.h);
}

void runs_on(Isa isa, std::uint64_t* const h[], const BlockRun* run, std::size_t count, std::size_t n) noexcept {
  switch (isa) {
    case Isa::kAvx2: return avx2::runs(h, run, count, n);
    case Isa::kAvx512vl: return avx512vl::runs(h, run, count, n);
    case Isa::kAvx512: return avx512::runs(h, run, count, n);
    case Isa::kScalar: break;
  }
  for (std::size_t r = 0; r < count; ++r)
    for (std::size_t i = 0; i < n; ++i) transform(h[r], run[r].block(i), 1);
}
}  // namespace

void Sha512_256Pair::restart(Stream& s) noexcept {
  std::memcpy(s.h, kIv, sizeof s.h);
  s.total = 0;
  s.fill = 0;
}

void Sha512_256Pair::reset() noexcept {
  restart(s_[0]);
  restart(s_[1]);
}

// feed: one stream, scalar: complete the partial block, whole blocks in place, keep the rest.
void Sha512_256Pair::feed(Stream& s, const std::uint8_t* p, std::size_t n) noexcept {
  s.total += n;
  if (s.fill != 0) {
    const std::size_t k = std::min(n, kBlock - s.fill);
    std::memcpy(s.buf + s.fill, p, k);
    s.fill += k;
    p += k;
    n -= k;
    if (s.fill < kBlock) return;
    transform(s.h, s.buf, 1);
    s.fill = 0;
  }
  const std::size_t whole = n / kBlock;
  transform(s.h, p, whole);
  s.fill = n - whole * kBlock;
  std::memcpy(s.buf, p + whole * kBlock, s.fill);
}

void Sha512_256Pair::update(std::size_t stream, const void* p, std::size_t n) noexcept {
  if (n != 0) feed(s_[stream], static_cast<const std::uint8_t*>(p), n);
}

void Sha512_256Pair::update_u32(std::size_t stream, std::uint32_t v) noexcept {
  std::uint8_t b[4];
  store_be32(b, v);
  update(stream, b, 4);
}

void Sha512_256Pair::update_both(const void* bytes, std::size_t n) noexcept {
  if (n == 0) return;
  const auto* p = static_cast<const std::uint8_t*>(bytes);
  const Isa isa = detail::pair_isa();
  if (isa == Isa::kScalar) {
    update(0, p, n);
    update(1, p, n);
    return;
  }
  // Each stream's blocks in these bytes: its partial block completed (in its buffer),
  // then whole blocks in place; `tail` is where its new partial block starts.
  BlockRun run[2];
  std::size_t count[2], tail[2];
  for (std::size_t i = 0; i < 2; ++i) {
    Stream& s = s_[i];
    const std::size_t head = s.fill == 0 ? 0 : kBlock - s.fill;
    if (head > n) {
      count[i] = 0;
      tail[i] = 0;
    } else if (head != 0) {
      std::memcpy(s.buf + s.fill, p, head);
      run[i] = BlockRun{s.buf, p + head};
      count[i] = 1 + (n - head) / kBlock;
      tail[i] = head + (count[i] - 1) * kBlock;
    } else {
      run[i] = BlockRun{p, p + kBlock};
      count[i] = n / kBlock;
      tail[i] = count[i] * kBlock;
    }
  }
  const std::size_t common = std::min(count[0], count[1]);
  if (common != 0) {
    std::uint64_t* const h[2] = {s_[0].h, s_[1].h};
    runs_on(isa, h, run, 2, common);
    paired_ += common;
  }
  for (std::size_t i = 0; i < 2; ++i) {
    Stream& s = s_[i];
    for (std::size_t b = common; b < count[i]; ++b) transform(s.h, run[i].block(b), 1);
    s.total += n;
    if (count[i] == 0) {  // all of it fits in the partial block
      std::memcpy(s.buf + s.fill, p, n);
      s.fill += n;
    } else {
      s.fill = n - tail[i];
      std::memcpy(s.buf, p + tail[i], s.fill);
    }
  }
}

Hash32 Sha512_256Pair::finish(std::size_t stream) noexcept {
  Stream& s = s_[stream];
  s.buf[s.fill++] = 0x80;
  if (s.fill > kBlock - 16) {
    std::memset(s.buf + s.fill, 0, kBlock - s.fill);
    transform(s.h, s.buf, 1);
    s.fill = 0;
  }
  std::memset(s.buf + s.fill, 0, kBlock - 16 - s.fill);
  store_be64(s.buf + kBlock - 16, s.total >> 61);
  store_be64(s.buf + kBlock - 8, s.total << 3);
  transform(s.h, s.buf, 1);
  Hash32 out{};
  for (std::size_t j = 0; j < 4; ++j) store_be64(out.data() + 8 * j, s.h[j]);
  restart(s);
  return out;
}

}  // namespace relay::crypto
