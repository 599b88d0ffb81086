#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "relay/codec/chain.hpp"
#include "relay/codec/message.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/test_data.hpp"

namespace relay::validate {
namespace {

using namespace relay::test;
using codec::NakamotoBlock;

struct Signers {
  std::vector<crypto::SecretKey> keys;
  std::vector<RewardSetSigner> set;
};

Signers make_signers(const std::vector<std::uint32_t>& weights) {
  Signers s;
  for (auto w : weights) {
    auto k = crypto::SecretKey::generate();
    s.set.push_back({k->public_key().compressed(), w});
    s.keys.push_back(*k);
  }
  return s;
}

NakamotoBlock make_block(std::uint8_t version) {
  NakamotoBlock b;
  b.header.version = version;
  b.header.chain_length = 100;
  b.header.pox_treatment.len = 1;
  b.header.pox_treatment.data = {1};
  codec::compute_ids(b);
  return b;
}

void sign_with(NakamotoBlock& b, const Signers& s, const std::vector<std::size_t>& order) {
  b.header.signer_signature.clear();
  for (auto i : order) b.header.signer_signature.push_back(s.keys[i].sign(b.block_hash));
  codec::compute_ids(b);  // signer signatures are not part of the block hash
}

TEST(Signers, Threshold) {
  EXPECT_EQ(threshold_weight(10), 7u);
  EXPECT_EQ(threshold_weight(17), 12u);  // ceil(11.9)
  EXPECT_EQ(threshold_weight(1000000000), 700000000u);
  EXPECT_EQ(threshold_weight(1), 1u);
}

TEST(Signers, WeightAndDistinctness) {
  Signers s = make_signers({10, 20, 30, 40});  // total 100, threshold 70
  NakamotoBlock b = make_block(1);
  Hash32 before = b.block_hash;
  sign_with(b, s, {1, 3});  // 60
  EXPECT_EQ(b.block_hash, before);
  auto r = verify_signer_signatures(b, s.set);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.weight_signed, 60u);
  sign_with(b, s, {0, 1, 3});  // 70
  r = verify_signer_signatures(b, s.set);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.weight_signed, 70u);
  EXPECT_EQ(r.threshold, 70u);
  // The same signer twice counts once: the second is "not in the set".
  sign_with(b, s, {2, 3, 3});
  EXPECT_FALSE(verify_signer_signatures(b, s.set).ok);
  // A stranger's signature.
  sign_with(b, s, {1, 2, 3});
  auto stranger = crypto::SecretKey::generate();
  b.header.signer_signature.push_back(stranger->sign(b.block_hash));
  EXPECT_FALSE(verify_signer_signatures(b, s.set).ok);
  // A signature over something else.
  sign_with(b, s, {1, 2, 3});
  b.header.signer_signature[1] = s.keys[2].sign(crypto::sha512_256(ByteSpan()));
  EXPECT_FALSE(verify_signer_signatures(b, s.set).ok);
  // Empty reward set never passes.
  EXPECT_FALSE(verify_signer_signatures(b, std::vector<RewardSetSigner>{}).ok);
}

TEST(Signers, OrderingByHeaderVersion) {
  Signers s = make_signers({1, 1, 1, 1, 1});
  // v1 (epoch 4.0): strictly increasing reward-set index.
  NakamotoBlock v1 = make_block(1);
  sign_with(v1, s, {0, 1, 2, 3});
  EXPECT_TRUE(verify_signer_signatures(v1, s.set).ok);
  sign_with(v1, s, {0, 2, 1, 3});
  auto r = verify_signer_signatures(v1, s.set);
  EXPECT_FALSE(r.ok);
  EXPECT_STREQ(r.reason, "signer signatures out of order");
  // v0 (3.x): each index only has to exceed the first one's.
  NakamotoBlock v0 = make_block(0);
  sign_with(v0, s, {0, 2, 1, 3});
  EXPECT_TRUE(verify_signer_signatures(v0, s.set).ok) << verify_signer_signatures(v0, s.set).reason;
  sign_with(v0, s, {1, 0, 2, 3});
  EXPECT_FALSE(verify_signer_signatures(v0, s.set).ok);
}

TEST(Signers, ShadowBlocksAreNotVerified) {
  Signers s = make_signers({1});
  NakamotoBlock b = make_block(0x81);
  sign_with(b, s, {0});
  EXPECT_FALSE(verify_signer_signatures(b, s.set).ok);
}

