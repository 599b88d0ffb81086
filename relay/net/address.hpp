// relay/net/address.hpp — IP addresses as peers carry them and policies judge them: the
// private ranges of PROTOCOL.md §4.1 (a node's `PeerAddress::is_in_private_range`),
// operator allow/deny lists by address or CIDR, and printing. Addresses are the wire's
// 16 bytes (IPv6, IPv4 as ::ffff:a.b.c.d).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/codec/types.hpp"

namespace relay::net {

using codec::Addr16;

bool is_ipv4(const Addr16& a) noexcept;
// is_private: 10/8, 172.16/12, 192.168/16, 127/8, fc00::/7, ::1 (as a node counts them).
bool is_private(const Addr16& a) noexcept;
// is_loopback: 127/8 or ::1 (this machine).
bool is_loopback(const Addr16& a) noexcept;
// is_unroutable: addresses no peer on the internet has, which a node's rule above lets
// through: link-local (169.254/16, fe80::/10; cloud metadata services live there),
// shared address space (100.64/10, carrier-grade NAT), 0/8, multicast (224/4,
// ff00::/8) and reserved (240/4, broadcast included). Not part of a node's rule: the
// relay never learns or dials these from what peers tell it.
bool is_unroutable(const Addr16& a) noexcept;
// host_block: the block one host (or one attacker) is reasonably given: an IPv4 address
// itself, an IPv6 address's /64 (a home or a cloud VM gets a whole /64, so counting full
// IPv6 addresses would let one host fill every slot). Per-address limits and bans key on it.
Addr16 host_block(const Addr16& a) noexcept;
// netgroup: the block one operator plausibly holds many addresses in (an IPv4 /16, an
// IPv6 /32, as Bitcoin Core groups peers): peers in different netgroups count as
// independent witnesses (the burn view vote).
Addr16 netgroup(const Addr16& a) noexcept;
// is_unspecified: 0.0.0.0 or :: ("any network" in a handshake).
bool is_unspecified(const Addr16& a) noexcept;

// addr_to_string: "203.0.113.7" or "2001:db8::1".
std::string addr_to_string(const Addr16& a);
// parse_addr: an IPv4 or IPv6 literal.
std::optional<Addr16> parse_addr(std::string_view s);

// Cidr: an address block; IPv4 blocks are kept as their IPv4-mapped IPv6 form.
struct Cidr {
  Addr16 base{};
  std::uint8_t bits = 128;  // prefix length over the 16 bytes

  bool contains(const Addr16& a) const noexcept;
  std::string to_string() const;
  // parse: "203.0.113.0/24", "2001:db8::/32", or a single address ("203.0.113.7").
  // Host bits set under the prefix are an error (a typo in a deny list must not pass).
  static std::optional<Cidr> parse(std::string_view s, std::string& err);
};

bool any_contains(const std::vector<Cidr>& list, const Addr16& a) noexcept;

}  // namespace relay::net
