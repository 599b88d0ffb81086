// The frontier on its own: the peer table (what is learnt,
// what is advertised, what is dialed, what is evicted), bans, and persistence.
#include "control/frontier/frontier.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <set>

#include "relay/crypto/hash.hpp"

namespace relay::frontier {
namespace {

Addr16 ip(const char* s) {
  auto a = net::parse_addr(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(Addr16{});
}

codec::PubKey33 key_of(std::uint8_t b) {
  codec::PubKey33 k{};
  k[0] = 0x02;
  k[32] = b;
  return k;
}
codec::Hash20 pkh_of(std::uint8_t b) {
  const auto k = key_of(b);
  return crypto::hash160(ByteSpan(k.data(), k.size()));
}

constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::uint32_t kV = 0x18000010;

std::unique_ptr<Frontier> open_table(FrontierOptions o = {}) {
  auto f = Frontier::open(std::move(o));
  EXPECT_TRUE(f.ok());
  return f.ok() ? std::move(*f) : nullptr;
}

TEST(Frontier, LearnsOnlyUsableAddressesOfItsNetwork) {
  std::string err;
  FrontierOptions o;
  o.deny.push_back(*net::Cidr::parse("198.51.100.0/24", err));
  auto f = open_table(o);
  EXPECT_EQ(f->learn({1, ip("203.0.113.1"), 20444}, pkh_of(1), kNow), Frontier::Learn::kAdded);
  EXPECT_EQ(f->learn({1, ip("203.0.113.1"), 20444}, pkh_of(1), kNow), Frontier::Learn::kKnown);
  EXPECT_EQ(f->learn({1, ip("203.0.113.1"), 0}, pkh_of(2), kNow), Frontier::Learn::kRefused);      // port 0
  EXPECT_EQ(f->learn({1, ip("0.0.0.0"), 20444}, pkh_of(2), kNow), Frontier::Learn::kRefused);      // any address
  EXPECT_EQ(f->learn({2, ip("203.0.113.2"), 20444}, pkh_of(2), kNow), Frontier::Learn::kRefused);  // other network
  EXPECT_EQ(f->learn({1, ip("198.51.100.9"), 20444}, pkh_of(2), kNow), Frontier::Learn::kRefused);  // denied
  EXPECT_EQ(f->learn({1, ip("10.0.0.2"), 20444}, pkh_of(2), kNow), Frontier::Learn::kRefused);     // private
  EXPECT_EQ(f->learn({1, ip("10.0.0.2"), 20444}, pkh_of(2), kNow, true), Frontier::Learn::kAdded);  // unless configured
  EXPECT_EQ(f->size(), 2u);
  EXPECT_EQ(f->stats().learned, 2u);
  EXPECT_EQ(f->judge(ip("198.51.100.9"), kNow, true), Frontier::Verdict::kDenied);  // deny beats everything
  EXPECT_EQ(f->judge(ip("192.168.0.1"), kNow), Frontier::Verdict::kPrivate);

  o.private_neighbors = true;
  auto g = open_table(o);
  EXPECT_EQ(g->learn({1, ip("10.0.0.2"), 20444}, pkh_of(2), kNow), Frontier::Learn::kAdded);
}

// What a Neighbors reply may steer the relay at: never a link-local address (a cloud's
// metadata service at 169.254.169.254), shared (100.64/10), multicast or reserved
// space, whatever private_neighbors says; the operator's own peers and allow list may.
TEST(Frontier, UnroutableAddressesAreNeverLearntFromPeers) {
  std::string err;
  FrontierOptions o;
  o.private_neighbors = true;
  o.allow.push_back(*net::Cidr::parse("100.64.1.0/24", err));
  auto f = open_table(o);
  for (const char* a : {"169.254.169.254", "100.64.0.1", "224.0.0.1", "255.255.255.255", "240.0.0.1", "fe80::1", "ff02::1"}) {
    EXPECT_EQ(f->learn({1, ip(a), 20444}, pkh_of(3), kNow), Frontier::Learn::kRefused) << a;
    EXPECT_EQ(f->judge(ip(a), kNow), Frontier::Verdict::kUnroutable) << a;  // nor admitted inbound
  }
  EXPECT_EQ(f->learn({1, ip("100.64.0.2"), 20444}, pkh_of(4), kNow, true), Frontier::Learn::kAdded);  // configured
  EXPECT_EQ(f->judge(ip("100.64.1.7"), kNow), Frontier::Verdict::kOk);  // allowed
  EXPECT_EQ(f->judge(ip("100.63.255.255"), kNow), Frontier::Verdict::kOk);
  EXPECT_EQ(f->size(), 1u);
}

TEST(Frontier, GetNeighborsSampleIsFreshPublicUndeniedAndCurrent) {
  FrontierOptions o;
  auto f = open_table(o);
  auto contact = [&](const char* a, std::uint8_t k, std::int64_t when, std::uint32_t ver = kV,
                     std::uint64_t expire = 0x7fffffffffffffffull) {
    f->contacted({1, ip(a), 20444}, key_of(k), ver, 1, expire, when);
  };
  contact("203.0.113.1", 1, kNow - 10);                   // fresh
  contact("203.0.113.2", 2, kNow - 4 * 86400);            // too old
  contact("203.0.113.3", 3, kNow - 10, kV, 900000);       // key expired at our burn height
  contact("203.0.113.4", 4, kNow - 10, 0x1800000b);       // epoch 3.0: behind the current one
  contact("10.0.0.5", 5, kNow - 10);                      // private
  contact("203.0.113.6", 6, kNow - 10);                   // banned below
  f->learn({1, ip("203.0.113.7"), 20444}, pkh_of(7), kNow);  // heard of, never reached
  ASSERT_TRUE(f->misbehaved(ip("203.0.113.6"), kBanThreshold, kNow));
  auto s = f->sample(128, kNow, 950000, network_epoch_at(1, 950000));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].addrbytes, ip("203.0.113.1"));
  EXPECT_EQ(s[0].port, 20444);
  EXPECT_EQ(s[0].public_key_hash, pkh_of(1));

