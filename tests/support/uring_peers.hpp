// tests/support/uring_peers.hpp — stock-node test peers over real TCP (each with its own
// io_uring transport), stepped together until a condition holds or time is up.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/net/address.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/test_peer.hpp"
#include "tests/support/veth_lab.hpp"

namespace relay::test {

using Peer = TestPeer<dp::UringTransport>;

// Stock-node peers, each with its own io_uring transport: on loopback here, or (made
// with a namespace) inside that namespace dialing a relay across a veth.
struct Peers {
  std::vector<std::unique_ptr<dp::UringTransport>> ts;
  std::vector<std::unique_ptr<Peer>> ps;
  std::uint64_t now = 1;
  std::string netns;  // where add(key) makes its peers ("": here)
  sockaddr_in6 relay{};  // and whom they dial (port 0: not set)

  Peers() = default;
  // Peers made inside network namespace `ns` ("": here; their sockets stay there, this
  // thread comes back), dialing the relay at `relay_addr`.
  Peers(std::string ns, const sockaddr_in6& relay_addr) : netns(std::move(ns)), relay(relay_addr) {}

  // add: a peer dialing `relay` from this set's namespace.
  Peer& add(std::uint8_t key) {
    EXPECT_NE(relay.sin6_port, 0) << "add(key) is for peers made with the relay's address";
    EXPECT_TRUE(in_netns(netns, [&] {
      ts.push_back(std::move(dp::UringTransport::create({}).value()));
      ps.push_back(std::make_unique<Peer>(*ts.back(), key));
      ps.back()->dial(relay);
    }));
    return *ps.back();
  }
  // add: a peer dialing the relay, from loopback address `from` when given (e.g.
  // "127.1.0.1": another /16, another netgroup).
  Peer& add(std::uint8_t key, std::uint16_t relay_port, const char* from = nullptr) {
    ts.push_back(std::move(dp::UringTransport::create({}).value()));
    ps.push_back(std::make_unique<Peer>(*ts.back(), key));
    net::ConnectOptions how;
    if (from != nullptr) how.bind_source = net::parse_addr(from);
    ps.back()->dial(loopback_addr(relay_port), how);
    return *ps.back();
  }
  // pump_until: step every peer until `done` (false after `secs` seconds).
  bool pump_until(const std::function<bool()>& done, int secs = 20) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      for (auto& p : ps) p->pump(++now, 1);
    }
    return true;
  }
  // relays_transactions: `from` pushes `n` transactions (seq and nonce from `first`);
  // true once every one has reached `to`, false after `secs` seconds.
  bool relays_transactions(Peer& from, Peer& to, std::uint32_t first, int n, int secs) {
    const std::size_t want = to.pushes.size() + static_cast<std::size_t>(n);
    for (int i = 0; i < n; ++i) {
      const std::uint32_t k = first + static_cast<std::uint32_t>(i);
      from.send(from.conv->sign(k, codec::Transaction{signed_test_tx(k)}));
    }
    return pump_until([&] { return to.pushes.size() >= want; }, secs);
  }
  bool all_authenticated() {
    return pump_until([&] {
      for (auto& p : ps)
        if (!p->authenticated() && !p->closed) return false;
      return true;
    });
  }
};

// ListeningNode: a stock node that listens on loopback for the relay to dial it.
struct ListeningNode {
  std::unique_ptr<dp::UringTransport> t = std::move(dp::UringTransport::create({}).value());
  Peer peer{*t, 80};
  std::uint16_t port = 0;
  ListeningNode() { port = t->listen(loopback_addr(0)).value(); }
  // Listening at `at` inside network namespace `netns` (a node across a veth).
  ListeningNode(const std::string& netns, const sockaddr_in6& at) {
    EXPECT_TRUE(in_netns(netns, [&] {
      auto l = t->listen(at);
      port = l.ok() ? *l : 0;
    }));
  }
  void pump(std::uint64_t now) { peer.pump(now, 1); }
  std::uint32_t handshakes() const { return peer.handshakes; }
};

}  // namespace relay::test
