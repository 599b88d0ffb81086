#include <gtest/gtest.h>

#include "relay/codec/chain.hpp"
#include "relay/crypto/merkle.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/test_data.hpp"

namespace relay::codec {
namespace {

using namespace relay::test;

TEST(StacksBlock, HeaderC3AndH10) {
  for (auto [id, hash] : {std::pair{"C3", "6c5af0fc9386c0793f23cf17fb5f99e490f48a14095fcd42f3b85920b9c54bb9"},
                          std::pair{"H10", "97244a9f702f80c86bced61c4ad8c055e5ecfa1b71bc7c54b575a892c644ee62"}}) {
    Bytes b = vec(id);
    ASSERT_EQ(b.size(), kStacksBlockHeaderSize);
    auto h = decode_exact<StacksBlockHeader>(b, read_block_header);
    ASSERT_TRUE(h.ok()) << id << ": " << h.error().reason;
    EXPECT_EQ(hx(encode_with(write_block_header, *h)), hx(b));
    StacksBlock blk;
    blk.header = *h;
    compute_ids(blk);
    EXPECT_EQ(hx(blk.block_hash), hash) << id;
  }
  auto c3 = decode_exact<StacksBlockHeader>(vec("C3"), read_block_header);
  EXPECT_EQ(c3->total_burn, 123u);  // C2 work score inside
  EXPECT_EQ(c3->total_work, 456u);
  EXPECT_EQ(hx(c3->proof), hx(vec("C1")));
  EXPECT_EQ(c3->parent_microblock_sequence, 3);
}

TEST(StacksBlock, AnchoredBlockH9) {
  Bytes b = vec("H9");
  auto blk = decode_exact<StacksBlock>(b, read_stacks_block);
  ASSERT_TRUE(blk.ok()) << blk.error().reason << " @" << blk.error().offset;
  ASSERT_EQ(blk->txs.size(), 1u);
  EXPECT_EQ(hx(blk->txs[0].txid), "8045bd9a69a1fd2f2ab1bcb0aa0ce460971d3927fdda7bd25a4feca54307edfc");
  EXPECT_EQ(blk->txs[0].payload.id, 4);
  EXPECT_EQ(hx(blk->block_hash), "4151d6b847b5655aa9652807bad29e5edb612ca1476cbe363ac451f41eca0852");
  EXPECT_EQ(hx(encode_with(write_stacks_block, *blk)), hx(b));
  EXPECT_EQ(blk->header.total_burn, 3760000u);

  Bytes bad = b;
  bad[1 + 16 + 80 + 32 + 32 + 2] ^= 1;  // tx_merkle_root
  EXPECT_EQ(decode_exact<StacksBlock>(bad, read_stacks_block).error().code, Errc::kMerkleMismatch);
  Bytes none(b.begin(), b.begin() + kStacksBlockHeaderSize);
  none.insert(none.end(), {0, 0, 0, 0});
  EXPECT_EQ(decode_exact<StacksBlock>(none, read_stacks_block).error().code, Errc::kBadValue);
  for (std::size_t cut = 0; cut < b.size(); cut += 7)
    EXPECT_FALSE(decode_exact<StacksBlock>(ByteSpan(b).first(cut), read_stacks_block).ok()) << cut;
}

TEST(Microblock, HeadersC4C5) {
  auto h4 = decode_exact<MicroblockHeader>(vec("C4"), read_microblock_header);
  ASSERT_TRUE(h4.ok()) << h4.error().reason;
  EXPECT_EQ(h4->sequence, 0x34);
  StacksMicroblock m4;
  m4.header = *h4;
  compute_ids(m4);
  EXPECT_EQ(hx(m4.block_hash), "2adcf17f3d1e773fb0f48ca14090e2382cc6c3bd5a4654cae72c33914f3de049");

  auto h5 = decode_exact<MicroblockHeader>(vec("C5"), read_microblock_header);
  ASSERT_TRUE(h5.ok());
  EXPECT_EQ(hx(microblock_sighash(*h5)), "2d43ba218fcaa24a883781943bc5291815d585c37527d91195aa8978eddc4b37");
  auto signer = validate::microblock_signer_hash(*h5);
  ASSERT_TRUE(signer);
  EXPECT_EQ(hx(*signer), "143e543243dfcd8c02a12ad7ea371bd07bc91df9");
  EXPECT_TRUE(validate::verify_microblock_signature(*h5, arr<20>("143e543243dfcd8c02a12ad7ea371bd07bc91df9")));
  EXPECT_FALSE(validate::verify_microblock_signature(*h5, arr<20>("18ef6499e0fcc575da75fca8cc409e5c884eb345")));
  StacksMicroblock m5;
  m5.header = *h5;
  compute_ids(m5);
  EXPECT_EQ(hx(m5.block_hash), "a1dab3d78cf75345222427d66a3a9bdb4e4f91fb68b01eae7b17ee42cdbdc924");

  Bytes bad = vec("C4");
  bad[67] = 4;  // recovery id 4 does not parse
  EXPECT_EQ(decode_exact<MicroblockHeader>(bad, read_microblock_header).error().code, Errc::kBadSignature);
}

TEST(Microblock, WholeMicroblockRules) {
  // A microblock of the H4 transaction (off-chain capable, anchor mode "any").
  auto tx = decode_exact<StacksTransaction>(vec("H4"), read_transaction);
  ASSERT_TRUE(tx.ok());
  auto key = crypto::SecretKey::generate();
  StacksMicroblock m;
  m.header.version = 0;
  m.header.sequence = 0;
  m.txs = {*tx};
  m.header.tx_merkle_root = crypto::merkle_root(std::vector<Hash32>{tx->txid});
  m.header.signature = key->sign(microblock_sighash(m.header));
  compute_ids(m);
  Bytes b = encode_with(write_microblock, m);
  auto back = decode_exact<StacksMicroblock>(b, read_microblock);
  ASSERT_TRUE(back.ok()) << back.error().reason;
  EXPECT_EQ(back->block_hash, m.block_hash);
  auto pk = key->public_key().compressed();
  EXPECT_EQ(*validate::microblock_signer_hash(back->header), crypto::hash160(ByteSpan(pk.data(), 33)));
  // Duplicate transaction.
  StacksMicroblock dup = m;
  dup.txs = {*tx, *tx};
  dup.header.tx_merkle_root = crypto::merkle_root(std::vector<Hash32>{tx->txid, tx->txid});
  EXPECT_EQ(decode_exact<StacksMicroblock>(encode_with(write_microblock, dup), read_microblock).error().code,
            Errc::kDuplicate);
  // On-chain-only transactions are not allowed in microblocks.
  StacksMicroblock onchain = m;
  onchain.txs[0].anchor_mode = 1;
  compute_ids(onchain.txs[0]);
  onchain.header.tx_merkle_root = crypto::merkle_root(std::vector<Hash32>{onchain.txs[0].txid});
  EXPECT_EQ(decode_exact<StacksMicroblock>(encode_with(write_microblock, onchain), read_microblock).error().code,
            Errc::kBadValue);
}

TEST(Nakamoto, HeaderV1F1) {
  Bytes b = vec("F1");
  auto h = decode_exact<NakamotoBlockHeader>(b, read_nakamoto_header);
  ASSERT_TRUE(h.ok()) << h.error().reason;
  EXPECT_EQ(h->version, 1);
  EXPECT_EQ(h->chain_length, 2u);
  EXPECT_EQ(h->burn_spent, 3u);
  EXPECT_EQ(h->timestamp, 8u);
  ASSERT_EQ(h->signer_signature.size(), 1u);
  EXPECT_EQ(h->pox_treatment.len, 8);
  EXPECT_TRUE(h->has_problematic_txs());
  EXPECT_TRUE(h->problematic_txs.empty());
  EXPECT_EQ(hx(encode_with(write_nakamoto_header, *h)), hx(b));
  EXPECT_EQ(hx(nakamoto_miner_sighash(*h)), "bcbdc7da6ef91e026012d083657327da76234fbeda47470b1fda98740a11f0c4");
  Hash32 bh = nakamoto_block_hash(*h);
  EXPECT_EQ(hx(bh), "29326d713ffe4c0169a8a8f4c41a83a573e85af190d693b4cfccbc0e0144c9cc");
  EXPECT_EQ(hx(block_index_hash(bh, h->consensus_hash)), "df4be598672fcc982bb6e0aced84a7d1765adeba724ac11aaa467adaec7057e0");
  // F2 is the same header as a 3.x node wrote it: a 4.0 decoder needs the marker vector.
  EXPECT_EQ(decode_exact<NakamotoBlockHeader>(vec("F2"), read_nakamoto_header).error().code, Errc::kTruncated);
}

TEST(Nakamoto, ProblematicTxMarkersF3) {
  Bytes b = vec("F1");
  b.resize(b.size() - 4);
  Bytes markers = hex("00000001");
  Bytes f3 = vec("F3");
  markers.insert(markers.end(), f3.begin(), f3.end());
  b.insert(b.end(), markers.begin(), markers.end());
  auto h = decode_exact<NakamotoBlockHeader>(b, read_nakamoto_header);
  ASSERT_TRUE(h.ok()) << h.error().reason;
  ASSERT_EQ(h->problematic_txs.size(), 1u);
  EXPECT_EQ(h->problematic_txs[0].tx_index, 0x01020304u);
  EXPECT_EQ(h->problematic_txs[0].category, 0x42);
  EXPECT_EQ(hx(encode_with(write_nakamoto_header, *h)), hx(b));
  // The markers are hashed: block hash differs from F1's.
  EXPECT_NE(hx(nakamoto_block_hash(*h)), "29326d713ffe4c0169a8a8f4c41a83a573e85af190d693b4cfccbc0e0144c9cc");
  // More than 11650 markers are refused from the count alone.
  Bytes many = vec("F1");
  many.resize(many.size() - 4);
  Bytes cnt(4);
  store_be32(cnt.data(), kMaxProblematicTxMarkers + 1);
  many.insert(many.end(), cnt.begin(), cnt.end());
  EXPECT_EQ(decode_exact<NakamotoBlockHeader>(many, read_nakamoto_header).error().code, Errc::kLimit);
  // pox_treatment is a BitVec<4000>.
  Bytes pox = vec("F1");
  std::size_t pox_at = pox.size() - 4 - 7;
  pox[pox_at] = 0x0f;
  pox[pox_at + 1] = 0xa1;  // 4001 bits
  EXPECT_EQ(decode_exact<NakamotoBlockHeader>(pox, read_nakamoto_header).error().code, Errc::kLimit);
}

}  // namespace
}  // namespace relay::codec

