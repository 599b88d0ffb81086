#include "relay/codec/framer.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "relay/validate/validate.hpp"
#include "tests/support/test_data.hpp"

namespace relay::codec {
namespace {

using namespace relay::test;

crypto::SecretKey relay_key() { return *crypto::SecretKey::from_bytes(hex(std::string(63, '0') + "7")); }

ForwardTemplate make_template(std::uint32_t seq) {
  ForwardTemplate t;
  t.preamble.peer_version = 0x18000010;
  t.preamble.network_id = 1;
  t.preamble.seq = seq;
  t.preamble.burn_block_height = 900107;
  t.preamble.burn_block_hash.fill(0x33);
  t.preamble.burn_stable_block_height = 900100;
  t.preamble.burn_stable_block_hash.fill(0x44);
  auto pk = relay_key().public_key().compressed();
  t.self.peer.addrbytes = arr<16>("00000000000000000000ffff00000000");
  t.self.peer.port = 20444;
  t.self.peer.public_key_hash = crypto::hash160(ByteSpan(pk.data(), 33));
  t.self.seq = 0;
  return t;
}

// The message a relay forwards, built the slow way (decode, append, sign_message).
Bytes forward_slow(const Bytes& in, const ForwardTemplate& t) {
  auto m = decode_message(in);
  EXPECT_TRUE(m.ok());
  Message out = *m;
  out.preamble = t.preamble;
  out.relayers.push_back(t.self);
  return validate::sign_message(out, relay_key());
}

TEST(Framer, DigestsMatchWholeMessageComputationAnyChunking) {
  for (const char* id : {"M1", "M2", "M3"}) {
    Bytes msg = vec(id);
    ForwardTemplate t = make_template(0xdeadbeef);
    Bytes expected_fwd = forward_slow(msg, t);
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{164}, std::size_t{165}, msg.size()}) {
      Framer f;
      f.set_forward(t);
      std::size_t off = 0;
      while (off < msg.size() && f.state() != Framer::State::kError) {
        off += f.feed(ByteSpan(msg).subspan(off, std::min(chunk, msg.size() - off)));
      }
      ASSERT_EQ(f.state(), Framer::State::kDone) << id << " chunk " << chunk << ": " << f.error().reason;
      EXPECT_EQ(f.verify_digest(),
                validate::message_digest(ByteSpan(msg).first(kPreambleSize), ByteSpan(msg).subspan(kPreambleSize)))
          << id;
      ASSERT_TRUE(f.forward_digest().has_value());
      // Signing the streamed forward digest gives exactly the slow path's bytes.
      Bytes fwd;
      f.write_forward(fwd, relay_key().sign(*f.forward_digest()));
      EXPECT_EQ(hx(fwd), hx(expected_fwd)) << id << " chunk " << chunk;
      EXPECT_TRUE(validate::verify_message(fwd, relay_key().public_key()));
    }
  }
}

