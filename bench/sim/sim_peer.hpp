// bench/sim/sim_peer.hpp — a stock Stacks node as far as a relay can tell: its own
// transport endpoint, the codec's framer and the control plane's Conversation. It
// handshakes (dialing, or accepting when the relay dials it), answers like a node, and
// hands every push it receives to its owner. Templated on the transport (in-memory
// network or real TCP through io_uring); cheap enough to run hundreds in one process.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "bench/sim/sim_data.hpp"
#include "dataplane/transport/transport.hpp"
#include "relay/codec/framer.hpp"

namespace relay::sim {

template <typename T>
struct SimPeer {
  ctl::LocalPeer id;
  T& t;
  codec::Framer framer;
  std::unique_ptr<ctl::Conversation> conv;
  dp::ConnId conn = dp::kNoConn;
  bool keep_pushes = true;
  std::vector<Bytes> pushes;                         // when keep_pushes
  std::uint64_t push_count = 0;                      // every push received
  std::function<void(const Bytes&)> on_push;         // every push, as received
  std::function<void(const char* why)> on_error;     // bytes from the relay that do not parse
  std::function<void(ByteSpan)> on_message;          // every whole message received, as it came
  std::vector<Bytes> on_auth;  // sent the moment the handshake completes (before anything else is read)
  std::vector<codec::NeighborAddress> neighbors;               // what it answers GetNeighbors with
  std::vector<std::vector<codec::NeighborAddress>> neighbor_replies;  // Neighbors it asked for and got
  bool closed = false;
  std::uint32_t handshakes = 0;  // completed (a listening node counts each relay connection)
  std::uint64_t errors = 0;
  ctl::BurnView view = sim_burn_view();  // the view its preambles carry (set before it connects)

  SimPeer(T& transport, std::uint8_t key, std::uint8_t tag = 0) : id(make_local_peer(key, tag)), t(transport) {}
  void dial(const sockaddr_in6& a, const net::ConnectOptions& how = {}) { dial(net::from_sockaddr(a), how); }
  // (A name, e.g. an onion address, needs `how` to name a proxy.)
  void dial(const net::PeerAddress& a, const net::ConnectOptions& how = {}) {
    auto c = t.connect(a, how);
    conn = c.ok() ? *c : dp::kNoConn;
  }
  void send(const Bytes& b) {
    dp::SharedBuf* s = dp::SharedBuf::make(b);
    if (s == nullptr) return;
    (void)t.send(conn, s, 0);
    s->unref();
  }
  void apply(std::vector<ctl::Action>& acts) {
    bool authed = false;
    for (auto& a : acts) {
      if (a.kind == ctl::Action::Kind::kSend) send(a.bytes);
      if (a.kind == ctl::Action::Kind::kRelay) {
        ++push_count;
        if (on_push) on_push(a.bytes);
        if (keep_pushes) pushes.push_back(a.bytes);
      }
      if (a.kind == ctl::Action::Kind::kNeighbors) neighbor_replies.push_back(a.neighbors);
      authed |= a.kind == ctl::Action::Kind::kAuthenticated;
    }
    handshakes += authed;
    if (authed) {
      for (const auto& b : on_auth) send(b);
      on_auth.clear();
    }
  }
  bool authenticated() const { return conv && conv->authenticated(); }
  void fail(const char* why) {
    ++errors;
    if (on_error) on_error(why);
  }
  // pump: handle what the transport has (waiting up to timeout_ms for the first event).
  void pump(std::uint64_t now, int timeout_ms = 0) {
    dp::Event evs[32];
    std::vector<ctl::Action> acts;
    for (std::size_t n; (n = t.poll(evs, timeout_ms)) > 0; timeout_ms = 0) {
      for (std::size_t i = 0; i < n; ++i) {
        const dp::Event& e = evs[i];
        acts.clear();
        if (e.kind == dp::EventKind::kConnected || e.kind == dp::EventKind::kAccepted) {
          if (e.kind == dp::EventKind::kAccepted) conn = e.conn;  // a listening node: the relay dialed it
          closed = false;
          framer.reset();  // nothing of an earlier connection carries over
          conv = std::make_unique<ctl::Conversation>(&id, e.kind == dp::EventKind::kConnected, now);
          conv->set_burn_view(view);
          conv->set_neighbors(neighbors);
          conv->start(now, acts);
        } else if (e.kind == dp::EventKind::kClosed || e.kind == dp::EventKind::kConnectFailed) {
          closed |= e.conn == conn;  // (a listening node may already be on the relay's next connection)
        } else if (e.kind == dp::EventKind::kData) {
          if (e.conn == conn) feed(e.data, now, acts);
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

 private:
  void feed(ByteSpan d, std::uint64_t now, std::vector<ctl::Action>& acts) {
    while (!d.empty()) {
      d = d.subspan(framer.feed(d));
      if (framer.state() == codec::Framer::State::kError) return fail(framer.error().reason);
      if (framer.state() != codec::Framer::State::kDone) continue;
      Bytes raw(framer.preamble_bytes().begin(), framer.preamble_bytes().end());
      raw.insert(raw.end(), framer.body().begin(), framer.body().end());
      if (on_message) on_message(raw);
      auto m = codec::decode_message(raw);
      if (!m.ok()) fail(m.error().reason);
      else if (conv) conv->on_message(raw, *m, now, acts);
      framer.next();
    }
  }
};

}  // namespace relay::sim
