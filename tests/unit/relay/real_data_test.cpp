// Real network data (tests/data/real-data, provenance in its README): every object
// decodes, re-encodes byte for byte, and its ids and signatures check out.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "relay/codec/chain.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/test_data.hpp"

namespace relay::codec {
namespace {

using namespace relay::test;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

void check_tx_file(const std::string& file, std::size_t expected_rows, bool mainnet) {
  auto rows = read_tsv_records(file);
  ASSERT_EQ(rows.size(), expected_rows);
  std::set<int> payloads;
  for (auto& r : rows) {
    Bytes b = hex(r["raw_tx_hex"]);
    auto tx = decode_exact<StacksTransaction>(b, read_transaction);
    ASSERT_TRUE(tx.ok()) << r["txid"] << ": " << tx.error().reason << " @" << tx.error().offset;
    EXPECT_EQ(hx(tx->txid), r["txid"]);
    EXPECT_EQ(std::to_string(tx->payload.id), r["payload_type"]);
    EXPECT_EQ(tx->mainnet(), mainnet);
    EXPECT_EQ(hx(encode_with(write_transaction, *tx)), hx(b));
    auto check = validate::verify_transaction(*tx);
    EXPECT_TRUE(check.ok) << r["txid"] << ": " << check.reason;
    payloads.insert(tx->payload.id);
  }
  EXPECT_GE(payloads.size(), 3u);
}

TEST(RealData, MainnetTransactions) { check_tx_file("real-data/mainnet-txs.tsv", 17, true); }
TEST(RealData, RegtestEpoch3Transactions) { check_tx_file("real-data/regtest-epoch3-txs.tsv", 9, false); }

TEST(RealData, StacksJsGeneratedTransactions) {
  std::string json = read_text("real-data/stacksjs-generated-txs.json");
  std::regex re("\"txid\": \"([0-9a-f]{64})\",[^}]*?\"hex\": \"([0-9a-f]+)\"");
  int n = 0;
  bool saw_sponsored = false;
  for (auto it = std::sregex_iterator(json.begin(), json.end(), re); it != std::sregex_iterator(); ++it) {
    ++n;
    Bytes b = hex((*it)[2]);
    auto tx = decode_exact<StacksTransaction>(b, read_transaction);
    ASSERT_TRUE(tx.ok()) << tx.error().reason;
    EXPECT_EQ(hx(tx->txid), (*it)[1].str());
    EXPECT_EQ(hx(encode_with(write_transaction, *tx)), hx(b));
    auto check = validate::verify_transaction(*tx);
    EXPECT_TRUE(check.ok) << (*it)[1] << ": " << check.reason;
    saw_sponsored |= tx->auth.sponsored();
  }
  EXPECT_EQ(n, 8);
  EXPECT_TRUE(saw_sponsored);
}

TEST(RealData, MainnetNakamotoBlock) {
  auto rows = read_tsv_records("real-data/mainnet-nakamoto-block.tsv");
  ASSERT_EQ(rows.size(), 1u);
  auto& r = rows[0];
  Bytes b = hex(r["block_hex"]);
  auto blk = decode_exact<NakamotoBlock>(b, read_nakamoto_block);
  ASSERT_TRUE(blk.ok()) << blk.error().reason << " @" << blk.error().offset;
  EXPECT_EQ(hx(blk->block_id), r["block_id"]);
  EXPECT_EQ(hx(blk->block_hash), r["block_hash"]);
  EXPECT_EQ(hx(blk->block_id), "05b7fbc03e541271a29baf21ad43e68e48070df018ebe5baa13892f3828be9bd");
  EXPECT_EQ(hx(blk->miner_sighash), "0392ac2e6baf78991e8d8a772329acd534604ef0e35762003620fec7e68db9b2");
  EXPECT_EQ(std::to_string(blk->header.chain_length), r["chain_length"]);
  EXPECT_EQ(hx(blk->header.parent_block_id), r["parent_block_id"]);
  EXPECT_EQ(blk->header.signer_signature.size(), 24u);
  EXPECT_EQ(blk->header.pox_treatment.len, 3891);
  EXPECT_EQ(blk->encoded_size, b.size());
  ASSERT_EQ(blk->txs.size(), 1u);
  EXPECT_EQ(hx(blk->txs[0].txid), "1578f4cbec524cefaebb3cb599fdf003cbce27be0eb7e8bfb864ffa4715fb0d3");
  EXPECT_EQ(hx(encode_with(write_nakamoto_block, *blk)), hx(b));

  // The miner key hashes to the TenureChange pubkey_hash.
  auto miner = validate::nakamoto_miner_key(*blk);
  ASSERT_TRUE(miner);
  auto mk = miner->compressed();
  EXPECT_EQ(hx(crypto::hash160(ByteSpan(mk.data(), 33))), "37e79a837b4071a1fc6c1b49208e7d2141a25905");
  EXPECT_EQ(hx(blk->txs[0].payload.tenure_change.pubkey_hash), "37e79a837b4071a1fc6c1b49208e7d2141a25905");

  // The 24 real signer signatures recover to 24 distinct keys. A reward set listing those
  // keys in signing order (one weight each, plus 8 absent signers: 24/32 = 75 %) accepts
  // the block; reversed order breaks the v0 ordering rule; too few signers' weight fails.
  std::vector<validate::RewardSetSigner> set;
  for (const auto& sig : blk->header.signer_signature) {
    auto k = crypto::recover(blk->block_hash, sig, crypto::LowS::kIgnore);
    ASSERT_TRUE(k);
    set.push_back({k->compressed(), 1});
  }
  std::set<std::string> distinct;
  for (auto& s : set) distinct.insert(hx(s.signing_key));
  EXPECT_EQ(distinct.size(), 24u);
  for (int i = 0; i < 8; ++i) set.push_back({crypto::SecretKey::generate()->public_key().compressed(), 1});
  auto ok = validate::verify_signer_signatures(*blk, set);
  EXPECT_TRUE(ok.ok) << ok.reason;
  EXPECT_EQ(ok.weight_signed, 24u);
  auto reversed = set;
  std::reverse(reversed.begin(), reversed.begin() + 24);
  EXPECT_FALSE(validate::verify_signer_signatures(*blk, reversed).ok);
  auto heavy = set;
  heavy.back().weight = 20;  // total 51: 24 < ceil(35.7)
  EXPECT_FALSE(validate::verify_signer_signatures(*blk, heavy).ok);
}

TEST(RealData, RegtestNakamotoBlocks) {
  auto rows = read_tsv_records("real-data/regtest-nakamoto-blocks.tsv");
  ASSERT_EQ(rows.size(), 23u);
  for (auto& r : rows) {
    Bytes b = hex(r["block_hex"]);
    auto blk = decode_exact<NakamotoBlock>(b, read_nakamoto_block);
    ASSERT_TRUE(blk.ok()) << r["block_id"] << ": " << blk.error().reason;
    EXPECT_EQ(hx(blk->block_id), r["block_id"]);
    EXPECT_EQ(hx(blk->block_hash), r["block_hash"]);
    EXPECT_EQ(hx(blk->header.parent_block_id), r["parent_block_id"]);
    EXPECT_EQ(std::to_string(blk->header.signer_signature.size()), r["signer_sigs"]);
    auto txids = split(r["txids"], ',');
    ASSERT_EQ(blk->txs.size(), txids.size());
    for (std::size_t i = 0; i < txids.size(); ++i) EXPECT_EQ(hx(blk->txs[i].txid), txids[i]);
    EXPECT_EQ(hx(encode_with(write_nakamoto_block, *blk)), hx(b));
    for (auto& tx : blk->txs) EXPECT_TRUE(validate::verify_transaction(tx).ok) << hx(tx.txid);
  }
}

TEST(RealData, TenureStreamsAreConcatenatedBlocks) {
  struct Body {
    const char* file;
    std::size_t blocks;
    const char* first_id;
  } bodies[] = {
      {"real-data/regtest-v3-tenures-body-0-e5fdeb1a51ba6eb297797a1c473e715c27dc81a58ba82c698f6a32eeccee9a5b.hex", 23,
       "e5fdeb1a51ba6eb297797a1c473e715c27dc81a58ba82c698f6a32eeccee9a5b"},
      {"real-data/regtest-v3-tenures-body-1-5addaf4477a60a9bab28608aa2ec9ea9eb7d68aa038274ecac7a41fdca58e650.hex", 1,
       "5addaf4477a60a9bab28608aa2ec9ea9eb7d68aa038274ecac7a41fdca58e650"},
  };
  for (const auto& body : bodies) {
    Bytes b = hex(read_text(body.file));
    Reader r(b);
    std::vector<NakamotoBlock> blocks;
    while (r.ok() && !r.at_end()) {
      NakamotoBlock blk;
      read_nakamoto_block(r, blk);
      if (r.ok()) blocks.push_back(std::move(blk));
    }
    ASSERT_TRUE(r.ok()) << r.error().reason;
    ASSERT_EQ(blocks.size(), body.blocks);
    EXPECT_EQ(hx(blocks[0].block_id), body.first_id);
    for (std::size_t i = 1; i < blocks.size(); ++i) {  // newest first, walking parents
      EXPECT_EQ(blocks[i - 1].header.parent_block_id, blocks[i].block_id);
      EXPECT_EQ(blocks[i - 1].header.chain_length, blocks[i].header.chain_length + 1);
    }
  }
}

TEST(RealData, MainnetMicroblockHeaders) {
  auto rows = read_tsv_records("real-data/mainnet-microblock-headers.tsv");
  ASSERT_EQ(rows.size(), 4u);
  std::set<std::string> signers;
  for (auto& r : rows) {
    Bytes b = hex(r["header_hex"]);
    auto h = decode_exact<MicroblockHeader>(b, read_microblock_header);
    ASSERT_TRUE(h.ok()) << h.error().reason;
    StacksMicroblock m;
    m.header = *h;
    compute_ids(m);
    EXPECT_EQ(hx(m.block_hash), r["microblock_hash"]);
    EXPECT_EQ(std::to_string(h->sequence), r["sequence"]);
    auto signer = validate::microblock_signer_hash(*h);
    ASSERT_TRUE(signer);
    signers.insert(hx(*signer));
  }
  EXPECT_EQ(signers, (std::set<std::string>{"085f0a60455dea9a4ef7af3c865a87c36d10cd4b",
                                            "6a690170f0b59df2d2bf86043cc3e8d807af5936"}));
}

}  // namespace
}  // namespace relay::codec