// The forward sink, set at any point once the relayers are in, ends up holding exactly
// the forward write_forward produces (bar the signature), whatever the chunking; it is
// refused before the forward digest runs, or with the wrong size.
TEST(Framer, ForwardSinkFillsTheForwardAsTheBytesArrive) {
  for (const char* id : {"M1", "M2", "M3"}) {
    const Bytes msg = vec(id);
    const ForwardTemplate t = make_template(0x1234567);
    const Bytes expected = forward_slow(msg, t);
    for (std::size_t chunk : {std::size_t{1}, std::size_t{13}, std::size_t{200}, msg.size()}) {
      for (std::size_t set_after : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {  // feeds after the relayers
        Framer f;
        f.set_forward(t);
        Bytes sink;
        bool set = false;
        std::size_t off = 0, feeds_since = 0;
        while (off < msg.size() && f.state() != Framer::State::kError) {
          if (!set && f.relayers_known() && feeds_since++ >= set_after) {
            Bytes wrong(f.forward_total_size() + 1);
            EXPECT_FALSE(f.set_forward_sink(wrong));
            sink.assign(f.forward_total_size(), 0xee);
            ASSERT_TRUE(f.set_forward_sink(sink));
            set = true;
          }
          if (!set && !f.relayers_known()) {  // before the forward digest starts: refused
            Bytes early(f.state() == Framer::State::kBody ? f.forward_total_size() : 10);
            EXPECT_FALSE(f.set_forward_sink(early));
          }
          off += f.feed(ByteSpan(msg).subspan(off, std::min(chunk, msg.size() - off)));
        }
        ASSERT_EQ(f.state(), Framer::State::kDone) << id;
        if (!set) continue;  // the message ended before the sink was set
        ASSERT_TRUE(f.sink_complete());
        const auto sig = relay_key().sign(*f.forward_digest());
        std::memcpy(sink.data() + kPreambleSignatureOffset, sig.data(), sig.size());
        EXPECT_EQ(hx(sink), hx(expected)) << id << " chunk " << chunk << " set after " << set_after;
        f.next();
        EXPECT_FALSE(f.sink_complete());
      }
    }
  }
  Framer f;  // no forward template: no forward digest, no sink
  const Bytes msg = vec("M1");
  f.feed(ByteSpan(msg).first(kPreambleSize + 4));
  Bytes sink(f.forward_total_size());
  EXPECT_FALSE(f.set_forward_sink(sink));
}

// Private mode: the upstream relayer entries go on with the any-network address and port
// 0, their key hashes and seqs kept; the forward digest covers exactly those bytes, by
// write_forward and by the sink alike, and the sender's own signature still verifies
// over what it sent.
TEST(Framer, HiddenAddressesLeaveOnlyKeyHashesInTheUpstreamRelayers) {
  const auto sender = *crypto::SecretKey::from_bytes(hex(std::string(63, '0') + "9"));
  auto m = decode_message(vec("M1"));
  ASSERT_TRUE(m.ok());
  Message in = *m;
  in.relayers.clear();
  for (std::uint8_t i = 1; i <= 2; ++i) {
    RelayData r;
    r.peer.addrbytes = arr<16>("00000000000000000000ffffcb007100");
    r.peer.addrbytes[15] = i;  // 203.0.113.i
    r.peer.port = static_cast<std::uint16_t>(20440 + i);
    r.peer.public_key_hash.fill(static_cast<std::uint8_t>(0x50 + i));
    r.seq = 7u * i;
    in.relayers.push_back(r);
  }
  const Bytes msg = validate::sign_message(in, sender);
  ForwardTemplate t = make_template(0x55aa);
  t.hide_addresses = true;
  Message hidden = in;
  for (auto& r : hidden.relayers) {
    r.peer.addrbytes = arr<16>("00000000000000000000ffff00000000");
    r.peer.port = 0;
  }
  const Bytes expected = forward_slow(validate::sign_message(hidden, sender), t);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{50}, msg.size()}) {
    Framer f;
    f.set_forward(t);
    Bytes sink;
    std::size_t off = 0;
    while (off < msg.size() && f.state() != Framer::State::kError) {
      if (sink.empty() && f.relayers_known()) {
        sink.assign(f.forward_total_size(), 0xee);
        ASSERT_TRUE(f.set_forward_sink(sink));
      }
      off += f.feed(ByteSpan(msg).subspan(off, std::min(chunk, msg.size() - off)));
    }
    ASSERT_EQ(f.state(), Framer::State::kDone);
    EXPECT_TRUE(validate::verify_message(msg, sender.public_key()));
    EXPECT_EQ(f.verify_digest(), validate::message_digest(ByteSpan(msg).first(kPreambleSize), ByteSpan(msg).subspan(kPreambleSize)));
    const auto sig = relay_key().sign(*f.forward_digest());
    Bytes fwd;
    f.write_forward(fwd, sig);
    EXPECT_EQ(hx(fwd), hx(expected)) << "chunk " << chunk;
    EXPECT_TRUE(validate::verify_message(fwd, relay_key().public_key()));
    if (!sink.empty()) {
      std::memcpy(sink.data() + kPreambleSignatureOffset, sig.data(), sig.size());
      EXPECT_EQ(hx(sink), hx(expected)) << "sink, chunk " << chunk;
    }
    auto out = decode_message(fwd);
    ASSERT_TRUE(out.ok());
    ASSERT_EQ(out->relayers.size(), 3u);
    for (std::size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(hx(out->relayers[i].peer.addrbytes), "00000000000000000000ffff00000000");
      EXPECT_EQ(out->relayers[i].peer.port, 0);
      EXPECT_EQ(out->relayers[i].peer.public_key_hash, in.relayers[i].peer.public_key_hash);
      EXPECT_EQ(out->relayers[i].seq, in.relayers[i].seq);
    }
  }
  // Without the flag the same message goes on with its addresses.
  Framer plain;
  plain.set_forward(make_template(0x55aa));
  ASSERT_EQ(plain.feed(msg), msg.size());
  Bytes fwd;
  plain.write_forward(fwd, relay_key().sign(*plain.forward_digest()));
  EXPECT_EQ(decode_message(fwd)->relayers[0].peer.port, 20441);
}

