#include <gtest/gtest.h>

#include "relay/codec/message.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/test_data.hpp"

namespace relay::codec {
namespace {

using namespace relay::test;

Result<Payload> decode_payload(ByteSpan in) {
  Reader r(in);
  Payload p;
  read_payload(r, p);
  r.expect_end();
  if (!r.ok()) return r.error();
  return p;
}

Bytes encode_payload(const Payload& p) {
  Bytes out;
  {
    Writer w(out);
    write_payload(w, p);
  }
  return out;
}

Bytes with_type(std::uint8_t id, const Bytes& body) {
  Bytes b{id};
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

// Decode `bytes` as a payload, expect id, and re-encode to the same bytes.
Payload round_trip(const Bytes& bytes, MsgId id) {
  auto p = decode_payload(bytes);
  EXPECT_TRUE(p.ok()) << "decode failed: " << (p.ok() ? "" : p.error().reason) << " at "
                      << (p.ok() ? 0 : p.error().offset);
  if (!p.ok()) return Payload{};
  EXPECT_EQ(payload_id(*p), id);
  EXPECT_EQ(hx(encode_payload(*p)), hx(bytes));
  return *p;
}

Errc payload_error(const Bytes& bytes) {
  auto p = decode_payload(bytes);
  return p.ok() ? Errc::kOk : p.error().code;
}

TEST(Primitives, VectorsA) {
  Bytes out;
  {
    Writer w(out);
    w.u8(0x01);
    w.u16(0x0203);
    w.u32(0x04050607);
    w.u64(0x08090a0b0c0d0e0f);
  }
  EXPECT_EQ(hx(out), "01020304050607" "08090a0b0c0d0e0f");
  Reader r(out);
  EXPECT_EQ(r.u8(), 0x01);
  EXPECT_EQ(r.u16(), 0x0203);
  EXPECT_EQ(r.u32(), 0x04050607u);
  EXPECT_EQ(r.u64(), 0x08090a0b0c0d0e0fu);
  EXPECT_TRUE(r.at_end());
  // Vec<u16> and Vec<u64> from codec_primitive_vector().
  Bytes v16 = hex("0000000af000f101f202f303f404f505f606f707f808f909");
  Reader r16(v16);
  std::uint32_t n = r16.count(UINT32_MAX, 2, "x");
  ASSERT_EQ(n, 10u);
  for (std::uint32_t i = 0; i < n; ++i) EXPECT_EQ(r16.u16(), 0xf000 + 0x0101 * i);
  EXPECT_TRUE(r16.at_end());
  Bytes v64 = hex("00000009102030405060708011213141516171811222324252627282132333435363738314243444546474841525354555657585162636465666768617273747576777871828384858687888");
  Reader r64(v64);
  n = r64.count(UINT32_MAX, 8, "x");
  ASSERT_EQ(n, 9u);
  for (std::uint64_t i = 0; i < n; ++i) EXPECT_EQ(r64.u64(), 0x1020304050607080ull + 0x0101010101010101ull * i);
  // A count larger than the bytes left is refused before anything is read or allocated.
  Bytes lie = hex("0000000a0001");
  Reader rl(lie);
  EXPECT_EQ(rl.count(UINT32_MAX, 1, "too many"), 0u);
  EXPECT_EQ(rl.error().code, Errc::kTruncated);
  EXPECT_EQ(rl.error().offset, 0u);
}

TEST(Primitives, BitPackingB23) {
  EXPECT_EQ(hx(pack_bits({true, true, true, false, false, false, false, true, true, false, true})), "8705");
  EXPECT_EQ(hx(pack_bits({true, false, true})), "05");
}

TEST(Preamble, VectorB1) {
  Bytes b = vec("B1");
  ASSERT_EQ(b.size(), kPreambleSize);
  auto p = decode_preamble(b);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->peer_version, 0x01020304u);
  EXPECT_EQ(p->network_id, 0x05060708u);
  EXPECT_EQ(p->seq, 0x090a0b0cu);
  EXPECT_EQ(p->burn_block_height, 0x1122u);
  EXPECT_EQ(p->burn_stable_block_height, 0x1111u);
  EXPECT_EQ(p->additional_data, 0x33333333u);
  EXPECT_EQ(p->payload_len, 0x7ffu);
  EXPECT_EQ(hx(p->burn_block_hash), std::string(64, '1'));
  EXPECT_EQ(hx(p->signature), std::string(130, '4'));
  EXPECT_EQ(hx(encode_with(write_preamble, *p)), hx(b));
}

TEST(Preamble, DecodeTimeChecks) {
  Bytes b = vec("B1");
  auto set_len = [&](std::uint32_t v) { store_be32(b.data() + kPreamblePayloadLenOffset, v); };
  set_len(4);
  EXPECT_EQ(decode_preamble(b).error().code, Errc::kBadValue);
  EXPECT_EQ(decode_preamble(b).error().offset, kPreamblePayloadLenOffset);
  set_len(5);
  EXPECT_TRUE(decode_preamble(b).ok());
  set_len(kMaxMessageLen - 1);
  EXPECT_TRUE(decode_preamble(b).ok());
  set_len(kMaxMessageLen);
  EXPECT_EQ(decode_preamble(b).error().code, Errc::kLimit);
  set_len(0xffffffff);
  EXPECT_EQ(decode_preamble(b).error().code, Errc::kLimit);
  set_len(100);
  // burn_block_height must exceed burn_stable_block_height.
  Bytes eq = b;
  std::copy(eq.begin() + 52, eq.begin() + 60, eq.begin() + 12);
  EXPECT_EQ(decode_preamble(eq).error().code, Errc::kBadValue);
  // Truncated.
  EXPECT_EQ(decode_preamble(ByteSpan(b).first(164)).error().code, Errc::kTruncated);
}

TEST(Payload, ComponentVectors) {
  round_trip(with_type(7, vec("B2")), MsgId::kGetPoxInv);
  round_trip(with_type(8, vec("B3")), MsgId::kPoxInv);
  round_trip(with_type(5, vec("B4")), MsgId::kGetBlocksInv);
  round_trip(with_type(6, vec("B5")), MsgId::kBlocksInv);
  auto n = round_trip(with_type(4, vec("B7")), MsgId::kNeighbors);
  ASSERT_EQ(std::get<Neighbors>(n).neighbors.size(), 2u);
  EXPECT_EQ(std::get<Neighbors>(n).neighbors[1].port, 23456);
  auto h = round_trip(with_type(0, vec("B8")), MsgId::kHandshake);
  EXPECT_EQ(std::get<Handshake>(h).data.data_url, "https://the-new-interwebs.com/data");
  EXPECT_EQ(std::get<Handshake>(h).data.expire_block_height, 0x0102030405060708u);
  auto a = round_trip(with_type(1, vec("B9")), MsgId::kHandshakeAccept);
  EXPECT_EQ(std::get<HandshakeAccept>(a).data.heartbeat_interval, 0x01020304u);
  EXPECT_EQ(std::get<Nack>(round_trip(with_type(14, vec("B10")), MsgId::kNack)).error_code, 0x01020304u);
  round_trip(with_type(9, vec("B12")), MsgId::kBlocksAvailable);
  round_trip(with_type(10, vec("B12")), MsgId::kMicroblocksAvailable);
  auto np = round_trip(with_type(18, vec("B13")), MsgId::kNatPunchReply);
  EXPECT_EQ(std::get<NatPunchReply>(np).nonce, 0x56789abcu);
  Bytes sdb = vec("B9");
  Bytes b14 = vec("B14");
  sdb.insert(sdb.end(), b14.begin(), b14.end());
  auto s = round_trip(with_type(19, sdb), MsgId::kStackerDBHandshakeAccept);
  ASSERT_EQ(std::get<StackerDBHandshakeAccept>(s).db.smart_contracts.size(), 2u);
  EXPECT_EQ(std::get<StackerDBHandshakeAccept>(s).db.smart_contracts[1].name, "bar");
  round_trip(with_type(21, vec("B15")), MsgId::kStackerDBGetChunkInv);
  auto ci = round_trip(with_type(22, vec("B16")), MsgId::kStackerDBChunkInv);
  EXPECT_EQ(std::get<StackerDBChunkInv>(ci).num_outbound_replicas, 4u);
  round_trip(with_type(23, vec("B17")), MsgId::kStackerDBGetChunk);
  auto ch = round_trip(with_type(24, vec("B18")), MsgId::kStackerDBChunk);
  EXPECT_EQ(std::get<StackerDBChunk>(ch).chunk.data.size(), 11u);
  round_trip(with_type(25, vec("B19")), MsgId::kStackerDBPushChunk);
  round_trip(with_type(26, vec("B20")), MsgId::kGetNakamotoInv);
  auto ni = round_trip(with_type(27, vec("B21")), MsgId::kNakamotoInv);
  EXPECT_EQ(std::get<NakamotoInv>(ni).tenures.len, 64);
  // bit i = (byte[i/8] >> (i%8)) & 1: 0xdd = t,f,t,t,t,f,t,t
  const BitVec& bv = std::get<NakamotoInv>(ni).tenures;
  EXPECT_TRUE(bv.get(0));
  EXPECT_FALSE(bv.get(1));
  EXPECT_TRUE(bv.get(2));
  EXPECT_FALSE(bv.get(5));
}

TEST(Payload, NeighborAddressAndRelayData) {  // B6, B11
  Bytes b6 = vec("B6");
  Reader r(b6);
  NeighborAddress a;
  read_neighbor_address(r, a);
  r.expect_end();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(a.port, 12345);
  EXPECT_EQ(hx(a.public_key_hash), std::string(40, '1'));
  EXPECT_EQ(hx(encode_with(write_neighbor_address, a)), hx(vec("B6")));

  Bytes rel{0, 0, 0, 1};
  Bytes b11 = vec("B11");
  rel.insert(rel.end(), b11.begin(), b11.end());
  Reader r2(rel);
  std::vector<RelayData> v;
  read_relayers(r2, v);
  r2.expect_end();
  ASSERT_TRUE(r2.ok());
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].seq, 0x01020304u);
  EXPECT_EQ(hx(encode_with(write_relayers, v)), hx(rel));
}

