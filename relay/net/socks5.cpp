#include "relay/net/socks5.hpp"

#include <cstring>

#include "relay/base/hex.hpp"
#include "relay/crypto/hash.hpp"
#include "relay/net/address.hpp"

namespace relay::net::socks5 {

namespace {

constexpr std::uint8_t kVersion = 5;
constexpr std::uint8_t kMethodNone = 0x00;
constexpr std::uint8_t kMethodLogin = 0x02;
constexpr std::uint8_t kMethodRefused = 0xff;
constexpr std::uint8_t kLoginVersion = 1;
constexpr std::uint8_t kCmdConnect = 1;
constexpr std::uint8_t kAtypIpv4 = 1, kAtypName = 3, kAtypIpv6 = 4;

Dialogue::Step fail(int code) { return Dialogue::failed(dial_error(DialErrSource::kSocks5, code)); }

void put_string(Bytes& b, const std::string& s) {
  b.push_back(static_cast<std::uint8_t>(s.size()));
  b.insert(b.end(), s.begin(), s.end());
}

}  // namespace

std::string describe(int code) {
  switch (code) {
    case 0x00: return "succeeded";
    case 0x01: return "general SOCKS server failure (reply 1)";
    case 0x02: return "connection not allowed by the proxy's rules (reply 2)";
    case 0x03: return "network unreachable (reply 3)";
    case 0x04: return "host unreachable (reply 4)";
    case 0x05: return "connection refused by the destination (reply 5)";
    case 0x06: return "TTL expired: the destination did not answer in time (reply 6)";
    case 0x07: return "command not supported by the proxy (reply 7)";
    case 0x08: return "address type not supported by the proxy (reply 8)";
    case 0xf0: return "onion service descriptor not found: the service is not published or not running (Tor reply 0xf0)";
    case 0xf1: return "onion service descriptor is invalid (Tor reply 0xf1)";
    case 0xf2: return "onion service introduction failed (Tor reply 0xf2)";
    case 0xf3: return "onion service rendezvous failed (Tor reply 0xf3)";
    case 0xf4: return "onion service needs client authorization (Tor reply 0xf4)";
    case 0xf5: return "onion service client authorization is wrong (Tor reply 0xf5)";
    case 0xf6: return "not a valid onion address (Tor reply 0xf6)";
    case 0xf7: return "onion service introduction timed out (Tor reply 0xf7)";
    case static_cast<int>(Fail::kNoAcceptableMethod):
      return "the proxy accepts none of the login methods offered (set or drop proxy.username/password)";
    case static_cast<int>(Fail::kLoginRefused): return "the proxy refused the username/password";
    case static_cast<int>(Fail::kNotSocks5): return "the proxy does not speak SOCKS5 (wrong version byte)";
    case static_cast<int>(Fail::kMethodNotOffered): return "the proxy chose a login method that was not offered";
    default: break;
  }
  if (code >= 0 && code < 0x100) return "unknown SOCKS5 reply " + std::to_string(code);
  return "SOCKS5 failure " + std::to_string(code);
}

Login isolation_login(const PeerAddress& target, std::uint64_t salt) {
  Bytes in(8);
  std::memcpy(in.data(), &salt, 8);
  const std::string t = target.to_string();
  in.insert(in.end(), t.begin(), t.end());
  const auto h = crypto::sha256(in);
  return Login{"stacks-relay-" + to_hex(ByteSpan(h.data(), 8)), "x"};
}

Client::Client(PeerAddress target, std::optional<Login> login) : target_(std::move(target)), login_(std::move(login)) {}

Bytes Client::opening() {
  // With a login, both methods are offered and the proxy chooses: Tor takes the login
  // (its stream isolation depends on it) unless its SocksPort prefers no auth; a proxy
  // without logins takes "none"; one that needs a login takes it.
  if (login_) return Bytes{kVersion, 2, kMethodNone, kMethodLogin};
  return Bytes{kVersion, 1, kMethodNone};
}

Bytes Client::connect_request() const {
  Bytes b{kVersion, kCmdConnect, 0};
  if (target_.is_ip()) {
    const auto& a = target_.addr();
    if (is_ipv4(a)) {
      b.push_back(kAtypIpv4);
      b.insert(b.end(), a.begin() + 12, a.end());
    } else {
      b.push_back(kAtypIpv6);
      b.insert(b.end(), a.begin(), a.end());
    }
  } else {
    b.push_back(kAtypName);
    put_string(b, target_.name());  // ≤ 253 (PeerAddress checks)
  }
  b.push_back(static_cast<std::uint8_t>(target_.port() >> 8));
  b.push_back(static_cast<std::uint8_t>(target_.port()));
  return b;
}

Dialogue::Step Client::on_bytes(ByteSpan in) {
  Step s;
  switch (phase_) {
    case Phase::kMethod: {
      if (in.size() < 2) return s;
      if (in[0] != kVersion) return fail(static_cast<int>(Fail::kNotSocks5));
      s.consumed = 2;
      if (in[1] == kMethodRefused) return fail(static_cast<int>(Fail::kNoAcceptableMethod));
      if (in[1] != kMethodNone && !(login_ && in[1] == kMethodLogin))
        return fail(static_cast<int>(Fail::kMethodNotOffered));
      if (in[1] == kMethodLogin) {
        s.send = {kLoginVersion};
        put_string(s.send, login_->user);
        put_string(s.send, login_->pass);
        phase_ = Phase::kLogin;
      } else {
        s.send = connect_request();
        phase_ = Phase::kReply;
      }
      return s;
    }
    case Phase::kLogin: {
      if (in.size() < 2) return s;
      // RFC 1929's answer starts with its own version (1); some servers echo 5.
      if (in[0] != kLoginVersion && in[0] != kVersion) return Dialogue::garbled();
      if (in[1] != 0) return fail(static_cast<int>(Fail::kLoginRefused));
      s.consumed = 2;
      s.send = connect_request();
      phase_ = Phase::kReply;
      return s;
    }
    case Phase::kReply: {
      // VER REP RSV ATYP BND.ADDR BND.PORT: the length depends on ATYP.
      if (in.size() < 5) return s;
      if (in[0] != kVersion) return fail(static_cast<int>(Fail::kNotSocks5));
      if (in[1] != 0) return fail(in[1]);  // a failure: what follows does not matter
      std::size_t addr_len = 0;
      switch (in[3]) {
        case kAtypIpv4: addr_len = 4; break;
        case kAtypIpv6: addr_len = 16; break;
        case kAtypName: addr_len = 1 + std::size_t{in[4]}; break;
        default: return Dialogue::garbled();
      }
      const std::size_t total = 4 + addr_len + 2;
      if (in.size() < total) return s;
      s.consumed = total;
      s.state = State::kDone;
      phase_ = Phase::kDone;
      return s;
    }
    case Phase::kDone: break;
  }
  s.state = State::kDone;
  return s;
}

}  // namespace relay::net::socks5
