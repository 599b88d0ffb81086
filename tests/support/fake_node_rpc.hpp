// tests/support/fake_node_rpc.hpp — a stand-in for a Stacks node's RPC, just the part the
// relay asks trusted nodes for: GET /v2/pox (the current reward cycle, the first burn
// height, the cycle length, the burn tip), GET /v3/stacker_set/{cycle} (that cycle's
// signers), GET /v3/tenures/info and GET /v3/sortitions/burn_height/{h} (a chain the test
// sets), served by the relay's own HTTP server code with a handler written here. The
// cycle, sets and chain can change while it runs.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "control/http/server.hpp"
#include "relay/base/hex.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/veth_lab.hpp"

namespace relay::test {

class FakeNodeRpc {
 public:
  FakeNodeRpc() { start({}); }
  // Serving at `host` inside network namespace `netns` (a node across a veth).
  FakeNodeRpc(const std::string& host, const std::string& netns) : host_(host) {
    http::ServerOptions o;
    o.host = host;
    EXPECT_TRUE(in_netns(netns, [&] { start(o); }));
  }
  std::string url() const { return "http://" + host_ + ":" + std::to_string(server_->port()); }
  void set_cycle(std::uint64_t c) { cycle_.store(c); }
  void set_signers(std::uint64_t cycle, const std::vector<validate::RewardSetSigner>& s) {
    std::lock_guard<std::mutex> g(mu_);
    sets_[cycle] = s;
  }
  // The chain: /v2/pox's arithmetic, the tip tenure (/v3/tenures/info: its JSON, as the
  // test writes it) and sortitions by burn height (each /v3/sortitions answer's JSON object).
  void set_chain(std::uint64_t first, std::uint64_t cycle_length, std::uint64_t tip) {
    std::lock_guard<std::mutex> g(mu_);
    first_ = first;
    length_ = cycle_length;
    tip_ = tip;
  }
  void set_tenure_info(std::string json) {
    std::lock_guard<std::mutex> g(mu_);
    tenure_info_ = std::move(json);
  }
  void set_sortition(std::uint64_t height, std::string json_object) {
    std::lock_guard<std::mutex> g(mu_);
    sortitions_[height] = std::move(json_object);
  }
  std::uint64_t requests(const std::string& path) {
    std::lock_guard<std::mutex> g(mu_);
    return hits_[path];
  }

 private:
  void start(const http::ServerOptions& o) {
    server_ = http::Server::start(o, [this](const http::Request& q, http::Response& r) { handle(q, r); }).value();
  }
  void handle(const http::Request& q, http::Response& r) {
    std::lock_guard<std::mutex> g(mu_);
    ++hits_[q.path];
    if (q.path == "/v2/pox") {
      const auto c = cycle_.load();
      return r.set_text(200,
                        "{\"contract_id\":\"SP000000000000000000002Q6VF78.pox-4\",\"first_burnchain_block_height\":666050,"
                        "\"current_cycle\":{\"id\":" + std::to_string(c) + ",\"min_threshold_ustx\":160000000000,\"is_pox_active\":true},"
                        "\"next_cycle\":{\"id\":" + std::to_string(c + 1) + "},\"reward_cycle_length\":" + std::to_string(length_) +
                            ",\"first_burnchain_block_height\":" + std::to_string(first_) + ",\"current_burnchain_block_height\":" +
                            std::to_string(tip_) + "}",
                        "application/json");
    }
    if (q.path == "/v3/tenures/info") {
      if (tenure_info_.empty()) return r.set_text(404, "no tenure\n");
      return r.set_text(200, tenure_info_, "application/json");
    }
    if (const std::string sp = "/v3/sortitions/burn_height/"; q.path.rfind(sp, 0) == 0) {
      auto it = sortitions_.find(std::stoull(q.path.substr(sp.size())));
      if (it == sortitions_.end()) return r.set_text(404, "no such sortition\n");
      return r.set_text(200, "[" + it->second + "]", "application/json");
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

  std::string host_ = "127.0.0.1";
  std::unique_ptr<http::Server> server_;
  std::atomic<std::uint64_t> cycle_{90};
  std::mutex mu_;
  std::map<std::uint64_t, std::vector<validate::RewardSetSigner>> sets_;
  std::map<std::string, std::uint64_t> hits_;
  std::uint64_t first_ = 666050, length_ = 2100, tip_ = 666050 + 90 * 2100 + 5;
  std::string tenure_info_;
  std::map<std::uint64_t, std::string> sortitions_;
};

}  // namespace relay::test
