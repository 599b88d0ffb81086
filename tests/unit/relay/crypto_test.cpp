#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "relay/codec/chain.hpp"
#include "relay/crypto/ed25519.hpp"
#include "relay/crypto/hash.hpp"
#include "relay/crypto/hash_many.hpp"
#include "relay/crypto/merkle.hpp"
#include "relay/crypto/secp256k1.hpp"
#include "tests/support/test_data.hpp"

namespace relay {
namespace {

using namespace relay::test;
using crypto::LowS;

ByteSpan str(const char* s) { return ByteSpan(reinterpret_cast<const std::uint8_t*>(s), std::strlen(s)); }

TEST(Sha512_256, MatchesFipsVectorsNotTruncatedSha512) {  // [V:L]
  EXPECT_EQ(hx(crypto::sha512_256(str(""))), "c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a");
  EXPECT_EQ(hx(crypto::sha512_256(str("abc"))), "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23");
  EXPECT_NE(hx(crypto::sha512_256(str("abc"))), "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a");
}

TEST(Sha512_256, StreamingEqualsOneShotAndCopiesState) {
  Bytes data(100000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 31 + 7);
  crypto::Sha512_256 h;
  h.update(ByteSpan(data).first(1));
  h.update(ByteSpan(data).subspan(1, 40000));
  crypto::Sha512_256 copy(h);  // fork the running state
  h.update(ByteSpan(data).subspan(40001));
  EXPECT_EQ(h.finish(), crypto::sha512_256(data));
  copy.update(ByteSpan(data).subspan(40001));
  EXPECT_EQ(copy.finish(), crypto::sha512_256(data));
  // finish() resets: the next message starts fresh.
  h.update(str("abc"));
  EXPECT_EQ(h.finish(), crypto::sha512_256(str("abc")));
}

TEST(Secp256k1, KeyDerivationAndHash160) {  // [V:E2, M]
  auto key = crypto::SecretKey::from_bytes(hex("6d430bb91222408e7706c9001cfaeb91b08c2be6d5ac95779ab52c6b431950e001"));
  ASSERT_TRUE(key);
  auto pub = key->public_key();
  EXPECT_EQ(hx(pub.compressed()), "02db3ee269c096bb07fad458f7b1cfada089a72dba6404c2d1a516efd59f2699e5");
  EXPECT_EQ(hx(pub.uncompressed()),
            "04db3ee269c096bb07fad458f7b1cfada089a72dba6404c2d1a516efd59f2699e51f33f7aa914645646cf480508b9ee5ecf8e90f1efcab554bb48009329226209e");
  auto c = pub.compressed();
  EXPECT_EQ(hx(crypto::hash160(ByteSpan(c.data(), c.size()))), "143e543243dfcd8c02a12ad7ea371bd07bc91df9");
  auto u = pub.uncompressed();
  EXPECT_EQ(hx(crypto::hash160(ByteSpan(u.data(), u.size()))), "693cd53eb47d4749762d7cfaf46902bda5be5f97");
}

TEST(Secp256k1, RejectsInvalidSecretKeys) {
  EXPECT_FALSE(crypto::SecretKey::from_bytes(Bytes(32, 0)));          // zero
  EXPECT_FALSE(crypto::SecretKey::from_bytes(Bytes(32, 0xff)));       // ≥ n
  EXPECT_FALSE(crypto::SecretKey::from_bytes(Bytes(31, 1)));          // short
  Bytes k33(33, 1);
  k33[32] = 0x02;
  EXPECT_FALSE(crypto::SecretKey::from_bytes(k33));  // 33 bytes but not the 0x01 marker
}

TEST(Secp256k1, NativeVerifyFixtures) {  // [V:I], stacks-common secp256k1 test_verify
  int row = 0;
  for (auto& r : read_tsv("vectors/i-secp256k1.tsv")) {
    ++row;
    auto pub = crypto::parse_public_key(hex(r[1]));
    ASSERT_TRUE(pub) << row;
    auto sig = arr<65>(r[2]);
    auto digest = arr<32>(r[3]);
    const std::string& expected = r[4];
    bool ok = crypto::verify(digest, sig, *pub, LowS::kEnforce);
    if (expected == "Ok(true)") {
      EXPECT_TRUE(ok) << row;
    } else {
      EXPECT_FALSE(ok) << row;
    }
    if (expected.rfind("Err", 0) == 0) {
      EXPECT_FALSE(crypto::recover(digest, sig, LowS::kIgnore)) << row;
    }
  }
  EXPECT_EQ(row, 8);
  // Row 6: recid 1 recovers a different, known key.
  auto rec = crypto::recover(
      arr<32>("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"),
      arr<65>("01354445a1dc98a1bd27984dbe69979a5cd77886b4d9134af5c40e634d96e1cb445b97de5b632582d31704f86706a780886e6e381bfed65228267358262d203fe6"),
      LowS::kEnforce);
  ASSERT_TRUE(rec);
  EXPECT_EQ(hx(rec->compressed()), "020879f40de2ad9c70448b78d3b45050fce9069e42c44b893ab24afde72ce617d2");
}

// n - s for a 32-byte big-endian s (secp256k1 group order n).
ByteArray<32> negate_scalar(const std::uint8_t* s) {
  static const ByteArray<32> n = arr<32>("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
  ByteArray<32> out{};
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = n[static_cast<std::size_t>(i)] - s[i] - borrow;
    borrow = d < 0;
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(d + (borrow ? 256 : 0));
  }
  return out;
}

TEST(Secp256k1, SignIsRfc6979LowSAndHighSIsContextual) {
  auto key = crypto::SecretKey::from_bytes(hex("6d430bb91222408e7706c9001cfaeb91b08c2be6d5ac95779ab52c6b431950e0"));
  ASSERT_TRUE(key);
  auto digest = arr<32>("286a9b2b6f59c9c2a2deb42f1a0d83c09c9fd46e6e5c6ec050ab42087c723ea1");  // [V:M1]
  auto sig = key->sign(digest);
  EXPECT_EQ(hx(sig), "010f7df47caefce6725d109ed2773e58623cff302a49794b9d87b8fe75e255cd3e29b3baf29742d4521db2d4d0fcf33a298180dac68b61c90ee9166a2a49043b0f");
  EXPECT_EQ(key->sign(digest), sig);  // deterministic
  EXPECT_FALSE(crypto::is_high_s(sig));
  EXPECT_TRUE(crypto::verify(digest, sig, key->public_key(), LowS::kEnforce));

  // The same signature with s' = n - s and the recovery id flipped recovers the same key
  // but is high-S: accepted only where the node does not enforce low-S.
  crypto::Sig65 high = sig;
  auto neg = negate_scalar(sig.data() + 33);
  std::memcpy(high.data() + 33, neg.data(), 32);
  high[0] ^= 1;
  EXPECT_TRUE(crypto::is_high_s(high));
  auto rec = crypto::recover(digest, high, LowS::kIgnore);
  ASSERT_TRUE(rec);
  EXPECT_TRUE(*rec == key->public_key());
  EXPECT_FALSE(crypto::recover(digest, high, LowS::kEnforce));
  EXPECT_FALSE(crypto::verify(digest, high, key->public_key(), LowS::kEnforce));
  EXPECT_TRUE(crypto::verify(digest, high, key->public_key(), LowS::kIgnore));
}

TEST(Secp256k1, RecoverableParseRules) {
  crypto::Sig65 sig{};
  EXPECT_TRUE(crypto::parses_as_recoverable(sig));  // zero r, s parse (recovery then fails)
  sig[0] = 4;
  EXPECT_FALSE(crypto::parses_as_recoverable(sig));  // recid out of range
  sig[0] = 0;
  std::memset(sig.data() + 1, 0xff, 32);  // r ≥ n
  EXPECT_FALSE(crypto::parses_as_recoverable(sig));
}

namespace {
// The instruction sets this machine can run the lanes on (scalar always).
std::vector<crypto::detail::Isa> available_isas() {
  using crypto::detail::Isa;
  std::vector<Isa> v;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512vl, Isa::kAvx512})
    if (crypto::detail::isa_available(isa)) v.push_back(isa);
  return v;
}
}  // namespace

