#include "relay/net/address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace relay::net {

namespace {
constexpr std::uint8_t kV4Prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}

bool is_ipv4(const Addr16& a) noexcept { return std::memcmp(a.data(), kV4Prefix, 12) == 0; }

bool is_private(const Addr16& a) noexcept {
  if (is_ipv4(a)) {
    const std::uint8_t b0 = a[12], b1 = a[13];
    return b0 == 10 || (b0 == 172 && (b1 & 0xf0) == 16) || (b0 == 192 && b1 == 168) || b0 == 127;
  }
  if ((a[0] & 0xfe) == 0xfc) return true;  // fc00::/7
  return is_loopback(a);
}

bool is_loopback(const Addr16& a) noexcept {
  static constexpr Addr16 kLoop6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return is_ipv4(a) ? a[12] == 127 : a == kLoop6;
}

bool is_unroutable(const Addr16& a) noexcept {
  if (is_ipv4(a)) {
    const std::uint8_t b0 = a[12], b1 = a[13];
    return b0 == 0 || (b0 == 169 && b1 == 254) || (b0 == 100 && (b1 & 0xc0) == 64) || b0 >= 224;
  }
  return (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || a[0] == 0xff;  // fe80::/10, ff00::/8
}

Addr16 host_block(const Addr16& a) noexcept {
  if (is_ipv4(a)) return a;
  Addr16 b = a;
  std::memset(b.data() + 8, 0, 8);
  return b;
}

Addr16 netgroup(const Addr16& a) noexcept {
  Addr16 b = a;
  if (is_ipv4(a)) std::memset(b.data() + 14, 0, 2);
  else std::memset(b.data() + 4, 0, 12);
  return b;
}

bool is_unspecified(const Addr16& a) noexcept {
  static constexpr Addr16 kZero{};
  if (a == kZero) return true;
  return is_ipv4(a) && a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] == 0;
}

std::string addr_to_string(const Addr16& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_ipv4(a)) ::inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf);
  else ::inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  return buf;
}

std::optional<Addr16> parse_addr(std::string_view s) {
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, s.data(), s.size());
  Addr16 a{};
  if (::inet_pton(AF_INET, buf, a.data() + 12) == 1) {
    std::memcpy(a.data(), kV4Prefix, 12);
    return a;
  }
  if (::inet_pton(AF_INET6, buf, a.data()) == 1) return a;
  return std::nullopt;
}

bool Cidr::contains(const Addr16& a) const noexcept {
  const unsigned whole = bits / 8, rest = bits % 8;
  if (std::memcmp(a.data(), base.data(), whole) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (base[whole] & mask);
}

std::string Cidr::to_string() const {
  const bool v4 = is_ipv4(base) && bits >= 96;
  return addr_to_string(base) + "/" + std::to_string(v4 ? bits - 96 : bits);
}

std::optional<Cidr> Cidr::parse(std::string_view s, std::string& err) {
  std::string_view addr = s, len;
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    addr = s.substr(0, slash);
    len = s.substr(slash + 1);
  }
  auto a = parse_addr(addr);
  if (!a) {
    err = "'" + std::string(s) + "' is not an IP address or CIDR block";
    return std::nullopt;
  }
  const bool v4 = is_ipv4(*a) && addr.find(':') == std::string_view::npos;
  const unsigned max = v4 ? 32 : 128;
  unsigned n = max;
  if (!len.empty() || s.find('/') != std::string_view::npos) {
    if (len.empty() || len.size() > 3) {
      err = "'" + std::string(s) + "': bad prefix length";
      return std::nullopt;
    }
    n = 0;
    for (char c : len) {
      if (c < '0' || c > '9') {
        err = "'" + std::string(s) + "': bad prefix length";
        return std::nullopt;
      }
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n > max) {
      err = "'" + std::string(s) + "': prefix longer than the address";
      return std::nullopt;
    }
  }
  Cidr c;
  c.base = *a;
  c.bits = static_cast<std::uint8_t>(v4 ? n + 96 : n);
  // Host bits under the prefix must be zero.
  for (unsigned bit = c.bits; bit < 128; ++bit) {
    if ((c.base[bit / 8] >> (7 - bit % 8)) & 1) {
      err = "'" + std::string(s) + "': address has bits set past the prefix (did you mean " +
            [&] {
              Cidr z = c;
              for (unsigned b = c.bits; b < 128; ++b) z.base[b / 8] &= static_cast<std::uint8_t>(~(1u << (7 - b % 8)));
              return z.to_string();
            }() +
            "?)";
      return std::nullopt;
    }
  }
  return c;
}

bool any_contains(const std::vector<Cidr>& list, const Addr16& a) noexcept {
  for (const auto& c : list)
    if (c.contains(a)) return true;
  return false;
}

}  // namespace relay::net
