// net::PeerAddress and net::ConnectOptions: what each kind of host parses to, that onion
// and I2P names are told apart (and never taken for DNS names), and their encoding on
// the link (a malformed one is refused, never trusted).
#include "relay/net/peer_address.hpp"

#include <gtest/gtest.h>

#include "relay/net/address.hpp"

namespace relay::net {
namespace {

constexpr const char* kOnion = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3kead.onion";  // a v3 address
constexpr const char* kI2p = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq.b32.i2p";

PeerAddress parse_ok(const std::string& s) {
  std::string err;
  auto a = PeerAddress::parse(s, err);
  EXPECT_TRUE(a.has_value()) << s << ": " << err;
  return a.value_or(PeerAddress{});
}

TEST(PeerAddress, EachKindOfHost) {
  const PeerAddress v4 = parse_ok("203.0.113.7:20444");
  EXPECT_EQ(v4.kind(), HostKind::kIp);
  EXPECT_EQ(v4.addr(), *parse_addr("203.0.113.7"));
  EXPECT_EQ(v4.port(), 20444);
  EXPECT_EQ(v4.to_string(), "203.0.113.7:20444");
  const PeerAddress v6 = parse_ok("[2001:db8::1]:1");
  EXPECT_EQ(v6.kind(), HostKind::kIp);
  EXPECT_EQ(v6.to_string(), "[2001:db8::1]:1");
  const PeerAddress dns = parse_ok("Seed.Mainnet.Hiro.so:20444");
  EXPECT_EQ(dns.kind(), HostKind::kName);
  EXPECT_EQ(dns.name(), "seed.mainnet.hiro.so");  // names are kept in lower case
  EXPECT_FALSE(dns.needs_proxy());
  const PeerAddress onion = parse_ok(std::string(kOnion) + ":20444");
  EXPECT_EQ(onion.kind(), HostKind::kOnion);
  EXPECT_TRUE(onion.needs_proxy());
  EXPECT_EQ(parse_ok(std::string("www.") + kOnion + ":80").kind(), HostKind::kOnion);  // a subdomain of one
  const PeerAddress i2p = parse_ok(std::string(kI2p) + ":7656");
  EXPECT_EQ(i2p.kind(), HostKind::kI2p);
  EXPECT_TRUE(i2p.needs_proxy());
  EXPECT_EQ(parse_ok("stats.i2p:80").kind(), HostKind::kI2p);  // an address-book name: still never resolved by DNS
}

TEST(PeerAddress, RefusesWhatIsNoHost) {
  std::string err;
  for (const char* bad : {"", "host", "host:", ":1", "host:0", "host:65536", "ho st:1", "-a.example:1", "a..b:1",
                          "[2001:db8::1]1", "2001:db8::1:1", "[nothing]:1",
                          // v2 onions (16 characters) are gone; a v3 one is 56 base32 characters ending in 'd'
                          "expyuzz4wqqyqhjn.onion:1", "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3keaa.onion:1",
                          "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3ke1d.onion:1", "short.b32.i2p:1"})
    EXPECT_FALSE(PeerAddress::parse(bad, err).has_value()) << bad;
  EXPECT_TRUE(PeerAddress::parse("0.0.0.0:0", err, true).has_value());  // port 0 where asked for (binds)
  EXPECT_FALSE(PeerAddress::parse(std::string(254, 'a') + ":1", err).has_value());
}

TEST(PeerAddress, OnTheLinkAndAsASocketAddress) {
  const std::vector<std::string> all = {"203.0.113.7:20444", "[2001:db8::1]:1", "seed.mainnet.hiro.so:20444",
                                       std::string(kOnion) + ":20444", std::string(kI2p) + ":1"};
  for (const std::string& s : all) {
    const PeerAddress a = parse_ok(s);
    Bytes b;
    {
      Writer w(b);
      a.put(w);
    }
    Reader r(b);
    auto back = PeerAddress::get(r);
    ASSERT_TRUE(back.has_value()) << s;
    EXPECT_EQ(*back, a);
    EXPECT_TRUE(r.at_end());
    EXPECT_EQ(to_sockaddr(a).has_value(), a.is_ip()) << s;
    if (a.is_ip()) {
      EXPECT_EQ(from_sockaddr(*to_sockaddr(a)), a);
    }
  }
  // Malformed on the link: an unknown kind, a name that is no host, a kind that does
  // not match its name (an onion passed off as a DNS name would be resolved), truncation.
  auto refused = [](Bytes b) {
    Reader r(b);
    return !PeerAddress::get(r).has_value();
  };
  EXPECT_TRUE(refused({9, 0, 1}));
  EXPECT_TRUE(refused({1, 0, 1, 3, 'a', ' ', 'b'}));
  Bytes disguised = {1, 0, 1, 62};
  for (const char* p = kOnion; *p != 0; ++p) disguised.push_back(static_cast<std::uint8_t>(*p));
  EXPECT_TRUE(refused(disguised));
  EXPECT_TRUE(refused({0, 0, 1, 0, 0}));  // an IP cut short
}

TEST(ConnectOptions, OnTheLink) {
  ConnectOptions o;
  o.mptcp = true;
  o.bind_device = "wg0";
  o.bind_source = *parse_addr("198.18.0.2");
  for (const ConnectOptions& x : {ConnectOptions{}, o}) {
    Bytes b;
    {
      Writer w(b);
      x.put(w);
    }
    Reader r(b);
    auto back = ConnectOptions::get(r);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, x);
    EXPECT_TRUE(r.at_end());
  }
  Bytes unknown_flag = {4, 0};
  Reader r1(unknown_flag);
  EXPECT_FALSE(ConnectOptions::get(r1).has_value());
  Bytes long_device = {0, 16};
  long_device.resize(18, 'x');
  Reader r2(long_device);
  EXPECT_FALSE(ConnectOptions::get(r2).has_value());
}

}  // namespace
}  // namespace relay::net
