#include "relay/crypto/merkle.hpp"

namespace relay::crypto {

Hash32 merkle_root(std::span<const Hash32> txids, std::vector<Hash32>& row) noexcept {
  if (txids.empty()) return Hash32{};
  Sha512_256 h;
  row.resize(txids.size());
  for (std::size_t i = 0; i < txids.size(); ++i) {
    h.update_u8(0x00);
    h.update(txids[i].data(), 32);
    row[i] = h.finish();
  }
  // Every row, the leaf row included, is combined at least once: a single leaf L
  // gives H(0x01 ‖ L ‖ L).
  std::size_t n = row.size();
  do {
    std::size_t out = 0;
    for (std::size_t i = 0; i < n; i += 2) {
      const Hash32& left = row[i];
      const Hash32& right = (i + 1 < n) ? row[i + 1] : row[i];
      h.update_u8(0x01);
      h.update(left.data(), 32);
      h.update(right.data(), 32);
      row[out++] = h.finish();
    }
    n = out;
  } while (n > 1);
  return row[0];
}

Hash32 merkle_root(std::span<const Hash32> txids) {
  std::vector<Hash32> scratch;
  return merkle_root(txids, scratch);
}

}  // namespace relay::crypto
