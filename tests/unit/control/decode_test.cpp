#include "control/cli/decode.hpp"

#include <gtest/gtest.h>

#include "control/rewards/stacker_set.hpp"
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

// `decode --reward-set` reads the node's JSON with the reward fetcher's parser: the same
// signers from the same text, and the same text refused (what the old brace scanner let
// through included).
TEST(Decode, RewardSetJsonIsReadAsTheRewardFetcherReadsIt) {
  const std::string k1 = std::string(66, 'b'), k2 = "03" + std::string(64, 'c');
  auto signer = [](const std::string& key, const std::string& weight) {
    return "{\"signing_key\":\"" + key + "\",\"weight\":" + weight + ",\"stacked_amt\":5}";
  };
  auto set = [](const std::string& signers) { return "{\"stacker_set\":{\"signers\":[" + signers + "]}}"; };
  const std::string node = "{\"stacker_set\":{\"rewarded_addresses\":[],\"start_cycle_state\":{\"missed_reward_slots\":[]},"
                           "\"signers\":[" + signer("0x" + k1, "3") + "," + signer(k2, "4294967295") +
                           "],\"pox_ticket_hash\":\"00\"}}";
  for (const std::string& good : {node, set(signer("0x" + k1, "1"))}) {
    std::string e1, e2;
    auto a = parse_reward_set(good, e1);
    auto b = rewards::parse_stacker_set(good, e2);
    ASSERT_TRUE(a) << e1;
    ASSERT_TRUE(b) << e2;
    EXPECT_EQ(*a, *b);
  }
  std::string err;
  ASSERT_EQ(parse_reward_set(node, err)->size(), 2u);
  EXPECT_EQ((*parse_reward_set(node, err))[1].weight, 4294967295u);

  const std::vector<std::string> bad = {
      node.substr(0, node.size() - 2),                                          // truncated
      "{\"signers\":[" + signer(k1, "3") + "]}",                                 // not under stacker_set
      "[" + signer(k1, "3") + "]",                                              // not an object
      "{\"stacker_set\":{\"signers\":[]}}",                                     // no signers
      "{\"stacker_set\":{\"signers\":null}}",                                   // (a pre-Nakamoto cycle)
      set(signer(k1, "0")),                                                     // weight 0
      set(signer(k1, "\"3\"")),                                                 // weight as a string
      set(signer(k1, "3.5")),                                                   // not an integer
      set(signer(k1, "-3")),                                                    // negative
      set(signer(k1, "4294967296")),                                            // over 32 bits
      set(signer("0x00", "3")),                                                 // short key
      set("{\"signing_key\":7,\"weight\":3}"),                                  // key not a string
      set("{\"signing_key\":\"" + k1 + "\"}"),                                  // no weight
      set(signer(k1, "3") + ",7"),                                              // a signer not an object
  };
  for (const auto& text : bad) {
    std::string e1, e2;
    EXPECT_FALSE(parse_reward_set(text, e1)) << text;
    EXPECT_FALSE(rewards::parse_stacker_set(text, e2)) << text;
    EXPECT_EQ(e1, e2) << text;
  }
}

}  // namespace
}  // namespace relay::cli
