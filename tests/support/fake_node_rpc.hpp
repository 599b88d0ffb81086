// tests/support/fake_node_rpc.hpp — a stand-in for a Stacks node's RPC, just the part the
// relay asks trusted nodes for: GET /v2/pox (the current reward cycle) and
// GET /v3/stacker_set/{cycle} (that cycle's signers), served by the relay's own HTTP
// server code with a handler written here. The cycle and sets can change while it runs.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "control/http/server.hpp"
#include "relay/base/hex.hpp"
#include "relay/validate/validate.hpp"

namespace relay::test {

class FakeNodeRpc {
 public:
  FakeNodeRpc() {
    server_ = http::Server::start({}, [this](const http::Request& q, http::Response& r) { handle(q, r); }).value();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  void set_cycle(std::uint64_t c) { cycle_.store(c); }
  void set_signers(std::uint64_t cycle, const std::vector<validate::RewardSetSigner>& s) {
    std::lock_guard<std::mutex> g(mu_);
    sets_[cycle] = s;
  }
  std::uint64_t requests(const std::string& path) {
    std::lock_guard<std::mutex> g(mu_);
    return hits_[path];
  }

 private:
  void handle(const http::Request& q, http::Response& r) {
    std::lock_guard<std::mutex> g(mu_);
    ++hits_[q.path];
    if (q.path == "/v2/pox") {
      const auto c = cycle_.load();
      return r.set_text(200,
                        "{\"contract_id\":\"SP000000000000000000002Q6VF78.pox-4\",\"first_burnchain_block_height\":666050,"
                        "\"current_cycle\":{\"id\":" + std::to_string(c) + ",\"min_threshold_ustx\":160000000000,\"is_pox_active\":true},"
                        "\"next_cycle\":{\"id\":" + std::to_string(c + 1) + "},\"reward_cycle_length\":2100}",
                        "application/json");
    }
    const std::string prefix = "/v3/stacker_set/";
    if (q.path.rfind(prefix, 0) == 0) {
      auto it = sets_.find(std::stoull(q.path.substr(prefix.size())));
      if (it == sets_.end()) return r.set_text(404, "no such cycle\n");
      std::string j = "{\"stacker_set\":{\"rewarded_addresses\":[],\"signers\":[";
      for (std::size_t i = 0; i < it->second.size(); ++i) {
        if (i) j += ",";
        j += "{\"signing_key\":\"0x" + to_hex(it->second[i].signing_key) + "\",\"weight\":" +
             std::to_string(it->second[i].weight) + ",\"stacked_amt\":1000}";
      }
      j += "],\"start_cycle_state\":{}}}";
      return r.set_text(200, j, "application/json");
    }
    r.set_text(404, "not found\n");
  }

  std::unique_ptr<http::Server> server_;
  std::atomic<std::uint64_t> cycle_{90};
  std::mutex mu_;
  std::map<std::uint64_t, std::vector<validate::RewardSetSigner>> sets_;
  std::map<std::string, std::uint64_t> hits_;
};

}  // namespace relay::test
