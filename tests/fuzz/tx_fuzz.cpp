// Transactions: decode → encode is the identity, the txid is the hash of the input, and
// signature verification never crashes whatever the auth fields hold.
#include <cstdint>

#include "relay/codec/chain.hpp"
#include "relay/crypto/hash.hpp"
#include "relay/validate/validate.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace relay;
  ByteSpan in(data, size);
  auto tx = codec::decode_exact<codec::StacksTransaction>(in, codec::read_transaction);
  if (!tx.ok()) {
    FUZZ_CHECK(tx.error().offset <= size);
    return 0;
  }
  Bytes again = codec::encode_with(codec::write_transaction, *tx);
  FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
  FUZZ_CHECK(tx->txid == crypto::sha512_256(in));
  (void)validate::verify_transaction(*tx);
  return 0;
}
