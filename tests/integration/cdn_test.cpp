// A CDN in front of the data_url (issue 18): deploy/cdn/nginx-cdn.conf itself (nginx's
// proxy_cache standing in for a CDN), with a relay as its origin. A stock test node pushes
// two tenures; many clients at once fetch every block and tenure (with and without
// ?stop=) through the proxy: identical bytes to the relay's own answers; a second round is
// answered from the cache alone (HIT, the relay asked nothing); a block the relay does not
// have yet is a 404 that the proxy keeps only briefly, and is served once it arrives.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "bench/sim/sim_data.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/base/hex.hpp"
#include "relay/codec/message.hpp"
#include "tests/support/nginx.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::test {
namespace {

using namespace std::chrono_literals;
using namespace relay::codec;
using UPeer = TestPeer<dp::UringTransport>;

std::uint64_t metric_value(const std::string& metrics, const std::string& name) {
  const auto at = metrics.find("\n" + name + " ");
  return at == std::string::npos ? 0 : std::stoull(metrics.substr(at + name.size() + 2));
}

TEST(Cdn, ManyClientsGetTheRelaysBytesThenTheCacheAnswersAlone) {
  ASSERT_TRUE(launch::have("/usr/sbin/nginx")) << "nginx is installed by ./deploy/dev.sh deps";
  char tmpl[] = "/tmp/srl-cdn-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0711);
  sim::SignerSet signers(4);
  write_reward_set_config(dir, signers);
  RelayRun relay({"--config", dir + "/relay.toml", "--http-bind", "127.0.0.1:0"}, "127.0.0.1:0", "", true);
  ASSERT_GT(relay.port, 0) << relay.log();
  const std::uint16_t origin = relay.wait_http(5000);
  ASSERT_NE(origin, 0);

  auto t = dp::UringTransport::create({}).value();
  UPeer node(*t, 99);
  node.dial(launch::sockaddr_of("127.0.0.1", relay.port));
  std::uint64_t now = 1;
  auto step = [&](auto&& done, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      node.pump(++now, 2);
    }
    return true;
  };
  ASSERT_TRUE(step([&] { return node.authenticated(); }, 10s)) << relay.log();
  // Tenure A: a1 ← a2 ← a3 (a1's parent p, the last block of tenure P); tenure B: b1 ← b2.
  const auto miner = sim::key_from_byte(9, 1);
  Hash20 tp{}, ta{}, tb{}, tc{};
  tp.fill(0xa0);
  ta.fill(0xa1);
  tb.fill(0xb1);
  tc.fill(0xc1);
  const auto p = sim::tenure_chain(100, 1, tp, Hash32{}, signers, miner, 2000);
  const auto a = sim::tenure_chain(101, 3, ta, p[0].block_id, signers, miner, 30'000);
  const auto b = sim::tenure_chain(104, 2, tb, a[2].block_id, signers, miner, 30'000);
  const auto late = sim::tenure_chain(106, 1, tc, b[1].block_id, signers, miner, 2000);
  std::uint32_t seq = 1;
  auto push = [&](const NakamotoBlock& blk) {
    NakamotoBlocks nb;
    nb.blocks.push_back(blk);
    node.send(node.conv->sign(seq++, nb));
    const std::string path = "/v3/blocks/" + to_hex(blk.block_id);
    return step([&] { return http_get_close(origin, path).rfind("HTTP/1.1 200", 0) == 0; }, 10s);
  };
  for (const auto* chain : {&p, &a, &b})
    for (const auto& blk : *chain) ASSERT_TRUE(push(blk)) << relay.log();

  Nginx nginx(dir, std::string(RELAY_TEST_DATA_DIR) + "/../../deploy/cdn/nginx-cdn.conf", {{"ORIGIN", "127.0.0.1:" + std::to_string(origin)}});
  ASSERT_TRUE(nginx.wait_listening(10000)) << nginx.logs();

  std::vector<std::string> paths;
  for (const auto* chain : {&p, &a, &b})
    for (const auto& blk : *chain) paths.push_back("/v3/blocks/" + to_hex(blk.block_id));
  paths.push_back("/v3/tenures/" + to_hex(a[2].block_id));
  paths.push_back("/v3/tenures/" + to_hex(a[2].block_id) + "?stop=" + to_hex(a[0].block_id));
  paths.push_back("/v3/tenures/" + to_hex(a[2].block_id) + "?stop=" + to_hex(a[1].block_id));
  paths.push_back("/v3/tenures/" + to_hex(b[1].block_id));
  std::vector<std::string> direct;
  for (const auto& path : paths) {
    const std::string r = http_get_close(origin, path);
    ASSERT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << path << "\n" << r.substr(0, 300);
    direct.push_back(body_of(r));
  }
  // The ?stop= answers differ from each other and from the whole tenure: cached apart.
  EXPECT_NE(direct[paths.size() - 4], direct[paths.size() - 3]);
  EXPECT_NE(direct[paths.size() - 3], direct[paths.size() - 2]);
  const std::string a_tenure = direct[paths.size() - 4];
  EXPECT_EQ(a_tenure.size(), encode_with(write_nakamoto_block, a[0]).size() + encode_with(write_nakamoto_block, a[1]).size() +
                                 encode_with(write_nakamoto_block, a[2]).size());

  // A round: 16 clients at once, each fetching every path through the proxy.
  auto round = [&](std::vector<std::string>& statuses) {
    std::atomic<int> wrong{0};
    std::mutex mu;
    std::vector<std::thread> clients;
    for (int c = 0; c < 16; ++c)
      clients.emplace_back([&, c] {
        for (std::size_t i = 0; i < paths.size(); ++i) {
          const std::size_t k = (i + static_cast<std::size_t>(c)) % paths.size();  // in different orders
          const std::string r = http_get_close(nginx.port(), paths[k]);
          if (r.rfind("HTTP/1.1 200", 0) != 0 || body_of(r) != direct[k]) ++wrong;
          std::lock_guard<std::mutex> g(mu);
          statuses.push_back(header_of(r, "X-Cache-Status"));
        }
      });
    for (auto& th : clients) th.join();
    return wrong.load();
  };
  std::vector<std::string> first, second;
  EXPECT_EQ(round(first), 0) << "answers through the proxy differ from the relay's\n" << nginx.logs();
  const std::uint64_t asked = metric_value(http_get_close(origin, "/metrics"), "stacks_relay_http_requests_total");
  EXPECT_EQ(round(second), 0) << nginx.logs();
  const std::uint64_t asked_after = metric_value(http_get_close(origin, "/metrics"), "stacks_relay_http_requests_total");
  EXPECT_EQ(asked_after, asked + 1) << "the second round reached the relay (beyond this /metrics)";
  std::size_t hits = 0;
  for (const auto& s : second) hits += s == "HIT";
  EXPECT_EQ(hits, second.size());
  std::size_t misses = 0;
  for (const auto& s : first) misses += s == "MISS";
  EXPECT_LE(misses, paths.size()) << "concurrent misses of one path should reach the relay once (proxy_cache_lock)";
  EXPECT_GE(misses, 1u);

  // A block the relay does not have yet: a 404 the proxy keeps only briefly.
  const std::string late_path = "/v3/blocks/" + to_hex(late[0].block_id);
  const std::string missing = http_get_close(nginx.port(), late_path);
  EXPECT_EQ(missing.rfind("HTTP/1.1 404", 0), 0u) << missing.substr(0, 300);
  EXPECT_EQ(missing.find("immutable"), std::string::npos) << missing.substr(0, 400);
  ASSERT_TRUE(push(late[0])) << relay.log();
  std::string got;
  EXPECT_TRUE(step(
      [&] {
        got = http_get_close(nginx.port(), late_path);
        return got.rfind("HTTP/1.1 200", 0) == 0;
      },
      8s))
      << "the proxy kept serving the 404 after the block arrived: " << got.substr(0, 300);
  EXPECT_EQ(body_of(got), body_of(http_get_close(origin, late_path)));
  // Tenure B grew (b2's child is not in B, but its walk is whole either way): still the same
  // bytes as the relay's.
  EXPECT_EQ(body_of(http_get_close(nginx.port(), paths.back())), direct.back());

  EXPECT_EQ(nginx.stop(), 0);
  EXPECT_EQ(relay.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace relay::test
