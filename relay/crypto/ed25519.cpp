// Field arithmetic mod p = 2^255 - 19 in five 51-bit limbs (radix 2^51), enough for
// point decompression and a cofactor multiplication. Not constant time: the inputs
// are public (VRF proofs in blocks and coinbase transactions).
#include "relay/crypto/ed25519.hpp"

#include <cstring>

namespace relay::crypto {

namespace {

using u64 = std::uint64_t;
__extension__ using u128 = unsigned __int128;
constexpr u64 kMask51 = (u64{1} << 51) - 1;

struct Fe {
  u64 v[5];
};

constexpr Fe fe_small(u64 x) { return Fe{{x, 0, 0, 0, 0}}; }

Fe fe_carry(Fe a) {
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < 4; ++i) {
      a.v[i + 1] += a.v[i] >> 51;
      a.v[i] &= kMask51;
    }
    a.v[0] += 19 * (a.v[4] >> 51);
    a.v[4] &= kMask51;
  }
  return a;
}

Fe fe_add(const Fe& a, const Fe& b) {
  Fe r;
  for (int i = 0; i < 5; ++i) r.v[i] = a.v[i] + b.v[i];
  return fe_carry(r);
}

// a - b computed as a + 2p - b so limbs never underflow (inputs are carried, < 2^52).
Fe fe_sub(const Fe& a, const Fe& b) {
  static constexpr u64 k2p[5] = {0xfffffffffffdaULL, 0xffffffffffffeULL, 0xffffffffffffeULL,
                                 0xffffffffffffeULL, 0xffffffffffffeULL};
  Fe r;
  for (int i = 0; i < 5; ++i) r.v[i] = a.v[i] + k2p[i] - b.v[i];
  return fe_carry(r);
}

Fe fe_mul(const Fe& a, const Fe& b) {
  const u64 b1 = 19 * b.v[1], b2 = 19 * b.v[2], b3 = 19 * b.v[3], b4 = 19 * b.v[4];
  u128 r0 = u128{a.v[0]} * b.v[0] + u128{a.v[1]} * b4 + u128{a.v[2]} * b3 + u128{a.v[3]} * b2 +
            u128{a.v[4]} * b1;
  u128 r1 = u128{a.v[0]} * b.v[1] + u128{a.v[1]} * b.v[0] + u128{a.v[2]} * b4 + u128{a.v[3]} * b3 +
            u128{a.v[4]} * b2;
  u128 r2 = u128{a.v[0]} * b.v[2] + u128{a.v[1]} * b.v[1] + u128{a.v[2]} * b.v[0] + u128{a.v[3]} * b4 +
            u128{a.v[4]} * b3;
  u128 r3 = u128{a.v[0]} * b.v[3] + u128{a.v[1]} * b.v[2] + u128{a.v[2]} * b.v[1] +
            u128{a.v[3]} * b.v[0] + u128{a.v[4]} * b4;
  u128 r4 = u128{a.v[0]} * b.v[4] + u128{a.v[1]} * b.v[3] + u128{a.v[2]} * b.v[2] +
            u128{a.v[3]} * b.v[1] + u128{a.v[4]} * b.v[0];
  r1 += static_cast<u64>(r0 >> 51);
  r2 += static_cast<u64>(r1 >> 51);
  r3 += static_cast<u64>(r2 >> 51);
  r4 += static_cast<u64>(r3 >> 51);
  Fe out;
  out.v[0] = static_cast<u64>(r0) & kMask51;
  out.v[1] = static_cast<u64>(r1) & kMask51;
  out.v[2] = static_cast<u64>(r2) & kMask51;
  out.v[3] = static_cast<u64>(r3) & kMask51;
  out.v[4] = static_cast<u64>(r4) & kMask51;
  out.v[0] += 19 * static_cast<u64>(r4 >> 51);
  return fe_carry(out);
}

Fe fe_sq(const Fe& a) { return fe_mul(a, a); }

