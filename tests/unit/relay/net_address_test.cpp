// IP addresses on their own: the node's private ranges, printing and parsing, CIDR blocks.
#include "relay/net/address.hpp"

#include <gtest/gtest.h>

namespace relay::net {
namespace {

Addr16 ip(const char* s) {
  auto a = parse_addr(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(Addr16{});
}

TEST(Address, PrivateRangesAreTheNodes) {
  for (const char* p : {"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "127.0.0.1", "fc00::1", "fd12::1", "::1"})
    EXPECT_TRUE(is_private(ip(p))) << p;
  for (const char* p : {"172.32.0.1", "172.15.255.255", "192.169.0.1", "8.8.8.8", "198.18.0.1", "2001:db8::1", "fe80::1"})
    EXPECT_FALSE(is_private(ip(p))) << p;
  EXPECT_TRUE(is_unspecified(ip("0.0.0.0")));
  EXPECT_TRUE(is_unspecified(ip("::")));
  EXPECT_FALSE(is_unspecified(ip("0.0.0.1")));
  EXPECT_EQ(addr_to_string(ip("203.0.113.7")), "203.0.113.7");
  EXPECT_EQ(addr_to_string(ip("2001:db8::1")), "2001:db8::1");
  EXPECT_FALSE(parse_addr("203.0.113").has_value());
  EXPECT_FALSE(parse_addr("").has_value());
}

TEST(Address, UnroutableIsWhatNoInternetPeerHas) {
  for (const char* p : {"0.1.2.3", "169.254.169.254", "100.64.0.0", "100.127.255.255", "224.0.0.1", "239.255.255.250",
                        "240.0.0.1", "255.255.255.255", "fe80::1", "febf::1", "ff02::1"})
    EXPECT_TRUE(is_unroutable(ip(p))) << p;
  for (const char* p : {"1.1.1.1", "100.63.255.255", "100.128.0.0", "169.253.0.1", "223.255.255.255", "10.0.0.1",
                        "2001:db8::1", "fec0::1", "fc00::1", "::1"})
    EXPECT_FALSE(is_unroutable(ip(p))) << p;
}

TEST(Address, HostBlockIsTheIpv4AddressOrTheIpv6Slash64) {
  EXPECT_EQ(host_block(ip("203.0.113.7")), ip("203.0.113.7"));
  EXPECT_EQ(host_block(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
  EXPECT_NE(host_block(ip("2001:db8:1:2::1")), host_block(ip("2001:db8:1:3::1")));
}

TEST(Address, CidrBlocks) {
  std::string err;
  auto c = Cidr::parse("203.0.113.0/24", err);
  ASSERT_TRUE(c) << err;
  EXPECT_TRUE(c->contains(ip("203.0.113.200")));
  EXPECT_FALSE(c->contains(ip("203.0.114.1")));
  EXPECT_FALSE(c->contains(ip("2001:db8::1")));
  EXPECT_EQ(c->to_string(), "203.0.113.0/24");
  auto one = Cidr::parse("198.51.100.7", err);
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->contains(ip("198.51.100.7")));
  EXPECT_FALSE(one->contains(ip("198.51.100.8")));
  auto v6 = Cidr::parse("2001:db8::/32", err);
  ASSERT_TRUE(v6) << err;
  EXPECT_TRUE(v6->contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->contains(ip("2001:db9::1")));
  auto odd = Cidr::parse("10.0.0.0/12", err);  // a prefix not on a byte boundary
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(ip("10.15.1.1")));
  EXPECT_FALSE(odd->contains(ip("10.16.0.1")));
  auto all = Cidr::parse("0.0.0.0/0", err);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(ip("8.8.8.8")));

  EXPECT_FALSE(Cidr::parse("203.0.113.1/24", err));  // host bits set: a typo, not a block
  EXPECT_NE(err.find("203.0.113.0/24"), std::string::npos) << err;
  EXPECT_FALSE(Cidr::parse("203.0.113.0/33", err));
  EXPECT_FALSE(Cidr::parse("203.0.113.0/", err));
  EXPECT_FALSE(Cidr::parse("203.0.113.0/2x", err));
  EXPECT_FALSE(Cidr::parse("example.com/8", err));
  EXPECT_NE(err.find("example.com"), std::string::npos);
}

}  // namespace
}  // namespace relay::net
