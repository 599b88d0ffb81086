// Stacks 2.x anchored blocks and microblocks (the first byte picks which): round trip
// and ids.
#include <cstdint>

#include "relay/codec/chain.hpp"
#include "relay/validate/validate.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace relay;
  if (size < 1) return 0;
  ByteSpan in(data + 1, size - 1);
  if (data[0] & 1) {
    auto m = codec::decode_exact<codec::StacksMicroblock>(in, codec::read_microblock);
    if (!m.ok()) return 0;
    Bytes again = codec::encode_with(codec::write_microblock, *m);
    FUZZ_CHECK(again.size() == in.size() && std::equal(again.begin(), again.end(), in.begin()));
    codec::StacksMicroblock copy = *m;
    codec::compute_ids(copy);
    FUZZ_CHECK(copy.block_hash == m->block_hash);
    (void)validate::microblock_signer_hash(m->header);
  } else {
    auto b = codec::decode_exact<codec::StacksBlock>(in, codec::read_stacks_block);
    if (!b.ok()) return 0;
    Bytes again = codec::encode_with(codec::write_stacks_block, *b);
    FUZZ_CHECK(again.size() == in.size() && std::equal(again.begin(), again.end(), in.begin()));
    codec::StacksBlock copy = *b;
    codec::compute_ids(copy);
    FUZZ_CHECK(copy.block_hash == b->block_hash);
  }
  return 0;
}
