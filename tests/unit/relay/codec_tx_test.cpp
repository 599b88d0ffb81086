#include <gtest/gtest.h>

#include "relay/codec/chain.hpp"
#include "relay/codec/strings.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/test_data.hpp"

namespace relay::codec {
namespace {

using namespace relay::test;

Result<StacksTransaction> decode_tx(ByteSpan b) { return decode_exact<StacksTransaction>(b, read_transaction); }

Errc tx_error(const Bytes& b) {
  auto r = decode_tx(b);
  return r.ok() ? Errc::kOk : r.error().code;
}

TEST(SpendingCondition, VectorsD1toD8) {
  struct Case {
    const char* id;
    std::uint8_t mode;
    std::uint64_t nonce, fee;
  } cases[] = {{"D1", 0, 123, 456}, {"D2", 0, 345, 456}, {"D3", 1, 123, 456}, {"D4", 1, 456, 567},
               {"D5", 5, 123, 456}, {"D6", 5, 456, 567}, {"D7", 2, 345, 567}, {"D8", 3, 456, 567}};
  for (const auto& c : cases) {
    Bytes b = vec(c.id);
    auto sc = decode_exact<SpendingCondition>(b, read_spending_condition);
    ASSERT_TRUE(sc.ok()) << c.id << ": " << sc.error().reason;
    EXPECT_EQ(sc->hash_mode, c.mode) << c.id;
    EXPECT_EQ(sc->nonce, c.nonce) << c.id;
    EXPECT_EQ(sc->tx_fee, c.fee) << c.id;
    EXPECT_EQ(hx(sc->signer), std::string(40, '1'));
    EXPECT_EQ(hx(encode_with(write_spending_condition, *sc)), hx(b)) << c.id;
    if (!is_singlesig(c.mode)) {
      ASSERT_EQ(sc->fields.size(), 3u);
      EXPECT_EQ(sc->signatures_required, 2);
      EXPECT_EQ(hx(sc->fields[2].public_key), "03ef2340518b5867b23598a9cf74611f8b98064f7d55cdb8c107c67b5efcbc5c77");
    }
  }
  // D1 is uncompressed (key_encoding 1).
  EXPECT_EQ(decode_exact<SpendingCondition>(vec("D1"), read_spending_condition)->key_encoding, 1);
}

TEST(SpendingCondition, DecodeErrors) {
  auto err = [](Bytes b) {
    auto r = decode_exact<SpendingCondition>(b, read_spending_condition);
    return r.ok() ? Errc::kOk : r.error().code;
  };
  Bytes d2 = vec("D2");
  Bytes bad = d2;
  bad[0] = 0x04;  // unknown hash mode
  EXPECT_EQ(err(bad), Errc::kBadValue);
  bad = d2;
  bad[37] = 2;  // key encoding
  EXPECT_EQ(err(bad), Errc::kBadValue);
  bad = vec("D7");
  bad[37] = 1;  // P2WPKH must be compressed
  EXPECT_EQ(err(bad), Errc::kBadValue);
  bad = vec("D4");
  bad[bad.size() - 1] = 3;  // 2 signatures but 3 required
  EXPECT_EQ(err(bad), Errc::kBadValue);
  bad = vec("D6");
  bad[bad.size() - 1] = 1;  // order-independent: 2 ≥ 1 is fine
  EXPECT_EQ(err(bad), Errc::kOk);
  bad[bad.size() - 1] = 3;  // but 2 < 3 is not
  EXPECT_EQ(err(bad), Errc::kBadValue);
  bad = vec("D8");
  bad[41] = 0x03;  // P2WSH with an uncompressed-signature field
  EXPECT_EQ(err(bad), Errc::kBadValue);
  bad = vec("D4");
  bad[41] = 0x04;  // unknown auth field id
  EXPECT_EQ(err(bad), Errc::kBadValue);
  bad = vec("D4");
  bad[37] = 0xff;  // field count far beyond the input
  EXPECT_EQ(err(bad), Errc::kTruncated);
}

TEST(PostCondition, NftMaybeSentG1) {
  Bytes b = vec("G1");
  auto pc = decode_exact<PostCondition>(b, read_post_condition);
  ASSERT_TRUE(pc.ok()) << pc.error().reason;
  EXPECT_EQ(pc->kind, 2);
  EXPECT_EQ(pc->principal.id, 1);
  EXPECT_EQ(pc->asset.contract_name, "contract-name");
  EXPECT_EQ(pc->asset.asset_name, "hello-asset");
  EXPECT_EQ(hx(pc->asset_value.raw), "020000000400010203");
  EXPECT_EQ(pc->code, 0x12);
  EXPECT_EQ(hx(encode_with(write_post_condition, *pc)), hx(b));
  Bytes bad = b;
  bad.back() = 0x13;
  EXPECT_FALSE(decode_exact<PostCondition>(bad, read_post_condition).ok());
}

TEST(PostCondition, EveryKind) {
  const char* good[] = {
      "000105000000000000000a",                                              // STX, origin, eq 10
      "00021a" "1111111111111111111111111111111111111111" "03" "00000000000000ff",  // STX, standard
      "0301020000000000000001",                                              // staking (4.0)
      "040131",                                                              // pox, maybe-performed
  };
  for (const char* h : good) {
    Bytes b = hex(h);
    auto pc = decode_exact<PostCondition>(b, read_post_condition);
    ASSERT_TRUE(pc.ok()) << h << ": " << pc.error().reason;
    EXPECT_EQ(hx(encode_with(write_post_condition, *pc)), hx(b));
  }
  const char* bad[] = {
      "000106000000000000000a",  // fungible code 6
      "000100000000000000000a",  // fungible code 0
      "040133",                  // pox code 0x33
      "050131",                  // unknown kind
      "0004",                    // unknown principal
      "00022011111111111111111111111111111111111111110100000000000000ff",  // address version 32
  };
  for (const char* h : bad) EXPECT_FALSE(decode_exact<PostCondition>(hex(h), read_post_condition).ok()) << h;
}

// A standard-principal STX post-condition carries a StacksAddress (E1 layout).
TEST(Address, CodecE1) {
  Bytes b = hex("0002" "01ffffffffffffffffffffffffffffffffffffffff" "01" "0000000000000001");
  auto d = decode_exact<PostCondition>(b, read_post_condition);
  ASSERT_TRUE(d.ok()) << d.error().reason;
  EXPECT_EQ(d->principal.address.version, 1);
  EXPECT_EQ(hx(d->principal.address.hash), std::string(40, 'f'));
  EXPECT_EQ(hx(encode_with(write_post_condition, *d)), hx(b));
}

TEST(Strings, G2AndRules) {
  Bytes b = hex("0b68656c6c6f2d776f726c64");
  Reader r(b);
  std::string s;
  read_contract_name(r, s, kMaxContractNameLen);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(s, "hello-world");
  Reader rc(b);
  read_clarity_name(rc, s);
  EXPECT_TRUE(rc.ok() && rc.at_end());
  EXPECT_EQ(s, "hello-world");
  Bytes ss = hex("0000000b68656c6c6f2d776f726c64");
  Reader rs(ss);
  read_stacks_string(rs, s, kMaxTransactionLen);
  EXPECT_TRUE(rs.ok() && rs.at_end());
  EXPECT_EQ(s, "hello-world");
  Bytes out;
  {
    Writer w(out);
    write_u32_string(w, "hello-world");
    write_u8_string(w, "hello-world");
  }
  EXPECT_EQ(hx(out), "0000000b68656c6c6f2d776f726c64" "0b68656c6c6f2d776f726c64");
  EXPECT_TRUE(is_valid_contract_name("__transient"));
  EXPECT_FALSE(is_valid_contract_name("1abc"));
  EXPECT_FALSE(is_valid_contract_name("a.b"));
  EXPECT_FALSE(is_valid_contract_name(""));
  EXPECT_TRUE(is_valid_clarity_name("stx-transfer?"));
  EXPECT_TRUE(is_valid_clarity_name("<="));
  EXPECT_TRUE(is_valid_clarity_name("*"));
  EXPECT_FALSE(is_valid_clarity_name("<<"));
  EXPECT_FALSE(is_valid_clarity_name("a.b"));
  EXPECT_FALSE(is_valid_clarity_name(""));
  EXPECT_TRUE(is_valid_stacks_string("(define-public (f) (ok u1))\n\t"));
  EXPECT_FALSE(is_valid_stacks_string("a\rb"));
  EXPECT_FALSE(is_valid_stacks_string("caf\xc3\xa9"));
  // 41-byte contract name in the tx codec is refused, 40 accepted.
  Bytes n41{41};
  n41.resize(42, 'a');
  Reader r41(n41);
  read_contract_name(r41, s, kMaxContractNameLen);
  EXPECT_EQ(r41.error().code, Errc::kLimit);
  Bytes n40{40};
  n40.resize(41, 'a');
  Reader r40(n40);
  read_contract_name(r40, s, kMaxContractNameLen);
  EXPECT_TRUE(r40.ok());
}

struct SignedTx {
  const char* id;
  const char* txid;
  const char* initial_sighash;  // "" when VECTORS.md does not give one
  const char* key;
};

const SignedTx kSignedTxs[] = {
    {"H1", "7024e7a8306d729f297b954cf70b06f5a1ce2ed8d91c2436bac349bf9e7f4334",
     "832d77c11e8356e7e043299564c81889d591466246629ec17c995fa22b7dcab3", "043ff5004e3d695060fa48ac94c96049b8c14ef441c50a184a6a3875d2a000f3"},
    {"H2", "fbb918d29e86a8755bfb943e1c7fbc335896fff547ba6ea183f293eedcd9d1dc",
     "bb38756fbb5e71a4beae9c34cc66255a84feea1179e1fb22d8fcab9361828d7d", "043ff5004e3d695060fa48ac94c96049b8c14ef441c50a184a6a3875d2a000f3"},
    {"H3", "6ece097df3e30d1d05f528533f100bc614f45ed89dabad1b0736984185168513",
     "832d77c11e8356e7e043299564c81889d591466246629ec17c995fa22b7dcab3", "043ff5004e3d695060fa48ac94c96049b8c14ef441c50a184a6a3875d2a000f3"},
    {"H4", "f52c124178eafc0671411cd110ff5098875a06c47e8fd7929836d4f87fe3dca4",
     "daba2ac630d3807591d1a8f839b0afe5f4eb1820ad146d5a95901b6cdcfb9566", "b1cf9cee5083f421c84d7cb53be5edf2801c3c78d63d53917aee0bdc8bd160ee01"},
    {"H5", "1a640ab6793e0220ea04473f93ad88d17a3c7fcdf790be6016c6c0bd5b05da75",
     "8862c7efbce0065f4c313f61d1e5624450a7e690e2f6799eed8a55a421fffc49", "043ff5004e3d695060fa48ac94c96049b8c14ef441c50a184a6a3875d2a000f3"},
    {"H6", "f5f88efa331dd671503ac8c02c50d2d6b90c3a23fa71bdad6fb023c4d7035366",
     "bb38756fbb5e71a4beae9c34cc66255a84feea1179e1fb22d8fcab9361828d7d", "043ff5004e3d695060fa48ac94c96049b8c14ef441c50a184a6a3875d2a000f3"},
    {"H7", "c2fc7598bc104f2d12ed7df2851d3533d33368ba430b293d771859d91e0fbfe0", "",
     "043ff5004e3d695060fa48ac94c96049b8c14ef441c50a184a6a3875d2a000f3"},
    {"H8", "e48373587bb3ad8153c62c40ead039c8a4e055d4ad29359eb22ca745e97d8eb7", "",
     "043ff5004e3d695060fa48ac94c96049b8c14ef441c50a184a6a3875d2a000f3"},
};

TEST(Transaction, SignedVectorsH1toH8) {
  for (const auto& c : kSignedTxs) {
    Bytes b = vec(c.id);
    auto tx = decode_tx(b);
    ASSERT_TRUE(tx.ok()) << c.id << ": " << tx.error().reason << " @" << tx.error().offset;
    EXPECT_EQ(hx(tx->txid), c.txid) << c.id;
    EXPECT_EQ(tx->encoded_size, b.size());
    EXPECT_EQ(hx(encode_with(write_transaction, *tx)), hx(b)) << c.id;
    if (*c.initial_sighash) {
      EXPECT_EQ(hx(validate::initial_sighash(*tx)), c.initial_sighash) << c.id;
    }
    auto check = validate::verify_transaction(*tx);
    EXPECT_TRUE(check.ok) << c.id << ": " << check.reason;
    // Re-signing with the stated key reproduces the signature byte for byte.
    auto key = crypto::SecretKey::from_bytes(hex(c.key));
    ASSERT_TRUE(key);
    StacksTransaction resigned = *tx;
    resigned.auth.origin.signature.fill(0);
    validate::sign_singlesig_origin(resigned, *key);
    EXPECT_EQ(hx(resigned.auth.origin.signature), hx(tx->auth.origin.signature)) << c.id;
    EXPECT_EQ(resigned.txid, tx->txid);
    // A corrupted signature no longer verifies.
    StacksTransaction bad = *tx;
    bad.auth.origin.signature[10] ^= 1;
    EXPECT_FALSE(validate::verify_transaction(bad).ok) << c.id;
    // A different nonce changes the presign hash: the signature no longer matches.
    bad = *tx;
    bad.auth.origin.nonce += 1;
    EXPECT_FALSE(validate::verify_transaction(bad).ok) << c.id;
  }
}

TEST(Transaction, EveryStrictPrefixFails) {
  Bytes b = vec("H4");
  for (std::size_t cut = 0; cut < b.size(); ++cut)
    EXPECT_NE(tx_error(Bytes(b.begin(), b.begin() + static_cast<long>(cut))), Errc::kOk) << cut;
  Bytes extra = b;
  extra.push_back(0);
  EXPECT_EQ(tx_error(extra), Errc::kTrailingBytes);
}

TEST(Transaction, HeaderFieldErrors) {
  Bytes h4 = vec("H4");  // testnet token transfer, standard singlesig
  Bytes b = h4;
  b[0] = 0x01;  // decodes as mainnet in the node but re-encodes as 0x00: non-canonical
  EXPECT_EQ(tx_error(b), Errc::kNonCanonical);
  b = h4;
  b[0] = 0x81;
  EXPECT_EQ(tx_error(b), Errc::kNonCanonical);
  b = h4;
  b[5] = 0x06;  // auth flag
  EXPECT_EQ(tx_error(b), Errc::kBadValue);
  const std::size_t anchor = 5 + 1 + 103;
  b = h4;
  b[anchor] = 0;
  EXPECT_EQ(tx_error(b), Errc::kBadValue);
  b[anchor] = 4;
  EXPECT_EQ(tx_error(b), Errc::kBadValue);
  b = h4;
  b[anchor + 1] = 4;  // post-condition mode
  EXPECT_EQ(tx_error(b), Errc::kBadValue);
  b = h4;
  b[anchor + 1] = 3;  // Originator mode (3.4+) decodes
  EXPECT_EQ(tx_error(b), Errc::kOk);
  b = h4;
  b[anchor + 6] = 9;  // payload id
  EXPECT_EQ(tx_error(b), Errc::kUnknownType);
  b = h4;
  b[anchor + 5] = 0x40;  // post-condition count far beyond the input (64 × 3 bytes)
  EXPECT_EQ(tx_error(b), Errc::kTruncated);
}

// Builds a minimal standard-auth transaction around a payload (unsigned).
Bytes tx_with_payload(const std::string& payload_hex, std::uint8_t anchor = 3) {
  Bytes b = hex("80800000000400b71a091b4b8b7661a661c620966ab6573bc2dcd30000000000000000000000000000000a00");
  b.resize(b.size() + 65, 0);
  b.push_back(anchor);
  b.push_back(2);
  for (int i = 0; i < 4; ++i) b.push_back(0);
  Bytes p = hex(payload_hex);
  b.insert(b.end(), p.begin(), p.end());
  return b;
}

const std::string kCoinbase = "04" + std::string(64, '0');
const std::string kTenureChange = "07" + std::string(40, '1') + std::string(40, '2') + std::string(40, '3') +
                                  std::string(64, '4') + "00000005" + "01" + std::string(40, '5');
// A valid VRF proof from [V:K].
const std::string kVrf =
    "ced9804ca06ed515c632fb83ef89e9cba4acf1539a33685a1c1cb475df733a5af33288af50fe1fa1c3facd9d19cf7ad98ba7413a8d09010363ac11ae7c4110b94707ab5bdee3726792daaf2c7f4f6106";

TEST(Transaction, PayloadRules) {
  EXPECT_EQ(tx_error(tx_with_payload(kCoinbase, 1)), Errc::kOk);
  EXPECT_EQ(tx_error(tx_with_payload(kCoinbase, 3)), Errc::kBadValue);  // coinbase must be on-chain only
  EXPECT_EQ(tx_error(tx_with_payload(kTenureChange)), Errc::kOk);
  std::string tc7 = kTenureChange;
  tc7.replace(2 + 120 + 64 + 8, 2, "07");
  EXPECT_EQ(tx_error(tx_with_payload(tc7)), Errc::kBadValue);
  // Smart contracts: Clarity version 1..6, printable source.
  EXPECT_EQ(tx_with_payload("06030161" "00000002" "2829").size() > 0, true);
  EXPECT_EQ(tx_error(tx_with_payload("06030161" "00000002" "2829")), Errc::kOk);
  EXPECT_EQ(tx_error(tx_with_payload("06000161" "00000002" "2829")), Errc::kBadValue);
  EXPECT_EQ(tx_error(tx_with_payload("06070161" "00000002" "2829")), Errc::kBadValue);
  EXPECT_EQ(tx_error(tx_with_payload("010161" "00000002" "280d")), Errc::kBadValue);  // CR
  EXPECT_EQ(tx_error(tx_with_payload("010131" "00000000")), Errc::kBadValue);          // name "1"
  // Token transfer to a contract principal with a 128-byte name is allowed (Clarity rule).
  std::string tt = "0006" "1a" + std::string(40, 'a') + "80" + std::string(256, '6') + std::string(16, '0') +
                   std::string(68, '0');
  EXPECT_EQ(tx_error(tx_with_payload(tt)), Errc::kOk);
  // NakamotoCoinbase: none / some principal / some non-principal (non-canonical) / not optional.
  const std::string nc = "08" + std::string(64, '0');
  EXPECT_EQ(tx_error(tx_with_payload(nc + "09" + kVrf, 1)), Errc::kOk);
  EXPECT_EQ(tx_error(tx_with_payload(nc + "0a051a" + std::string(40, '1') + kVrf, 1)), Errc::kOk);
  EXPECT_EQ(tx_error(tx_with_payload(nc + "0a03" + kVrf, 1)), Errc::kNonCanonical);
  EXPECT_EQ(tx_error(tx_with_payload(nc + "03" + kVrf, 1)), Errc::kBadValue);
  // VRF proof with Gamma = 0 (small order) is refused.
  EXPECT_EQ(tx_error(tx_with_payload(nc + "09" + std::string(64, '0') + kVrf.substr(64), 1)), Errc::kBadValue);
  // CoinbaseToAltRecipient: recipient must be a principal.
  EXPECT_EQ(tx_error(tx_with_payload("05" + std::string(64, '0') + "051a" + std::string(40, '1'), 1)), Errc::kOk);
  EXPECT_EQ(tx_error(tx_with_payload("05" + std::string(64, '0') + "03", 1)), Errc::kBadValue);
  // Poison microblock: identical headers, or headers sharing neither sequence nor parent, are refused.
  std::string h1 = "01" "0005" + std::string(64, 'a') + std::string(64, 'b') + "00" + std::string(128, '1');
  std::string h2_same_seq = "01" "0005" + std::string(64, 'd') + std::string(64, 'b') + "00" + std::string(128, '1');
  std::string h2_unrelated = "01" "0006" + std::string(64, 'd') + std::string(64, 'b') + "00" + std::string(128, '1');
  EXPECT_EQ(tx_error(tx_with_payload("03" + h1 + h2_same_seq, 1)), Errc::kOk);
  EXPECT_EQ(tx_error(tx_with_payload("03" + h1 + h1, 1)), Errc::kBadValue);
  EXPECT_EQ(tx_error(tx_with_payload("03" + h1 + h2_unrelated, 1)), Errc::kBadValue);
  std::string h2_badsig = "01" "0005" + std::string(64, 'd') + std::string(64, 'b') + "04" + std::string(128, '1');
  EXPECT_EQ(tx_error(tx_with_payload("03" + h1 + h2_badsig, 1)), Errc::kBadSignature);
}

TEST(Transaction, ReviewRegressions) {
  // Every coinbase form must be on-chain only (ids 4, 5 and 8 are all Coinbase in the node).
  EXPECT_EQ(tx_error(tx_with_payload("05" + std::string(64, '0') + "051a" + std::string(40, '1'), 3)), Errc::kBadValue);
  const std::string nc = "08" + std::string(64, '0');
  EXPECT_EQ(tx_error(tx_with_payload(nc + "09" + kVrf, 3)), Errc::kBadValue);
  EXPECT_EQ(tx_error(tx_with_payload(nc + "09" + kVrf, 2)), Errc::kBadValue);
  // Pox post-conditions are 3 bytes: many of them fit in a short transaction.
  Bytes b = tx_with_payload("04" + std::string(64, '0'), 1);
  const std::size_t count_at = 5 + 1 + 103 + 2;
  store_be32(b.data() + count_at, 20);
  Bytes pox;
  for (int i = 0; i < 20; ++i) pox.insert(pox.end(), {0x04, 0x01, 0x31});
  b.insert(b.begin() + static_cast<long>(count_at + 4), pox.begin(), pox.end());
  auto tx = decode_tx(b);
  ASSERT_TRUE(tx.ok()) << tx.error().reason;
  EXPECT_EQ(tx->post_conditions.size(), 20u);
  // More contract-call arguments than the node's in-memory vector limit are refused
  // from the count alone.
  std::string call = "02" "1a" + std::string(40, '1') + "0161" "0166";
  Bytes cc = tx_with_payload(call);
  Bytes cnt(4);
  store_be32(cnt.data(), kMaxVecClarityValues + 1);
  cc.insert(cc.end(), cnt.begin(), cnt.end());
  cc.resize(cc.size() + kMaxVecClarityValues + 1, 0x03);
  EXPECT_EQ(tx_error(cc), Errc::kLimit);
  // A multisig public-key field must be a valid curve point.
  Bytes d4 = vec("D4");
  Bytes badkey = d4;
  badkey[badkey.size() - 3] ^= 0xff;  // corrupt the x coordinate of the public key field
  auto sc = decode_exact<SpendingCondition>(badkey, read_spending_condition);
  if (sc.ok()) {
    // (Flipping bits can land on another valid x; then check a definitely invalid one.)
    std::fill(badkey.end() - 34, badkey.end() - 2, 0xff);
    sc = decode_exact<SpendingCondition>(badkey, read_spending_condition);
  }
  ASSERT_FALSE(sc.ok());
  EXPECT_EQ(sc.error().code, Errc::kBadValue);
}

// A multisig condition of `keys` public-key fields (the last one `last_valid` or not a
// curve point) and no signatures (0-of-n).
Bytes multisig_keys_condition(std::size_t keys, bool last_valid) {
  const auto pk = crypto::SecretKey::generate()->public_key().compressed();
  Bytes b{0x01};
  b.resize(1 + 20 + 8 + 8, 0);
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(keys >> (8 * i)));
  for (std::size_t i = 0; i < keys; ++i) {
    b.push_back(0x00);
    if (i + 1 == keys && !last_valid) b.insert(b.end(), 33, 0xff);
    else b.insert(b.end(), pk.begin(), pk.end());
  }
  b.push_back(0);
  b.push_back(0);
  return b;
}

// The decode parses multisig keys while its point budget lasts (as a node does: an
// invalid point is a decode error), and says when it stopped parsing.
TEST(SpendingCondition, PublicKeysAreParsedWithinTheDecodesPointBudget) {
  auto decode = [](const Bytes& b, std::size_t budget, bool& skipped) {
    Reader r(b);
    r.set_point_budget(budget);
    SpendingCondition sc;
    read_spending_condition(r, sc);
    r.expect_end();
    skipped = r.points_skipped();
    return r.ok() ? Errc::kOk : r.error().code;
  };
  bool skipped = true;
  const Bytes good = multisig_keys_condition(8, true);
  const Bytes bad = multisig_keys_condition(8, false);
  EXPECT_EQ(decode(good, SIZE_MAX, skipped), Errc::kOk);
  EXPECT_FALSE(skipped);
  EXPECT_EQ(decode(bad, SIZE_MAX, skipped), Errc::kBadValue);  // unlimited: every key parsed
  EXPECT_EQ(decode(bad, 8, skipped), Errc::kBadValue);         // the budget reaches the bad key
  EXPECT_FALSE(skipped);
  EXPECT_EQ(decode(bad, 7, skipped), Errc::kOk);  // it does not: read, not parsed, and said so
  EXPECT_TRUE(skipped);
  // A sub-reader spends its parent's budget.
  Reader parent(bad);
  parent.set_point_budget(7);
  parent.bounded(bad.size(), [](Reader& sub) {
    SpendingCondition sc;
    read_spending_condition(sub, sc);
  });
  EXPECT_TRUE(parent.ok());
  EXPECT_TRUE(parent.points_skipped());
  EXPECT_EQ(parent.point_budget(), 0u);
}

TEST(Transaction, SponsoredSignAndVerify) {
  auto origin_key = crypto::SecretKey::generate();
  auto sponsor_key = crypto::SecretKey::generate();
  ASSERT_TRUE(origin_key && sponsor_key);
  StacksTransaction tx;
  tx.version = 0;
  tx.chain_id = 1;
  tx.auth.flag = kAuthSponsored;
  auto opk = origin_key->public_key().compressed();
  auto spk = sponsor_key->public_key().compressed();
  tx.auth.origin.hash_mode = 0;
  tx.auth.origin.signer = crypto::hash160(ByteSpan(opk.data(), 33));
  tx.auth.origin.nonce = 7;
  tx.auth.sponsor.hash_mode = 0;
  tx.auth.sponsor.signer = crypto::hash160(ByteSpan(spk.data(), 33));
  tx.auth.sponsor.nonce = 3;
  tx.auth.sponsor.tx_fee = 1000;
  tx.payload.id = 0;
  tx.payload.recipient.address.version = 22;
  tx.payload.amount = 12345;
  validate::sign_singlesig_origin(tx, *origin_key);
  validate::sign_singlesig_sponsor(tx, *sponsor_key);
  auto bytes = encode_with(write_transaction, tx);
  auto back = decode_tx(bytes);
  ASSERT_TRUE(back.ok()) << back.error().reason;
  EXPECT_EQ(back->txid, tx.txid);
  EXPECT_TRUE(back->auth.sponsored());
  auto check = validate::verify_transaction(*back);
  EXPECT_TRUE(check.ok) << check.reason;
  // The sponsor's fee is not part of the origin's signature (it is cleared)...
  StacksTransaction t2 = *back;
  t2.auth.sponsor.tx_fee = 999;
  EXPECT_TRUE(validate::verify_origin(t2).ok);
  // ...but the sponsor's own signature covers it.
  EXPECT_FALSE(validate::verify_transaction(t2).ok);
}

TEST(Address, HashModesE2) {
  auto key = [](const char* h) { return *crypto::SecretKey::from_bytes(hex(h)); };
  auto k1 = key("6d430bb91222408e7706c9001cfaeb91b08c2be6d5ac95779ab52c6b431950e001").public_key();
  auto k2 = key("2a584d899fed1d24e26b524f202763c8ab30260167429f157f1c119f550fa6af01").public_key();
  auto k3 = key("d5200dee706ee53ae98a03fba6cf4fdcc5084c30cfa9e1b3462dcdeaa3e0f1d201").public_key();
  std::vector<crypto::PublicKey> keys{k1, k2, k3};
  bool all_c[] = {true, true, true};
  bool all_u[] = {false, false, false};
  bool mixed[] = {true, false, false};
  EXPECT_EQ(hx(*validate::address_hash(0x01, keys, all_c, 2)), "a23ea89d6529ac48ac766f720e480beec7f19273");
  EXPECT_EQ(hx(*validate::address_hash(0x05, keys, all_c, 2)), "a23ea89d6529ac48ac766f720e480beec7f19273");
  EXPECT_EQ(hx(*validate::address_hash(0x01, keys, all_u, 2)), "73a8b4a751a678fe83e9d35ce301371bb3d397f7");
  EXPECT_EQ(hx(*validate::address_hash(0x01, keys, mixed, 2)), "2136367c9c740e7dbed8795afdf8a6d273096718");
  EXPECT_EQ(hx(*validate::address_hash(0x03, keys, all_c, 2)), "f5cfb61a07fb41a32197da01ce033888f0fe94a7");
  EXPECT_FALSE(validate::address_hash(0x03, keys, all_u, 2));
  // 0-of-0 multisig (OP_0 OP_0 OP_CHECKMULTISIG) is a valid address in the reference.
  std::vector<crypto::PublicKey> none;
  auto empty = validate::address_hash(0x01, none, std::span<const bool>(), 0);
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, crypto::hash160(hex("0000ae")));
  EXPECT_FALSE(validate::address_hash(0x00, none, std::span<const bool>(), 1));
  std::vector<crypto::PublicKey> one{k1};
  bool c1[] = {true};
  bool u1[] = {false};
  EXPECT_EQ(hx(*validate::address_hash(0x00, one, c1, 1)), "143e543243dfcd8c02a12ad7ea371bd07bc91df9");
  EXPECT_EQ(hx(*validate::address_hash(0x02, one, c1, 1)), "f15fa5c59d14ffcb615fa6153851cd802bb312d2");
  auto ks = key("807bbe9e471ac976592cc35e3056592ecc0f778ee653fced3b491a122dd8d59701").public_key();
  EXPECT_EQ(hx(*validate::address_hash(0x00, std::vector{ks}, c1, 1)), "3597aaa4bde720be93e3829aae24e76e7fcdfd3e");
  auto ku = key("d5200dee706ee53ae98a03fba6cf4fdcc5084c30cfa9e1b3462dcdeaa3e0f1d2").public_key();
  EXPECT_EQ(hx(*validate::address_hash(0x00, std::vector{ku}, u1, 1)), "a139de6733cef9e4663c4a093c1a7390a1dcc297");
}

}  // namespace
}  // namespace relay::codec