// A ParallelFor that runs the pieces backwards, half of them on a second thread, and
// counts them: side-by-side recovery must not depend on the order the pieces finish in.
struct TwoThreadsBackwards final : ParallelFor {
  std::size_t items = 0;
  void run(std::size_t n, Fn fn, void* ctx) noexcept override {
    items += n;
    std::thread other([&] {
      for (std::size_t i = n; i-- > n / 2;) fn(ctx, i);
    });
    for (std::size_t i = n / 2; i-- > 0;) fn(ctx, i);
    other.join();
  }
};

TEST(Signers, RecoveredSideBySideGiveTheSameVerdicts) {
  Signers s = make_signers({10, 20, 30, 40, 5, 5});  // total 110, threshold 77
  Signers other = make_signers({1, 1, 1});
  auto bad_sig = [](NakamotoBlock& b, std::size_t i) { b.header.signer_signature[i].fill(0xff); };  // r, s ≥ n
  struct Case {
    const char* name;
    std::vector<std::size_t> order;
    void (*spoil)(NakamotoBlock&, std::size_t);
    std::size_t at;
  };
  const std::vector<Case> cases = {
      {"enough weight", {0, 1, 2, 3}, nullptr, 0},
      {"below the threshold", {1, 3, 4}, nullptr, 0},
      {"out of order", {0, 2, 1, 3}, nullptr, 0},
      {"a key twice", {1, 2, 3, 3}, nullptr, 0},
      {"does not recover", {0, 1, 2, 3, 4}, bad_sig, 2},
      {"every signer", {0, 1, 2, 3, 4, 5}, nullptr, 0},
  };
  SignerSet serial(s.set), side(s.set), stranger(other.set);
  TwoThreadsBackwards par;
  for (const Case& c : cases) {
    NakamotoBlock b = make_block(1);
    sign_with(b, s, c.order);
    if (c.spoil != nullptr) c.spoil(b, c.at);
    const SignerCheck one = serial.verify(b.header, b.block_hash);
    const SignerCheck two = side.verify(b.header, b.block_hash, &par);
    EXPECT_EQ(one.ok, two.ok) << c.name;
    EXPECT_STREQ(one.reason, two.reason) << c.name;
    EXPECT_EQ(one.weight_signed, two.weight_signed) << c.name;
    EXPECT_TRUE(std::equal(serial.indexes().begin(), serial.indexes().end(), side.indexes().begin(), side.indexes().end()))
        << c.name;
    if (c.spoil != nullptr) {  // not every key recovered: nothing offered for another set
      EXPECT_TRUE(side.recovered().empty()) << c.name;
      continue;
    }
    ASSERT_EQ(side.recovered().size(), c.order.size()) << c.name;
    for (std::size_t i = 0; i < c.order.size(); ++i)
      EXPECT_EQ(side.recovered()[i], s.set[c.order[i]].signing_key) << c.name << " " << i;
    // The keys once recovered, judged by another set: what that set's own recoveries say.
    const SignerCheck again = stranger.verify_recovered(b.header, side.recovered());
    const SignerCheck fresh = stranger.verify(b.header, b.block_hash);
    EXPECT_EQ(again.ok, fresh.ok) << c.name;
    EXPECT_STREQ(again.reason, fresh.reason) << c.name;
  }
  EXPECT_STREQ(cases[4].name, "does not recover");
  {
    NakamotoBlock b = make_block(1);
    sign_with(b, s, cases[4].order);
    bad_sig(b, 2);
    EXPECT_STREQ(side.verify(b.header, b.block_hash, &par).reason, "signer signature does not recover");
  }
  EXPECT_EQ(par.items, 4u + 3 + 4 + 4 + 5 + 6 + 5);
  // Refused before any recovery: nothing recovered, nothing run.
  NakamotoBlock shadow = make_block(0x81);
  sign_with(shadow, s, {0});
  EXPECT_STREQ(side.verify(shadow.header, shadow.block_hash, &par).reason, "shadow block");
  EXPECT_TRUE(side.recovered().empty());
  EXPECT_EQ(par.items, 4u + 3 + 4 + 4 + 5 + 6 + 5);
  // Keys that do not match the signatures in number are refused, not read past.
  NakamotoBlock b = make_block(1);
  sign_with(b, s, {0, 1, 2, 3});
  const codec::PubKey33 one_key = s.set[0].signing_key;
  EXPECT_FALSE(serial.verify_recovered(b.header, std::span<const codec::PubKey33>(&one_key, 1)).ok);
}

// Pieces taken in increasing order by two threads, as the dataplane's TaskBoard does.
struct TwoThreadsInOrder final : ParallelFor {
  void run(std::size_t n, Fn fn, void* ctx) noexcept override {
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      for (std::size_t i; (i = next.fetch_add(1)) < n;) fn(ctx, i);
    };
    std::thread other(work);
    work();
    other.join();
  }
};