// Bodies larger than the framer's own buffer go into leases from its body source (each
// returned when the next message starts); without a free lease the own buffer grows,
// counted. The digests and the forward are the same wherever the body lives.
// A lending source with `slots` to give; counts what it lent and got back.
struct SlotSource final : BodySource {
  std::vector<Bytes> slots;
  std::vector<bool> out;
  int leased = 0, returned = 0, refused = 0;
  void reset(std::size_t n, std::size_t size) {
    slots.assign(n, Bytes(size));
    out.assign(n, false);
    leased = returned = refused = 0;
  }
  BodyLease lease(std::size_t n) noexcept override {
    for (std::size_t i = 0; i < slots.size(); ++i)
      if (!out[i] && slots[i].size() >= n) {
        out[i] = true;
        ++leased;
        return {std::span<std::uint8_t>(slots[i].data(), n), &slots[i]};
      }
    ++refused;
    return {};
  }
  void release(const BodyLease& l) noexcept override {
    for (std::size_t i = 0; i < slots.size(); ++i)
      if (&slots[i] == l.handle) out[i] = false;
    ++returned;
  }
};

// Feeds `m` whole and checks the digests, the body and the forward.
void expect_framed(Framer& f, const Bytes& m, const ForwardTemplate& t) {
  ASSERT_EQ(f.state(), Framer::State::kDone) << f.error().reason;
  EXPECT_EQ(hx(f.body()), hx(ByteSpan(m).subspan(kPreambleSize)));
  EXPECT_EQ(f.verify_digest(), validate::message_digest(ByteSpan(m).first(kPreambleSize), ByteSpan(m).subspan(kPreambleSize)));
  Bytes fwd;
  f.write_forward(fwd, relay_key().sign(*f.forward_digest()));
  EXPECT_EQ(hx(fwd), hx(forward_slow(m, t)));
}

TEST(Framer, LargeBodiesLiveInLeasesAndWaitWhenNoneCanBeHad) {
  SlotSource src;
  Bytes small = vec("M1");  // a few hundred bytes
  Bytes large = vec("M3");
  ASSERT_GT(large.size(), small.size() + 64);
  const std::size_t own = small.size() - kPreambleSize;  // exactly the small body
  ForwardTemplate t = make_template(7);
  src.reset(1, large.size());
  Framer f;
  f.set_body_source(&src, own);
  for (const Bytes* m : {&small, &large, &small, &large}) {
    f.set_forward(t);
    ASSERT_EQ(f.feed(*m), m->size());
    expect_framed(f, *m, t);
    f.next();
  }
  EXPECT_EQ(src.leased, 2);  // both large bodies, the slot returned in between
  EXPECT_EQ(src.returned, 2);
  EXPECT_EQ(f.body_grows(), 0u);

  // No slot free: the large body waits after its preamble, taking no byte of it, and
  // the own buffer does not grow; once the source has room it is read as usual.
  src.reset(0, 0);
  f.set_forward(t);
  ASSERT_EQ(f.feed(large), kPreambleSize);
  EXPECT_EQ(f.state(), Framer::State::kWaiting);
  EXPECT_EQ(f.feed(ByteSpan(large).subspan(kPreambleSize)), 0u);
  EXPECT_FALSE(f.find_body_home());  // still nothing
  EXPECT_EQ(src.refused, 2);
  src.reset(1, large.size());
  ASSERT_TRUE(f.find_body_home());
  EXPECT_EQ(f.state(), Framer::State::kBody);
  ASSERT_EQ(f.feed(ByteSpan(large).subspan(kPreambleSize)), large.size() - kPreambleSize);
  expect_framed(f, large, t);
  EXPECT_EQ(f.body_grows(), 0u);
  f.next();
  EXPECT_EQ(src.returned, 1);

  // Without a source the own buffer grows once and keeps its capacity (tools and tests).
  Framer g;
  for (const Bytes* m : {&small, &large, &large}) {
    g.set_forward(t);
    ASSERT_EQ(g.feed(*m), m->size());
    expect_framed(g, *m, t);
    g.next();
  }
  EXPECT_EQ(g.body_grows(), 2u);  // the default buffer is empty: small, then large
}