// Many messages at once: the same digests as one at a time, for every mix of lengths
// the lanes meet — the padding boundaries (111/112 bytes: one or two tail blocks;
// 127/128/129: whole blocks), empty messages, lanes ending together and apart, lanes
// refilled mid-batch — on every instruction set this machine can run.
TEST(Sha512_256Many, EqualsOneAtATimeForEveryLengthMix) {
  Bytes data(5000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 131 + (i >> 7));
  std::vector<ByteSpan> in;
  const std::size_t edges[] = {0, 1, 33, 65, 110, 111, 112, 113, 127, 128, 129, 239, 240, 255, 256, 257, 1000, 4999};
  for (std::size_t len : edges) in.push_back(ByteSpan(data).subspan(len % 7, len));
  for (std::size_t i = 0; i < 200; ++i) in.push_back(ByteSpan(data).subspan(i, (i * 97) % 700));
  std::vector<crypto::Hash32> want(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) want[i] = crypto::sha512_256(in[i]);

  // Every batch size from 0 to 40 over a sliding start, then the whole list at once.
  for (std::size_t n = 0; n <= 40; ++n) {
    for (std::size_t at = 0; at + n <= in.size(); at += 37) {
      std::span<const ByteSpan> batch(in.data() + at, n);
      std::vector<crypto::Hash32> got(n);
      crypto::sha512_256_many(batch, got.data());
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], want[at + i]) << "batch of " << n << " at " << at << ", message " << i;
      for (auto isa : available_isas()) {
        std::vector<crypto::Hash32> lanes(n);
        crypto::detail::sha512_256_many_on(isa, batch, lanes.data());
        for (std::size_t i = 0; i < n; ++i)
          ASSERT_EQ(lanes[i], want[at + i]) << crypto::detail::isa_name(isa) << ", batch of " << n << ", message " << i;
      }
    }
  }
  std::vector<crypto::Hash32> all(in.size());
  crypto::sha512_256_many(in, all.data());
  EXPECT_EQ(all, want);
  // The FIPS vectors through the lanes too.
  std::vector<ByteSpan> fips = {str(""), str("abc"), str("abc"), str("")};
  crypto::Hash32 f[4];
  crypto::sha512_256_many(fips, f);
  EXPECT_EQ(hx(f[1]), "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23");
  EXPECT_EQ(hx(f[3]), "c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a");
  EXPECT_EQ(crypto::sha512_256_lanes(), crypto::detail::isa_lanes(crypto::detail::many_isa()));
  EXPECT_TRUE(crypto::detail::isa_available(crypto::detail::many_isa()));
  std::printf("[ info ] lanes on this machine: %s (%zu); pairs: %s\n", crypto::detail::isa_name(crypto::detail::many_isa()),
              crypto::sha512_256_lanes(), crypto::detail::isa_name(crypto::detail::pair_isa()));
}