  // At most n, chosen at random.
  for (int i = 0; i < 40; ++i) {
    const std::string a = "198.18.0." + std::to_string(10 + i);
    contact(a.c_str(), static_cast<std::uint8_t>(100 + i), kNow - 5);
  }
  std::set<Addr16> seen;
  for (int round = 0; round < 20; ++round)
    for (const auto& n : f->sample(8, kNow, 950000, 0x10)) seen.insert(n.addrbytes);
  EXPECT_EQ(f->sample(8, kNow, 950000, 0x10).size(), 8u);
  EXPECT_GT(seen.size(), 8u);
}

TEST(Frontier, NetworkEpochFollowsMainnetsSchedule) {
  EXPECT_EQ(network_epoch_at(1, 800000), 0);
  EXPECT_EQ(network_epoch_at(1, 867867), 0x0b);
  EXPECT_EQ(network_epoch_at(1, 943333), 0x0f);
  EXPECT_EQ(network_epoch_at(1, 960229), 0x0f);
  EXPECT_EQ(network_epoch_at(1, 960230), 0x10);
  EXPECT_EQ(network_epoch_at(0x80000000, 960230), 0);
}

TEST(Frontier, DialCandidatesSkipBusySelfBackingOffAndPreferFreshPeers) {
  auto f = open_table();
  f->learn({1, ip("203.0.113.1"), 20444}, pkh_of(1), kNow);
  f->learn({1, ip("203.0.113.2"), 20444}, pkh_of(2), kNow, true);  // bootstrap
  f->contacted({1, ip("203.0.113.3"), 20444}, key_of(3), kV, 1, ~0ull >> 1, kNow - 60);
  f->learn({1, ip("203.0.113.4"), 20444}, pkh_of(9), kNow);  // claims our key
  f->learn({1, ip("203.0.113.5"), 20444}, pkh_of(5), kNow);
  f->dial_failed({1, ip("203.0.113.5"), 20444}, kNow);  // backing off
  auto busy_none = [](const PeerRow&) { return false; };
  auto c = f->dial_candidates(10, kNow, pkh_of(9), busy_none);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].key.addr, ip("203.0.113.3"));  // fresh first
  EXPECT_EQ(c[1].key.addr, ip("203.0.113.2"));  // then bootstrap
  EXPECT_EQ(c[2].key.addr, ip("203.0.113.1"));
  EXPECT_EQ(f->dial_candidates(1, kNow, pkh_of(9), busy_none).size(), 1u);
  auto busy3 = [](const PeerRow& r) { return r.pkh == pkh_of(3); };
  EXPECT_EQ(f->dial_candidates(10, kNow, pkh_of(9), busy3).size(), 2u);
  // The back-off ends: 30 s after one failure.
  EXPECT_EQ(f->dial_candidates(10, kNow + 30, pkh_of(9), busy_none).size(), 4u);
}

