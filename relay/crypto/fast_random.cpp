#include "relay/crypto/fast_random.hpp"

#include "relay/crypto/secp256k1.hpp"

namespace relay::crypto {

namespace {
constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
}  // namespace

FastRandom::FastRandom(const std::array<std::uint64_t, 4>& seed) noexcept : s_(seed) {
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_ = {0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull, 1};
}

FastRandom FastRandom::from_os() noexcept {
  std::array<std::uint64_t, 4> seed{};
  fill_random(reinterpret_cast<std::uint8_t*>(seed.data()), sizeof seed);  // a zero state is replaced above
  return FastRandom(seed);
}

std::uint64_t FastRandom::next() noexcept {
  const std::uint64_t out = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return out;
}

std::uint64_t thread_random() noexcept {
  thread_local FastRandom g = FastRandom::from_os();
  return g.next();
}

}  // namespace relay::crypto
