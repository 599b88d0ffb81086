// relay/codec/strings.hpp — the length-prefixed string types of the Stacks codecs and
// their character rules (PROTOCOL.md §1.5, §7.7): ContractName, ClarityName,
// StacksString and UrlString. Each read_* checks the length before copying and the
// content after, with the reference node's rules.
#pragma once

#include <string>
#include <string_view>

#include "relay/base/bytes.hpp"

namespace relay::codec {

bool is_valid_contract_name(std::string_view s) noexcept;  // regex only, no length rule
bool is_valid_clarity_name(std::string_view s) noexcept;   // regex only
bool is_valid_stacks_string(std::string_view s) noexcept;  // allowed bytes only

// u8 length + ContractName bytes, 1..=max_len (40 in tx/p2p codec, 128 in Clarity values).
void read_contract_name(Reader& r, std::string& out, std::size_t max_len);
// u8 length + ClarityName bytes, ≤ 128.
void read_clarity_name(Reader& r, std::string& out);
// u32 length + StacksString bytes.
void read_stacks_string(Reader& r, std::string& out, std::uint32_t max_len);
// u8 length + UrlString (validated by validate_url in message.hpp).
void read_url_string(Reader& r, std::string& out);

void write_u8_string(Writer& w, std::string_view s);
void write_u32_string(Writer& w, std::string_view s);

}  // namespace relay::codec
