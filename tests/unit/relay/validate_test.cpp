#include <gtest/gtest.h>

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