TEST(Payload, EveryTypeFromB24) {
  int rows = 0;
  for (auto& r : read_tsv("vectors/b24-payloads.tsv")) {
    ++rows;
    int id = std::stoi(r[0]);
    Bytes b = hex(r[2]);
    auto p = decode_payload(b);
    ASSERT_TRUE(p.ok()) << "type " << id << ": " << p.error().reason;
    EXPECT_EQ(static_cast<int>(payload_id(*p)), id);
    EXPECT_EQ(hx(encode_payload(*p)), hx(b)) << "type " << id;
    // Every strict prefix must fail cleanly (no crash, an error).
    for (std::size_t cut = 0; cut < b.size(); ++cut)
      EXPECT_NE(payload_error(Bytes(b.begin(), b.begin() + static_cast<long>(cut))), Errc::kOk) << id << " cut " << cut;
    // One extra byte is trailing garbage.
    Bytes extra = b;
    extra.push_back(0);
    EXPECT_EQ(payload_error(extra), Errc::kTrailingBytes) << id;
  }
  EXPECT_EQ(rows, 24);
}

TEST(Payload, NakamotoInvMustFail) {  // B22
  EXPECT_EQ(payload_error(with_type(27, hex("00200000000500000000"))), Errc::kBadValue);
  EXPECT_EQ(payload_error(with_type(27, hex("00210000000400000000"))), Errc::kBadValue);
}

