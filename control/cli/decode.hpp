// control/cli/decode.hpp — `stacks-relay decode`: any Stacks wire object to one JSON
// object with its fields and every id and signature check a relay computes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/bytes.hpp"
#include "relay/validate/validate.hpp"

namespace relay::cli {

enum class DecodeKind { kMessage, kTx, kBlock, kMicroblock, kNakamotoBlock, kStackerDbChunk };

std::optional<DecodeKind> parse_decode_kind(std::string_view s);

struct DecodeOptions {
  // nakamoto-block: check signer signatures against this reward set when present.
  std::optional<std::vector<validate::RewardSetSigner>> reward_set;
  // block: compute the index block hash with this consensus hash.
  std::optional<codec::Hash20> consensus_hash;
  // stackerdb-chunk: the slot owner's hash160 to check the signature against.
  std::optional<codec::Hash20> slot_owner;
};

struct DecodeResult {
  int status = 0;    // 0 decoded, 2 not a valid object
  std::string json;  // one line, when status == 0
  std::string error; // one line, when status == 2: "invalid at byte N: reason (code)"
};

DecodeResult decode_to_json(DecodeKind kind, ByteSpan input, const DecodeOptions& opts);

// parse_reward_set: either the node's /v3/stacker_set JSON (any text holding a '{'),
// read by rewards::parse_stacker_set as the reward fetcher reads it, or plain lines
// "PUBKEYHEX WEIGHT". nullopt (and `err`) when it is not valid or holds no signer.
std::optional<std::vector<validate::RewardSetSigner>> parse_reward_set(std::string_view text,
                                                                        std::string& err);

}  // namespace relay::cli