TEST(Framer, BodiesAboveTheLimitWaitUntilItIsRaised) {
  Bytes small = vec("M1");
  Bytes large = vec("M3");
  ForwardTemplate t = make_template(9);
  Framer f;
  f.set_body_limit(small.size() - kPreambleSize);
  f.set_forward(t);
  ASSERT_EQ(f.feed(small), small.size());  // at the limit: read
  expect_framed(f, small, t);
  f.next();
  f.set_forward(t);
  ASSERT_EQ(f.feed(large), kPreambleSize);
  EXPECT_EQ(f.state(), Framer::State::kWaiting);
  EXPECT_EQ(f.preamble().payload_len, large.size() - kPreambleSize);  // the claim is known
  EXPECT_FALSE(f.find_body_home());
  EXPECT_EQ(f.body_grows(), 1u);  // only for the small one (no source, empty own buffer)
  f.set_body_limit(SIZE_MAX);
  ASSERT_TRUE(f.find_body_home());
  ASSERT_EQ(f.feed(ByteSpan(large).subspan(kPreambleSize)), large.size() - kPreambleSize);
  expect_framed(f, large, t);
  // next() from kWaiting drops the waiting message: the framer starts afresh.
  f.next();
  f.set_body_limit(small.size() - kPreambleSize - 1);
  ASSERT_EQ(f.feed(small), kPreambleSize);
  EXPECT_EQ(f.state(), Framer::State::kWaiting);
  f.next();
  EXPECT_EQ(f.state(), Framer::State::kPreamble);
  EXPECT_FALSE(f.find_body_home());  // nothing waits
}

TEST(Framer, StopsAtMessageBoundary) {
  Bytes a = vec("M1");
  Bytes b = vec("M3");
  Bytes both = a;
  both.insert(both.end(), b.begin(), b.end());
  Framer f;
  std::size_t used = f.feed(both);
  EXPECT_EQ(used, a.size());
  ASSERT_EQ(f.state(), Framer::State::kDone);
  EXPECT_EQ(f.body().size(), a.size() - kPreambleSize);
  f.next();
  EXPECT_EQ(f.feed(ByteSpan(both).subspan(used)), b.size());
  ASSERT_EQ(f.state(), Framer::State::kDone);
  EXPECT_EQ(f.relayer_count(), 1u);
  EXPECT_FALSE(f.forward_digest().has_value());  // no template set
}

TEST(Framer, RefusesBadFramingEarly) {
  Bytes m = vec("M3");
  // payload_len below 5: refused as soon as the preamble is complete.
  Bytes bad = m;
  store_be32(bad.data() + kPreamblePayloadLenOffset, 4);
  Framer f1;
  EXPECT_EQ(f1.feed(bad), kPreambleSize);
  EXPECT_EQ(f1.state(), Framer::State::kError);
  // Larger than the configured maximum: refused before buffering the body.
  Framer f2(100);
  f2.feed(m);
  EXPECT_EQ(f2.state(), Framer::State::kError);
  EXPECT_EQ(f2.error().code, Errc::kLimit);
  // 17 relayers: refused at the count, before reading them.
  Bytes many = m;
  store_be32(many.data() + kPreambleSize, 17);
  Framer f3;
  EXPECT_EQ(f3.feed(many), kPreambleSize + 4);
  EXPECT_EQ(f3.state(), Framer::State::kError);
  EXPECT_EQ(f3.error().code, Errc::kLimit);
  // Relayers that would not leave room for the payload type byte.
  Bytes over = m;
  store_be32(over.data() + kPreambleSize, 6);  // 4 + 6·42 > payload_len 227
  Framer f4;
  f4.feed(over);
  EXPECT_EQ(f4.state(), Framer::State::kError);
}

TEST(Framer, SixteenRelayersCannotBeForwarded) {
  Bytes msg = vec("B26");  // 16 relayers already
  Framer f;
  f.set_forward(make_template(1));
  f.feed(msg);
  ASSERT_EQ(f.state(), Framer::State::kDone);
  EXPECT_EQ(f.relayer_count(), 16u);
  EXPECT_FALSE(f.forward_digest().has_value());
}

}  // namespace
}  // namespace relay::codec
