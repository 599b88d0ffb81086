// relay/policy/allowance.hpp — how much of something (bytes, signature checks) one sender
// may have the relay spend per second: a token bucket, full at first use, refilled at
// `per_s` up to `burst`. Pure, header-only, no clock of its own (the caller passes its
// monotonic time), so the engine and its tests agree on every refill.
#pragma once

#include <algorithm>
#include <cstdint>

namespace relay::policy {

struct Rate {
  std::uint64_t per_s = 0;
  std::uint64_t burst = 0;
};

class Allowance {
 public:
  // take: `n` now, all or nothing (false: not enough left; nothing taken).
  bool take(std::uint64_t now_ns, std::uint64_t n, Rate r) noexcept {
    refill(now_ns, r);
    if (tokens_ < 0 || static_cast<std::uint64_t>(tokens_) < n) return false;
    tokens_ -= static_cast<std::int64_t>(n);
    return true;
  }
  // charge: `n` already spent (work whose cost is known only once done). It may leave
  // the allowance in debt, down to -burst: nothing more is taken until it is paid back.
  void charge(std::uint64_t now_ns, std::uint64_t n, Rate r) noexcept {
    refill(now_ns, r);
    const auto burst = static_cast<std::int64_t>(std::min<std::uint64_t>(r.burst, INT64_MAX / 2));
    tokens_ = std::max(-burst, tokens_ - static_cast<std::int64_t>(std::min<std::uint64_t>(n, INT64_MAX / 2)));
  }
  // in_credit: something may be spent now (not in debt, not empty).
  bool in_credit(std::uint64_t now_ns, Rate r) noexcept {
    refill(now_ns, r);
    return tokens_ > 0;
  }
  std::int64_t tokens() const noexcept { return tokens_; }

 private:
  void refill(std::uint64_t now_ns, Rate r) noexcept {
    const auto burst = static_cast<std::int64_t>(std::min<std::uint64_t>(r.burst, INT64_MAX / 2));
    if (!started_) {
      started_ = true;
      tokens_ = burst;
    } else if (now_ns > at_ns_) {
      // At most a minute's worth at once: no overflow, and the burst caps it anyway.
      const std::uint64_t us = std::min<std::uint64_t>((now_ns - at_ns_) / 1000, 60'000'000);
      const std::uint64_t earned = std::min<std::uint64_t>(us * std::min<std::uint64_t>(r.per_s, 1ull << 40) / 1'000'000,
                                                           INT64_MAX / 2);
      tokens_ = std::min(burst, tokens_ + static_cast<std::int64_t>(earned));
    }
    at_ns_ = std::max(at_ns_, now_ns);
  }

  std::int64_t tokens_ = 0;
  std::uint64_t at_ns_ = 0;
  bool started_ = false;
};

}  // namespace relay::policy
