// tests/support/test_peer.hpp — the simulated stock node (bench/sim) as tests use it:
// anything unparseable from the relay is a test failure.
#pragma once

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/loopback.hpp"
#include <gtest/gtest.h>

#include "bench/sim/sim_peer.hpp"

namespace relay::test {

using sim::make_local_peer;
inline ctl::BurnView test_burn_view() { return sim::sim_burn_view(); }
inline codec::StacksTransaction signed_test_tx(std::uint64_t nonce) { return sim::signed_tx(nonce); }
// test_chunk: a StackerDB chunk push for slot `slot` of the signers contract, `size` bytes
// of data (a byte that depends on the slot).
inline codec::StackerDBPushChunk test_chunk(std::uint32_t slot, std::size_t size) {
  codec::StackerDBPushChunk ch;
  ch.contract_id.address.hash.fill(0x22);
  ch.contract_id.name = "signers-1-0";
  ch.chunk.slot_id = slot;
  ch.chunk.slot_version = 1;
  ch.chunk.data.assign(size, static_cast<std::uint8_t>(slot));
  return ch;
}
inline std::vector<codec::StacksMicroblock> signed_test_microblocks(std::size_t n, std::uint8_t key_byte,
                                                                    std::uint64_t first_nonce = 100) {
  return sim::signed_microblocks(n, key_byte, first_nonce);
}

// peer_addr: HOST (an IP literal or a name) and PORT as a net::PeerAddress.
inline net::PeerAddress peer_addr(const char* host, std::uint16_t port) {
  std::string err;
  auto a = net::PeerAddress::from_host(host, port, err);
  EXPECT_TRUE(a.has_value()) << host << ": " << err;
  return a.value_or(net::PeerAddress{});
}

// loopback_addr: 127.0.0.1:port as an IPv4-mapped IPv6 socket address.
inline sockaddr_in6 loopback_addr(std::uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr);
  return a;
}

template <typename T>
struct TestPeer : sim::SimPeer<T> {
  TestPeer(T& transport, std::uint8_t key) : sim::SimPeer<T>(transport, key) {
    this->on_error = [](const char* why) { ADD_FAILURE() << "bytes from the relay that do not parse: " << why; };
  }
};

}  // namespace relay::test
