// relay/crypto/hash.hpp — the hashes Stacks uses: SHA-512/256 ("H"), SHA-256,
// RIPEMD-160 and hash160 = RIPEMD160(SHA256(x)).
//
// All digests run OpenSSL's (assembly) block functions on plain state structs: no
// allocation at all, which OpenSSL 3.0's EVP interface cannot offer (it allocates a
// context per digest and again per re-initialisation). Sha512_256 is a streaming hasher
// holding its state inline; reuse it across messages with reset().
#pragma once

#include "relay/base/bytes.hpp"



namespace relay::crypto {

using Hash32 = ByteArray<32>;
using Hash20 = ByteArray<20>;

class Sha512_256 {
 public:
  Sha512_256() noexcept;
  ~Sha512_256();
  Sha512_256(const Sha512_256& other) noexcept;  // copies the running state
  Sha512_256& operator=(const Sha512_256& other) noexcept;
  Sha512_256(Sha512_256&&) = delete;
  Sha512_256& operator=(Sha512_256&&) = delete;

  void reset() noexcept;
  void update(ByteSpan s) noexcept;
  void update(const void* p, std::size_t n) noexcept;
  void update_u8(std::uint8_t v) noexcept { update(&v, 1); }
  void update_u32(std::uint32_t v) noexcept;
  void update_u64(std::uint64_t v) noexcept;
  // finish: write the digest and reset for the next message.
  Hash32 finish() noexcept;
  // sink: a Writer sink that feeds this hasher (ctx = Sha512_256*).
  static void sink(void* ctx, const std::uint8_t* p, std::size_t n) noexcept {
    static_cast<Sha512_256*>(ctx)->update(p, n);
  }

  static constexpr std::size_t kStateSize = 224;

 private:
  alignas(8) std::uint8_t state_[kStateSize];  // OpenSSL's SHA512_CTX, kept opaque here
};

Hash32 sha512_256(ByteSpan s) noexcept;
Hash32 sha256(ByteSpan s) noexcept;
Hash20 ripemd160(ByteSpan s) noexcept;
Hash20 hash160(ByteSpan s) noexcept;

}  // namespace relay::crypto
