// relay/net/peer_address.hpp — who to connect to, and how (ARCHITECTURE.md §5).
//
// A PeerAddress is an IP literal or a host name, plus a port. Names ending in .onion or
// .i2p are told apart from DNS names: they must never be resolved locally (asking a DNS
// server for one leaks it, and fails) — only a Tor SOCKS5 proxy or an I2P SAM bridge
// can reach them. A DNS name is resolved where the connection is decided; an IP is used
// as it is.
//
// ConnectOptions travel with each dial, from the configuration to the transport that
// makes the connection: an MPTCP socket, a device or a source address to bind to (a
// WireGuard tunnel's interface, say).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/base/bytes.hpp"
#include "relay/codec/types.hpp"

namespace relay::net {

enum class HostKind : std::uint8_t {
  kIp = 0,     // an IPv4 or IPv6 literal
  kName = 1,   // a DNS name
  kOnion = 2,  // a Tor onion service (v3: 56 base32 characters before .onion)
  kI2p = 3,    // an I2P destination (NAME.b32.i2p, or a name an I2P address book knows)
};

class PeerAddress {
 public:
  PeerAddress() = default;
  static PeerAddress ip(const codec::Addr16& a, std::uint16_t port) noexcept;
  // parse: "HOST:PORT" or "[IPV6]:PORT". HOST is an IPv4 literal or a host name (DNS,
  // onion, I2P; case-insensitive, kept in lower case). Port 0 only if `allow_zero_port`.
  static std::optional<PeerAddress> parse(std::string_view s, std::string& err, bool allow_zero_port = false);
  // from_host: HOST (an IP literal of either family, or a name) and a port.
  static std::optional<PeerAddress> from_host(std::string_view host, std::uint16_t port, std::string& err);

  HostKind kind() const noexcept { return kind_; }
  bool is_ip() const noexcept { return kind_ == HostKind::kIp; }
  // needs_proxy: an onion or I2P name, reachable only through its network's proxy.
  bool needs_proxy() const noexcept { return kind_ == HostKind::kOnion || kind_ == HostKind::kI2p; }
  const codec::Addr16& addr() const noexcept { return addr_; }  // kIp only
  const std::string& name() const noexcept { return name_; }    // names only
  std::uint16_t port() const noexcept { return port_; }
  // host: the IP as text, or the name. to_string: HOST:PORT ([V6]:PORT).
  std::string host() const;
  std::string to_string() const;

  // On the link between the processes: u8 kind, u16 port, then 16 address bytes (kIp) or
  // u8 length + the name. get() re-checks a name as parse() would.
  void put(Writer& w) const;
  static std::optional<PeerAddress> get(Reader& r);

  bool operator==(const PeerAddress&) const = default;

 private:
  HostKind kind_ = HostKind::kIp;
  codec::Addr16 addr_{};
  std::string name_;
  std::uint16_t port_ = 0;
};

// split_host_port: "HOST:PORT" / "[V6]:PORT" into its parts, checking only the shape and
// the port's range (for bind addresses, which may also be names to resolve at start).
std::optional<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view s, std::string& err,
                                                                      bool allow_zero_port = false);

// host_kind: what kind of host `host` names, or nullopt (with `err`) when it is neither
// an IP literal nor a valid host name.
std::optional<HostKind> host_kind(std::string_view host, std::string& err);

// A SOCKS5 proxy (relay/net/socks5.hpp): where it listens, and the login it is given
// (none: the "no authentication" method).
struct ProxyLogin {
  std::string user;  // 1..255 bytes
  std::string pass;  // 1..255 bytes
  bool operator==(const ProxyLogin&) const = default;
};
struct Socks5Proxy {
  codec::Addr16 addr{};
  std::uint16_t port = 0;
  std::optional<ProxyLogin> login;
  bool operator==(const Socks5Proxy&) const = default;
};

// An I2P SAM bridge (relay/net/sam.hpp) and the session (SESSION CREATE, held by the
// control plane) a connection uses: to reach an I2P peer, or (accept) to wait for one.
struct SamBridge {
  codec::Addr16 addr{};
  std::uint16_t port = 0;
  std::string session;  // its ID (1..64 characters, no spaces)
  bool accept = false;  // STREAM ACCEPT instead of CONNECT: the connection is inbound
  bool operator==(const SamBridge&) const = default;
};

struct ConnectOptions {
  bool mptcp = false;                     // an MPTCP socket (plain TCP where the path or peer lacks it)
  std::string bind_device;                // SO_BINDTODEVICE (e.g. a WireGuard interface); empty: none
  std::optional<codec::Addr16> bind_source;  // connect from this address; nullopt: the kernel's choice
  // Through this SOCKS5 proxy: the socket connects to the proxy (made as the options above
  // say), which connects to the peer; a name goes to the proxy unresolved.
  std::optional<Socks5Proxy> socks5;
  // Through this I2P SAM bridge (for an I2P peer; the options above apply to the socket
  // to the bridge).
  std::optional<SamBridge> sam;

  void put(Writer& w) const;
  static std::optional<ConnectOptions> get(Reader& r);
  bool operator==(const ConnectOptions&) const = default;
};

inline constexpr std::size_t kMaxDeviceName = 15;  // IFNAMSIZ - 1

// The kernel's form of an IP address and port (IPv4 as ::ffff:a.b.c.d), both ways;
// to_sockaddr is nullopt for a name.
PeerAddress from_sockaddr(const sockaddr_in6& a) noexcept;
std::optional<sockaddr_in6> to_sockaddr(const PeerAddress& p) noexcept;

}  // namespace relay::net
