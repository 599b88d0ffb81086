#include "relay/net/peer_address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "relay/net/address.hpp"

namespace relay::net {

namespace {

constexpr std::size_t kMaxName = 253;

bool is_b32(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); });
}

bool ends_with(std::string_view s, std::string_view tail) noexcept {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// valid_name: lower-case labels of letters, digits and inner hyphens, 1..63 each, 253 in all.
bool valid_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > kMaxName) return false;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) dot = s.size();
    const std::string_view label = s.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    start = dot + 1;
  }
  return true;
}

// A string of at most 255 bytes on the link: u8 length, then the bytes.
void put_short_string(Writer& w, const std::string& s) {
  const std::size_t n = std::min<std::size_t>(s.size(), 255);
  w.u8(static_cast<std::uint8_t>(n));
  w.bytes(ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), n));
}
std::string get_short_string(Reader& r) {
  const ByteSpan b = r.take(r.u8());
  return r.ok() ? std::string(reinterpret_cast<const char*>(b.data()), b.size()) : std::string();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

std::optional<HostKind> host_kind(std::string_view host_in, std::string& err) {
  if (parse_addr(host_in)) return HostKind::kIp;
  const std::string host = lower(host_in);
  if (!valid_name(host)) {
    err = "invalid host name: " + std::string(host_in);
    return std::nullopt;
  }
  if (ends_with(host, ".onion")) {
    // v3 onion services: 56 base32 characters (key, checksum, version) as the last label
    // before .onion; older (v2, 16 characters) ones are gone from the Tor network.
    const std::string_view rest = std::string_view(host).substr(0, host.size() - 6);
    const std::string_view label = rest.substr(rest.rfind('.') == std::string_view::npos ? 0 : rest.rfind('.') + 1);
    if (label.size() != 56 || !is_b32(label) || label.back() != 'd') {  // version byte 3: its last character is 'd'
      err = "not a v3 onion address (56 base32 characters before .onion): " + std::string(host_in);
      return std::nullopt;
    }
    return HostKind::kOnion;
  }
  if (ends_with(host, ".i2p")) {
    if (ends_with(host, ".b32.i2p")) {
      const std::string_view label = std::string_view(host).substr(0, host.size() - 8);
      if (label.size() < 52 || !is_b32(label)) {
        err = "not an I2P b32 address (52 or more base32 characters before .b32.i2p): " + std::string(host_in);
        return std::nullopt;
      }
    }
    return HostKind::kI2p;
  }
  return HostKind::kName;
}

std::optional<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view s, std::string& err,
                                                                      bool allow_zero_port) {
  std::string host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const std::size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      err = "expected [IPV6]:PORT";
      return std::nullopt;
    }
    host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
    in6_addr a{};
    if (inet_pton(AF_INET6, host.c_str(), &a) != 1) {
      err = "not an IPv6 address: " + host;
      return std::nullopt;
    }
  } else {
    const std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos || s.find(':') != colon) {
      err = "expected HOST:PORT (IPv6 in brackets)";
      return std::nullopt;
    }
    host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
    if (host.empty()) {
      err = "empty host";
      return std::nullopt;
    }
    for (char c : host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
      if (!ok) {
        err = "invalid host name: " + host;
        return std::nullopt;
      }
    }
  }
  unsigned v = 0;
  if (port.empty() || port.size() > 5) {
    err = "invalid port";
    return std::nullopt;
  }
  for (char c : port) {
    if (c < '0' || c > '9') {
      err = "invalid port";
      return std::nullopt;
    }
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if ((v == 0 && !allow_zero_port) || v > 65535) {
    err = "port out of range";
    return std::nullopt;
  }
  return std::make_pair(host, static_cast<std::uint16_t>(v));
}

PeerAddress PeerAddress::ip(const codec::Addr16& a, std::uint16_t port) noexcept {
  PeerAddress p;
  p.kind_ = HostKind::kIp;
  p.addr_ = a;
  p.port_ = port;
  return p;
}

std::optional<PeerAddress> PeerAddress::from_host(std::string_view host, std::uint16_t port, std::string& err) {
  auto kind = host_kind(host, err);
  if (!kind) return std::nullopt;
  PeerAddress p;
  p.kind_ = *kind;
  p.port_ = port;
  if (*kind == HostKind::kIp) p.addr_ = *parse_addr(host);
  else p.name_ = lower(host);
  return p;
}

std::optional<PeerAddress> PeerAddress::parse(std::string_view s, std::string& err, bool allow_zero_port) {
  auto hp = split_host_port(s, err, allow_zero_port);
  if (!hp) return std::nullopt;
  return from_host(hp->first, hp->second, err);
}

