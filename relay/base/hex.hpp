// relay/base/hex.hpp — lower-case hex encoding and strict decoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "relay/base/bytes.hpp"

namespace relay {

// to_hex: lower-case hex of `s`.
std::string to_hex(ByteSpan s);
template <std::size_t N>
std::string to_hex(const ByteArray<N>& a) {
  return to_hex(ByteSpan(a.data(), N));
}

// from_hex: decode hex (either case, optional "0x" prefix, surrounding ASCII
// whitespace ignored). Returns nullopt on odd length or a non-hex character.
std::optional<Bytes> from_hex(std::string_view s);

// array_from_hex: exactly N bytes of hex, else nullopt.
template <std::size_t N>
std::optional<ByteArray<N>> array_from_hex(std::string_view s) {
  auto b = from_hex(s);
  if (!b || b->size() != N) return std::nullopt;
  ByteArray<N> a;
  std::copy(b->begin(), b->end(), a.begin());
  return a;
}

}  // namespace relay