// Two streams side by side: each digest equals the one-stream digest of the same bytes,
// for heads of every length mod 128 on either stream (the streams' blocks line up or not,
// one stream has a block more in a chunk), chunks of every size from 0 to past two
// blocks, and the scalar fallback; a stream restarted by finish() while the other runs on.
TEST(Sha512_256Pair, EachStreamEqualsItsOwnDigestWhateverTheChunking) {
  Bytes payload(3000);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 29 + (i >> 5));
  Bytes head0(200), head1(200);
  for (std::size_t i = 0; i < 200; ++i) {
    head0[i] = static_cast<std::uint8_t>(i + 1);
    head1[i] = static_cast<std::uint8_t>(255 - i);
  }
  const auto expect = [&](const Bytes& head, std::size_t h, std::size_t len) {
    crypto::Sha512_256 one;
    one.update(ByteSpan(head).first(h));
    one.update(ByteSpan(payload).first(len));
    return one.finish();
  };
  using crypto::detail::Isa;
  const Isa was = crypto::detail::pair_isa();
  std::uint64_t paired = 0;
  for (Isa isa : available_isas()) {
    crypto::detail::set_pair_isa(isa);
    crypto::Sha512_256Pair pair;
    for (std::size_t h0 : {0u, 1u, 5u, 127u, 128u, 129u, 200u})
      for (std::size_t h1 : {0u, 42u, 127u, 128u, 171u}) {
        for (std::size_t chunk : {1u, 7u, 127u, 128u, 129u, 300u, 3000u}) {
          pair.update(0, head0.data(), h0);
          pair.update(1, head1.data(), h1);
          for (std::size_t at = 0; at < payload.size(); at += chunk)
            pair.update_both(payload.data() + at, std::min(chunk, payload.size() - at));
          ASSERT_EQ(pair.finish(0), expect(head0, h0, payload.size()))
              << crypto::detail::isa_name(isa) << " heads " << h0 << "/" << h1 << " chunk " << chunk;
          ASSERT_EQ(pair.finish(1), expect(head1, h1, payload.size()))
              << crypto::detail::isa_name(isa) << " heads " << h0 << "/" << h1 << " chunk " << chunk;
        }
      }
    // finish() restarts its stream alone: stream 1 ends mid-way and starts again on the
    // rest while stream 0 runs on.
    pair.update_both(payload.data(), 1000);
    EXPECT_EQ(pair.finish(1), expect(payload, 0, 1000));
    pair.update_both(payload.data() + 1000, 2000);
    EXPECT_EQ(pair.finish(0), expect(payload, 0, 3000));
    crypto::Sha512_256 rest;
    rest.update(ByteSpan(payload).subspan(1000));
    EXPECT_EQ(pair.finish(1), rest.finish());
    if (isa == Isa::kScalar) EXPECT_EQ(pair.paired_blocks(), 0u);
    else EXPECT_GT(pair.paired_blocks(), 0u) << crypto::detail::isa_name(isa);
    paired += pair.paired_blocks();
  }
  crypto::detail::set_pair_isa(was);
  // The FIPS vector through a pair.
  crypto::Sha512_256Pair fips;
  fips.update_both(nullptr, 0);  // nothing: no bytes, no pointer needed
  fips.update_both("abc", 3);
  EXPECT_EQ(hx(fips.finish(0)), "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23");
  EXPECT_EQ(hx(fips.finish(1)), "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23");
  EXPECT_EQ(hx(fips.finish(1)), "c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a");  // restarted: empty
  std::printf("[ info ] blocks paired in lanes over every instruction set: %llu\n", static_cast<unsigned long long>(paired));
}

