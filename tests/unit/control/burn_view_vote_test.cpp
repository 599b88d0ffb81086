#include "control/engine/burn_view_vote.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "relay/net/address.hpp"

namespace relay::ctl {
namespace {

policy::BurnView view(std::uint64_t height, std::uint8_t tag) {
  policy::BurnView v;
  v.height = height;
  v.stable_height = height - 7;
  v.hash.fill(tag);
  v.stable_hash.fill(static_cast<std::uint8_t>(tag + 1));
  return v;
}
codec::Addr16 ip(const char* s) { return *net::parse_addr(s); }

TEST(BurnViewVote, OnePeerCannotSetTheViewOfARelayThatHasOne) {
  BurnViewVote vote(3, 7);
  const auto poisoned = view(900200, 0xee);
  vote.report(1, ip("203.0.113.5"), poisoned, false);
  EXPECT_FALSE(vote.decide(true).has_value());                // kept: no quorum
  EXPECT_EQ(vote.decide(false).value_or(policy::BurnView{}), poisoned);  // nothing yet: better than a zero view
  // Three independent peers carry the real (lower) view: it wins over the higher one.
  const auto real = view(900107, 0x11);
  vote.report(2, ip("198.51.100.1"), real, false);
  vote.report(3, ip("192.0.2.1"), real, false);
  EXPECT_FALSE(vote.decide(true).has_value());
  vote.report(4, ip("2001:db8::1"), real, false);
  EXPECT_EQ(vote.decide(true).value_or(policy::BurnView{}), real);
  EXPECT_EQ(vote.witnesses(real), 3u);
}

TEST(BurnViewVote, ManyAddressesOfOneNetgroupAreOneWitness) {
  BurnViewVote vote(3, 7);
  const auto fake = view(900300, 0xaa);
  vote.report(1, ip("203.0.113.5"), fake, false);
  vote.report(2, ip("203.0.7.9"), fake, false);       // same /16
  vote.report(3, ip("2001:db8:1::1"), fake, false);
  vote.report(4, ip("2001:db8:ffff::2"), fake, false);  // same /32
  EXPECT_EQ(vote.witnesses(fake), 2u);
  EXPECT_FALSE(vote.decide(true).has_value());
  vote.report(5, ip("198.51.100.1"), fake, false);  // a third netgroup: now it is a quorum
  EXPECT_EQ(vote.decide(true).value_or(policy::BurnView{}), fake);
}

TEST(BurnViewVote, TheViewFollowsItsWitnessesAndTheChain) {
  BurnViewVote vote(2, 7);
  const auto a = view(900107, 0x11), b = view(900108, 0x22);
  vote.report(1, ip("198.51.100.1"), a, false);
  vote.report(2, ip("192.0.2.1"), a, false);
  EXPECT_EQ(vote.decide(true).value_or(policy::BurnView{}), a);
  vote.report(1, ip("198.51.100.1"), b, false);  // one peer moves on: no quorum either way, keep a
  EXPECT_FALSE(vote.decide(true).has_value());
  vote.report(2, ip("192.0.2.1"), b, false);  // both: the higher view
  EXPECT_EQ(vote.decide(true).value_or(policy::BurnView{}), b);
  vote.forget(2);  // a witness leaves: no view has a quorum any more; keep what we have
  EXPECT_FALSE(vote.decide(true).has_value());
  // A view nodes would refuse (stable height + 7 != height) is not a vote.
  policy::BurnView bad = b;
  bad.stable_height += 1;
  vote.report(3, ip("203.0.113.1"), bad, false);
  EXPECT_EQ(vote.witnesses(bad), 0u);
}

TEST(BurnViewVote, ATrustedNodeIsBelievedAndOnlyMovesForward) {
  BurnViewVote vote(3, 7);
  const auto a = view(900107, 0x11), b = view(900108, 0x22), quorum = view(900109, 0x33);
  vote.report(9, ip("10.0.0.5"), b, true);
  for (std::uint32_t i = 0; i < 3; ++i)
    vote.report(i, ip(i == 0 ? "198.51.100.1" : i == 1 ? "192.0.2.1" : "203.0.113.1"), quorum, false);
  EXPECT_EQ(vote.decide(true).value_or(policy::BurnView{}), b);
  vote.report(9, ip("10.0.0.5"), a, true);  // an older view from it: ignored
  EXPECT_EQ(vote.decide(true).value_or(policy::BurnView{}), b);
  vote.forget(9);  // remembered after it leaves
  EXPECT_EQ(vote.decide(true).value_or(policy::BurnView{}), b);
}

TEST(BurnViewVote, TheViewIsKeptAcrossRestarts) {
  char tmpl[] = "/tmp/burn-view-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string path = dir + "/burn-view";
  EXPECT_FALSE(load_burn_view(path).has_value());
  const auto v = view(900107, 0x5c);
  ASSERT_TRUE(save_burn_view(path, v));
  EXPECT_EQ(load_burn_view(path).value_or(policy::BurnView{}), v);
  for (const char* junk : {"", "12 zz 5 00\n", "900107 00 900100\n", "0 00 0 00\n"}) {
    std::ofstream(path, std::ios::trunc) << junk;
    EXPECT_FALSE(load_burn_view(path).has_value()) << junk;
  }
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace relay::ctl
