// Transactions made by @stacks/transactions 7.6.0 (tests/crosscheck/gen-txs.mjs with a
// fixed seed; regenerate with `node gen-txs.mjs 150 --seed 5eed0001stacksrelay`): every
// hash mode incl. order-independent multisig, sponsored auth, every post-condition kind,
// nested Clarity values. The library's own txids and signer hashes must match ours.
// tests/crosscheck/run.sh does the same with freshly generated keys on every CI run.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "relay/codec/chain.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/test_data.hpp"

namespace relay::codec {
namespace {

using namespace relay::test;

std::string field(const std::string& line, const std::string& name) { return json_field(line, name); }

TEST(StacksJs, FixedSeedTransactionsAgreeWithTheLibrary) {
  std::istringstream in(read_text("stacksjs/generated-seed-5eed0001.jsonl"));
  std::string line;
  int n = 0;
  std::set<int> modes;
  int sponsored = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++n;
    std::string name = field(line, "name");
    Bytes b = hex(field(line, "hex"));
    auto tx = decode_exact<StacksTransaction>(b, read_transaction);
    ASSERT_TRUE(tx.ok()) << name << ": " << tx.error().reason << " @" << tx.error().offset;
    EXPECT_EQ(hx(tx->txid), field(line, "txid")) << name;
    EXPECT_EQ(hx(tx->auth.origin.signer), field(line, "origin_signer")) << name;
    EXPECT_EQ(std::to_string(tx->auth.origin.hash_mode), field(line, "origin_hash_mode")) << name;
    EXPECT_EQ(std::to_string(tx->auth.origin.nonce), field(line, "origin_nonce")) << name;
    EXPECT_EQ(std::to_string(tx->payload.id), field(line, "payload_type")) << name;
    EXPECT_EQ(std::to_string(tx->post_conditions.size()), field(line, "post_condition_count")) << name;
    EXPECT_EQ(tx->auth.sponsored(), field(line, "sponsored") == "true") << name;
    if (tx->auth.sponsored()) {
      ++sponsored;
      EXPECT_EQ(hx(tx->auth.sponsor.signer), field(line, "sponsor_signer")) << name;
    }
    EXPECT_EQ(hx(encode_with(write_transaction, *tx)), hx(b)) << name;
    auto check = validate::verify_transaction(*tx);
    EXPECT_TRUE(check.ok) << name << ": " << check.reason;
    modes.insert(tx->auth.origin.hash_mode);
  }
  EXPECT_EQ(n, 150);
  EXPECT_EQ(modes, (std::set<int>{0, 1, 2, 3, 5, 7}));
  EXPECT_GT(sponsored, 20);
}

}  // namespace
}  // namespace relay::codec
