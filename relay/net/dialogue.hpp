// relay/net/dialogue.hpp — what a connection says before its bytes are the peer's.
//
// A connection through a proxy or a bridge starts with a short exchange with that
// middleman: a SOCKS5 proxy's greeting, login and CONNECT (relay/net/socks5.hpp); an I2P
// SAM bridge's HELLO and STREAM CONNECT or ACCEPT; the PROXY line Tor writes in front of
// an onion service's inbound stream. Only when it is over do the Stacks bytes flow, and
// only then does the relay see a connection (kConnected, kAccepted).
//
// A Dialogue is that exchange as a state machine over bytes, with no socket in it: a
// transport feeds it what arrives and writes what it asks to send, so the same code runs
// over io_uring, over DPDK, and in unit tests against recorded answers. One exchange at
// a time, request then answer: a middleman never gets more than one message ahead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "relay/base/bytes.hpp"
#include "relay/net/peer_address.hpp"

namespace relay::net {

// Dial errors beyond errno. A transport reports a failed connection with an int (the
// errno of connect(), or one of these): the middleman's own answer, so that an operator
// reads "SOCKS5 proxy: host unreachable (reply 4)", not "EIO". describe_dial_error()
// turns either kind into text.
inline constexpr int kDialErrBase = 0x100000;
enum class DialErrSource : int {
  kDialogue = 0,  // the middleman broke its protocol, or closed during the exchange
  kSocks5 = 1,    // a SOCKS5 proxy's answer (the code: its reply byte, or one of socks5::Fail)
  kSam = 2,       // an I2P SAM bridge's answer (the code: one of sam::Result)
};
constexpr int dial_error(DialErrSource s, int code) noexcept { return kDialErrBase + static_cast<int>(s) * 0x1000 + code; }
constexpr bool is_dial_error(int err) noexcept { return err >= kDialErrBase && err < kDialErrBase + 0x10000; }

// Generic codes (kDialogue).
enum class DialogueFail : int {
  kClosed = 1,    // the middleman closed the connection before the exchange was over
  kTooLong = 2,   // its answer did not fit (a line or a reply longer than the protocol allows)
  kGarbled = 3,   // its answer is not what the protocol says
  kTimedOut = 4,  // the exchange took too long
};

// describe_dial_error: text for a connection failure code (an errno or a dial error).
std::string describe_dial_error(int err);

class Dialogue {
 public:
  virtual ~Dialogue() = default;

  enum class State : std::uint8_t {
    kMore,    // waiting for more bytes (and `send`, if any, goes out first)
    kDone,    // over: `consumed` bytes were the middleman's, the rest are the peer's
    kFailed,  // over: `err` says why (a dial error)
  };
  struct Step {
    State state = State::kMore;
    Bytes send;                 // to write now
    std::size_t consumed = 0;   // bytes of the input given that belonged to the exchange
    int err = 0;
  };

  // failed: a step that ends the exchange with dial error `err`; garbled: with the
  // middleman's answer not following its protocol.
  static Step failed(int err) {
    Step s;
    s.state = State::kFailed;
    s.err = err;
    return s;
  }
  static Step garbled() { return failed(dial_error(DialErrSource::kDialogue, static_cast<int>(DialogueFail::kGarbled))); }

  // opening: what to write as soon as the connection is up (may be empty: the other
  // side speaks first).
  virtual Bytes opening() = 0;
  // on_bytes: everything received and not yet consumed, oldest first. The transport
  // drops `consumed` bytes from its front after each step and calls again when more
  // arrive. Bytes past the end of the exchange (kDone) belong to the peer.
  virtual Step on_bytes(ByteSpan in) = 0;
  // max_input: how many unconsumed bytes the exchange may need at once; more is kTooLong.
  virtual std::size_t max_input() const noexcept { return 1024; }
  // waits: the exchange may wait for as long as it takes (a SAM STREAM ACCEPT waits for a
  // peer to connect); otherwise the transport gives it a deadline.
  virtual bool waits() const noexcept { return false; }
  // peer: who the other end is, when the exchange tells (an I2P destination that
  // connected to us, a circuit Tor named); nullopt when it does not.
  virtual std::optional<PeerAddress> peer() const { return std::nullopt; }
  // inbound: the connection, once ready, is one a peer opened to us (a SAM STREAM
  // ACCEPT): reported as accepted, not connected.
  virtual bool inbound() const noexcept { return false; }
};

}  // namespace relay::net
