// relay/net/sam.hpp — I2P through a SAM v3.1 bridge (i2pd's, or Java I2P's), as Dialogues:
// the command sequence Bitcoin Core's i2p.cpp uses.
//
//   outbound, on a new connection to the bridge:
//     HELLO VERSION MIN=3.1 MAX=3.1        → HELLO REPLY RESULT=OK
//     NAMING LOOKUP NAME=<x>.b32.i2p        → NAMING REPLY RESULT=OK VALUE=<destination>
//     STREAM CONNECT ID=<session> DESTINATION=<destination> SILENT=false → STREAM STATUS RESULT=OK
//   inbound, on a new connection to the bridge:
//     HELLO ...; STREAM ACCEPT ID=<session> SILENT=false → STREAM STATUS RESULT=OK
//     (then, whenever a peer connects: one line, its destination)
//
// After either, the connection carries the peer's bytes. The session itself (SESSION
// CREATE, which holds the relay's destination and lives as long as its own connection)
// is the control plane's (control/i2p). I2P has no ports: peers are NAME.b32.i2p:0.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "relay/net/dialogue.hpp"
#include "relay/net/peer_address.hpp"

namespace relay::net::sam {

// A bridge's RESULT= values (the code of a kSam dial error).
enum class Result : int {
  kOk = 0,
  kCantReachPeer = 1,
  kDuplicatedDest = 2,
  kI2pError = 3,
  kInvalidKey = 4,
  kKeyNotFound = 5,
  kPeerNotFound = 6,
  kTimeout = 7,
  kInvalidId = 8,
  kDuplicatedId = 9,
  kAlreadyAccepting = 10,
  kNoVersion = 11,
  kOther = 12,  // a RESULT this list does not know
};
Result parse_result(std::string_view s);
std::string describe(int code);

// A reply line: its first two words ("HELLO REPLY", "STREAM STATUS") and its KEY=VALUE
// pairs (values may be "quoted").
struct Line {
  std::string topic, kind;
  std::map<std::string, std::string> kv;
};
std::optional<Line> parse_line(std::string_view line);

// I2P's base64 (its alphabet ends in '-' and '~' instead of '+' and '/').
std::string base64_encode(ByteSpan b);
std::optional<Bytes> base64_decode(std::string_view s);
// public_destination: the public part of a private key blob (DEST GENERATE's PRIV): the
// 387-byte destination plus its certificate's payload (its length in bytes 385..386).
std::optional<Bytes> public_destination(ByteSpan private_key);
// b32_address: a destination's address, "<52 base32 characters>.b32.i2p".
std::string b32_address(ByteSpan destination);

inline constexpr std::size_t kMaxLine = 4096;  // a destination is ~520 characters of base64

class Connect final : public Dialogue {
 public:
  Connect(std::string session, PeerAddress target) : session_(std::move(session)), target_(std::move(target)) {}
  Bytes opening() override;
  Step on_bytes(ByteSpan in) override;
  std::size_t max_input() const noexcept override { return kMaxLine; }

 private:
  enum class Phase : std::uint8_t { kHello, kLookup, kConnect } phase_ = Phase::kHello;
  std::string session_;
  PeerAddress target_;
};

class Accept final : public Dialogue {
 public:
  explicit Accept(std::string session) : session_(std::move(session)) {}
  Bytes opening() override;
  Step on_bytes(ByteSpan in) override;
  std::size_t max_input() const noexcept override { return kMaxLine; }
  bool waits() const noexcept override { return phase_ == Phase::kPeer; }
  std::optional<PeerAddress> peer() const override { return peer_; }
  bool inbound() const noexcept override { return true; }

 private:
  enum class Phase : std::uint8_t { kHello, kAccept, kPeer } phase_ = Phase::kHello;
  std::string session_;
  std::optional<PeerAddress> peer_;
};

}  // namespace relay::net::sam