std::string PeerAddress::host() const { return is_ip() ? addr_to_string(addr_) : name_; }

std::string PeerAddress::to_string() const {
  const bool v6 = is_ip() && !is_ipv4(addr_);
  return (v6 ? "[" + host() + "]" : host()) + ":" + std::to_string(port_);
}

void PeerAddress::put(Writer& w) const {
  w.u8(static_cast<std::uint8_t>(kind_));
  w.u16(port_);
  if (is_ip()) {
    w.array(addr_);
  } else {
    w.u8(static_cast<std::uint8_t>(name_.size()));
    w.bytes(ByteSpan(reinterpret_cast<const std::uint8_t*>(name_.data()), name_.size()));
  }
}

std::optional<PeerAddress> PeerAddress::get(Reader& r) {
  const std::uint8_t kind = r.u8();
  const std::uint16_t port = r.u16();
  if (!r.ok() || kind > static_cast<std::uint8_t>(HostKind::kI2p)) return std::nullopt;
  if (static_cast<HostKind>(kind) == HostKind::kIp) {
    const auto a = r.array<16>();
    if (!r.ok()) return std::nullopt;
    return ip(a, port);
  }
  const ByteSpan name = r.take(r.u8());
  if (!r.ok()) return std::nullopt;
  std::string err;
  auto p = from_host(std::string_view(reinterpret_cast<const char*>(name.data()), name.size()), port, err);
  if (!p || p->kind() != static_cast<HostKind>(kind)) return std::nullopt;
  return p;
}

PeerAddress from_sockaddr(const sockaddr_in6& a) noexcept {
  codec::Addr16 b{};
  std::memcpy(b.data(), &a.sin6_addr, 16);
  return PeerAddress::ip(b, ntohs(a.sin6_port));
}

std::optional<sockaddr_in6> to_sockaddr(const PeerAddress& p) noexcept {
  if (!p.is_ip()) return std::nullopt;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  std::memcpy(&a.sin6_addr, p.addr().data(), 16);
  a.sin6_port = htons(p.port());
  return a;
}

void ConnectOptions::put(Writer& w) const {
  w.u8(static_cast<std::uint8_t>((mptcp ? 1 : 0) | (bind_source ? 2 : 0) | (socks5 ? 4 : 0) | (sam ? 8 : 0)));
  put_short_string(w, bind_device);
  if (bind_source) w.array(*bind_source);
  if (socks5) {
    w.array(socks5->addr);
    w.u16(socks5->port);
    w.u8(socks5->login ? 1 : 0);
    if (socks5->login) {
      put_short_string(w, socks5->login->user);
      put_short_string(w, socks5->login->pass);
    }
  }
  if (sam) {
    w.array(sam->addr);
    w.u16(sam->port);
    put_short_string(w, sam->session);
    w.u8(sam->accept ? 1 : 0);
  }
}

std::optional<ConnectOptions> ConnectOptions::get(Reader& r) {
  ConnectOptions o;
  const std::uint8_t flags = r.u8();
  if (!r.ok() || (flags & ~15u) != 0) return std::nullopt;
  o.mptcp = (flags & 1) != 0;
  o.bind_device = get_short_string(r);
  if (o.bind_device.size() > kMaxDeviceName) return std::nullopt;
  if ((flags & 2) != 0) o.bind_source = r.array<16>();
  if ((flags & 4) != 0) {
    Socks5Proxy p;
    p.addr = r.array<16>();
    p.port = r.u16();
    const std::uint8_t has_login = r.u8();
    if (has_login > 1) return std::nullopt;
    if (has_login == 1) {
      ProxyLogin l{get_short_string(r), get_short_string(r)};
      if (l.user.empty() || l.pass.empty()) return std::nullopt;  // RFC 1929: 1..255 bytes each
      p.login = std::move(l);
    }
    o.socks5 = std::move(p);
  }
  if ((flags & 8) != 0) {
    SamBridge b;
    b.addr = r.array<16>();
    b.port = r.u16();
    b.session = get_short_string(r);
    const std::uint8_t accept = r.u8();
    // The session ID goes into the bridge's command lines: no spaces or line ends.
    if (accept > 1 || b.session.empty() || b.session.size() > 64 ||
        b.session.find_first_of(" \t\r\n=\"") != std::string::npos)
      return std::nullopt;
    b.accept = accept == 1;
    o.sam = std::move(b);
  }
  if (!r.ok()) return std::nullopt;
  return o;
}

}  // namespace relay::net
