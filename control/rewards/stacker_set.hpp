// control/rewards/stacker_set.hpp — a node's `GET /v3/stacker_set/{cycle}` answer read
// into a signer set. One parser for the reward fetcher and for `stacks-relay decode
// --reward-set`; it needs nlohmann-json only (no HTTP client).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/validate/validate.hpp"

namespace relay::rewards {

using Signers = std::vector<validate::RewardSetSigner>;

// parse_stacker_set: {"stacker_set":{"signers":[{"signing_key":"0x…","weight":n},…],…}}
// — a JSON object; every signer with a 33-byte hex key ("0x" optional) and an unsigned
// integer weight in 1..2^32-1; at least one signer. nullopt and `err` otherwise.
std::optional<Signers> parse_stacker_set(std::string_view json, std::string& err);

}  // namespace relay::rewards