// A block whose signatures are junk costs about one recovery, not one per signature:
// recovery stops at the first signature that gives no key of the set, with the same
// verdict as recovering them all.
TEST(Signers, JunkSignaturesStopTheRecoveries) {
  Signers s = make_signers(std::vector<std::uint32_t>(64, 1));
  NakamotoBlock b = make_block(1);
  sign_with(b, s, {});
  auto stranger = crypto::SecretKey::generate();
  for (int i = 0; i < 64; ++i) b.header.signer_signature.push_back(stranger->sign(b.block_hash));
  SignerSet set(s.set);
  SignerCheck r = set.verify(b.header, b.block_hash);
  EXPECT_FALSE(r.ok);
  EXPECT_STREQ(r.reason, "signature from a key not in the reward set (or repeated)");
  EXPECT_EQ(r.recoveries, 1u);
  TwoThreadsInOrder par;
  r = set.verify(b.header, b.block_hash, &par);
  EXPECT_STREQ(r.reason, "signature from a key not in the reward set (or repeated)");
  EXPECT_LE(r.recoveries, 8u);  // the two threads' pieces in flight when the first fails
  // Good signatures first, then junk: the good ones are all recovered, nothing after.
  sign_with(b, s, {0, 1, 2, 3, 4});
  for (int i = 0; i < 40; ++i) b.header.signer_signature.push_back(stranger->sign(b.block_hash));
  r = set.verify(b.header, b.block_hash);
  EXPECT_STREQ(r.reason, "signature from a key not in the reward set (or repeated)");
  EXPECT_EQ(r.recoveries, 6u);
  EXPECT_EQ(set.indexes().size(), 5u);
  // Every signature good: every one recovered.
  sign_with(b, s, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
                   27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49});
  r = set.verify(b.header, b.block_hash, &par);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.recoveries, 50u);
}

TEST(Miner, RecoversSigningKey) {
  auto miner = crypto::SecretKey::generate();
  NakamotoBlock b = make_block(1);
  b.header.miner_signature = miner->sign(b.miner_sighash);
  codec::compute_ids(b);
  auto k = nakamoto_miner_key(b);
  ASSERT_TRUE(k);
  EXPECT_TRUE(*k == miner->public_key());
  // The miner signature is part of the block hash but not of its own sighash.
  Hash32 h1 = b.block_hash;
  b.header.miner_signature[5] ^= 1;
  codec::compute_ids(b);
  EXPECT_NE(b.block_hash, h1);
}

TEST(StackerDb, ChunkSignature) {
  auto owner = crypto::SecretKey::generate();
  codec::StackerDBChunkData c;
  c.slot_id = 2;
  c.slot_version = 3;
  c.data = {1, 2, 3};
  c.sig = owner->sign(stackerdb_chunk_digest(c));
  auto pk = owner->public_key().compressed();
  auto h = stackerdb_chunk_signer_hash(c);
  ASSERT_TRUE(h);
  EXPECT_EQ(*h, crypto::hash160(ByteSpan(pk.data(), 33)));
  EXPECT_TRUE(verify_stackerdb_chunk(c, *h));
  c.slot_version = 4;  // the signature covers the version
  EXPECT_FALSE(verify_stackerdb_chunk(c, *h));
  EXPECT_NE(stackerdb_chunk_signer_hash(c), h);
  // Digest definition: H(slot_id ‖ slot_version ‖ H(data)).
  Bytes manual{0, 0, 0, 2, 0, 0, 0, 4};
  auto dh = crypto::sha512_256(c.data);
  manual.insert(manual.end(), dh.begin(), dh.end());
  EXPECT_EQ(stackerdb_chunk_digest(c), crypto::sha512_256(manual));
}

TEST(Messages, SignOnceVerifyAnywhere) {
  auto key = crypto::SecretKey::generate();
  codec::Message m;
  m.preamble.peer_version = 0x18000010;
  m.preamble.network_id = 1;
  m.preamble.seq = 42;
  m.preamble.burn_block_height = 100;
  m.preamble.burn_stable_block_height = 93;
  m.payload = codec::Ping{7};
  Bytes b = sign_message(m, *key);
  EXPECT_EQ(b.size(), codec::kPreambleSize + 9);
  auto d = codec::decode_message(b);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(verify_message(b, key->public_key()));
  auto other = crypto::SecretKey::generate();
  EXPECT_FALSE(verify_message(b, other->public_key()));
  EXPECT_FALSE(verify_message(ByteSpan(b).first(100), key->public_key()));
}

}  // namespace
}  // namespace relay::validate
