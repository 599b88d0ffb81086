// bench/suite/soak.hpp — the soak scenario: honest traffic through the real relay while
// the attacks of the adversarial suite run beside it, for as long as asked (minutes in
// the smoke run, hours on demand), sampled at a fixed interval: the relay's memory and
// CPU, and how much of the honest traffic arrived and how fast.
//
// Honest: K stock-node peers; one pushes transactions at a steady rate and a block every
// two seconds, the others receive. Attacks, all at once, each topped up every interval:
//   - connections that claim a 16 MB message before any handshake (dropped at 5 s);
//   - authenticated peers pushing invalid transactions and junk StackerDB chunks (each
//     a new dedup id), until the relay drops them for it;
//   - HTTP clients that pipeline tenure requests and never read, and clients that never
//     finish their headers.
// A relay that leaks, stalls or lets an attack through shows it as a trend over the
// samples: RSS that climbs, delivery that falls, latency that grows.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/sim/sim_data.hpp"
#include "bench/suite/relay_proc.hpp"
#include "bench/suite/trial.hpp"

namespace relay::bench {

struct SoakParams {
  double seconds = 300;          // how long
  double interval_s = 10;        // one sample per interval
  std::size_t honest_peers = 8;  // K
  double tx_rate = 500;          // honest transactions per second
  std::size_t block_bytes = 256 << 10;
  std::size_t claimants = 32;    // pre-handshake connections kept open
  std::size_t junk_peers = 2;    // authenticated attackers
  double junk_rate = 50;         // invalid transactions and junk chunks per second, each attacker
  std::size_t junk_chunk_bytes = 256 << 10;  // half of them chunks: 6.4 MB/s each, past a sender's 4 MiB/s
  std::size_t pipeliners = 8;    // HTTP clients that never read
  std::size_t slow_clients = 4;  // HTTP clients that never finish their headers
};

struct SoakSample {
  double t_s = 0;                   // end of the interval, since the start
  std::uint64_t dp_rss = 0, rss = 0;  // bytes: the dataplane's, both processes'
  double dp_cpu = 0, cpu = 0;       // cores busy over the interval: the dataplane, both
  std::size_t pushes = 0;           // honest pushes sent in the interval
  double delivered = 0;             // of their copies, the fraction that arrived (by the end of the run)
  Dist hop;                         // their arrivals' hop latency (µs)
  std::uint64_t claimants_dropped = 0;   // pre-handshake attackers the relay closed, this interval
  std::uint64_t junk_sent = 0;           // attacker pushes sent this interval
  std::uint64_t junk_dropped = 0;        // relay drops of invalid, throttled, or unsigned pushes, this interval
  std::uint64_t http_cut = 0;            // HTTP clients the relay closed (refused or timed out), this interval
};

struct SoakResult {
  SoakParams params;
  std::vector<SoakSample> samples;
  std::uint64_t junk_peers_dropped = 0;  // attackers closed for invalid pushes, in all
  std::string note;                      // what stopped it early, if anything
};

// run_soak: against the running relay `relay` (its HTTP endpoint on), with the signers
// its reward set holds and a miner to make blocks. `note` reports progress.
SoakResult run_soak(RelayProc& relay, const SoakParams& p, const sim::SignerSet& signers,
                    const crypto::SecretKey& miner, const std::function<void(const std::string&)>& note);

}  // namespace relay::bench