TEST(Frontier, FailingPeersBackOffThenAreForgottenButBootstrapPeersStay) {
  auto f = open_table();
  const PeerKey a{1, ip("203.0.113.1"), 20444}, b{1, ip("203.0.113.2"), 20444};
  f->learn(a, pkh_of(1), kNow);
  f->learn(b, pkh_of(2), kNow, true);
  std::int64_t t = kNow;
  std::int64_t last_wait = 0;
  for (int i = 0; i < 9; ++i) {
    f->dial_failed(a, t);
    f->dial_failed(b, t);
    ASSERT_NE(f->find(a), nullptr);
    const std::int64_t wait = f->find(a)->next_dial_s - t;
    EXPECT_GE(wait, last_wait);  // exponential, capped at an hour
    EXPECT_LE(wait, 3600);
    last_wait = wait;
  }
  EXPECT_EQ(last_wait, 3600);
  f->dial_failed(a, t);
  f->dial_failed(b, t);
  EXPECT_EQ(f->find(a), nullptr);  // ten failures in a row: forgotten
  ASSERT_NE(f->find(b), nullptr);  // a bootstrap peer is retried for ever
  EXPECT_EQ(f->find(b)->failures, 10u);
  // Reaching it again clears the record.
  f->contacted(b, key_of(2), kV, 1, ~0ull >> 1, t);
  EXPECT_EQ(f->find(b)->failures, 0u);
  EXPECT_EQ(f->find(b)->next_dial_s, 0);
}

TEST(Frontier, AFullTableDisplacesOnlyStalePeers) {
  FrontierOptions o;
  o.max_peers = 16;  // 8 candidate slots out of 16: collisions are the rule
  auto f = open_table(o);
  // Fill it with fresh peers until a newcomer finds every candidate slot live.
  int added = 0, full = 0;
  for (int i = 0; i < 200 && full == 0; ++i) {
    const std::string a = "198.18.1." + std::to_string(i);
    const PeerKey k{1, ip(a.c_str()), 20444};
    if (f->learn(k, pkh_of(static_cast<std::uint8_t>(i)), kNow) == Frontier::Learn::kFull) {
      ++full;
    } else {
      f->contacted(k, key_of(static_cast<std::uint8_t>(i)), kV, 1, ~0ull >> 1, kNow);
      ++added;
    }
  }
  EXPECT_EQ(full, 1);
  EXPECT_LE(f->size(), 16u);
  EXPECT_EQ(f->stats().table_full, 1u);
  EXPECT_EQ(f->stats().evicted, 0u);
  // Four days on, every incumbent is stale: newcomers displace them.
  const std::int64_t later = kNow + 4 * 86400;
  int placed = 0;
  for (int i = 0; i < 50; ++i) {
    const std::string a = "198.18.2." + std::to_string(i);
    placed += f->learn({1, ip(a.c_str()), 20444}, pkh_of(static_cast<std::uint8_t>(i)), later) == Frontier::Learn::kAdded;
  }
  EXPECT_GT(placed, 0);
  EXPECT_GT(f->stats().evicted, 0u);
  EXPECT_LE(f->size(), 16u);
}

TEST(Frontier, BansFollowTheScoreAndDoubleForRepeatOffenders) {
  FrontierOptions o;
  o.ban_base_s = 600;
  o.ban_max_s = 2000;
  std::string err;
  o.allow.push_back(*net::Cidr::parse("192.0.2.0/24", err));
  auto f = open_table(o);
  const Addr16 bad = ip("203.0.113.66");
  EXPECT_FALSE(f->misbehaved(bad, kPointsMisbehaviour, kNow));
  EXPECT_FALSE(f->banned_until(bad, kNow));
  EXPECT_TRUE(f->misbehaved(bad, kPointsMisbehaviour, kNow + 1));  // two offences: banned
  ASSERT_TRUE(f->banned_until(bad, kNow + 1));
  EXPECT_EQ(*f->banned_until(bad, kNow + 1), kNow + 1 + 600);
  EXPECT_EQ(f->judge(bad, kNow + 2), Frontier::Verdict::kBanned);
  EXPECT_EQ(f->bans_in_force(kNow + 2), 1u);
  EXPECT_FALSE(f->banned_until(bad, kNow + 601));  // served
  EXPECT_EQ(f->judge(bad, kNow + 601), Frontier::Verdict::kOk);
  // Again soon after: twice as long; then capped.
  f->misbehaved(bad, kPointsMisbehaviour, kNow + 700);
  EXPECT_TRUE(f->misbehaved(bad, kPointsMisbehaviour, kNow + 700));
  EXPECT_EQ(*f->banned_until(bad, kNow + 700), kNow + 700 + 1200);
  f->misbehaved(bad, kBanThreshold, kNow + 2000);
  EXPECT_EQ(*f->banned_until(bad, kNow + 2000), kNow + 2000 + 2000);
  EXPECT_EQ(f->stats().bans, 3u);

  // Points fade: two offences an hour apart are not a ban; half an hour apart they are.
  const Addr16 slow = ip("203.0.113.67");
  EXPECT_FALSE(f->misbehaved(slow, kPointsMisbehaviour, kNow));
  EXPECT_FALSE(f->misbehaved(slow, kPointsMisbehaviour, kNow + 3600));
  EXPECT_FALSE(f->banned_until(slow, kNow + 3600));
  const Addr16 fast = ip("203.0.113.68");
  EXPECT_FALSE(f->misbehaved(fast, kPointsMisbehaviour, kNow));
  EXPECT_TRUE(f->misbehaved(fast, kPointsMisbehaviour, kNow + 1800));

  // Allowed and bootstrap addresses are never banned.
  const Addr16 friendly = ip("192.0.2.5");
  EXPECT_FALSE(f->misbehaved(friendly, 1000, kNow));
  f->learn({1, ip("203.0.113.1"), 20444}, pkh_of(1), kNow, true);
  EXPECT_FALSE(f->misbehaved(ip("203.0.113.1"), 1000, kNow));
  EXPECT_EQ(f->stats().ban_exempt, 2u);
  EXPECT_FALSE(f->banned_until(friendly, kNow));
}