TEST(Payload, UnknownIds) {
  for (int id : {20, 29, 30, 100, 255}) EXPECT_EQ(payload_error(Bytes{static_cast<std::uint8_t>(id)}), Errc::kUnknownType) << id;
}

TEST(Payload, Limits) {
  // Neighbors: 128 ok, 129 rejected before reading them.
  auto neighbors = [](std::uint32_t n) {
    Bytes b{4, 0, 0, 0, 0};
    store_be32(b.data() + 1, n);
    b.resize(b.size() + std::size_t{n} * 38, 0);
    return b;
  };
  EXPECT_EQ(payload_error(neighbors(128)), Errc::kOk);
  EXPECT_EQ(payload_error(neighbors(129)), Errc::kLimit);
  EXPECT_EQ(payload_error(Bytes{4, 0xff, 0xff, 0xff, 0xff}), Errc::kLimit);
  // BlocksAvailable ≤ 32.
  Bytes ba{9, 0, 0, 0, 33};
  ba.resize(5 + 33 * 52, 0);
  EXPECT_EQ(payload_error(ba), Errc::kLimit);
  // GetPoxInv 1..4096, GetBlocksInv ≠ 0.
  Bytes gp = with_type(7, vec("B2"));
  gp[21] = 0x10; gp[22] = 0x00;  // 4096
  EXPECT_EQ(payload_error(gp), Errc::kOk);
  gp[22] = 0x01;  // 4097
  EXPECT_EQ(payload_error(gp), Errc::kLimit);
  gp[21] = 0; gp[22] = 0;
  EXPECT_EQ(payload_error(gp), Errc::kLimit);
  Bytes gb = with_type(5, vec("B4"));
  gb[21] = 0; gb[22] = 0;
  EXPECT_EQ(payload_error(gb), Errc::kBadValue);
  // BlocksInv bitlen 0; bitvec length must be ceil(bitlen/8).
  EXPECT_EQ(payload_error(hex("06000000000000000000")), Errc::kBadValue);
  EXPECT_EQ(payload_error(hex("0600090000000103000000020304")), Errc::kBadValue);
  EXPECT_EQ(payload_error(hex("060009000000020102000000020304")), Errc::kOk);
  // PoxInv bitlen over 4096.
  EXPECT_EQ(payload_error(hex("08100100000201")), Errc::kLimit);
  // StackerDBChunkInv ≤ 4096 versions.
  EXPECT_EQ(payload_error(hex("160000100100000000")), Errc::kLimit);
  // NakamotoInv: 2100 bits ok, 2101 not.
  Bytes inv{27, 0x08, 0x34, 0, 0, 0x01, 0x07};
  inv.resize(inv.size() + 263, 0);
  EXPECT_EQ(payload_error(inv), Errc::kOk);
  inv[2] = 0x35;
  EXPECT_EQ(payload_error(inv), Errc::kLimit);
  // NakamotoBlocks ≤ 32.
  EXPECT_EQ(payload_error(hex("1c00000021")), Errc::kLimit);
  // StackerDB chunk data > 16 MiB is refused from the length alone.
  Bytes big = hex("180000000200000003");
  big.resize(big.size() + 65, 0);
  Bytes len{0x01, 0x00, 0x00, 0x01};
  big.insert(big.end(), len.begin(), len.end());
  EXPECT_EQ(payload_error(big), Errc::kLimit);
}

