// HTTP failover (issue 17): the data_url behind nginx with both relays of a pair as
// origins, configured by deploy/failover/nginx-data-url.conf itself (its placeholders
// filled in). Stock test nodes push blocks to both relays; nginx serves them from the
// primary; the primary is killed (-9, all its processes); nginx goes on answering: a
// block it cached from the cache, a block it never fetched from the mirror.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "bench/sim/sim_data.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/base/hex.hpp"
#include "relay/codec/message.hpp"
#include "tests/support/launch/netns.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/nginx.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::test {
namespace {

using namespace std::chrono_literals;
using namespace relay::codec;
using UPeer = TestPeer<dp::UringTransport>;

std::string get(std::uint16_t port, const std::string& path) { return http_get_close(port, path); }
std::string header(const std::string& response, const std::string& name) { return header_of(response, name); }

TEST(HttpFailover, NginxKeepsTheDataUrlAnsweringWhenThePrimaryRelayDies) {
  ASSERT_TRUE(launch::have("/usr/sbin/nginx")) << "nginx is installed by ./deploy/dev.sh deps";
  char tmpl[] = "/tmp/srl-failover-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  sim::SignerSet signers(4);
  write_reward_set_config(dir, signers);
  auto primary = std::make_unique<RelayRun>(std::vector<std::string>{"--config", dir + "/relay.toml", "--http-bind", "127.0.0.1:0"});
  RelayRun mirror({"--config", dir + "/relay.toml", "--http-bind", "127.0.0.1:0"});
  ASSERT_GT(primary->port, 0);
  ASSERT_GT(mirror.port, 0);
  const std::uint16_t http_p = primary->wait_http(5000), http_m = mirror.wait_http(5000);
  ASSERT_TRUE(http_p != 0 && http_m != 0);

  // A stock node on each relay (as a node configured with both): each pushes the block.
  auto tp = dp::UringTransport::create({}).value();
  auto tm = dp::UringTransport::create({}).value();
  UPeer np(*tp, 95), nm(*tm, 96);
  np.dial(launch::sockaddr_of("127.0.0.1", primary->port));
  nm.dial(launch::sockaddr_of("127.0.0.1", mirror.port));
  std::uint64_t now = 1;
  auto step = [&](auto&& done, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      np.pump(++now, 2);
      nm.pump(++now, 2);
    }
    return true;
  };
  ASSERT_TRUE(step([&] { return np.authenticated() && nm.authenticated(); }, 10s));
  const auto miner = sim::key_from_byte(9, 1);
  auto push_to_both = [&](std::uint64_t height) {
    NakamotoBlocks nb;
    nb.blocks.push_back(sim::nakamoto_block(height, signers, miner, 20'000));
    np.send(np.conv->sign(static_cast<std::uint32_t>(height), nb));
    nm.send(nm.conv->sign(static_cast<std::uint32_t>(height), nb));
    const std::string path = "/v3/blocks/" + to_hex(nb.blocks[0].block_id);
    EXPECT_TRUE(step([&] {
      return get(http_p, path).rfind("HTTP/1.1 200", 0) == 0 && get(http_m, path).rfind("HTTP/1.1 200", 0) == 0;
    }, 10s)) << path << " not stored by both relays";
    return std::pair{path, encode_with(write_nakamoto_block, nb.blocks[0])};
  };
  const auto [first, first_bytes] = push_to_both(70);
  const auto [second, second_bytes] = push_to_both(71);

  // nginx with the documented configuration.
  Nginx nginx(dir, std::string(RELAY_TEST_DATA_DIR) + "/../../deploy/failover/nginx-data-url.conf",
              {{"PRIMARY", "127.0.0.1:" + std::to_string(http_p)}, {"MIRROR", "127.0.0.1:" + std::to_string(http_m)}});
  const std::uint16_t listen = nginx.port();
  ASSERT_TRUE(nginx.wait_listening(10000)) << nginx.logs();
  ASSERT_TRUE(step([&] { return get(listen, "/v2/info").rfind("HTTP/1.1 200", 0) == 0; }, 10s)) << nginx.logs();

  // Both up: the primary answers, and the first block is cached on the way.
  const std::string via_primary = get(listen, first);
  EXPECT_EQ(via_primary.rfind("HTTP/1.1 200", 0), 0u) << via_primary.substr(0, 300);
  EXPECT_EQ(header(via_primary, "X-Stacks-Relay-Upstream"), "127.0.0.1:" + std::to_string(http_p));
  EXPECT_TRUE(body_of(via_primary) == std::string(first_bytes.begin(), first_bytes.end()));

  // The primary is taken down at once: supervisor and both processes, SIGKILL.
  primary->kill_all();
  primary.reset();
  // A block nginx never fetched: from the mirror (the primary tried first, or not at all
  // once marked down).
  const std::string failed_over = get(listen, second);
  EXPECT_EQ(failed_over.rfind("HTTP/1.1 200", 0), 0u) << failed_over.substr(0, 300) << nginx.logs();
  const std::string upstream = header(failed_over, "X-Stacks-Relay-Upstream");
  EXPECT_NE(upstream.find("127.0.0.1:" + std::to_string(http_m)), std::string::npos) << upstream;
  EXPECT_TRUE(body_of(failed_over) == std::string(second_bytes.begin(), second_bytes.end()));
  // The node's info: from the mirror too.
  const std::string info = get(listen, "/v2/info");
  EXPECT_EQ(info.rfind("HTTP/1.1 200", 0), 0u) << info.substr(0, 300);
  EXPECT_EQ(header(info, "X-Stacks-Relay-Upstream"), "127.0.0.1:" + std::to_string(http_m));
  // The block fetched before: from the cache, the same bytes.
  const std::string cached = get(listen, first);
  EXPECT_EQ(cached.rfind("HTTP/1.1 200", 0), 0u) << cached.substr(0, 300);
  EXPECT_EQ(header(cached, "X-Cache-Status"), "HIT");
  EXPECT_TRUE(body_of(cached) == std::string(first_bytes.begin(), first_bytes.end()));

  EXPECT_EQ(nginx.stop(), 0);
  EXPECT_EQ(mirror.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace relay::test
