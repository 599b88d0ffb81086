#include "control/gaia/token.hpp"

#include <array>
#include <nlohmann/json.hpp>

#include "relay/base/hex.hpp"
#include "relay/crypto/hash.hpp"

namespace relay::gaia {

namespace {

constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kB58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

std::string b64url_text(std::string_view s) {
  return base64url(ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

}  // namespace

std::string base64url(ByteSpan b) {
  std::string out;
  out.reserve((b.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= b.size(); i += 3) {
    const std::uint32_t v = std::uint32_t{b[i]} << 16 | std::uint32_t{b[i + 1]} << 8 | b[i + 2];
    for (int k = 18; k >= 0; k -= 6) out.push_back(kB64Url[(v >> k) & 63]);
  }
  if (const std::size_t rest = b.size() - i; rest != 0) {
    const std::uint32_t v = std::uint32_t{b[i]} << 16 | (rest == 2 ? std::uint32_t{b[i + 1]} << 8 : 0u);
    out.push_back(kB64Url[(v >> 18) & 63]);
    out.push_back(kB64Url[(v >> 12) & 63]);
    if (rest == 2) out.push_back(kB64Url[(v >> 6) & 63]);
  }
  return out;
}

std::optional<Bytes> from_base64url(std::string_view s) {
  if (s.size() % 4 == 1) return std::nullopt;  // no whole byte ends there
  std::array<int, 256> val{};
  val.fill(-1);
  for (int k = 0; k < 64; ++k) val[static_cast<unsigned char>(kB64Url[k])] = k;
  Bytes out;
  out.reserve(s.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : s) {
    const int v = val[static_cast<unsigned char>(ch)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return std::nullopt;  // bits past the last byte must be zero (canonical)
  return out;
}

std::string base58check(std::uint8_t version, ByteSpan payload) {
  Bytes data;
  data.reserve(payload.size() + 5);
  data.push_back(version);
  data.insert(data.end(), payload.begin(), payload.end());
  const auto check = crypto::sha256(crypto::sha256(data));
  data.insert(data.end(), check.begin(), check.begin() + 4);
  // Big-number base conversion, most significant digit last in `digits`.
  std::vector<std::uint8_t> digits;
  for (std::uint8_t byte : data) {
    std::uint32_t carry = byte;
    for (auto& d : digits) {
      carry += std::uint32_t{d} << 8;
      d = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
    while (carry != 0) {
      digits.push_back(static_cast<std::uint8_t>(carry % 58));
      carry /= 58;
    }
  }
  std::string out;
  for (std::uint8_t byte : data) {  // each leading zero byte is a leading '1'
    if (byte != 0) break;
    out.push_back('1');
  }
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) out.push_back(kB58[*it]);
  return out;
}

std::string bucket_address(const crypto::PublicKey& k) {
  const auto pk = k.compressed();
  const auto h = crypto::hash160(ByteSpan(pk.data(), pk.size()));
  return base58check(0x00, ByteSpan(h.data(), h.size()));
}

std::string make_token(const crypto::SecretKey& key, const TokenClaims& c) {
  const auto pk = key.public_key().compressed();
  nlohmann::ordered_json p = nlohmann::ordered_json::object();
  p["gaiaChallenge"] = c.challenge;
  p["hubUrl"] = c.hub_url;
  p["iss"] = to_hex(pk);
  p["salt"] = to_hex(c.salt);
  p["iat"] = c.iat;
  p["exp"] = c.exp;
  const std::string signing_input =
      b64url_text(R"({"typ":"JWT","alg":"ES256K"})") + "." + b64url_text(p.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  const auto digest = crypto::sha256(ByteSpan(reinterpret_cast<const std::uint8_t*>(signing_input.data()), signing_input.size()));
  const auto sig = key.sign(digest);  // recid ‖ r ‖ s: the JWT carries r ‖ s
  return "v1:" + signing_input + "." + base64url(ByteSpan(sig.data() + 1, 64));
}

}  // namespace relay::gaia
