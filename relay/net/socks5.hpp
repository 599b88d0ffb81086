// relay/net/socks5.hpp — a SOCKS5 client (RFC 1928, with RFC 1929's username/password
// login) as a Dialogue: how the relay reaches peers through Tor or any SOCKS5 proxy.
//
// A host name (a DNS name, an onion address) goes to the proxy as a name (address type
// 3): it is never resolved here. Tor needs the .onion name itself, and resolving a DNS
// name locally would tell the local resolver, and whoever watches it, who we talk to.
//
// Stream isolation: Tor puts streams that log in with different credentials on different
// circuits (IsolateSOCKSAuth, on by default). The relay offers a login of its own per
// peer, so two peers never share a circuit, and a peer that could see both could not
// link them to one relay by timing on a shared circuit. (A login is offered beside "no
// authentication": a proxy without logins still works; Tor takes the login.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "relay/net/dialogue.hpp"
#include "relay/net/peer_address.hpp"

namespace relay::net::socks5 {

// The proxy's reply codes (RFC 1928 §6), and Tor's extended ones (SocksPort ... ExtendedErrors).
enum class Reply : std::uint8_t {
  kSucceeded = 0x00,
  kGeneralFailure = 0x01,
  kNotAllowed = 0x02,
  kNetworkUnreachable = 0x03,
  kHostUnreachable = 0x04,
  kConnectionRefused = 0x05,
  kTtlExpired = 0x06,
  kCommandNotSupported = 0x07,
  kAddressTypeNotSupported = 0x08,
  kOnionDescNotFound = 0xf0,
  kOnionDescInvalid = 0xf1,
  kOnionIntroFailed = 0xf2,
  kOnionRendezvousFailed = 0xf3,
  kOnionMissingClientAuth = 0xf4,
  kOnionWrongClientAuth = 0xf5,
  kOnionBadAddress = 0xf6,
  kOnionIntroTimedOut = 0xf7,
};

// Failures before the CONNECT's reply (codes 0x100 and up, beside the reply bytes).
enum class Fail : int {
  kNoAcceptableMethod = 0x100,  // the proxy accepts none of the login methods offered
  kLoginRefused = 0x101,        // the proxy refused the username/password
  kNotSocks5 = 0x102,           // the answer is not SOCKS5 (wrong version byte)
  kMethodNotOffered = 0x103,    // the proxy chose a login method we did not offer
};

// describe: text for a SOCKS5 code (a reply byte or a Fail).
std::string describe(int code);

using Login = ProxyLogin;
using Proxy = Socks5Proxy;

// isolation_login: a login naming `target` for Tor's stream isolation, the same for every
// dial of one peer and different between peers. `salt` keeps it from naming the peer to
// anyone reading the proxy's logs (the relay draws it once per run).
Login isolation_login(const PeerAddress& target, std::uint64_t salt);

class Client final : public Dialogue {
 public:
  // Client: CONNECT to `target` (an IP, sent as IPv4 or IPv6, or a name, sent as a name)
  // through a proxy that wants `login` (nullopt: no login).
  Client(PeerAddress target, std::optional<Login> login);
  Bytes opening() override;
  Step on_bytes(ByteSpan in) override;
  std::size_t max_input() const noexcept override { return 4 + 1 + 255 + 2; }

 private:
  enum class Phase : std::uint8_t { kMethod, kLogin, kReply, kDone };
  Bytes connect_request() const;
  PeerAddress target_;
  std::optional<Login> login_;
  Phase phase_ = Phase::kMethod;
};

}  // namespace relay::net::socks5
