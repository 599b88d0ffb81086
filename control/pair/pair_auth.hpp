// control/pair/pair_auth.hpp — how the relays of a pair prove who they are to each other's
// HTTP endpoint (the catch-up routes, /relay/v1/*): each request carries
//
//   Authorization: StacksRelay <public key, 33 bytes hex>:<unix seconds>:<signature hex>
//
// the signature (recoverable secp256k1, 65 bytes, low-S) over
//
//   SHA-512/256("stacks-relay pair v1\n" ‖ method ‖ "\n" ‖ target ‖ "\n" ‖ seconds ‖ "\n" ‖ server key hex)
//
// where target is the path with its query, and the server key is the identity key of the
// relay asked (so a request signed for one relay is worth nothing at another). The
// server accepts it when the key is one of its [pair] partners' and the time is within
// kAuthWindowS of its own clock. Replays within the window only repeat a read.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "relay/codec/types.hpp"
#include "relay/crypto/secp256k1.hpp"

namespace relay::pair {

inline constexpr std::int64_t kAuthWindowS = 120;

enum class AuthResult : std::uint8_t { kOk, kMissing, kMalformed, kStale, kBadSignature, kNotAPartner };
const char* describe(AuthResult r) noexcept;

// auth_header: the Authorization header's value for a request to `server`.
std::string auth_header(const crypto::SecretKey& ours, std::string_view method, std::string_view target,
                        std::int64_t now_s, const codec::PubKey33& server);

// check_auth: `value` (the Authorization header; nullptr when there is none) against
// `partners`; `who` gets the key that signed when kOk.
AuthResult check_auth(const std::string* value, std::string_view method, std::string_view target, std::int64_t now_s,
                      const codec::PubKey33& server, std::span<const codec::PubKey33> partners, codec::PubKey33* who = nullptr);

}  // namespace relay::pair
