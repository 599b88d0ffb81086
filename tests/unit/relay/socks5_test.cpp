// net::socks5::Client, the SOCKS5 dialogue, byte by byte against RFC 1928/1929: what it
// sends for each kind of target and login, how it reads every answer (split anywhere),
// and the text each failure gets. Against real proxies: tests/privacy.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "relay/base/hex.hpp"
#include "relay/net/dialogue.hpp"
#include "relay/net/socks5.hpp"

namespace relay::net {
namespace {

using socks5::Client;
using socks5::Login;
using State = Dialogue::State;

constexpr const char* kOnion = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3kead.onion";

PeerAddress addr(const std::string& s) {
  std::string err;
  auto a = PeerAddress::parse(s, err);
  EXPECT_TRUE(a.has_value()) << err;
  return a.value_or(PeerAddress{});
}

Bytes B(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(static_cast<std::uint8_t>(x));
  return b;
}

// run: feed `answers` (each the proxy's answer to our last message) and collect what the
// client sends; the final step is returned.
struct Exchange {
  std::vector<Bytes> sent;
  Dialogue::Step last;
};
Exchange run(Dialogue& d, const std::vector<Bytes>& answers) {
  Exchange r;
  r.sent.push_back(d.opening());
  for (const auto& a : answers) {
    r.last = d.on_bytes(a);
    if (!r.last.send.empty()) r.sent.push_back(r.last.send);
    if (r.last.state != State::kMore) break;
  }
  return r;
}

const Bytes kIpv4Ok = B({5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90});

TEST(Socks5, NoLoginConnectsToAnIpv4PeerWithAddressType1) {
  Client c(addr("198.18.0.7:20444"), std::nullopt);
  const Exchange r = run(c, {B({5, 0}), kIpv4Ok});
  ASSERT_EQ(r.sent.size(), 2u);
  EXPECT_EQ(r.sent[0], B({5, 1, 0}));  // one method offered: none
  EXPECT_EQ(r.sent[1], B({5, 1, 0, 1, 198, 18, 0, 7, 0x4f, 0xdc}));
  EXPECT_EQ(r.last.state, State::kDone);
  EXPECT_EQ(r.last.consumed, kIpv4Ok.size());
}

TEST(Socks5, AnIpv6PeerGoesAsAddressType4) {
  Client c(addr("[2001:db8::5]:80"), std::nullopt);
  const Exchange r = run(c, {B({5, 0}), kIpv4Ok});
  ASSERT_EQ(r.sent.size(), 2u);
  EXPECT_EQ(to_hex(r.sent[1]), "05010004" "20010db8000000000000000000000005" "0050");
}

// A name is handed to the proxy as a name (type 3): never resolved here.
TEST(Socks5, NamesAndOnionAddressesGoToTheProxyUnresolved) {
  for (const std::string& host : {std::string("seed.example.org"), std::string(kOnion)}) {
    Client c(addr(host + ":20444"), std::nullopt);
    const Exchange r = run(c, {B({5, 0}), kIpv4Ok});
    ASSERT_EQ(r.sent.size(), 2u);
    Bytes want = B({5, 1, 0, 3, static_cast<int>(host.size())});
    want.insert(want.end(), host.begin(), host.end());
    want.push_back(0x4f);
    want.push_back(0xdc);
    EXPECT_EQ(r.sent[1], want) << host;
    EXPECT_EQ(r.last.state, State::kDone);
  }
}

TEST(Socks5, ALoginIsOfferedBesideNoneAndSentAsRfc1929SaysWhenChosen) {
  Client c(addr("198.18.0.7:1"), Login{"alice", "s3cret"});
  const Exchange r = run(c, {B({5, 2}), B({1, 0}), kIpv4Ok});
  ASSERT_EQ(r.sent.size(), 3u);
  EXPECT_EQ(r.sent[0], B({5, 2, 0, 2}));  // the proxy chooses (Tor: the login)
  EXPECT_EQ(r.sent[1], B({1, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', '3', 'c', 'r', 'e', 't'}));
  EXPECT_EQ(r.sent[2], B({5, 1, 0, 1, 198, 18, 0, 7, 0, 1}));
  EXPECT_EQ(r.last.state, State::kDone);
  // A proxy without logins chooses "none": straight to the CONNECT.
  Client plain(addr("198.18.0.7:1"), Login{"alice", "s3cret"});
  const Exchange p = run(plain, {B({5, 0}), kIpv4Ok});
  ASSERT_EQ(p.sent.size(), 2u);
  EXPECT_EQ(p.sent[1], B({5, 1, 0, 1, 198, 18, 0, 7, 0, 1}));
  EXPECT_EQ(p.last.state, State::kDone);
}

// The reply's bound address decides its length: every form is read whole, and what
// follows it is the peer's.
TEST(Socks5, ReplyLengthFollowsItsAddressTypeAndTheRestIsThePeers) {
  const std::vector<Bytes> replies = {
      B({5, 0, 0, 1, 1, 2, 3, 4, 0, 80}),
      B({5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80}),
      B({5, 0, 0, 3, 3, 'a', 'b', 'c', 0, 80}),
  };
  for (const auto& reply : replies) {
    Client c(addr("198.18.0.7:1"), std::nullopt);
    (void)c.opening();
    ASSERT_EQ(c.on_bytes(B({5, 0})).state, State::kMore);
    Bytes in = reply;
    in.push_back(0xAB);  // the peer's first byte, in the same read
    // Fed one byte at a time up to the end, the client waits; then it is done, and
    // consumes exactly the reply.
    for (std::size_t i = 1; i < reply.size(); ++i)
      ASSERT_EQ(c.on_bytes(ByteSpan(in.data(), i)).state, State::kMore) << i;
    const auto st = c.on_bytes(in);
    EXPECT_EQ(st.state, State::kDone);
    EXPECT_EQ(st.consumed, reply.size());
  }
}

TEST(Socks5, EveryReplyCodeFailsWithItsOwnMessage) {
  std::set<std::string> texts;
  for (int code : {1, 2, 3, 4, 5, 6, 7, 8, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0x42}) {
    Client c(addr("198.18.0.7:1"), std::nullopt);
    const Exchange r = run(c, {B({5, 0}), B({5, code, 0, 1, 0, 0, 0, 0, 0, 0})});
    ASSERT_EQ(r.last.state, State::kFailed) << code;
    EXPECT_EQ(r.last.err, dial_error(DialErrSource::kSocks5, code));
    const std::string text = describe_dial_error(r.last.err);
    EXPECT_EQ(text.rfind("SOCKS5 proxy: ", 0), 0u) << text;
    texts.insert(text);
  }
  EXPECT_EQ(texts.size(), 17u);  // no two codes read alike
  EXPECT_NE(describe_dial_error(dial_error(DialErrSource::kSocks5, 4)).find("host unreachable"), std::string::npos);
  EXPECT_NE(describe_dial_error(dial_error(DialErrSource::kSocks5, 0xf0)).find("descriptor not found"), std::string::npos);
}

TEST(Socks5, RefusalsBeforeTheConnectAreNamed) {
  struct Case {
    std::optional<Login> login;
    std::vector<Bytes> answers;
    socks5::Fail want;
  };
  const Case cases[] = {
      {std::nullopt, {B({5, 0xff})}, socks5::Fail::kNoAcceptableMethod},
      {Login{"u", "p"}, {B({5, 2}), B({1, 1})}, socks5::Fail::kLoginRefused},
      {std::nullopt, {B({4, 0})}, socks5::Fail::kNotSocks5},
      {std::nullopt, {B({5, 2})}, socks5::Fail::kMethodNotOffered},
      {Login{"u", "p"}, {B({5, 1})}, socks5::Fail::kMethodNotOffered},  // GSSAPI
  };
  for (const auto& k : cases) {
    Client c(addr("198.18.0.7:1"), k.login);
    const Exchange r = run(c, k.answers);
    EXPECT_EQ(r.last.state, State::kFailed);
    EXPECT_EQ(r.last.err, dial_error(DialErrSource::kSocks5, static_cast<int>(k.want)));
  }
  EXPECT_NE(describe_dial_error(dial_error(DialErrSource::kSocks5, static_cast<int>(socks5::Fail::kLoginRefused)))
                .find("refused the username/password"),
            std::string::npos);
}

TEST(Socks5, GarbledRepliesFailWithoutReadingPastThem) {
  Client c(addr("198.18.0.7:1"), std::nullopt);
  const Exchange r = run(c, {B({5, 0}), B({5, 0, 0, 9, 0, 0, 0, 0, 0, 0})});  // address type 9
  EXPECT_EQ(r.last.state, State::kFailed);
  EXPECT_EQ(r.last.err, dial_error(DialErrSource::kDialogue, static_cast<int>(DialogueFail::kGarbled)));
  EXPECT_NE(describe_dial_error(r.last.err).find("does not follow"), std::string::npos);
  EXPECT_LE(c.max_input(), 300u);  // the longest reply: 4 + 1 + 255 + 2
  // errno values read as errno.
  EXPECT_EQ(describe_dial_error(ECONNREFUSED), std::string(std::strerror(ECONNREFUSED)));
}

// Stream isolation: one login per peer, stable for that peer, different between peers
// and between runs (the salt), never naming the peer.
TEST(Socks5, IsolationLoginsArePerPeerAndDoNotNameIt) {
  const PeerAddress a = addr(std::string(kOnion) + ":20444"), b = addr("198.18.0.7:20444");
  const Login la = socks5::isolation_login(a, 7), lb = socks5::isolation_login(b, 7);
  EXPECT_EQ(la, socks5::isolation_login(a, 7));
  EXPECT_NE(la.user, lb.user);
  EXPECT_NE(la.user, socks5::isolation_login(a, 8).user);
  EXPECT_EQ(la.user.find("aaaq"), std::string::npos);
  EXPECT_FALSE(la.user.empty());
  EXPECT_LE(la.user.size(), 255u);
  EXPECT_FALSE(la.pass.empty());
}

TEST(Socks5, ConnectOptionsCarryTheProxyAcrossTheLink) {
  ConnectOptions o;
  o.bind_device = "wg0";
  o.socks5 = Socks5Proxy{};
  o.socks5->addr[10] = o.socks5->addr[11] = 0xff;
  o.socks5->addr[12] = 127;
  o.socks5->addr[15] = 1;
  o.socks5->port = 9050;
  o.socks5->login = ProxyLogin{"stacks-relay-00", "x"};
  Bytes b;
  {
    Writer w(b);
    o.put(w);
  }
  Reader r(b);
  const auto back = ConnectOptions::get(r);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(*back, o);
  // An empty login is not RFC 1929's: refused on the way in.
  o.socks5->login->pass.clear();
  b.clear();
  {
    Writer w(b);
    o.put(w);
  }
  Reader r2(b);
  EXPECT_FALSE(ConnectOptions::get(r2).has_value());
}

}  // namespace
}  // namespace relay::net
