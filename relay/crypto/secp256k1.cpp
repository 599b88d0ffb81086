#include "relay/crypto/secp256k1.hpp"

#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace relay::crypto {

namespace {

static_assert(sizeof(secp256k1_pubkey) == 64, "opaque pubkey size");

const secp256k1_context* ctx() noexcept {
  static const secp256k1_context* c = [] {
    secp256k1_context* made = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (made == nullptr) std::abort();
    // Randomization blinds signing against side channels; it is not needed for
    // correctness, so a failing getrandom only loses the blinding.
    unsigned char seed[32];
    if (fill_random(seed, sizeof seed) && secp256k1_context_randomize(made, seed) != 1) {
      // keep the unblinded context: still correct, only less side-channel hardened
    }
    return made;
  }();
  return c;
}

secp256k1_pubkey to_lib(const PublicKey& k) noexcept {
  secp256k1_pubkey p;
  std::memcpy(p.data, k.opaque.data(), 64);
  return p;
}

PublicKey from_lib(const secp256k1_pubkey& p) noexcept {
  PublicKey k;
  std::memcpy(k.opaque.data(), p.data, 64);
  return k;
}

bool parse_recoverable(const Sig65& sig, secp256k1_ecdsa_recoverable_signature* out) noexcept {
  int recid = sig[0];
  if (recid > 3) return false;
  return secp256k1_ecdsa_recoverable_signature_parse_compact(ctx(), out, sig.data() + 1, recid) == 1;
}

}  // namespace

bool fill_random(std::uint8_t* out, std::size_t n) noexcept {
  while (n > 0) {
    ssize_t got = getrandom(out, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    out += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

PubKey33 PublicKey::compressed() const noexcept {
  PubKey33 out{};
  std::size_t len = out.size();
  secp256k1_pubkey p = to_lib(*this);
  secp256k1_ec_pubkey_serialize(ctx(), out.data(), &len, &p, SECP256K1_EC_COMPRESSED);
  return out;
}

ByteArray<65> PublicKey::uncompressed() const noexcept {
  ByteArray<65> out{};
  std::size_t len = out.size();
  secp256k1_pubkey p = to_lib(*this);
  secp256k1_ec_pubkey_serialize(ctx(), out.data(), &len, &p, SECP256K1_EC_UNCOMPRESSED);
  return out;
}

bool PublicKey::operator==(const PublicKey& o) const noexcept {
  secp256k1_pubkey a = to_lib(*this);
  secp256k1_pubkey b = to_lib(o);
  return secp256k1_ec_pubkey_cmp(ctx(), &a, &b) == 0;
}

bool parses_as_recoverable(const Sig65& sig) noexcept {
  secp256k1_ecdsa_recoverable_signature rs;
  return parse_recoverable(sig, &rs);
}

bool is_high_s(const Sig65& sig) noexcept {
  secp256k1_ecdsa_recoverable_signature rs;
  if (!parse_recoverable(sig, &rs)) return true;
  secp256k1_ecdsa_signature plain;
  secp256k1_ecdsa_recoverable_signature_convert(ctx(), &plain, &rs);
  // normalize returns 1 when the input was not already low-S.
  return secp256k1_ecdsa_signature_normalize(ctx(), nullptr, &plain) == 1;
}

std::optional<PublicKey> recover(const Hash32& digest, const Sig65& sig, LowS mode) noexcept {
  secp256k1_ecdsa_recoverable_signature rs;
  if (!parse_recoverable(sig, &rs)) return std::nullopt;
  secp256k1_pubkey p;
  if (secp256k1_ecdsa_recover(ctx(), &p, &rs, digest.data()) != 1) return std::nullopt;
  if (mode == LowS::kEnforce && is_high_s(sig)) return std::nullopt;
  return from_lib(p);
}

bool verify(const Hash32& digest, const Sig65& sig, const PublicKey& expected, LowS mode) noexcept {
  auto got = recover(digest, sig, LowS::kIgnore);
  if (!got || !(*got == expected)) return false;
  return mode == LowS::kIgnore || !is_high_s(sig);
}

std::optional<PublicKey> parse_public_key(ByteSpan sec1) noexcept {
  if (sec1.size() != 33 && sec1.size() != 65) return std::nullopt;
  secp256k1_pubkey p;
  if (secp256k1_ec_pubkey_parse(ctx(), &p, sec1.data(), sec1.size()) != 1) return std::nullopt;
  return from_lib(p);
}

std::optional<SecretKey> SecretKey::from_bytes(ByteSpan b) noexcept {
  if (b.size() == 33 && b[32] == 0x01) b = b.first(32);
  if (b.size() != 32) return std::nullopt;
  SecretKey k;
  std::memcpy(k.key_.data(), b.data(), 32);
  if (secp256k1_ec_seckey_verify(ctx(), k.key_.data()) != 1) return std::nullopt;
  return k;
}

std::optional<SecretKey> SecretKey::generate() noexcept {
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::uint8_t buf[32];
    if (!fill_random(buf, sizeof buf)) return std::nullopt;
    auto k = from_bytes(ByteSpan(buf, 32));
    std::memset(buf, 0, sizeof buf);
    if (k) return k;
  }
  return std::nullopt;
}

PublicKey SecretKey::public_key() const noexcept {
  secp256k1_pubkey p;
  if (secp256k1_ec_pubkey_create(ctx(), &p, key_.data()) != 1) std::abort();  // key was verified
  return from_lib(p);
}

Sig65 SecretKey::sign(const Hash32& digest) const noexcept {
  secp256k1_ecdsa_recoverable_signature rs;
  if (secp256k1_ecdsa_sign_recoverable(ctx(), &rs, digest.data(), key_.data(), nullptr, nullptr) != 1) {
    std::abort();  // only fails for an invalid key, which from_bytes excludes
  }
  Sig65 out{};
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx(), out.data() + 1, &recid, &rs);
  out[0] = static_cast<std::uint8_t>(recid);
  return out;
}

}  // namespace relay::crypto
