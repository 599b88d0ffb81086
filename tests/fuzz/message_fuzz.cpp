// Any byte string: decode_message either fails with an error that points inside the
// input, or succeeds and re-encodes to exactly the input.
#include <cstdint>

#include "relay/codec/message.hpp"
#include "relay/validate/validate.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace relay;
  ByteSpan in(data, size);
  auto m = codec::decode_message(in);
  if (!m.ok()) {
    FUZZ_CHECK(m.error().code != Errc::kOk);
    FUZZ_CHECK(m.error().offset <= size);
    return 0;
  }
  Bytes again = codec::encode_message(*m);
  FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
  (void)validate::recover_message_signer(in);
  return 0;
}