TEST(Secp256k1, GeneratedKeysAreDistinctAndUsable) {
  auto a = crypto::SecretKey::generate();
  auto b = crypto::SecretKey::generate();
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->bytes(), b->bytes());
  auto d = crypto::sha512_256(str("x"));
  EXPECT_TRUE(crypto::verify(d, a->sign(d), a->public_key(), LowS::kEnforce));
  EXPECT_FALSE(crypto::verify(d, a->sign(d), b->public_key(), LowS::kEnforce));
}

TEST(Merkle, DerivedVectors) {  // [V:L]
  const char* roots[] = {"46a3219eea5ffce23d53706e59af38e2ceb1ac2315939890f9a01c7df3775313",
                         "e2e5072a6a94257e419ccabb5390c35c46bead3ca43aac53e386e183222f9448",
                         "c9ad330cdf21dcf4147c2bd03884aef23b9112ea8542746afaa407751c732daf",
                         "511e3b2d44a069c04dec94680bda2f908f2a6ad5075899b5e3f57127d4803b18",
                         "60d0995611723e315fbba0a8c641328cf87caac58daa9c7bb43d5af87d2e1a68"};
  std::vector<crypto::Hash32> leaves;
  for (int n = 1; n <= 5; ++n) {
    crypto::Hash32 l;
    l.fill(static_cast<std::uint8_t>(n));
    leaves.push_back(l);
    EXPECT_EQ(hx(crypto::merkle_root(leaves)), roots[n - 1]) << n << " leaves";
  }
  EXPECT_EQ(crypto::merkle_root({}), crypto::Hash32{});
}

