// control/rewards/reward_fetcher.hpp — Nakamoto signer sets, fetched from trusted nodes'
// RPC (PROTOCOL.md §8): `GET /v2/pox` for the current reward cycle, then
// `GET /v3/stacker_set/{cycle}` for its signers, the previous cycle's and, once the
// node has it (from the prepare phase on), the next cycle's. Runs on a
// thread of its own (a node that is slow to answer never holds up the control loop),
// asks the configured nodes in order until one answers, and polls so that a new cycle is
// picked up at its boundary. Every set fetched is kept in the cache directory, so a
// restarted relay checks blocks before any node has answered.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/rewards/stacker_set.hpp"

#include "relay/net/peer_address.hpp"

namespace relay::rewards {

struct CycleSets {
  std::uint64_t cycle = 0;
  Signers current;
  Signers previous;  // empty when unknown
  Signers next;      // empty until the node has it (the prepare phase before the cycle)
};

// The current cycle in a node's /v2/pox JSON (exposed for tests): nullopt and `err` on
// bad input. Its /v3/stacker_set JSON is read by parse_stacker_set (stacker_set.hpp).
std::optional<std::uint64_t> parse_pox_current_cycle(std::string_view json, std::string& err);

struct FetcherOptions {
  std::vector<std::string> node_urls;  // e.g. "http://10.0.0.5:20443"
  std::string cache_dir;               // "" : no cache
  std::uint32_t poll_s = 60;
  std::uint32_t timeout_s = 10;
  // Through a SOCKS5 proxy ([proxy]): `proxy` for every URL, `onion_proxy` for .onion
  // ones; the host name goes to the proxy unresolved (curl's socks5h). With `isolate`, a
  // login of its own per node (Tor's stream isolation), drawn from `isolation_salt`.
  std::optional<net::Socks5Proxy> proxy;
  std::optional<net::Socks5Proxy> onion_proxy;
  bool isolate = true;
  std::uint64_t isolation_salt = 0;
};

struct FetcherStats {
  std::atomic<std::uint64_t> requests{0}, failures{0}, cycles{0};
};

class RewardFetcher {
 public:
  explicit RewardFetcher(FetcherOptions o);
  ~RewardFetcher();
  RewardFetcher(const RewardFetcher&) = delete;
  RewardFetcher& operator=(const RewardFetcher&) = delete;

  // load_cache: the newest cycle in the cache directory (and the one before), if any.
  std::optional<CycleSets> load_cache() const;
  // start: begin polling on the fetcher's thread.
  void start();
  // take: the newest sets, once, when they changed since the last take (thread-safe).
  std::optional<CycleSets> take();
  const FetcherStats& stats() const noexcept { return stats_; }

 private:
  void run();
  bool poll_once();
  // quiet: a missing answer is expected (the next cycle's set before it exists), not a failure.
  std::optional<std::string> get(const std::string& url, bool quiet = false);
  std::optional<Signers> fetch_set(std::uint64_t cycle, bool quiet = false);
  void publish(CycleSets sets);
  void save(std::uint64_t cycle, const std::string& json) const;

  FetcherOptions opts_;
  FetcherStats stats_;
  std::uint64_t known_cycle_ = 0;
  Signers known_current_;
  Signers known_previous_;
  Signers known_next_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<CycleSets> fresh_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace relay::rewards
