// control/engine/resolver.hpp — host names resolved off the control loop. getaddrinfo
// can block for seconds (a slow or unreachable DNS server), and the control loop must
// answer handshakes within 5 s, so names go to a worker thread; IP literals
// (net::parse_addr) are answered at once without it.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "relay/codec/types.hpp"

namespace relay::ctl {

class Resolver {
 public:
  struct Answer {
    std::string host;
    std::optional<codec::Addr16> addr;  // nullopt: the name did not resolve
  };
  Resolver() = default;
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // request: resolve `host` (a name already queued or in flight is not queued twice).
  void request(const std::string& host);
  // take: the answers that came in since the last call.
  std::vector<Answer> take();
  bool pending(const std::string& host) const;

 private:
  void run();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> in_flight_;
  std::vector<Answer> done_;
  bool stop_ = false;
  std::thread worker_;  // started on the first request
};

}  // namespace relay::ctl