// fe_pow: a^e for a little-endian 256-bit exponent.
Fe fe_pow(const Fe& a, const std::uint8_t e[32]) {
  Fe r = fe_small(1);
  for (int bit = 255; bit >= 0; --bit) {
    r = fe_sq(r);
    if ((e[bit / 8] >> (bit % 8)) & 1) r = fe_mul(r, a);
  }
  return r;
}

Fe fe_from_bytes(const ByteArray<32>& b) {
  u64 w[4];
  for (int i = 0; i < 4; ++i) {
    w[i] = 0;
    for (int j = 7; j >= 0; --j) w[i] = (w[i] << 8) | b[static_cast<std::size_t>(8 * i + j)];
  }
  Fe r;
  r.v[0] = w[0] & kMask51;
  r.v[1] = ((w[0] >> 51) | (w[1] << 13)) & kMask51;
  r.v[2] = ((w[1] >> 38) | (w[2] << 26)) & kMask51;
  r.v[3] = ((w[2] >> 25) | (w[3] << 39)) & kMask51;
  r.v[4] = (w[3] >> 12) & kMask51;  // drops bit 255 (the sign bit)
  return r;
}

ByteArray<32> fe_to_bytes(Fe a) {
  a = fe_carry(a);
  // Now a < 2^255 + small; subtract p once if a ≥ p.
  u64 q = (a.v[0] + 19) >> 51;
  q = (a.v[1] + q) >> 51;
  q = (a.v[2] + q) >> 51;
  q = (a.v[3] + q) >> 51;
  q = (a.v[4] + q) >> 51;
  a.v[0] += 19 * q;
  for (int i = 0; i < 4; ++i) {
    a.v[i + 1] += a.v[i] >> 51;
    a.v[i] &= kMask51;
  }
  a.v[4] &= kMask51;
  u64 w[4];
  w[0] = a.v[0] | (a.v[1] << 51);
  w[1] = (a.v[1] >> 13) | (a.v[2] << 38);
  w[2] = (a.v[2] >> 26) | (a.v[3] << 25);
  w[3] = (a.v[3] >> 39) | (a.v[4] << 12);
  ByteArray<32> out;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 8; ++j) out[static_cast<std::size_t>(8 * i + j)] = static_cast<std::uint8_t>(w[i] >> (8 * j));
  return out;
}

bool fe_eq(const Fe& a, const Fe& b) { return fe_to_bytes(a) == fe_to_bytes(b); }
bool fe_is_zero(const Fe& a) { return fe_eq(a, fe_small(0)); }

// Exponents, little-endian: p - 2, (p - 5) / 8, (p - 1) / 4.
struct Exps {
  std::uint8_t p_minus_2[32];
  std::uint8_t p_minus_5_div_8[32];
  std::uint8_t p_minus_1_div_4[32];
};

Exps make_exps() {
  // p = 2^255 - 19 → little-endian bytes: ed ff … ff 7f.
  std::uint8_t p[32];
  std::memset(p, 0xff, sizeof p);
  p[0] = 0xed;
  p[31] = 0x7f;
  Exps e{};
  std::memcpy(e.p_minus_2, p, 32);
  e.p_minus_2[0] = 0xeb;
  // (p - 5) / 8 and (p - 1) / 4: subtract then shift right the 256-bit LE integer.
  auto sub_shift = [&](std::uint8_t sub, int shift, std::uint8_t out[32]) {
    std::uint8_t t[32];
    std::memcpy(t, p, 32);
    t[0] = static_cast<std::uint8_t>(t[0] - sub);  // 0xed - 5 / 0xed - 1: no borrow
    for (int i = 0; i < 32; ++i) {
      unsigned hi = (i + 1 < 32) ? t[i + 1] : 0;
      out[i] = static_cast<std::uint8_t>((static_cast<unsigned>(t[i]) >> shift) | (hi << (8 - shift)));
    }
  };
  sub_shift(5, 3, e.p_minus_5_div_8);
  sub_shift(1, 2, e.p_minus_1_div_4);
  return e;
}