// The incremental builder against the row-by-row definition (PROTOCOL.md §7.1), for
// every size up to 300 (all shapes of odd rows at several depths) and around its batch
// edges up to 8 193, and root() taken
// midway does not disturb later additions.
TEST(Merkle, BuilderMatchesRowByRowDefinition) {
  auto rows = [](std::vector<crypto::Hash32> row) {
    if (row.empty()) return crypto::Hash32{};
    for (auto& x : row) {
      std::uint8_t b[33] = {0x00};
      std::copy(x.begin(), x.end(), b + 1);
      x = crypto::sha512_256(ByteSpan(b, sizeof b));
    }
    do {
      std::vector<crypto::Hash32> up;
      for (std::size_t i = 0; i < row.size(); i += 2) {
        std::uint8_t b[65] = {0x01};
        const auto& r = i + 1 < row.size() ? row[i + 1] : row[i];
        std::copy(row[i].begin(), row[i].end(), b + 1);
        std::copy(r.begin(), r.end(), b + 33);
        up.push_back(crypto::sha512_256(ByteSpan(b, sizeof b)));
      }
      row = std::move(up);
    } while (row.size() > 1);
    return row[0];
  };
  crypto::MerkleBuilder b;
  std::vector<crypto::Hash32> ids;
  // Every size to 300, then sizes around the points where held nodes go up a row in a
  // batch (16 leaves, then every 16 nodes of a row: 128, 1 024, 8 192 leaves, ...).
  auto checked = [](int n) {
    if (n <= 300) return true;
    for (int edge : {511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097, 8191, 8192, 8193})
      if (n == edge) return true;
    return false;
  };
  for (int n = 1; n <= 8193; ++n) {
    crypto::Hash32 t{};
    t[0] = static_cast<std::uint8_t>(n);
    t[1] = static_cast<std::uint8_t>(n >> 8);
    ids.push_back(t);
    b.add(t);
    if (!checked(n)) continue;
    ASSERT_EQ(b.root(), rows(ids)) << n << " leaves";
    ASSERT_EQ(b.leaves(), static_cast<std::uint64_t>(n));
  }
  // Added all at once, and after a reset: the same root.
  EXPECT_EQ(crypto::merkle_root(ids), rows(ids));
  b.reset();
  EXPECT_EQ(b.root(), crypto::Hash32{});
  b.add(std::span<const crypto::Hash32>(ids).first(1000));
  EXPECT_EQ(b.root(), rows(std::vector<crypto::Hash32>(ids.begin(), ids.begin() + 1000)));
}

TEST(BlockId, FirstMined) {  // [V:L]
  EXPECT_EQ(hx(codec::block_index_hash(codec::Hash32{}, codec::Hash20{})),
            "55c9861be5cff984a20ce6d99d4aa65941412889bdc665094136429b84f8c2ee");
}

TEST(Ed25519, VrfProofCodecFixtures) {  // [V:K]
  for (auto& r : read_tsv("vectors/k-vrf.tsv")) {
    Bytes b = hex(r[0]);
    bool expect_ok = r[2] == "true";
    bool ok = false;
    if (b.size() == 80) {
      ByteArray<32> gamma, s;
      std::copy_n(b.begin(), 32, gamma.begin());
      std::copy_n(b.begin() + 48, 32, s.begin());
      ok = crypto::check_edwards_point(gamma) == crypto::PointCheck::kOk && crypto::is_canonical_scalar(s);
    }
    EXPECT_EQ(ok, expect_ok) << r[0];
  }
}

TEST(Ed25519, PointClasses) {
  // The base point is a valid prime-order point.
  EXPECT_EQ(crypto::check_edwards_point(arr<32>("5866666666666666666666666666666666666666666666666666666666666666")),
            crypto::PointCheck::kOk);
  ByteArray<32> y{};
  y[0] = 1;  // identity (0, 1)
  EXPECT_EQ(crypto::check_edwards_point(y), crypto::PointCheck::kSmallOrder);
  y[31] = 0x80;  // identity with the sign bit: "-0"
  EXPECT_EQ(crypto::check_edwards_point(y), crypto::PointCheck::kNonCanonical);
  // y = p - 1 = -1 → (0, -1), order 2.
  auto minus_one = arr<32>("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
  EXPECT_EQ(crypto::check_edwards_point(minus_one), crypto::PointCheck::kSmallOrder);
  // y = p is the non-canonical encoding of 0.
  auto p = arr<32>("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
  EXPECT_EQ(crypto::check_edwards_point(p), crypto::PointCheck::kNonCanonical);
  // Roughly half of all y values are not on the curve.
  int on = 0, off = 0;
  for (int v = 2; v < 60; ++v) {
    ByteArray<32> e{};
    e[0] = static_cast<std::uint8_t>(v);
    auto c = crypto::check_edwards_point(e);
    on += c == crypto::PointCheck::kOk;
    off += c == crypto::PointCheck::kNotOnCurve;
  }
  EXPECT_GT(on, 10);
  EXPECT_GT(off, 10);
}

TEST(Ed25519, CanonicalScalar) {
  auto l = arr<32>("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  EXPECT_FALSE(crypto::is_canonical_scalar(l));
  auto l1 = l;
  l1[0] = 0xec;
  EXPECT_TRUE(crypto::is_canonical_scalar(l1));
  EXPECT_TRUE(crypto::is_canonical_scalar(ByteArray<32>{}));
  ByteArray<32> ff;
  ff.fill(0xff);
  EXPECT_FALSE(crypto::is_canonical_scalar(ff));
}

}  // namespace
}  // namespace relay
