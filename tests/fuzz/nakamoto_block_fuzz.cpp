// Nakamoto blocks: round trip, ids recomputed from the structure equal the ids computed
// from the raw bytes, signature recovery never crashes.
#include <cstdint>

#include "relay/codec/chain.hpp"
#include "relay/validate/validate.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace relay;
  ByteSpan in(data, size);
  auto b = codec::decode_exact<codec::NakamotoBlock>(in, codec::read_nakamoto_block);
  if (!b.ok()) {
    FUZZ_CHECK(b.error().offset <= size);
    return 0;
  }
  Bytes again = codec::encode_with(codec::write_nakamoto_block, *b);
  FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
  codec::NakamotoBlock copy = *b;
  codec::compute_ids(copy);
  FUZZ_CHECK(copy.block_id == b->block_id && copy.block_hash == b->block_hash &&
             copy.miner_sighash == b->miner_sighash);
  (void)validate::nakamoto_miner_key(*b);
  return 0;
}
