// net::sam: I2P's base64, b32 addresses (against Python's hashlib/base64), the public
// part of a private key, and the SAM v3.1 dialogues line by line: the sequence sent, each
// RESULT a bridge can answer named, the peer's destination on an accepted stream, and
// the peer's bytes that may follow it. Against a real i2pd: tests/privacy/i2p_test.cpp.
#include <gtest/gtest.h>

#include "relay/net/dialogue.hpp"
#include "relay/net/sam.hpp"

namespace relay::net::sam {
namespace {

using State = Dialogue::State;

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }
std::string str(const Bytes& b) { return std::string(b.begin(), b.end()); }

// A public destination as DEST GENERATE SIGNATURE_TYPE=7 makes one: 384 key bytes, a
// key certificate (type 5) of 4 bytes: signing type 7, crypto type 4.
Bytes test_destination() {
  Bytes d(384, 0);
  for (int b : {5, 0, 4, 0, 7, 0, 4}) d.push_back(static_cast<std::uint8_t>(b));
  return d;
}

TEST(Sam, I2pBase64UsesItsOwnAlphabetBothWays) {
  EXPECT_EQ(base64_encode(Bytes{0xfb, 0xff, 0xbf}), "-~-~");
  EXPECT_EQ(base64_decode("-~-~"), (Bytes{0xfb, 0xff, 0xbf}));
  EXPECT_EQ(base64_encode(Bytes(10, 0)), "AAAAAAAAAAAAAA==");
  for (std::size_t n = 0; n < 40; ++n) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 37 + n);
    EXPECT_EQ(base64_decode(base64_encode(b)), b) << n;
  }
  EXPECT_FALSE(base64_decode("+/+/").has_value());  // standard base64's characters are not I2P's
  EXPECT_FALSE(base64_decode("AAA").has_value());
  EXPECT_FALSE(base64_decode("A=AA").has_value());
}

TEST(Sam, B32AddressIsTheDestinationsSha256InBase32) {
  // python3: base64.b32encode(hashlib.sha256(d).digest()).lower().rstrip("=")
  EXPECT_EQ(b32_address(test_destination()), "ssgjbjvy6oa55dcjxihpnpg6lgijtg5eouk3bmclb5hqxv7tle6q.b32.i2p");
  // A private key blob starts with the destination; its public part is cut by the certificate.
  Bytes priv = test_destination();
  priv.insert(priv.end(), 64, 0x11);  // the private keys
  EXPECT_EQ(public_destination(priv), test_destination());
  EXPECT_FALSE(public_destination(Bytes(300, 0)).has_value());
  Bytes short_cert = test_destination();
  short_cert.resize(389);
  EXPECT_FALSE(public_destination(short_cert).has_value());
}

TEST(Sam, ConnectSaysHelloLooksTheNameUpAndConnectsWithTheSession) {
  std::string err;
  const auto target = PeerAddress::parse("ssgjbjvy6oa55dcjxihpnpg6lgijtg5eouk3bmclb5hqxv7tle6q.b32.i2p:0", err, true).value();
  Connect c("srl7", target);
  EXPECT_EQ(str(c.opening()), "HELLO VERSION MIN=3.1 MAX=3.1\n");
  auto s = c.on_bytes(text("HELLO REPLY RESULT=OK VERSION=3.1\n"));
  EXPECT_EQ(s.state, State::kMore);
  EXPECT_EQ(str(s.send), "NAMING LOOKUP NAME=ssgjbjvy6oa55dcjxihpnpg6lgijtg5eouk3bmclb5hqxv7tle6q.b32.i2p\n");
  const std::string dest = base64_encode(test_destination());
  EXPECT_EQ(c.on_bytes(text("NAMING REPLY RESULT=OK")).state, State::kMore);  // not a whole line yet
  s = c.on_bytes(text("NAMING REPLY RESULT=OK NAME=x.b32.i2p VALUE=" + dest + "\n"));
  EXPECT_EQ(str(s.send), "STREAM CONNECT ID=srl7 DESTINATION=" + dest + " SILENT=false\n");
  const std::string ok = "STREAM STATUS RESULT=OK\n";
  s = c.on_bytes(text(ok + "peer bytes"));
  EXPECT_EQ(s.state, State::kDone);
  EXPECT_EQ(s.consumed, ok.size());  // what follows is the peer's
}