namespace relay::codec {
namespace {

// The smallest decodable transaction (62 bytes): P2SH with no fields, empty contract.
Bytes tiny_tx(std::uint64_t nonce) {
  Bytes b = relay::test::hex("80800000000401" + std::string(40, '1'));
  for (int i = 7; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(nonce >> (8 * i)));
  Bytes rest = relay::test::hex("0000000000000000" "00000000" "0000" "03" "02" "00000000" "01" "0161" "00000000");
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

Bytes block_of_tiny_txs(std::size_t n, bool correct_root) {
  NakamotoBlock blk;
  blk.header.pox_treatment.len = 1;
  blk.header.pox_treatment.data = {0};
  Bytes txs;
  std::vector<Hash32> ids;
  for (std::size_t i = 0; i < n; ++i) {
    Bytes t = tiny_tx(i);
    if (correct_root) ids.push_back(crypto::sha512_256(t));
    txs.insert(txs.end(), t.begin(), t.end());
  }
  if (correct_root) blk.header.tx_merkle_root = crypto::merkle_root(ids);
  Bytes out = encode_with(write_nakamoto_header, blk.header);
  Bytes cnt(4);
  store_be32(cnt.data(), static_cast<std::uint32_t>(n));
  out.insert(out.end(), cnt.begin(), cnt.end());
  out.insert(out.end(), txs.begin(), txs.end());
  return out;
}

TEST(DecodeBudget, TinyTransactionIsValid) {
  Bytes t = tiny_tx(1);
  EXPECT_EQ(t.size(), 62u);
  EXPECT_TRUE(decode_exact<StacksTransaction>(t, read_transaction).ok());
}

TEST(DecodeBudget, BoundsMemoryOfDecodedStructures) {
  Bytes b = block_of_tiny_txs(2000, true);
  EXPECT_TRUE(decode_exact<NakamotoBlock>(b, read_nakamoto_block).ok());
  Reader r(b);
  r.set_budget(1 << 20);  // 1 MiB cannot hold 2000 decoded transactions
  NakamotoBlock blk;
  read_nakamoto_block(r, blk);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kLimit);
}

TEST(DecodeBudget, MaximalMessageOfTinyObjectsIsRefused) {
  // ~16 MiB of 62-byte transactions would decode into ~330 MB of structures: refused
  // with kLimit once the default budget is spent, long before memory runs out.
  Bytes b = block_of_tiny_txs(kMaxPayloadLen / 62 - 10, false);
  auto r = decode_exact<NakamotoBlock>(b, read_nakamoto_block);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kLimit);
}

}  // namespace
}  // namespace relay::codec
