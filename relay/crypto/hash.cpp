#include "relay/crypto/hash.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

namespace relay::crypto {

namespace {

const EVP_MD* fetch_or_die(const char* name) noexcept {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) {
    std::fprintf(stderr, "fatal: OpenSSL does not provide %s\n", name);
    std::abort();
  }
  return md;
}

const EVP_MD* md_sha512_256() noexcept {
  static const EVP_MD* md = fetch_or_die("SHA512-256");
  return md;
}
const EVP_MD* md_sha256() noexcept {
  static const EVP_MD* md = fetch_or_die("SHA256");
  return md;
}
const EVP_MD* md_ripemd160() noexcept {
  static const EVP_MD* md = fetch_or_die("RIPEMD160");
  return md;
}

template <std::size_t N>
ByteArray<N> one_shot(const EVP_MD* md, ByteSpan s) noexcept {
  ByteArray<N> out{};
  unsigned int len = 0;
  if (EVP_Digest(s.data(), s.size(), out.data(), &len, md, nullptr) != 1 || len != N) {
    std::fprintf(stderr, "fatal: EVP_Digest failed\n");
    std::abort();
  }
  return out;
}

}  // namespace

Sha512_256::Sha512_256() noexcept : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) std::abort();
  reset();
}

Sha512_256::~Sha512_256() { EVP_MD_CTX_free(ctx_); }

Sha512_256::Sha512_256(const Sha512_256& other) noexcept : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_MD_CTX_copy_ex(ctx_, other.ctx_) != 1) std::abort();
}

Sha512_256& Sha512_256::operator=(const Sha512_256& other) noexcept {
  if (this != &other && EVP_MD_CTX_copy_ex(ctx_, other.ctx_) != 1) std::abort();
  return *this;
}

void Sha512_256::reset() noexcept {
  if (EVP_DigestInit_ex2(ctx_, md_sha512_256(), nullptr) != 1) std::abort();
}

void Sha512_256::update(ByteSpan s) noexcept { update(s.data(), s.size()); }

void Sha512_256::update(const void* p, std::size_t n) noexcept {
  if (n != 0) EVP_DigestUpdate(ctx_, p, n);
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
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, out.data(), &len) != 1 || len != 32) std::abort();
  reset();
  return out;
}

Hash32 sha512_256(ByteSpan s) noexcept { return one_shot<32>(md_sha512_256(), s); }
Hash32 sha256(ByteSpan s) noexcept { return one_shot<32>(md_sha256(), s); }
Hash20 ripemd160(ByteSpan s) noexcept { return one_shot<20>(md_ripemd160(), s); }

Hash20 hash160(ByteSpan s) noexcept {
  Hash32 h = sha256(s);
  return ripemd160(ByteSpan(h.data(), h.size()));
}

}  // namespace relay::crypto
