// control/gaia/token.hpp — what a Gaia hub's write API asks of a writer: the bucket
// address of a key, and the v1 bearer token (an ES256K JWT) that proves the writer holds
// it. The format is the one the hub checks (stacks-network/gaia hub/src/server/
// authentication.ts) and @stacks/storage sends (../shared/MACHINE.md P2.6):
//
//   address  Base58Check(0x00 ‖ RIPEMD160(SHA256(compressed public key)))  ("1…")
//   header   {"typ":"JWT","alg":"ES256K"}
//   payload  {"gaiaChallenge": <hub_info's challenge_text, verbatim>, "hubUrl": <the hub
//            URL as called>, "iss": <compressed public key, hex>, "salt": <16 random
//            bytes, hex>, "iat": <unix s>, "exp": <unix s>}
//   token    "v1:" b64url(header) "." b64url(payload) "." b64url(r ‖ s)
//            where (r, s) is an ECDSA secp256k1 signature over SHA-256 of the first two
//            parts as ASCII, base64url without padding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/base/bytes.hpp"
#include "relay/crypto/secp256k1.hpp"

namespace relay::gaia {

// base64url without padding (RFC 4648 §5), and back (padding and anything outside the
// alphabet refused).
std::string base64url(ByteSpan b);
std::optional<Bytes> from_base64url(std::string_view s);

// base58check: version byte, payload, then the first 4 bytes of SHA256(SHA256(both)).
std::string base58check(std::uint8_t version, ByteSpan payload);

// bucket_address: the address a hub files a key's writes under.
std::string bucket_address(const crypto::PublicKey& k);

struct TokenClaims {
  std::string challenge;  // hub_info's challenge_text
  std::string hub_url;    // the hub's URL as we call it (without a trailing '/')
  std::int64_t iat = 0;   // issued at, unix seconds (needed once a bucket is revoked)
  std::int64_t exp = 0;   // expires, unix seconds
  ByteArray<16> salt{};   // random: two tokens made in the same second differ
};

// make_token: "v1:<jwt>", the value after "bearer " in the Authorization header.
std::string make_token(const crypto::SecretKey& key, const TokenClaims& c);

}  // namespace relay::gaia
