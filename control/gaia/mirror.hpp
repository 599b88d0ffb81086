// control/gaia/mirror.hpp — the Gaia mirror: every block the relay stores is written into
// a Gaia hub ([gaia]), as the files a node's routes serve (outbox.hpp), so that the hub's
// read side (a bucket behind a CDN) serves the relay's blocks when the relay cannot.
//
// A thread of its own in the control process. Each round it copies the store log's new
// blocks into the durable outbox, then writes the outbox's files oldest first:
//   GET {hub}/hub_info                      the challenge a token signs, the read URL prefix
//   POST {hub}/store/{bucket}/{path}        Authorization: bearer v1:<token> (token.hpp),
//                                           If-None-Match: * (files never change)
// and what the hub answers decides each file's fate:
//   2xx                 written: out of the outbox
//   412                 the hub already has it (the relay died after writing it, or the
//                       pair's other relay wrote it into the same bucket): out
//   400 403 413 …       this file cannot be written (bad path, too large for the hub):
//                       out, counted as refused, logged
//   401 402             the token: made again from a fresh hub_info once; the hub still
//                       refusing our key is not the file's fault: it stays, and the mirror
//                       backs off (reported as the hub's state)
//   404 405 409 429 5xx, no answer
//                       the hub (or its URL) is not right now: the file stays; the mirror
//                       backs off (retry_min_ms doubling to retry_max_ms)
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "control/gaia/outbox.hpp"
#include "control/netio/http_get.hpp"
#include "relay/crypto/secp256k1.hpp"

namespace relay::gaia {

struct MirrorOptions {
  std::string hub_url;  // the hub's write endpoint, e.g. "https://hub.example.com" (no trailing '/')
  std::optional<crypto::SecretKey> key;  // whose bucket
  std::string prefix;   // "" or "a/b/": under the bucket
  const store::BlockStore* store = nullptr;
  std::string outbox_dir;
  std::uint64_t outbox_max_bytes = std::uint64_t{4} << 30;
  netio::HttpGetOptions http;  // proxy, timeout (the answer to a write is small)
  std::uint32_t retry_min_ms = 500;
  std::uint32_t retry_max_ms = 60'000;
  std::uint32_t token_lifetime_s = 3600;  // a token is made again after half of it
  std::function<void(const std::string&)> log;
  std::int64_t (*wall)() = nullptr;  // unix seconds (nullptr: time())
};

struct MirrorView {
  std::string hub_url, bucket, read_url;  // read_url: hub_info's read_url_prefix + bucket + '/'
  std::string state = "starting";         // "up", "down", "unauthorized", "outbox error"
  std::string last_error;
  std::uint64_t written = 0, written_bytes = 0, already = 0, refused = 0, retries = 0;
  std::uint64_t outbox_files = 0, outbox_bytes = 0, missed = 0, skipped = 0, queued = 0, outbox_errors = 0;
  bool outbox_full = false;
};

class GaiaMirror {
 public:
  // open: the outbox (an error here is a start-up error: the relay says so and stops).
  static Result<std::unique_ptr<GaiaMirror>> open(MirrorOptions o);
  ~GaiaMirror();  // stops the thread (a transfer under way is abandoned within about 1 s)
  GaiaMirror(const GaiaMirror&) = delete;
  GaiaMirror& operator=(const GaiaMirror&) = delete;

  void start();
  void stop();
  // wake: the store has new blocks (the mirror also looks every 200 ms on its own).
  void wake();
  MirrorView view() const;
  const std::string& bucket() const noexcept { return bucket_; }

 private:
  explicit GaiaMirror(MirrorOptions o);
  void run();
  bool refresh_token(netio::HttpClient& http);  // hub_info, then a token; false: no hub
  enum class Fate { kDone, kAgain, kBackOff };
  Fate write(netio::HttpClient& http, const OutboxFile& f);
  void wait_ms(std::uint64_t ms);
  std::int64_t now_s() const;
  void set_state(const char* state, std::string error);
  void say(const std::string& line) const {
    if (opts_.log) opts_.log(line);
  }

  MirrorOptions opts_;
  std::unique_ptr<Outbox> outbox_;
  std::string bucket_;
  std::string token_;
  std::int64_t token_made_ = 0;
  std::size_t fill_batch_ = 256;
  bool fresh_token_ = false;  // no file written with the token yet
  std::uint32_t backoff_ms_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  MirrorView view_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace relay::gaia
