// bench/suite/trial.hpp — one timed run: pre-signed pushes sent on a schedule through a
// Swarm, every arrival matched to what was sent, and the numbers a report needs
// (latency distributions, time to the first byte out and to the last peer, rates).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bench/suite/swarm.hpp"

namespace relay::bench {

struct Planned {
  std::uint32_t origin = 0;
  Bytes msg;              // signed, ready to write
  std::uint64_t key = 0;  // payload key (what recipients will report)
  std::uint64_t at_ns = 0;  // offset from the trial's start
};

struct TrialResult {
  std::uint64_t start_ns = 0, sends_done_ns = 0, end_ns = 0;
  std::vector<std::uint64_t> begin_ns;               // per planned push: the origin started writing it
  std::vector<std::uint64_t> sent_ns;                // its last byte written (0: never)
  std::vector<std::uint64_t> wire_ns;                // its last byte left the origin's host (0: not timestamped)
  std::vector<std::vector<Arrival>> arrivals;        // per planned push
  std::uint64_t stray = 0;                           // arrivals matching nothing sent
  std::uint64_t refused = 0;                         // sends the transport refused (backpressure)
  std::uint64_t delivered_bytes = 0;
  // add_push: push `i` of `from`, appended (to split one trial's pushes into groups).
  void add_push(const TrialResult& from, std::size_t i) {
    begin_ns.push_back(from.begin_ns[i]);
    sent_ns.push_back(from.sent_ns[i]);
    wire_ns.push_back(from.wire_ns[i]);
    arrivals.push_back(from.arrivals[i]);
  }
};

// run_trial: send `plan` on schedule, then wait until every push reached `expect_each`
// peers or `drain_ns` passed since the last send.
TrialResult run_trial(Swarm& s, const std::vector<Planned>& plan, std::size_t expect_each, std::uint64_t drain_ns);

// Latency summary in microseconds (nearest-rank percentiles) and a CDF for charts.
struct Dist {
  std::size_t n = 0;
  double p50 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
  std::vector<std::pair<double, double>> cdf;  // (µs, fraction ≤), at most ~200 points
};
Dist summarize(std::vector<double> us);

// hop_latencies: per arrival, last byte read − the push's last byte out (µs): when it left
// the host if that was timestamped, else when its write completed.
std::vector<double> hop_latencies(const TrialResult& r);
// per_push: for complete pushes (all `expect_each` arrived), µs:
//   first byte out — the earliest first byte at any peer after the origin's last byte
//     left its host (after its last byte was written when that is not timestamped);
//   last peer — the latest last byte at any peer after the origin began writing it (so
//     the origin's own sending counts the same with or without a relay).
// (median_peer, when given: the same for the median recipient's last byte, of n the
// (n+1)/2-th to finish.)
void per_push(const TrialResult& r, std::size_t expect_each, std::vector<double>& first_out, std::vector<double>& last_peer,
              std::vector<double>* median_peer = nullptr);
std::uint64_t arrivals(const TrialResult& r);

}  // namespace relay::bench
