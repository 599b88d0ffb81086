#include "bench/suite/floor_beside.hpp"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <utility>

#include "bench/sim/sim_data.hpp"
#include "relay/crypto/secp256k1.hpp"
#include "relay/shm/cnc.hpp"

namespace relay::bench {

FloorBeside::FloorBeside(std::optional<unsigned> cpu, std::uint64_t period_ns) {
  cpu_ns_.reserve(1 << 16);
  thread_ = std::thread([this, cpu, period_ns] { run(cpu, period_ns); });
}

FloorBeside::~FloorBeside() { stop(); }

void FloorBeside::stop() {
  stop_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

double FloorBeside::median_us() const {
  if (cpu_ns_.empty()) return 0;
  std::vector<std::uint64_t> v = cpu_ns_;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return static_cast<double>(*mid) / 1000.0;
}

void FloorBeside::run(std::optional<unsigned> cpu, std::uint64_t period_ns) {
  if (cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(*cpu, &set);
    pinned_ = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
  }
  // The operations of one transaction: recover the sender's message signature and the
  // transaction's, sign our forward. The signatures to recover are made before the
  // trial, so the timed set is the first of its kind after each pause, as the relay's is.
  const auto sk = sim::key_from_byte(11, 3);
  std::vector<std::pair<codec::Hash32, codec::Sig65>> made(64);
  for (std::size_t i = 0; i < made.size(); ++i) {
    made[i].first[0] = static_cast<std::uint8_t>(i);
    made[i].second = sk.sign(made[i].first);
  }
  codec::Hash32 ours{};
  std::uint32_t n = 0;
  timespec next{};
  ::clock_gettime(CLOCK_MONOTONIC, &next);
  while (!stop_.load(std::memory_order_relaxed) && cpu_ns_.size() < cpu_ns_.capacity()) {
    next.tv_nsec += static_cast<long>(period_ns);
    while (next.tv_nsec >= 1'000'000'000L) {
      next.tv_nsec -= 1'000'000'000L;
      ++next.tv_sec;
    }
    ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
    const auto& a = made[n++ % made.size()];
    const auto& b = made[n++ % made.size()];
    ours[0] = static_cast<std::uint8_t>(n);
    ours[1] = static_cast<std::uint8_t>(n >> 8);
    const std::uint64_t t0 = shm::thread_cpu_ns();
    const bool ok = crypto::recover(a.first, a.second, crypto::LowS::kEnforce).has_value() &&
                    crypto::recover(b.first, b.second, crypto::LowS::kEnforce).has_value();
    const codec::Sig65 sig = sk.sign(ours);
    const std::uint64_t t1 = shm::thread_cpu_ns();
    if (ok && sig != codec::Sig65{}) cpu_ns_.push_back(t1 - t0);
  }
}

}  // namespace relay::bench