TEST(Payload, HandshakeChecks) {
  Bytes h = with_type(0, vec("B8"));
  Bytes port0 = h;
  port0[17] = 0;
  port0[18] = 0;
  EXPECT_EQ(payload_error(port0), Errc::kBadValue);
  // A ContractId name longer than 40 bytes is refused in StackerDB messages.
  Bytes cid = hex("1516117b591adf7caee43b7e5d8824e851b935bca9ae29");
  cid.resize(cid.size() + 41, 'a');
  cid.resize(cid.size() + 20, 1);
  EXPECT_EQ(payload_error(cid), Errc::kLimit);
  // Address version ≥ 32.
  Bytes ver = with_type(21, vec("B15"));
  ver[1] = 32;
  EXPECT_EQ(payload_error(ver), Errc::kBadValue);
}

TEST(Url, ValidationRules) {
  EXPECT_EQ(validate_url(""), nullptr);
  EXPECT_EQ(validate_url("http://127.0.0.1:20443"), nullptr);
  EXPECT_EQ(validate_url("https://the-new-interwebs.com:4008/the-data"), nullptr);
  EXPECT_EQ(validate_url("HTTP://Example.com/"), nullptr);
  EXPECT_EQ(validate_url("http://[::1]:20443/"), nullptr);
  EXPECT_NE(validate_url("ftp://example.com"), nullptr);
  EXPECT_NE(validate_url("http://user@example.com"), nullptr);
  EXPECT_NE(validate_url("http://user:pw@example.com"), nullptr);
  EXPECT_NE(validate_url("http://example.com/?"), nullptr);
  EXPECT_NE(validate_url("http://example.com/#"), nullptr);
  EXPECT_NE(validate_url("http://"), nullptr);
  EXPECT_NE(validate_url("http://exa mple.com"), nullptr);
  EXPECT_NE(validate_url("http://example.com:99999"), nullptr);
  EXPECT_NE(validate_url("example.com"), nullptr);
  EXPECT_NE(validate_url("http://\"x\""), nullptr);
  EXPECT_NE(validate_url("http://" + std::string(130, 'a')), nullptr);
}

