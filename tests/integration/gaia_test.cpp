// The Gaia mirror against the real processes (issue 18): a stock test node pushes
// Nakamoto blocks to a relay whose [gaia] names the hub stand-in (tests/support/
// gaia_hub.hpp, slowed so that writes are under way); the relay is killed (-9, every
// process) in the middle of writing and started again on the same data dir. Every block
// must be on the hub exactly once (one create per file) with the bytes the relay serves,
// /status must show the outbox empty, and the official client (@stacks/storage, through
// tests/crosscheck/gaia.sh) must read every file back from the relay's bucket. Then the
// relay loses its block store: it must serve a block it no longer holds by reading it back
// from the bucket (checked, and kept), and still mirror the blocks relayed afterwards.
#include <gtest/gtest.h>
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
#include "tests/support/gaia_hub.hpp"
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

TEST(GaiaMirror, EveryBlockReachesTheHubOnceThroughAKillAndTheOfficialClientReadsThem) {
  GaiaHubStandIn hub;
  hub.set_delay_ms(150);  // writes take a while: the kill comes with some under way
  char tmpl[] = "/tmp/srl-gaia-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0711);
  sim::SignerSet signers(4);
  write_reward_set_config(dir, signers, "[gaia]\nhub_url = \"" + hub.url() + "\"\npath_prefix = \"mainnet\"\n");
  const std::vector<std::string> args = {"--config", dir + "/relay.toml", "--data-dir", dir + "/data", "--http-bind", "127.0.0.1:0"};
  auto relay = std::make_unique<RelayRun>(args, "127.0.0.1:0", "", true);
  ASSERT_GT(relay->port, 0) << relay->log();

  auto t = dp::UringTransport::create({}).value();
  UPeer node(*t, 97);
  node.dial(launch::sockaddr_of("127.0.0.1", relay->port));
  std::uint64_t now = 1;
  auto step = [&](auto&& done, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      node.pump(++now, 2);
    }
    return true;
  };
  ASSERT_TRUE(step([&] { return node.authenticated(); }, 10s)) << relay->log();
  const auto miner = sim::key_from_byte(9, 1);
  std::vector<std::pair<Hash32, Bytes>> blocks;
  for (std::uint64_t h = 1; h <= 12; ++h) {
    NakamotoBlocks nb;
    nb.blocks.push_back(sim::nakamoto_block(500 + h, signers, miner, 20'000));
    blocks.emplace_back(nb.blocks[0].block_id, encode_with(write_nakamoto_block, nb.blocks[0]));
    node.send(node.conv->sign(static_cast<std::uint32_t>(h), nb));
    const auto t0 = std::chrono::steady_clock::now();
    step([&] { return std::chrono::steady_clock::now() - t0 > 20ms; }, 1s);
  }
  // Killed while the outbox is writing: some files on the hub, the rest not yet.
  ASSERT_TRUE(step([&] { return hub.count("stored") >= 3; }, 20s)) << relay->log();
  relay->kill_all();
  const auto before = hub.count("stored");
  EXPECT_LT(before, blocks.size()) << "everything was written before the kill: the test proves less than it says";
  relay.reset();  // (its directory goes; the data dir is ours)
  relay = std::make_unique<RelayRun>(args, "127.0.0.1:0", "", true);
  ASSERT_GT(relay->port, 0) << relay->log();
  const std::uint16_t http = relay->wait_http(5000);
  ASSERT_NE(http, 0);

  const std::string bucket = [&] {
    std::ifstream kf(dir + "/data/gaia.key");
    std::string hex;
    kf >> hex;
    return GaiaHubStandIn::address_of(crypto::SecretKey::from_bytes(*from_hex(hex))->public_key().compressed());
  }();
  auto path_of = [&](const Hash32& id) { return "mainnet/v3/blocks/" + to_hex(id); };
  auto all_there = [&] {
    const auto files = hub.files();
    for (const auto& [id, bytes] : blocks)
      if (files.count(bucket + "/" + path_of(id)) == 0) return false;
    return true;
  };
  ASSERT_TRUE(step(all_there, 30s)) << relay->log();
  const auto files = hub.files();
  for (const auto& [id, bytes] : blocks) {
    const auto& f = files.at(bucket + "/" + path_of(id));
    EXPECT_EQ(f.creates, 1u) << path_of(id) << " written more than once";
    EXPECT_EQ(f.bytes, bytes) << path_of(id);
    const std::string served = get(http, "/v3/blocks/" + to_hex(id));  // what the relay serves, byte for byte
    ASSERT_EQ(served.rfind("HTTP/1.1 200", 0), 0u) << served.substr(0, 200);
    EXPECT_EQ(served.substr(served.find("\r\n\r\n") + 4), std::string(bytes.begin(), bytes.end()));
  }
  EXPECT_EQ(hub.count("stored"), blocks.size());
  std::string status;
  EXPECT_TRUE(step(
      [&] {
        status = get(http, "/status");
        return status.find("\"outbox_files\":0,") != std::string::npos && status.find("\"state\":\"up\"") != std::string::npos;
      },
      10s))
      << status;
  EXPECT_NE(status.find("\"bucket\":\"" + bucket + "\""), std::string::npos) << status;
  std::printf("after the restart: %s\n", status.substr(status.find("\"gaia\"")).substr(0, 420).c_str());
  EXPECT_NE(get(http, "/metrics").find("gaia_outbox_files 0"), std::string::npos);

  // The official client reads the relay's bucket back.
  std::ifstream kf(dir + "/data/gaia.key");
  std::string key_hex;
  kf >> key_hex;
  std::string cmd = "bash " + std::string(RELAY_TEST_DATA_DIR) + "/../crosscheck/gaia.sh read " + hub.url() + " " + key_hex;
  for (const auto& [id, bytes] : blocks) cmd += " " + path_of(id) + "=" + to_hex(crypto::sha256(bytes));
  const int rc = std::system((cmd + " > " + dir + "/read.log 2>&1").c_str());
  const std::string read_log = launch::file_text(dir + "/read.log");
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
    std::printf("the @stacks/storage read-back was skipped: %s\n", read_log.c_str());
  } else {
    EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << read_log;
    EXPECT_NE(read_log.find("all good"), std::string::npos) << read_log;
  }
  EXPECT_EQ(relay->stop(), 0);

  // The relay loses its disk's block store: it serves a block it no longer holds by
  // reading it back from the bucket (and keeps it), and new blocks still reach the hub.
  (void)std::system(("rm -rf " + dir + "/data/blocks").c_str());
  relay = std::make_unique<RelayRun>(args, "127.0.0.1:0", "", true);
  ASSERT_GT(relay->port, 0) << relay->log();
  const std::uint16_t http2 = relay->wait_http(5000);
  ASSERT_NE(http2, 0);
  const std::string again = get(http2, "/v3/blocks/" + to_hex(blocks[3].first));
  ASSERT_EQ(again.rfind("HTTP/1.1 200", 0), 0u) << again.substr(0, 300) << get(http2, "/status");
  EXPECT_EQ(again.substr(again.find("\r\n\r\n") + 4), std::string(blocks[3].second.begin(), blocks[3].second.end()));
  status = get(http2, "/status");
  EXPECT_NE(status.find("\"block_store\":{\"blocks\":1,"), std::string::npos) << status;  // kept
  EXPECT_NE(status.find("\"served\":1"), std::string::npos) << status;
  EXPECT_EQ(get(http2, "/v3/blocks/" + std::string(64, 'e')).rfind("HTTP/1.1 404", 0), 0u);  // in no bucket either
  auto t2 = dp::UringTransport::create({}).value();  // (a transport per peer: it takes every event)
  UPeer node2(*t2, 98);
  node2.dial(launch::sockaddr_of("127.0.0.1", relay->port));
  ASSERT_TRUE(step([&] { node2.pump(++now, 2); return node2.authenticated(); }, 10s)) << relay->log();
  NakamotoBlocks late;
  late.blocks.push_back(sim::nakamoto_block(600, signers, miner, 20'000));
  node2.send(node2.conv->sign(1, late));
  EXPECT_TRUE(step(
      [&] {
        node2.pump(++now, 2);
        return hub.files().count(bucket + "/" + path_of(late.blocks[0].block_id)) == 1;
      },
      20s))
      << "a block relayed after the store was made again did not reach the hub\n" << get(http2, "/status") << relay->log();
  EXPECT_EQ(relay->stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace relay::test
