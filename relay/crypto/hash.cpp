#include "relay/crypto/hash.hpp"

// The low-level SHA-2/RIPEMD functions are deprecated in OpenSSL 3 in favour of EVP,
// but EVP allocates a context for every digest (and again at every re-initialisation in
// 3.0). These run the same assembly block functions on a plain struct: no allocation.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/ripemd.h>
#include <openssl/sha.h>

#include <cstring>

namespace relay::crypto {


namespace {
SHA512_CTX& st(std::uint8_t* storage) noexcept { return *reinterpret_cast<SHA512_CTX*>(storage); }

// SHA-512/256 (FIPS 180-4 §5.3.6.2): SHA-512 with its own initial hash value,
// truncated to 32 bytes (md_len 32 makes SHA512_Final write only those).
void sha512_256_init(SHA512_CTX& c) noexcept {
  SHA512_Init(&c);
  static constexpr std::uint64_t kIv[8] = {0x22312194fc2bf72cull, 0x9f555fa3c84c64c2ull, 0x2393b86b6f53b151ull,
                                           0x963877195940eabdull, 0x96283ee2a88effe3ull, 0xbe5e1e2553863992ull,
                                           0x2b0199fc2c85b8aaull, 0x0eb72ddc81c52ca2ull};
  for (int i = 0; i < 8; ++i) c.h[i] = kIv[i];
  c.md_len = 32;
}
}  // namespace

static_assert(sizeof(SHA512_CTX) <= Sha512_256::kStateSize && alignof(SHA512_CTX) <= 8);

Sha512_256::Sha512_256() noexcept { reset(); }
Sha512_256::~Sha512_256() = default;
Sha512_256::Sha512_256(const Sha512_256& other) noexcept { std::memcpy(state_, other.state_, sizeof state_); }
Sha512_256& Sha512_256::operator=(const Sha512_256& other) noexcept {
  std::memcpy(state_, other.state_, sizeof state_);
  return *this;
}
void Sha512_256::reset() noexcept { sha512_256_init(st(state_)); }
void Sha512_256::update(ByteSpan s) noexcept { update(s.data(), s.size()); }
void Sha512_256::update(const void* p, std::size_t n) noexcept {
  if (n != 0) SHA512_Update(&st(state_), p, n);
}
void Sha512_256::update_u32(std::uint32_t v) noexcept {
  std::uint8_t b[4];
  store_be32(b, v);
  update(b, 4);
}
void Sha512_256::update_u64(std::uint64_t v) noexcept {
  update_u32(static_cast<std::uint32_t>(v >> 32));
  update_u32(static_cast<std::uint32_t>(v));
}
Hash32 Sha512_256::finish() noexcept {
  Hash32 out{};
  SHA512_Final(out.data(), &st(state_));
  reset();
  return out;
}

Hash32 sha512_256(ByteSpan s) noexcept {
  Sha512_256 h;
  h.update(s);
  return h.finish();
}
// (SHA256() and RIPEMD160() one-shots go through EVP in OpenSSL 3: the context API does not.)
Hash32 sha256(ByteSpan s) noexcept {
  Hash32 out{};
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, s.data(), s.size());
  SHA256_Final(out.data(), &c);
  return out;
}
Hash20 ripemd160(ByteSpan s) noexcept {
  Hash20 out{};
  RIPEMD160_CTX c;
  RIPEMD160_Init(&c);
  RIPEMD160_Update(&c, s.data(), s.size());
  RIPEMD160_Final(out.data(), &c);
  return out;
}

Hash20 hash160(ByteSpan s) noexcept {
  Hash32 h = sha256(s);
  return ripemd160(ByteSpan(h.data(), h.size()));
}

}  // namespace relay::crypto
