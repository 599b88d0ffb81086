// The pure parts of the Tor controller (control/tor/tor_control.hpp): the control
// protocol's replies as Tor writes them (control-spec.txt §2.3: "250-", "250 ", "250+"
// data blocks, asynchronous 650 events in between), KEY=VALUE parsing with quoted
// strings, and the SAFECOOKIE proofs against values computed with Python's hmac. The
// controller itself runs against a real Tor in tests/privacy/tor_test.cpp.
#include <gtest/gtest.h>

#include "control/tor/tor_control.hpp"
#include "relay/base/hex.hpp"

namespace relay::tor {
namespace {

TEST(TorControl, ReplyReaderAssemblesMultiLineRepliesAndPassesEventsApart) {
  ReplyReader rr;
  rr.feed("250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/run/tor/control.authcookie\"\r\n");
  EXPECT_FALSE(rr.next().has_value());  // not over yet
  rr.feed("650 HS_DESC UPLOADED x\r\n");  // (Tor does not put an event amid a reply; if it did)
  auto ev = rr.next();
  ASSERT_TRUE(ev.has_value());
  EXPECT_TRUE(ev->async());
  rr.feed("250-VERSION Tor=\"0.4.9.11\"\r\n250 OK\r\n");
  auto r = rr.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, 250);
  EXPECT_FALSE(r->async());
  ASSERT_EQ(r->lines.size(), 4u);  // the event's line went with the event
  EXPECT_EQ(r->lines[0], "PROTOCOLINFO 1");
  EXPECT_EQ(r->lines[3], "OK");
}

TEST(TorControl, ReplyReaderFoldsDataBlocksAndSplitsAtAnyByte) {
  const std::string text =
      "250+onions/current=\r\nabc\r\n..dotted\r\n.\r\n250 OK\r\n"
      "250-ServiceID=aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3kead\r\n250-PrivateKey=ED25519-V3:AAAA\r\n250 OK\r\n";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    ReplyReader rr;
    rr.feed(text.substr(0, cut));
    std::vector<Reply> got;
    while (auto r = rr.next()) got.push_back(*r);
    rr.feed(text.substr(cut));
    while (auto r = rr.next()) got.push_back(*r);
    ASSERT_EQ(got.size(), 2u) << cut;
    EXPECT_EQ(got[0].lines[0], "onions/current=\nabc\n.dotted");
    EXPECT_EQ(got[1].lines[1], "PrivateKey=ED25519-V3:AAAA");
    EXPECT_FALSE(rr.bad());
  }
}

TEST(TorControl, ReplyReaderRefusesWhatIsNotTheControlProtocol) {
  ReplyReader garbled;
  garbled.feed("HTTP/1.0 501 Tor is not an HTTP Proxy\r\n");
  EXPECT_FALSE(garbled.next().has_value());
  EXPECT_TRUE(garbled.bad());
  ReplyReader endless;
  endless.feed("250-" + std::string(ReplyReader::kMaxLine + 10, 'x'));
  EXPECT_FALSE(endless.next().has_value());
  EXPECT_TRUE(endless.bad());  // a line that never ends is not kept growing
}

TEST(TorControl, KeyValuesWithQuotedStrings) {
  auto kv = parse_kv("METHODS=COOKIE,SAFECOOKIE,HASHEDPASSWORD COOKIEFILE=\"/var/lib/tor/a \\\"b\\\\c\" FLAG");
  EXPECT_EQ(kv["METHODS"], "COOKIE,SAFECOOKIE,HASHEDPASSWORD");
  EXPECT_EQ(kv["COOKIEFILE"], "/var/lib/tor/a \"b\\c");
  EXPECT_EQ(kv.count("FLAG"), 1u);
  EXPECT_EQ(quote("pa\"ss\\word"), "\"pa\\\"ss\\\\word\"");
  EXPECT_EQ(parse_kv("X=" + quote("pa\"ss\\word"))["X"], "pa\"ss\\word");  // round trip
}

TEST(TorControl, SafecookieProofsMatchAnIndependentHmac) {
  const Bytes cookie(32, 1), cnonce(32, 2), snonce(32, 3);
  // python3: hmac.new(b"Tor safe cookie authentication server-to-controller hash", c+cn+sn, sha256)
  EXPECT_EQ(to_hex(safecookie_server_hash(cookie, cnonce, snonce)),
            "1830d2de6e061e60adfa2c0c2a9257b7126e51b074f39bd4519d89229df08827");
  EXPECT_EQ(to_hex(safecookie_client_hash(cookie, cnonce, snonce)),
            "8d81b806c8314911da68057896783b1f28f640a588c9a2cfe902d371806bbf1a");
}

}  // namespace
}  // namespace relay::tor
