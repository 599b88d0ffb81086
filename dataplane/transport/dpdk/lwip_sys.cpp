// dataplane/transport/dpdk/lwip_sys.cpp — what lwIP (built NO_SYS) asks of its platform:
// the millisecond clock its timers run on, random numbers, RFC 6528 initial sequence
// numbers, and what a failed assertion does.
#include <time.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {
#include "lwip/arch.h"
#include "lwip/ip_addr.h"
#include "lwip/sys.h"
#include "lwip_hooks.h"
}

#include "relay/crypto/fast_random.hpp"
#include "relay/crypto/hash.hpp"
#include "relay/crypto/secp256k1.hpp"

namespace {

std::uint64_t monotonic_us() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

// The secret of the ISN function, drawn once from the OS (RFC 6528 §3: "should be
// random and at least 128 bits"; ours is 256).
const std::array<std::uint8_t, 32>& isn_secret() noexcept {
  static const std::array<std::uint8_t, 32> secret = [] {
    std::array<std::uint8_t, 32> s{};
    if (!relay::crypto::fill_random(s.data(), s.size())) std::abort();  // no randomness: no safe TCP
    return s;
  }();
  return secret;
}

}  // namespace

extern "C" {

u32_t sys_now(void) { return static_cast<u32_t>(monotonic_us() / 1000u); }

u32_t relay_lwip_rand(void) { return relay::crypto::thread_random_u32(); }

// RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs
// clock, F a keyed hash (SHA-256 over the secret and the four-tuple). Connections to one
// peer get increasing numbers, an off-path attacker cannot guess any of them.
u32_t relay_lwip_tcp_isn(const ip_addr_t* local_ip, u16_t local_port, const ip_addr_t* remote_ip, u16_t remote_port) {
  std::uint8_t in[32 + 4 + 2 + 4 + 2];
  const auto& key = isn_secret();
  std::memcpy(in, key.data(), key.size());
  const u32_t lip = ip_2_ip4(local_ip)->addr, rip = ip_2_ip4(remote_ip)->addr;
  std::memcpy(in + 32, &lip, 4);
  std::memcpy(in + 36, &local_port, 2);
  std::memcpy(in + 38, &rip, 4);
  std::memcpy(in + 42, &remote_port, 2);
  const auto h = relay::crypto::sha256(relay::ByteSpan(in, sizeof in));
  u32_t f = 0;
  std::memcpy(&f, h.data(), sizeof f);
  return static_cast<u32_t>(monotonic_us() / 4u) + f;
}

void relay_lwip_assert(const char* msg, int line, const char* file) {
  std::fprintf(stderr, "stacks-relay-dataplane: lwIP assertion failed: %s (%s:%d)\n", msg, file, line);
  std::abort();
}

}  // extern "C"
