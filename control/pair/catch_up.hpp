// control/pair/catch_up.hpp — the store catch-up of a relay pair: each relay reads its
// partner's store log over HTTP (the partner's data_url, authenticated with our identity
// key: pair_auth.hpp) and fetches every block it does not hold, checked exactly as a push
// (validate::PushCheck: decode, Merkle root, signer signatures against the reward sets
// we hold) and stored as one. Where it got to in each partner's log (its cursor) is kept
// in the data directory, so a restart or a partition only costs what was missed; a new
// relay starts from the beginning of its partner's log (bootstrapping from it). A block
// that fails the checks is refused, counted and skipped; a block that cannot be checked
// yet (no reward set) is tried again later.
//
// The partner serves (control/http/relay_api.hpp):
//   GET /relay/v1/log?from=SEQ&limit=N   {"next_seq":S,"entries":[{"seq":s,"id":"<hex>"},…]}
//   GET /relay/v1/push/{id}              the block as the push that carries it (octet-stream)
//
// It runs on a thread of its own: a slow or dead partner never holds up the control loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/netio/http_get.hpp"
#include "control/store/block_store.hpp"
#include "relay/crypto/secp256k1.hpp"
#include "relay/validate/validate.hpp"

namespace relay::pair {

struct CatchUpOptions {
  const crypto::SecretKey* key = nullptr;  // ours (signs the requests)
  store::BlockStore* store = nullptr;
  std::string cursor_dir;                  // where each partner's cursor is kept ("": not kept)
  netio::HttpGetOptions http;
  std::uint32_t page = 256;                // log entries asked for at once
  std::uint64_t idle_ms = 2000;            // between rounds when caught up (or a partner failed)
  std::int64_t (*wall)() = nullptr;        // unix seconds (nullptr: time())
  std::function<void(const std::string&)> log;
};

struct Partner {
  codec::PubKey33 key{};
  std::string url;  // its HTTP endpoint ("http://host:port"), from its handshake's data_url
  bool operator==(const Partner&) const = default;
};

// What /status shows of one partner's catch-up.
struct CatchUpView {
  codec::PubKey33 key{};
  std::string url;
  std::uint64_t cursor = 1;        // the next seq of its log we will read
  std::uint64_t partner_next = 0;  // its log's end when last asked (0: never answered)
  std::uint64_t fetched = 0, stored = 0, already_had = 0, refused = 0, unverifiable = 0, failures = 0;
  std::string last_error;
  bool caught_up() const noexcept { return partner_next != 0 && cursor >= partner_next; }
};

class CatchUp {
 public:
  explicit CatchUp(CatchUpOptions o);
  ~CatchUp();
  CatchUp(const CatchUp&) = delete;
  CatchUp& operator=(const CatchUp&) = delete;

  // set_partners: whom to catch up from (thread-safe; a partner without a URL is left out).
  // A partner new to it (or at a new URL) is read from at once.
  void set_partners(std::vector<Partner> p);
  // set_reward_sets: the signers Nakamoto blocks are checked against (thread-safe).
  void set_reward_sets(std::vector<validate::RewardSetSigner> current, std::vector<validate::RewardSetSigner> previous);
  void start();
  // round: one pass over every partner, on the caller's thread (tests; start() loops it).
  void round();
  std::vector<CatchUpView> view() const;

 private:
  struct State {
    Partner partner;
    CatchUpView v;
  };
  void catch_up(State& s);
  // get: `target` from the partner; on failure `ok` is false and the failure is counted in s.v.
  std::string get(State& s, const std::string& target, const char* what, bool binary, bool& ok);
  std::int64_t wall() const;
  void save_cursor(const State& s) const;
  std::uint64_t load_cursor(const codec::PubKey33& key) const;

  CatchUpOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<bool> stopping_{false};  // stop_, for the transfer and the loops to see without the lock
  bool wake_ = false;  // a partner (or its URL) is new: the next round now, not after idle_ms
  std::vector<State> states_;  // guarded by mu_ (copied out for a round)
  std::vector<validate::RewardSetSigner> current_, previous_;
  std::thread thread_;
};

}  // namespace relay::pair
