#include "control/cli/decode.hpp"

#include <gtest/gtest.h>

#include "tests/support/test_data.hpp"

namespace relay::cli {
namespace {

using namespace relay::test;

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

TEST(Decode, TransactionJson) {
  auto r = decode_to_json(DecodeKind::kTx, vec("H4"), {});
  ASSERT_EQ(r.status, 0) << r.error;
  EXPECT_TRUE(contains(r.json, "\"txid\":\"f52c124178eafc0671411cd110ff5098875a06c47e8fd7929836d4f87fe3dca4\""));
  EXPECT_TRUE(contains(r.json, "\"origin_signature_valid\":true"));
  EXPECT_TRUE(contains(r.json, "\"network\":\"testnet\""));
  EXPECT_EQ(r.json.find('\n'), std::string::npos);  // one line
}

TEST(Decode, BadSignatureIsReportedNotFatal) {
  Bytes b = vec("H4");
  b[50] ^= 1;  // inside the origin signature
  auto r = decode_to_json(DecodeKind::kTx, b, {});
  ASSERT_EQ(r.status, 0);
  EXPECT_TRUE(contains(r.json, "\"origin_signature_valid\":false"));
}

TEST(Decode, InvalidInputNamesOffsetAndReason) {
  Bytes b = vec("H4");
  b[0] = 0x01;
  auto r = decode_to_json(DecodeKind::kTx, b, {});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.error, "invalid at byte 0: transaction version byte is not 0x00 or 0x80 (non_canonical)");
  auto t = decode_to_json(DecodeKind::kMessage, Bytes(10, 0), {});
  EXPECT_EQ(t.status, 2);
  EXPECT_TRUE(contains(t.error, "invalid at byte 8: unexpected end of input"));
}

TEST(Decode, MessageRecoversSigner) {
  auto r = decode_to_json(DecodeKind::kMessage, vec("M3"), {});
  ASSERT_EQ(r.status, 0) << r.error;
  EXPECT_TRUE(contains(r.json, "\"signer_public_key\":\"02db3ee269c096bb07fad458f7b1cfada089a72dba6404c2d1a516efd59f2699e5\""));
  EXPECT_TRUE(contains(r.json, "\"signature_valid\":true"));
  EXPECT_TRUE(contains(r.json, "\"signer_is_last_relayer\":true"));
  EXPECT_TRUE(contains(r.json, "\"name\":\"Transaction\""));
}

TEST(Decode, NakamotoBlockWithRewardSet) {
  auto rows = read_tsv_records("real-data/mainnet-nakamoto-block.tsv");
  Bytes b = hex(rows[0]["block_hex"]);
  auto r = decode_to_json(DecodeKind::kNakamotoBlock, b, {});
  ASSERT_EQ(r.status, 0) << r.error;
  EXPECT_TRUE(contains(r.json, "\"block_id\":\"05b7fbc03e541271a29baf21ad43e68e48070df018ebe5baa13892f3828be9bd\""));
  EXPECT_TRUE(contains(r.json, "\"miner_public_key_hash\":\"37e79a837b4071a1fc6c1b49208e7d2141a25905\""));
  EXPECT_TRUE(contains(r.json, "\"tx_merkle_root_matches\":true"));
  // A reward set made of the first signer only: recognised key, but far below 70 %.
  const std::string needle = "\"signer_public_keys\":[\"";
  std::size_t at = r.json.find(needle) + needle.size();
  std::string first_key = r.json.substr(at, 66);
  std::string err;
  auto set = parse_reward_set("{\"stacker_set\":{\"signers\":[{\"signing_key\":\"0x" + first_key +
                                  "\",\"weight\":1,\"stacked_amt\":5}]}}",
                              err);
  ASSERT_TRUE(set) << err;
  DecodeOptions opts;
  opts.reward_set = set;
  auto r2 = decode_to_json(DecodeKind::kNakamotoBlock, b, opts);
  ASSERT_EQ(r2.status, 0);
  EXPECT_TRUE(contains(r2.json, "\"signer_check\":{\"valid\":false"));
}

TEST(Decode, RewardSetParsing) {
  std::string err;
  auto lines = parse_reward_set("# key weight\n" + std::string(66, 'a') + " 10\n", err);
  ASSERT_TRUE(lines);
  EXPECT_EQ((*lines)[0].weight, 10u);
  EXPECT_FALSE(parse_reward_set("zz 10\n", err));
  EXPECT_FALSE(parse_reward_set(std::string(66, 'a') + " 99999999999999999999999\n", err));  // no throw
  auto json = parse_reward_set("{\"stacker_set\":{\"signers\":[{\"signing_key\":\"0x" + std::string(66, 'b') +
                                   "\",\"weight\":3},{\"weight\":4,\"signing_key\":\"" + std::string(66, 'c') + "\"}]}}",
                               err);
  ASSERT_TRUE(json) << err;
  ASSERT_EQ(json->size(), 2u);
  EXPECT_EQ((*json)[1].weight, 4u);
  EXPECT_FALSE(parse_reward_set("", err));
}

}  // namespace
}  // namespace relay::cli
