#include "relay/base/hex.hpp"

#include <algorithm>

namespace relay {

std::string to_hex(ByteSpan s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(s.size() * 2, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) {
    out[2 * i] = kDigits[s[i] >> 4];
    out[2 * i + 1] = kDigits[s[i] & 0xf];
  }
  return out;
}

namespace {
int nibble(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
bool is_space(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
}  // namespace

std::optional<Bytes> from_hex(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.size() % 2 != 0) return std::nullopt;
  Bytes out(s.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(s[2 * i]);
    int lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return out;
}

}  // namespace relay
