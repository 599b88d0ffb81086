// control/inv/sortition_fetcher.hpp — the chain view the relay's inventory is built from
// (inventory.hpp), learned from trusted nodes' RPC (rewards.node_rpc: the trust the
// reward sets already have):
//   GET /v2/pox                             first burn height, reward cycle length, burn tip
//   GET /v3/tenures/info                    the canonical tip tenure and its start block
//   GET /v3/sortitions/burn_height/{h}      each burn block of the current and the previous
//                                           cycle, and each older cycle's mod-1 block (what a
//                                           node's GetNakamotoInv names), back `history_cycles`
// On a thread of its own; a sortition once fetched is kept (the newest `refetch` heights
// are asked again each round, for burnchain reorgs). Each round the inventory is built
// afresh over the block store and published.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/inv/inventory.hpp"
#include "control/netio/http_get.hpp"

namespace relay::inv {

// Parsers of the node's answers (exposed for tests): nullopt and `err` on bad input.
std::optional<Sortition> parse_sortition(std::string_view json, std::string& err);
struct PoxView {
  std::uint64_t first_height = 0, tip_height = 0;
  std::uint32_t cycle_length = 0;
};
std::optional<PoxView> parse_pox(std::string_view json, std::string& err);

struct SortitionFetcherOptions {
  std::vector<std::string> node_urls;
  const store::BlockStore* store = nullptr;
  netio::HttpGetOptions http;
  std::uint32_t poll_ms = 5000;
  std::uint32_t history_cycles = 64;
  std::uint32_t refetch = 12;
  std::function<void(const std::string&)> log;
};

struct InvView {
  std::string state = "starting";  // "up", or what is missing
  std::uint64_t requests = 0, failures = 0, sortitions = 0;
  std::size_t canonical = 0, claimed = 0;
  std::string stopped;
};

class SortitionFetcher {
 public:
  explicit SortitionFetcher(SortitionFetcherOptions o);
  ~SortitionFetcher();
  SortitionFetcher(const SortitionFetcher&) = delete;
  SortitionFetcher& operator=(const SortitionFetcher&) = delete;
  void start();
  void stop();
  // round: one poll on the caller's thread (tests; start() loops it). False: no node answered.
  bool round();
  // take: the newest table, once, when a round built one since the last take.
  std::shared_ptr<const InvTable> take();
  InvView view() const;

 private:
  std::optional<std::string> get(netio::HttpClient& http, const std::string& path);

  SortitionFetcherOptions opts_;
  ChainView chain_;
  ServableCache servable_;
  std::size_t last_canonical_ = 0;
  std::unique_ptr<netio::HttpClient> http_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const InvTable> fresh_;
  InvView view_;
  bool stop_ = false;
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

}  // namespace relay::inv
