// tests/support/test_peer.hpp — a stock Stacks node as far as a relay can tell: its
// own transport endpoint, the codec's framer and the control plane's Conversation; it
// handshakes, answers like a node, and records every push forwarded to it.
// Templated on the transport (in-memory network or real TCP through io_uring).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "control/session/conversation.hpp"
#include "dataplane/transport/transport.hpp"
#include "relay/codec/framer.hpp"
#include "relay/crypto/merkle.hpp"
#include "relay/validate/validate.hpp"

namespace relay::test {

inline ctl::LocalPeer make_local_peer(std::uint8_t key_byte) {
  Bytes k(32, 0);
  k[31] = key_byte;
  return ctl::LocalPeer{*crypto::SecretKey::from_bytes(k), 1, 0x18000010, 7, codec::kServiceRelay, {}, 20444, "",
                        3600, 0x7fffffffffffffffull};
}

inline ctl::BurnView test_burn_view() {
  ctl::BurnView v;
  v.height = 900007;
  v.stable_height = 900000;
  return v;
}

// loopback_addr: 127.0.0.1:port as the IPv4-mapped IPv6 address the transports take.
inline sockaddr_in6 loopback_addr(std::uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr);
  return a;
}

// signed_test_tx: a valid, signed mainnet token transfer; distinct nonces give distinct txids.
inline codec::StacksTransaction signed_test_tx(std::uint64_t nonce) {
  auto sk = *crypto::SecretKey::from_bytes(Bytes(32, 0x42));
  codec::StacksTransaction tx;
  tx.version = 0;
  tx.chain_id = 1;
  auto pk = sk.public_key().compressed();
  tx.auth.origin.signer = crypto::hash160(ByteSpan(pk.data(), pk.size()));
  tx.auth.origin.nonce = nonce;
  tx.auth.origin.tx_fee = 180;
  tx.payload.id = 0;
  tx.payload.recipient.address.version = 22;
  tx.payload.amount = 1000;
  validate::sign_singlesig_origin(tx, sk);
  return tx;
}

// signed_test_microblocks: a stream of `n` microblocks, each with one transaction,
// signed by the miner key `key_byte` and chained by parent hash and sequence.
inline std::vector<codec::StacksMicroblock> signed_test_microblocks(std::size_t n, std::uint8_t key_byte,
                                                                    std::uint64_t first_nonce = 100) {
  Bytes kb(32, 0);
  kb[31] = key_byte;
  auto sk = *crypto::SecretKey::from_bytes(kb);
  std::vector<codec::StacksMicroblock> out;
  codec::Hash32 prev{};
  prev[0] = 0xab;  // the anchored block (not checked by the relay)
  for (std::size_t i = 0; i < n; ++i) {
    codec::StacksMicroblock mb;
    mb.txs.push_back(signed_test_tx(first_nonce + i));
    mb.header.version = 0;
    mb.header.sequence = static_cast<std::uint16_t>(i);
    mb.header.prev_block = prev;
    mb.header.tx_merkle_root = crypto::merkle_root(std::vector<codec::Hash32>{mb.txs[0].txid});
    mb.header.signature = sk.sign(codec::microblock_sighash(mb.header));
    codec::compute_ids(mb);
    prev = mb.block_hash;
    out.push_back(std::move(mb));
  }
  return out;
}

template <typename T>
struct TestPeer {
  ctl::LocalPeer id;
  T& t;
  codec::Framer framer;
  std::unique_ptr<ctl::Conversation> conv;
  dp::ConnId conn = dp::kNoConn;
  std::vector<Bytes> pushes;
  std::vector<Bytes> on_auth;  // sent the moment the handshake completes (before anything else is read)
  bool closed = false;

  TestPeer(T& transport, std::uint8_t key) : id(make_local_peer(key)), t(transport) {}
  void dial(const sockaddr_in6& a) { conn = *t.connect(a); }
  void send(const Bytes& b) {
    dp::SharedBuf* s = dp::SharedBuf::make(b);
    (void)t.send(conn, s, 0);
    s->unref();
  }
  void apply(std::vector<ctl::Action>& acts) {
    bool authed = false;
    for (auto& a : acts) {
      if (a.kind == ctl::Action::Kind::kSend) send(a.bytes);
      if (a.kind == ctl::Action::Kind::kRelay) pushes.push_back(a.bytes);
      authed |= a.kind == ctl::Action::Kind::kAuthenticated;
    }
    if (authed) {
      for (const auto& b : on_auth) send(b);
      on_auth.clear();
    }
  }
  bool authenticated() const { return conv && conv->authenticated(); }
  void pump(std::uint64_t now, int timeout_ms = 0) {
    dp::Event evs[32];
    for (std::size_t n; (n = t.poll(evs, timeout_ms)) > 0; timeout_ms = 0) {
      for (std::size_t i = 0; i < n; ++i) {
        const dp::Event& e = evs[i];
        std::vector<ctl::Action> acts;
        if (e.kind == dp::EventKind::kConnected || e.kind == dp::EventKind::kAccepted) {
          if (e.kind == dp::EventKind::kAccepted) conn = e.conn;  // a listening node: the relay dialed it
          conv = std::make_unique<ctl::Conversation>(&id, e.kind == dp::EventKind::kConnected, now);
          conv->set_burn_view(test_burn_view());
          conv->start(now, acts);
        } else if (e.kind == dp::EventKind::kClosed) {
          closed = true;
        } else if (e.kind == dp::EventKind::kData) {
          ByteSpan d = e.data;
          while (!d.empty()) {
            d = d.subspan(framer.feed(d));
            if (framer.state() == codec::Framer::State::kError) {
              ADD_FAILURE() << "unframeable bytes from the relay: " << framer.error().reason;
              break;
            }
            if (framer.state() != codec::Framer::State::kDone) continue;
            Bytes raw(framer.preamble_bytes().begin(), framer.preamble_bytes().end());
            raw.insert(raw.end(), framer.body().begin(), framer.body().end());
            auto m = codec::decode_message(raw);
            EXPECT_TRUE(m.ok()) << "undecodable message from the relay: " << (m.ok() ? "" : m.error().reason)
                                << " at byte " << (m.ok() ? 0 : m.error().offset);
            if (m.ok()) conv->on_message(raw, *m, now, acts);
            framer.next();
          }
          t.release(e);
        }
        apply(acts);
      }
    }
  }
  codec::Hash20 pkh() const {
    auto pk = id.key.public_key().compressed();
    return crypto::hash160(ByteSpan(pk.data(), pk.size()));
  }
};

}  // namespace relay::test
