// Clarity values: validation is bounded (depth, sizes), accepted values re-encode to the
// same bytes and render without crashing.
#include <cstdint>

#include "relay/codec/clarity.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace relay;
  Reader r(ByteSpan(data, size));
  codec::ClarityValue v;
  codec::read_clarity_value(r, v);
  if (!r.ok()) return 0;
  FUZZ_CHECK(v.raw.size() == r.pos() && std::equal(v.raw.begin(), v.raw.end(), data));
  (void)codec::clarity_repr(v.raw, 256);
  return 0;
}
