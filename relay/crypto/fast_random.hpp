// relay/crypto/fast_random.hpp — random numbers for what must differ between messages
// and processes but protects nothing: a preamble's seq. One getrandom(2) seeds each
// thread's generator on first use; every draw after that is a few instructions, not a
// syscall. Keys, nonces and anything secret keep using fill_random (the OS CSPRNG).
//
// The generator is xoshiro256** (Blackman and Vigna): 256 bits of state, period 2^256 - 1.
#pragma once

#include <array>
#include <cstdint>

namespace relay::crypto {

class FastRandom {
 public:
  // The state must not be all zero (a zero state is replaced by a fixed non-zero one).
  explicit FastRandom(const std::array<std::uint64_t, 4>& seed) noexcept;
  // from_os: seeded from the OS CSPRNG.
  static FastRandom from_os() noexcept;
  std::uint64_t next() noexcept;

 private:
  std::array<std::uint64_t, 4> s_;
};

// thread_random: the calling thread's generator (seeded from the OS on first use).
std::uint64_t thread_random() noexcept;
inline std::uint32_t thread_random_u32() noexcept { return static_cast<std::uint32_t>(thread_random() >> 32); }

}  // namespace relay::crypto
