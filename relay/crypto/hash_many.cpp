#include "relay/crypto/hash_many.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

// SHA-512 (FIPS 180-4 §6.4) four messages at a time: the eight working variables and
// the message schedule are __m256i, one 64-bit word per lane. AVX2 has no 64-bit
// rotate, so a rotation is two shifts and an or — except rotating by 8, which is a byte
// shuffle. The code is compiled for AVX2 through function attributes only, so the rest
// of the project keeps its baseline ISA and this path runs only where the CPU says it
// can.

namespace relay::crypto {

namespace {

constexpr std::size_t kLanes = 4;
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
    std::memset(tail, 0, tail_blocks * kBlock);
    if (rem != 0) std::memcpy(tail, data + whole * kBlock, rem);
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

#define RELAY_AVX2 __attribute__((target("avx2")))

RELAY_AVX2 inline __m256i add(__m256i a, __m256i b) noexcept { return _mm256_add_epi64(a, b); }
RELAY_AVX2 inline __m256i bxor(__m256i a, __m256i b) noexcept { return _mm256_xor_si256(a, b); }
template <int N>
RELAY_AVX2 inline __m256i rotr(__m256i x) noexcept {
  return _mm256_or_si256(_mm256_srli_epi64(x, N), _mm256_slli_epi64(x, 64 - N));
}
RELAY_AVX2 inline __m256i rotr8(__m256i x) noexcept {
  const __m256i by_one_byte = _mm256_setr_epi8(1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12, 13, 14, 15, 8,  //
                                               1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12, 13, 14, 15, 8);
  return _mm256_shuffle_epi8(x, by_one_byte);
}
RELAY_AVX2 inline __m256i big_sigma0(__m256i a) noexcept { return bxor(bxor(rotr<28>(a), rotr<34>(a)), rotr<39>(a)); }
RELAY_AVX2 inline __m256i big_sigma1(__m256i e) noexcept { return bxor(bxor(rotr<14>(e), rotr<18>(e)), rotr<41>(e)); }
RELAY_AVX2 inline __m256i small_sigma0(__m256i w) noexcept {
  return bxor(bxor(rotr<1>(w), rotr8(w)), _mm256_srli_epi64(w, 7));
}
RELAY_AVX2 inline __m256i small_sigma1(__m256i w) noexcept {
  return bxor(bxor(rotr<19>(w), rotr<61>(w)), _mm256_srli_epi64(w, 6));
}
// Ch(e,f,g) = (e ∧ f) ⊕ (¬e ∧ g) = ((f ⊕ g) ∧ e) ⊕ g; Maj(a,b,c) = ((a ⊕ b) ∧ (b ⊕ c)) ⊕ b.
RELAY_AVX2 inline __m256i ch(__m256i e, __m256i f, __m256i g) noexcept {
  return bxor(_mm256_and_si256(bxor(f, g), e), g);
}
RELAY_AVX2 inline __m256i maj(__m256i a, __m256i b, __m256i c) noexcept {
  return bxor(_mm256_and_si256(bxor(a, b), bxor(b, c)), b);
}

// load_words: lane l's block words 0..15 into w[i] (lane l = element l), big-endian.
// Four 4×4 transposes of 64-bit words.
RELAY_AVX2 inline void load_words(const std::uint8_t* const blk[kLanes], __m256i w[16]) noexcept {
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

// One round; the caller rotates the variables' names instead of moving them.
#define RELAY_SHA512_ROUND(a, b, c, d, e, f, g, h, t)                         \
  do {                                                                        \
    const __m256i k = _mm256_set1_epi64x(static_cast<long long>(kRound[t]));  \
    const __m256i t1 = add(add(h, big_sigma1(e)), add(ch(e, f, g), add(k, w[t]))); \
    const __m256i t2 = add(big_sigma0(a), maj(a, b, c));                      \
    d = add(d, t1);                                                           \
    h = add(t1, t2);                                                          \
  } while (0)

// compress: one block per lane into the four states.
RELAY_AVX2 void compress(__m256i s[8], const std::uint8_t* const blk[kLanes]) noexcept {
  __m256i w[80];
  load_words(blk, w);
  for (std::size_t t = 16; t < 80; ++t)
    w[t] = add(add(small_sigma1(w[t - 2]), w[t - 7]), add(small_sigma0(w[t - 15]), w[t - 16]));
  __m256i a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
  for (std::size_t t = 0; t < 80; t += 8) {
    RELAY_SHA512_ROUND(a, b, c, d, e, f, g, h, t + 0);
    RELAY_SHA512_ROUND(h, a, b, c, d, e, f, g, t + 1);
    RELAY_SHA512_ROUND(g, h, a, b, c, d, e, f, t + 2);
    RELAY_SHA512_ROUND(f, g, h, a, b, c, d, e, t + 3);
    RELAY_SHA512_ROUND(e, f, g, h, a, b, c, d, t + 4);
    RELAY_SHA512_ROUND(d, e, f, g, h, a, b, c, t + 5);
    RELAY_SHA512_ROUND(c, d, e, f, g, h, a, b, t + 6);
    RELAY_SHA512_ROUND(b, c, d, e, f, g, h, a, t + 7);
  }
  s[0] = add(s[0], a);
  s[1] = add(s[1], b);
  s[2] = add(s[2], c);
  s[3] = add(s[3], d);
  s[4] = add(s[4], e);
  s[5] = add(s[5], f);
  s[6] = add(s[6], g);
  s[7] = add(s[7], h);
}
#undef RELAY_SHA512_ROUND

}  // namespace

namespace detail {

bool have_avx2() noexcept {
  static const bool yes = __builtin_cpu_supports("avx2") != 0;
  return yes;
}

void sha512_256_many_scalar(std::span<const ByteSpan> in, Hash32* out) noexcept {
  Sha512_256 h;
  for (std::size_t i = 0; i < in.size(); ++i) {
    h.update(in[i]);
    out[i] = h.finish();
  }
}

RELAY_AVX2 void sha512_256_many_avx2(std::span<const ByteSpan> in, Hash32* out) noexcept {
  Lane lanes[kLanes];
  bool busy[kLanes] = {};
  std::size_t queued = 0;  // messages handed to a lane so far
  for (std::size_t l = 0; l < kLanes && queued < in.size(); ++l, ++queued) {
    lanes[l].load(in[queued], queued);
    busy[l] = true;
  }
  __m256i iv[8], s[8];
  for (std::size_t j = 0; j < 8; ++j) s[j] = iv[j] = _mm256_set1_epi64x(static_cast<long long>(kIv[j]));

  std::size_t running = queued;  // lanes with a message
  while (running != 0) {
    const std::uint8_t* blk[kLanes];
    for (std::size_t l = 0; l < kLanes; ++l) blk[l] = busy[l] ? lanes[l].block() : kIdleBlock;
    compress(s, blk);

    // Lanes whose message ended: their digest out, the next message in (from the IV).
    alignas(32) std::uint64_t words[4][kLanes];
    bool stored = false;
    long long fresh[kLanes] = {};
    bool any_fresh = false;
    for (std::size_t l = 0; l < kLanes; ++l) {
      if (!busy[l] || ++lanes[l].next != lanes[l].blocks) continue;
      if (!stored) {
        for (std::size_t j = 0; j < 4; ++j) _mm256_store_si256(reinterpret_cast<__m256i*>(words[j]), s[j]);
        stored = true;
      }
      std::uint8_t* d = out[lanes[l].msg].data();
      for (std::size_t j = 0; j < 4; ++j) store_be64(d + 8 * j, words[j][l]);
      if (queued < in.size()) {
        lanes[l].load(in[queued], queued);
        ++queued;
        fresh[l] = -1;
        any_fresh = true;
      } else {
        busy[l] = false;
        --running;
      }
    }
    if (any_fresh) {
      const __m256i mask = _mm256_setr_epi64x(fresh[0], fresh[1], fresh[2], fresh[3]);
      for (std::size_t j = 0; j < 8; ++j) s[j] = _mm256_blendv_epi8(s[j], iv[j], mask);
    }
  }
}

}  // namespace detail

std::size_t sha512_256_lanes() noexcept { return detail::have_avx2() ? kLanes : 1; }

void sha512_256_many(std::span<const ByteSpan> in, Hash32* out) noexcept {
  // One or two messages leave most lanes idle: one at a time is as fast.
  if (in.size() > 2 && detail::have_avx2()) return detail::sha512_256_many_avx2(in, out);
  detail::sha512_256_many_scalar(in, out);
}

}  // namespace relay::crypto