// A ban covers the offender's IPv6 /64 (a host is given a whole /64 and may use any
// address in it), and an IPv4 address alone.
TEST(Frontier, BansCoverAnIpv6Slash64) {
  FrontierOptions o;
  auto f = open_table(o);
  EXPECT_FALSE(f->misbehaved(ip("2001:db8:5::1"), kPointsMisbehaviour, kNow));
  EXPECT_TRUE(f->misbehaved(ip("2001:db8:5::2"), kPointsMisbehaviour, kNow));  // the same /64: one score
  EXPECT_EQ(f->judge(ip("2001:db8:5:0:1234::9"), kNow + 1), Frontier::Verdict::kBanned);
  EXPECT_EQ(f->judge(ip("2001:db8:5:1::1"), kNow + 1), Frontier::Verdict::kOk);
  EXPECT_TRUE(f->misbehaved(ip("203.0.113.66"), kBanThreshold, kNow));
  EXPECT_EQ(f->judge(ip("203.0.113.67"), kNow + 1), Frontier::Verdict::kOk);
  EXPECT_EQ(f->bans_in_force(kNow + 1), 2u);
}

TEST(Frontier, TableAndBansSurviveARestart) {
  char tmpl[] = "/tmp/stacks-relay-frontier-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  FrontierOptions o;
  o.path = dir + "/peers";
  std::vector<PeerRow> before;
  {
    auto f = open_table(o);
    ASSERT_NE(f, nullptr);
    f->learn({1, ip("203.0.113.1"), 20444}, pkh_of(1), kNow, true);
    f->contacted({1, ip("203.0.113.2"), 20445}, key_of(2), kV, 3, 12345, kNow - 5);
    f->learn({1, ip("2001:db8::3"), 20444}, pkh_of(3), kNow);
    f->dial_failed({1, ip("2001:db8::3"), 20444}, kNow);
    f->learn({1, ip("203.0.113.9"), 20444}, pkh_of(9), kNow);
    ASSERT_TRUE(f->flush().ok());
    f->misbehaved(ip("203.0.113.66"), kBanThreshold, kNow);
    before = f->rows();
    // Not flushed by hand: closing the table writes what is pending.
  }
  {
    auto f = open_table(o);
    ASSERT_NE(f, nullptr);
    auto after = f->rows();
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
      EXPECT_EQ(after[i].key, before[i].key);
      EXPECT_EQ(after[i].slot, before[i].slot);  // same nonce, same slots
      EXPECT_EQ(after[i].pkh, before[i].pkh);
      EXPECT_EQ(after[i].public_key, before[i].public_key);
      EXPECT_EQ(after[i].last_contact_s, before[i].last_contact_s);
      EXPECT_EQ(after[i].failures, before[i].failures);
      EXPECT_EQ(after[i].next_dial_s, before[i].next_dial_s);
      EXPECT_EQ(after[i].initial, before[i].initial);
      EXPECT_EQ(after[i].expire_block_height, before[i].expire_block_height);
      EXPECT_EQ(after[i].services, before[i].services);
    }
    EXPECT_TRUE(f->banned_until(ip("203.0.113.66"), kNow + 1));
    // A removal is persisted too.
    for (int i = 0; i < 10; ++i) f->dial_failed({1, ip("203.0.113.9"), 20444}, kNow);
    EXPECT_EQ(f->size(), before.size() - 1);
  }
  {
    auto f = open_table(o);
    EXPECT_EQ(f->size(), before.size() - 1);
    EXPECT_EQ(f->find({1, ip("203.0.113.9"), 20444}), nullptr);
  }
  // A smaller table on restart keeps what fits, bootstrap and freshest first.
  o.max_peers = 16;
  {
    auto f = open_table(o);
    EXPECT_NE(f->find({1, ip("203.0.113.1"), 20444}), nullptr);
  }
  (void)std::system(("rm -rf " + dir).c_str());
}

TEST(Frontier, UnusableStoreIsAnError) {
  FrontierOptions o;
  o.path = "/proc/no-such-dir/peers";
  auto f = Frontier::open(o);
  EXPECT_FALSE(f.ok());
}

}  // namespace
}  // namespace relay::frontier