struct Consts {
  Exps e;
  Fe d;        // -121665 / 121666
  Fe sqrtm1;   // 2^((p-1)/4), a square root of -1
};

const Consts& consts() {
  static const Consts c = [] {
    Consts k{};
    k.e = make_exps();
    Fe inv = fe_pow(fe_small(121666), k.e.p_minus_2);
    k.d = fe_sub(fe_small(0), fe_mul(fe_small(121665), inv));
    k.sqrtm1 = fe_pow(fe_small(2), k.e.p_minus_1_div_4);
    return k;
  }();
  return c;
}

struct Point {  // homogeneous projective (X : Y : Z)
  Fe x, y, z;
};

// Complete twisted-Edwards addition (a = -1) specialised to doubling.
Point dbl(const Point& p) {
  const Fe& d = consts().d;
  Fe a = fe_sq(p.z);          // A = Z1 Z2
  Fe b = fe_sq(a);            // B = A^2
  Fe c = fe_sq(p.x);          // C = X1 X2
  Fe dd = fe_sq(p.y);         // D = Y1 Y2
  Fe e = fe_mul(d, fe_mul(c, dd));
  Fe f = fe_sub(b, e);
  Fe g = fe_add(b, e);
  Fe xy = fe_add(p.x, p.y);
  Fe h = fe_sub(fe_sub(fe_sq(xy), c), dd);
  Point r;
  r.x = fe_mul(a, fe_mul(f, h));
  r.y = fe_mul(a, fe_mul(g, fe_add(dd, c)));  // D - aC with a = -1
  r.z = fe_mul(f, g);
  return r;
}

}  // namespace

PointCheck check_edwards_point(const ByteArray<32>& enc) noexcept {
  const Consts& k = consts();
  const int sign = enc[31] >> 7;
  ByteArray<32> y_bytes = enc;
  y_bytes[31] &= 0x7f;
  Fe y = fe_from_bytes(y_bytes);
  if (fe_to_bytes(y) != y_bytes) return PointCheck::kNonCanonical;  // y ≥ p

  Fe y2 = fe_sq(y);
  Fe u = fe_sub(y2, fe_small(1));
  Fe v = fe_add(fe_mul(k.d, y2), fe_small(1));
  // x = u v^3 (u v^7)^((p-5)/8)
  Fe v3 = fe_mul(fe_sq(v), v);
  Fe v7 = fe_mul(fe_sq(v3), v);
  Fe x = fe_mul(fe_mul(u, v3), fe_pow(fe_mul(u, v7), k.e.p_minus_5_div_8));
  Fe vx2 = fe_mul(v, fe_sq(x));
  if (!fe_eq(vx2, u)) {
    if (!fe_eq(vx2, fe_sub(fe_small(0), u))) return PointCheck::kNotOnCurve;
    x = fe_mul(x, k.sqrtm1);
  }
  ByteArray<32> xb = fe_to_bytes(x);
  if (fe_is_zero(x) && sign == 1) return PointCheck::kNonCanonical;  // "-0"
  if ((xb[0] & 1) != sign) x = fe_sub(fe_small(0), x);

  Point p{x, y, fe_small(1)};
  for (int i = 0; i < 3; ++i) p = dbl(p);  // [8]P
  if (fe_is_zero(p.x) && fe_eq(p.y, p.z)) return PointCheck::kSmallOrder;
  return PointCheck::kOk;
}

bool is_canonical_scalar(const ByteArray<32>& s) noexcept {
  static constexpr std::uint8_t kL[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                          0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                          0,    0,    0,    0,    0,    0,    0,    0,
                                          0,    0,    0,    0,    0,    0,    0,    0x10};
  for (int i = 31; i >= 0; --i) {
    auto idx = static_cast<std::size_t>(i);
    if (s[idx] < kL[idx]) return true;
    if (s[idx] > kL[idx]) return false;
  }
  return false;  // equal to ℓ
}

}  // namespace relay::crypto
