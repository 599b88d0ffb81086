// relay/codec/clarity.hpp — Clarity values as they appear inside transactions
// (PROTOCOL.md §7.6). A relay never evaluates Clarity; it must find where a value ends,
// reject exactly what the reference node's untyped deserializer rejects (or more), and
// refuse non-canonical encodings (unsorted tuple keys). The value is kept as its
// validated canonical bytes.
#pragma once

#include <string>

#include "relay/base/bytes.hpp"

namespace relay::codec {

struct ClarityValue {
  Bytes raw;  // one complete, validated, canonical serialized value
  bool operator==(const ClarityValue&) const = default;
};

// read_clarity_value: validate one value at the reader's position and copy its bytes.
// Bounded: depth ≤ 15 nested containers, lengths checked before use, the value read
// through a 2 MiB bound.
void read_clarity_value(Reader& r, ClarityValue& out);
void write_clarity_value(Writer& w, const ClarityValue& v);
// reserve_clarity_scratch: grow this thread's type-checking arena up front.
void reserve_clarity_scratch();

// clarity_repr: Clarity-syntax rendering of a validated value, e.g. "(some u1)",
// truncated with "…" after `max_len` characters. For humans (decode output, logs).
std::string clarity_repr(ByteSpan raw, std::size_t max_len = 4096);

}  // namespace relay::codec