TEST(Message, Unsigned16RelayersPing) {  // B25, B26
  Bytes b = vec("B26");
  auto m = decode_message(b);
  ASSERT_TRUE(m.ok()) << m.error().reason;
  EXPECT_EQ(m->preamble.payload_len, 681u);
  ASSERT_EQ(m->relayers.size(), 16u);
  EXPECT_EQ(m->relayers[15].peer.port, 12345 + 15);
  EXPECT_EQ(std::get<Ping>(m->payload).nonce, 0x01020304u);
  EXPECT_EQ(hx(encode_message(*m)), hx(b));
  EXPECT_EQ(hx(encode_with(write_relayers, m->relayers)), hx(vec("B25")));

  // 17 relayers: refused (MAX_RELAYERS_LEN) even though the bytes are all there.
  Message m17 = *m;
  m17.relayers.push_back(m17.relayers[0]);
  Bytes body17 = encode_body(m17.relayers, m17.payload);
  m17.preamble.payload_len = static_cast<std::uint32_t>(body17.size());
  auto e = decode_message(encode_message(m17));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, Errc::kLimit);
  EXPECT_EQ(e.error().offset, kPreambleSize);
}

TEST(Message, PayloadLenMustBeExact) {
  Bytes b = vec("B26");
  auto shorter = decode_message(ByteSpan(b).first(b.size() - 1));
  EXPECT_EQ(shorter.error().code, Errc::kTruncated);
  Bytes longer = b;
  longer.push_back(0);
  EXPECT_EQ(decode_message(longer).error().code, Errc::kTrailingBytes);
  // payload_len covering a junk byte after the payload: trailing bytes inside payload_len.
  Bytes junk = b;
  junk.push_back(0);
  store_be32(junk.data() + kPreamblePayloadLenOffset, 682);
  auto j = decode_message(junk);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, Errc::kTrailingBytes);
  EXPECT_EQ(j.error().offset, b.size());
}

struct SignedVector {
  const char* id;
  MsgId type;
  const char* digest;
};

TEST(Message, SignedVectorsM1toM3) {
  auto key = crypto::SecretKey::from_bytes(hex("6d430bb91222408e7706c9001cfaeb91b08c2be6d5ac95779ab52c6b431950e0"));
  ASSERT_TRUE(key);
  const SignedVector cases[] = {
      {"M1", MsgId::kPing, "286a9b2b6f59c9c2a2deb42f1a0d83c09c9fd46e6e5c6ec050ab42087c723ea1"},
      {"M2", MsgId::kHandshake, "fa798e51051e9e14d079ee12e6740bcda8464a07040f91a71080d393cf113b29"},
      {"M3", MsgId::kTransaction, "55262b50639e2857651ee6d029add2ac37292cb5c232fc2cff6b1f727a1afcf1"},
  };
  for (const auto& c : cases) {
    Bytes b = vec(c.id);
    auto m = decode_message(b);
    ASSERT_TRUE(m.ok()) << c.id << ": " << m.error().reason;
    EXPECT_EQ(payload_id(m->payload), c.type);
    EXPECT_EQ(m->preamble.network_id, 1u);
    EXPECT_EQ(m->preamble.peer_version, 0x18000010u);
    EXPECT_EQ(hx(validate::message_digest(ByteSpan(b).first(kPreambleSize), ByteSpan(b).subspan(kPreambleSize))),
              c.digest);
    auto signer = validate::recover_message_signer(b);
    ASSERT_TRUE(signer) << c.id;
    EXPECT_TRUE(*signer == key->public_key());
    EXPECT_TRUE(validate::verify_message(b, key->public_key()));
    // Re-signing the decoded message reproduces the bytes exactly.
    Message again = *m;
    EXPECT_EQ(hx(validate::sign_message(again, *key)), hx(b)) << c.id;
    // Any flipped bit breaks the signature.
    Bytes bad = b;
    bad[b.size() - 1] ^= 1;
    EXPECT_FALSE(validate::verify_message(bad, key->public_key())) << c.id;
    bad = b;
    bad[8] ^= 0x80;  // seq
    EXPECT_FALSE(validate::verify_message(bad, key->public_key())) << c.id;
  }
  // M3's relayer entry is the signer itself, seq 0.
  auto m3 = decode_message(vec("M3"));
  ASSERT_TRUE(m3.ok());
  ASSERT_EQ(m3->relayers.size(), 1u);
  EXPECT_EQ(hx(m3->relayers[0].peer.public_key_hash), "143e543243dfcd8c02a12ad7ea371bd07bc91df9");
  EXPECT_EQ(m3->relayers[0].seq, 0u);
}

}  // namespace
}  // namespace relay::codec