TEST(Sam, EveryResultABridgeGivesIsNamed) {
  const std::pair<const char*, Result> cases[] = {
      {"CANT_REACH_PEER", Result::kCantReachPeer}, {"I2P_ERROR", Result::kI2pError},
      {"INVALID_KEY", Result::kInvalidKey},        {"INVALID_ID", Result::kInvalidId},
      {"TIMEOUT", Result::kTimeout},               {"PEER_NOT_FOUND", Result::kPeerNotFound},
      {"KEY_NOT_FOUND", Result::kKeyNotFound},     {"DUPLICATED_ID", Result::kDuplicatedId},
      {"DUPLICATED_DEST", Result::kDuplicatedDest}, {"ALREADY_ACCEPTING", Result::kAlreadyAccepting},
      {"SOMETHING_NEW", Result::kOther},
  };
  std::string err;
  const auto target = PeerAddress::parse("ssgjbjvy6oa55dcjxihpnpg6lgijtg5eouk3bmclb5hqxv7tle6q.b32.i2p:0", err, true).value();
  for (const auto& [name, want] : cases) {
    Connect c("s", target);
    (void)c.opening();
    (void)c.on_bytes(text("HELLO REPLY RESULT=OK VERSION=3.1\n"));
    (void)c.on_bytes(text("NAMING REPLY RESULT=OK VALUE=" + base64_encode(test_destination()) + "\n"));
    const auto s = c.on_bytes(text(std::string("STREAM STATUS RESULT=") + name + " MESSAGE=\"x\"\n"));
    EXPECT_EQ(s.state, State::kFailed) << name;
    EXPECT_EQ(s.err, dial_error(DialErrSource::kSam, static_cast<int>(want))) << name;
    EXPECT_EQ(describe_dial_error(s.err).rfind("I2P SAM bridge: ", 0), 0u);
  }
  EXPECT_NE(describe_dial_error(dial_error(DialErrSource::kSam, static_cast<int>(Result::kInvalidId))).find("INVALID_ID"),
            std::string::npos);
  // A bridge that is not SAM 3.1, and one that answers something else entirely.
  Connect old("s", target);
  (void)old.opening();
  EXPECT_EQ(old.on_bytes(text("HELLO REPLY RESULT=NOVERSION\n")).err,
            dial_error(DialErrSource::kSam, static_cast<int>(Result::kNoVersion)));
  Connect http("s", target);
  (void)http.opening();
  EXPECT_EQ(http.on_bytes(text("HTTP/1.1 400 Bad Request\r\n")).err,
            dial_error(DialErrSource::kDialogue, static_cast<int>(DialogueFail::kGarbled)));
}

TEST(Sam, AcceptWaitsForAPeerAndNamesIt) {
  Accept a("srl7");
  EXPECT_TRUE(a.inbound());
  EXPECT_EQ(str(a.opening()), "HELLO VERSION MIN=3.1 MAX=3.1\n");
  auto s = a.on_bytes(text("HELLO REPLY RESULT=OK VERSION=3.1\n"));
  EXPECT_EQ(str(s.send), "STREAM ACCEPT ID=srl7 SILENT=false\n");
  EXPECT_FALSE(a.waits());  // the bridge's own answers have a deadline
  s = a.on_bytes(text("STREAM STATUS RESULT=OK\n"));
  EXPECT_EQ(s.state, State::kMore);
  EXPECT_TRUE(a.waits());  // a peer may take any time to come
  const std::string line = base64_encode(test_destination()) + " FROM_PORT=0 TO_PORT=0\n";
  s = a.on_bytes(text(line + "\x01\x02"));
  EXPECT_EQ(s.state, State::kDone);
  EXPECT_EQ(s.consumed, line.size());
  ASSERT_TRUE(a.peer().has_value());
  EXPECT_EQ(a.peer()->to_string(), "ssgjbjvy6oa55dcjxihpnpg6lgijtg5eouk3bmclb5hqxv7tle6q.b32.i2p:0");
  EXPECT_EQ(a.peer()->kind(), HostKind::kI2p);
  // A destination that does not decode is not a peer.
  Accept bad("s");
  (void)bad.opening();
  (void)bad.on_bytes(text("HELLO REPLY RESULT=OK VERSION=3.1\n"));
  (void)bad.on_bytes(text("STREAM STATUS RESULT=OK\n"));
  EXPECT_EQ(bad.on_bytes(text("not*base64\n")).state, State::kFailed);
}

TEST(Sam, ConnectOptionsCarryTheBridgeAndRefuseAnUnsafeSessionId) {
  ConnectOptions o;
  o.sam = SamBridge{};
  o.sam->addr[10] = o.sam->addr[11] = 0xff;
  o.sam->port = 7656;
  o.sam->session = "srl-0123456789";
  o.sam->accept = true;
  Bytes b;
  {
    Writer w(b);
    o.put(w);
  }
  Reader r(b);
  EXPECT_EQ(ConnectOptions::get(r), o);
  o.sam->session = "x DESTINATION=evil";  // would add words to the bridge's command line
  b.clear();
  {
    Writer w(b);
    o.put(w);
  }
  Reader r2(b);
  EXPECT_FALSE(ConnectOptions::get(r2).has_value());
}

}  // namespace
}  // namespace relay::net::sam
