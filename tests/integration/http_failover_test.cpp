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
#include <regex>
#include <string>
#include <thread>

#include "bench/sim/sim_data.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/base/hex.hpp"
#include "relay/codec/message.hpp"
#include "tests/support/launch/netns.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::test {
namespace {

using namespace std::chrono_literals;
using namespace relay::codec;
using UPeer = TestPeer<dp::UringTransport>;

std::string get(std::uint16_t port, const std::string& path) {
  return http_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n");
}
std::string header(const std::string& response, const std::string& name) {
  const auto at = response.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const auto from = at + name.size() + 4;
  return response.substr(from, response.find("\r\n", from) - from);
}
std::string body_of(const std::string& response) {
  const auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

// free_loopback_port: a port nothing listens on now.
std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

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
  const std::uint16_t listen = free_loopback_port();
  std::ifstream tf(std::string(RELAY_TEST_DATA_DIR) + "/../../deploy/failover/nginx-data-url.conf");
  std::string snippet((std::istreambuf_iterator<char>(tf)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(snippet.empty());
  snippet = std::regex_replace(snippet, std::regex("@LISTEN@"), "127.0.0.1:" + std::to_string(listen));
  snippet = std::regex_replace(snippet, std::regex("@PRIMARY@"), "127.0.0.1:" + std::to_string(http_p));
  snippet = std::regex_replace(snippet, std::regex("@MIRROR@"), "127.0.0.1:" + std::to_string(http_m));
  snippet = std::regex_replace(snippet, std::regex("@CACHE@"), dir + "/cache");
  ASSERT_EQ(snippet.find('@'), std::string::npos) << "a placeholder left: " << snippet;
  (void)std::system(("mkdir -p " + dir + "/cache " + dir + "/tmp && chmod 0777 " + dir + "/cache " + dir + "/tmp").c_str());
  std::ofstream(dir + "/snippet.conf") << snippet;
  std::ofstream(dir + "/nginx.conf") << "daemon off;\nworker_processes 1;\npid " << dir << "/nginx.pid;\nerror_log " << dir
                                     << "/error.log;\nevents { worker_connections 256; }\nhttp {\n  access_log off;\n"
                                     << "  client_body_temp_path " << dir << "/tmp; proxy_temp_path " << dir << "/tmp;\n"
                                     << "  include " << dir << "/snippet.conf;\n}\n";
  launch::Child nginx;
  ASSERT_TRUE(nginx.start({{"/usr/sbin/nginx", "-c", dir + "/nginx.conf", "-p", dir}, "", dir + "/nginx.stderr"}));
  auto listening = [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(listen);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return up;
  };
  ASSERT_TRUE(step(listening, 10s)) << launch::file_text(dir + "/nginx.stderr") << launch::file_text(dir + "/error.log");
  ASSERT_TRUE(step([&] { return get(listen, "/v2/info").rfind("HTTP/1.1 200", 0) == 0; }, 10s))
      << launch::file_text(dir + "/nginx.stderr") << launch::file_text(dir + "/error.log");

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
  EXPECT_EQ(failed_over.rfind("HTTP/1.1 200", 0), 0u) << failed_over.substr(0, 300) << launch::file_text(dir + "/error.log");
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

  EXPECT_EQ(nginx.terminate(), 0);
  EXPECT_EQ(mirror.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace relay::test
