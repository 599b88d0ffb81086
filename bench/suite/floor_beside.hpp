// bench/suite/floor_beside.hpp — the transaction floor's operations timed beside the relay.
//
// The relay path's target compares its CPU per transaction with what a relay must spend on
// one: two signature recoveries (the message's and the transaction's) and one signature.
// Timed back to back in a loop, those run with every cache and predictor warm; the relay
// meets one transaction every few milliseconds, with the nodes and the kernel running on
// its core in between. FloorBeside runs one set of them per period on the relay's
// run-loop CPU while a trial runs, so the floor is measured in the same moments, on the
// same core, under the same neighbours as the path it judges. (The suite shows the ratio
// to the back-to-back figure as well.)
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

namespace relay::bench {

class FloorBeside {
 public:
  // start: one set every `period_ns`, on `cpu` (none: wherever the scheduler puts it).
  FloorBeside(std::optional<unsigned> cpu, std::uint64_t period_ns);
  ~FloorBeside();
  FloorBeside(const FloorBeside&) = delete;
  FloorBeside& operator=(const FloorBeside&) = delete;

  // stop: the thread ends; what it measured stays readable.
  void stop();
  std::size_t sets() const noexcept { return cpu_ns_.size(); }
  // median_us: the median set's CPU time (this thread's, so preemption is not in it), µs;
  // 0 when no set ran.
  double median_us() const;
  // pinned: whether the thread ran on the CPU asked for.
  bool pinned() const noexcept { return pinned_; }

 private:
  void run(std::optional<unsigned> cpu, std::uint64_t period_ns);
  std::atomic<bool> stop_{false};
  bool pinned_ = false;
  std::vector<std::uint64_t> cpu_ns_;  // written by the thread until stop()
  std::thread thread_;
};

}  // namespace relay::bench
