#include "control/pair/pair_auth.hpp"

#include <charconv>

#include "relay/base/hex.hpp"
#include "relay/crypto/hash.hpp"

namespace relay::pair {

namespace {

constexpr std::string_view kScheme = "StacksRelay ";

crypto::Hash32 digest(std::string_view method, std::string_view target, std::int64_t t, const codec::PubKey33& server) {
  std::string m = "stacks-relay pair v1\n";
  m.append(method).append("\n").append(target).append("\n").append(std::to_string(t)).append("\n");
  m += to_hex(ByteSpan(server.data(), server.size()));
  return crypto::sha512_256(ByteSpan(reinterpret_cast<const std::uint8_t*>(m.data()), m.size()));
}

}  // namespace

const char* describe(AuthResult r) noexcept {
  switch (r) {
    case AuthResult::kOk: return "ok";
    case AuthResult::kMissing: return "no Authorization: StacksRelay header";
    case AuthResult::kMalformed: return "a malformed Authorization header";
    case AuthResult::kStale: return "a request time too far from ours (are both clocks right?)";
    case AuthResult::kBadSignature: return "a signature that does not match its key";
    case AuthResult::kNotAPartner: return "a key that is not one of our pair partners";
  }
  return "?";
}

std::string auth_header(const crypto::SecretKey& ours, std::string_view method, std::string_view target, std::int64_t now_s,
                        const codec::PubKey33& server) {
  const auto pk = ours.public_key().compressed();
  const auto sig = ours.sign(digest(method, target, now_s, server));
  return std::string(kScheme) + to_hex(ByteSpan(pk.data(), pk.size())) + ":" + std::to_string(now_s) + ":" +
         to_hex(ByteSpan(sig.data(), sig.size()));
}

AuthResult check_auth(const std::string* value, std::string_view method, std::string_view target, std::int64_t now_s,
                      const codec::PubKey33& server, std::span<const codec::PubKey33> partners, codec::PubKey33* who) {
  if (value == nullptr || value->compare(0, kScheme.size(), kScheme) != 0) return AuthResult::kMissing;
  const std::string_view v = std::string_view(*value).substr(kScheme.size());
  const auto c1 = v.find(':'), c2 = v.rfind(':');
  if (c1 == std::string_view::npos || c2 == c1) return AuthResult::kMalformed;
  const auto key = array_from_hex<33>(v.substr(0, c1));
  const auto sig = array_from_hex<65>(v.substr(c2 + 1));
  std::int64_t t = 0;
  const std::string_view ts = v.substr(c1 + 1, c2 - c1 - 1);
  const auto [end, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), t);
  if (!key || !sig || ec != std::errc{} || end != ts.data() + ts.size()) return AuthResult::kMalformed;
  if (t < now_s - kAuthWindowS || t > now_s + kAuthWindowS) return AuthResult::kStale;
  bool partner = false;
  for (const auto& p : partners) partner |= p == *key;
  if (!partner) return AuthResult::kNotAPartner;
  const auto pk = crypto::parse_public_key(ByteSpan(key->data(), key->size()));
  if (!pk || !crypto::verify(digest(method, target, t, server), *sig, *pk, crypto::LowS::kEnforce))
    return AuthResult::kBadSignature;
  if (who != nullptr) *who = *key;
  return AuthResult::kOk;
}

}  // namespace relay::pair
