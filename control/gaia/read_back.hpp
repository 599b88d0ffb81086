// control/gaia/read_back.hpp — reading blocks back from the Gaia bucket the mirror writes
// (mirror.hpp): when the HTTP endpoint is asked for a Nakamoto block the store does not
// hold (a relay that lost its disk, a block evicted, the pair's other relay's block in a
// shared bucket), it is fetched from the bucket's read side ({read_url}{prefix}v3/blocks/
// {id}, a CDN or the hub's read URL), checked exactly as a pushed block is (it decodes,
// its Merkle root, its signer signatures against the reward sets, and its id is the one
// asked for), kept in the store, and served.
//
// A thread of its own: the HTTP thread hands each miss over with a callback and goes on
// serving (the request waits, http::Later). Bounded against clients asking for ids that
// exist nowhere: at most max_waiting distinct ids wait (more are answered "not found" at
// once), several requests for one id share one fetch, and an id the bucket did not have
// is not asked for again for negative_ttl_s.
//
// 2.x blocks and microblock streams are not read back: their names (index hashes) bind a
// consensus hash that their bytes do not carry, so a file could not be checked to be
// the one asked for.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/netio/http_get.hpp"
#include "control/store/block_store.hpp"
#include "relay/validate/validate.hpp"

namespace relay::gaia {

struct ReaderOptions {
  // The bucket's read URL, ending in '/' (gaia.read_url; the CDN in front of the bucket):
  // when empty, read_url_now() is asked (the mirror learns the hub's from hub_info).
  std::string read_url;
  std::function<std::string()> read_url_now;
  // Else the hub is asked (its hub_info's read_url_prefix, then the bucket).
  std::string hub_url;
  std::string bucket;
  std::string prefix;  // as the mirror's ("" or "a/b/")
  store::BlockStore* store = nullptr;
  netio::HttpGetOptions http;
  std::size_t max_waiting = 64;
  std::uint32_t negative_ttl_s = 30;
  std::function<void(const std::string&)> log;
};

struct ReaderView {
  std::uint64_t asked = 0;        // misses handed over
  std::uint64_t served = 0;       // fetched, checked, kept and served
  std::uint64_t not_found = 0;    // the bucket does not have it (404), or no read URL yet
  std::uint64_t refused = 0;      // fetched but failed the checks (or not the block asked for)
  std::uint64_t unverifiable = 0; // no reward set to check it against yet
  std::uint64_t failures = 0;     // no answer, or an error status
  std::uint64_t busy = 0;         // answered "not found" at once: too many ids waiting
  std::uint64_t remembered = 0;   // answered "not found" at once: not there a moment ago
  std::string last_error;
};

class GaiaReader {
 public:
  // The block's bytes, or nullopt (not found, refused, unreachable): on the reader's thread.
  using Done = std::function<void(std::optional<Bytes>)>;
  explicit GaiaReader(ReaderOptions o);
  ~GaiaReader();
  GaiaReader(const GaiaReader&) = delete;
  GaiaReader& operator=(const GaiaReader&) = delete;

  void start();
  void stop();
  // fetch: false when the miss is answered at once (`done` not called): too many waiting,
  // or the id was not in the bucket a moment ago. Else `done` is called once, later.
  bool fetch(const store::Hash32& id, Done done);
  void set_reward_sets(std::vector<validate::RewardSetSigner> current, std::vector<validate::RewardSetSigner> previous);
  ReaderView view() const;

 private:
  void run();
  std::optional<Bytes> get_block(netio::HttpClient& http, const store::Hash32& id);
  std::string read_url(netio::HttpClient& http);

  ReaderOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<store::Hash32> queue_;
  std::map<store::Hash32, std::vector<Done>> waiting_;   // id → the requests that want it
  std::map<store::Hash32, std::int64_t> absent_until_;   // id → monotonic s before which it is "not there"
  std::vector<validate::RewardSetSigner> current_, previous_;
  std::uint64_t sets_gen_ = 0;
  std::string learned_url_;  // from the hub's hub_info (reader thread only)
  ReaderView view_;
  bool stop_ = false;
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

}  // namespace relay::gaia
