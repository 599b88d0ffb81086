// The relay's Nakamoto inventory against the real processes (issue 18). A fake trusted
// node RPC (tests/support/fake_node_rpc.hpp) describes a chain (tests/support/
// tenure_lab.hpp); a stock test node pushes its blocks to the relay. Another test node dials
// the relay (nodes only ask peers they dialed), asks GetNakamotoInv for each cycle, and
// does what stackslib's Nakamoto downloader does with the answer: for every set bit i with
// two set bits j, k after it, the tenure's start block is the committed block of j's
// sortition and its end block that of k's; it fetches /v3/blocks/{start}, /v3/blocks/{end}
// and /v3/tenures/{end's parent} (again from the earliest block's parent until the start)
// from the relay's data_url, here the caching proxy of deploy/cdn/ in front of it, and
// checks every id, the parent chain, the tenure and the tenure change. Every tenure the
// inventory makes downloadable must download whole; /v3/tenures/info must name the tip.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/codec/message.hpp"
#include "tests/support/fake_node_rpc.hpp"
#include "tests/support/nginx.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/tenure_lab.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::test {
namespace {

using namespace std::chrono_literals;
using namespace relay::codec;
using UPeer = TestPeer<dp::UringTransport>;

TEST(Inventory, ANodeFollowingTheRelaysInventoryDownloadsEveryTenureThroughTheProxy) {
  ASSERT_TRUE(launch::have("/usr/sbin/nginx")) << "nginx is installed by ./deploy/dev.sh deps";
  TenureLab lab(3000);
  FakeNodeRpc rpc;
  rpc.set_chain(100, 10, 125);
  rpc.set_cycle(2);
  rpc.set_signers(2, lab.signers.reward_set);
  rpc.set_signers(1, lab.signers.reward_set);
  rpc.set_tenure_info(lab.tenure_info_json());
  for (const auto& [h, s] : lab.v.sortitions) rpc.set_sortition(h, lab.sortition_json(h));

  char tmpl[] = "/tmp/srl-inv-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0711);
  const std::uint16_t http_port = free_port(), cdn_port = free_port();
  std::ofstream(dir + "/relay.toml") << kTestFrontierToml << "[rewards]\nnode_rpc = [\"" << rpc.url() << "\"]\npoll_s = 1\n"
                                     << "[http]\nbind = \"127.0.0.1:" << http_port << "\"\npublic_url = \"http://127.0.0.1:"
                                     << cdn_port << "\"\n";
  ::chmod((dir + "/relay.toml").c_str(), 0644);
  RelayRun relay({"--config", dir + "/relay.toml"}, "127.0.0.1:0", "", true);
  ASSERT_GT(relay.port, 0) << relay.log();
  Nginx cdn(dir, std::string(RELAY_TEST_DATA_DIR) + "/../../deploy/cdn/nginx-cdn.conf",
            {{"ORIGIN", "127.0.0.1:" + std::to_string(http_port)}}, cdn_port);
  ASSERT_TRUE(cdn.wait_listening(10000)) << cdn.logs();

  // A node pushes the chain's blocks (as blocks arrive: in order).
  auto t1 = dp::UringTransport::create({}).value();
  UPeer pusher(*t1, 91);
  pusher.dial(launch::sockaddr_of("127.0.0.1", relay.port));
  std::uint64_t now = 1;
  auto step = [&](std::vector<UPeer*> ps, auto&& done, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      for (auto* p : ps) p->pump(++now, 2);
    }
    return true;
  };
  ASSERT_TRUE(step({&pusher}, [&] { return pusher.authenticated(); }, 10s)) << relay.log();
  // The relay checks blocks against the signer set it fetched from the fake node.
  ASSERT_TRUE(step({&pusher}, [&] { return relay.log().find("reward cycle 2") != std::string::npos; }, 10s)) << relay.log();
  std::uint32_t seq = 1;
  for (const auto& tenure : lab.tenures)
    for (const auto& b : tenure) {
      NakamotoBlocks nb;
      nb.blocks.push_back(b);
      pusher.send(pusher.conv->sign(seq++, nb));
      const std::string path = "/v3/blocks/" + to_hex(b.block_id);
      ASSERT_TRUE(step({&pusher}, [&] { return http_get_close(http_port, path).rfind("HTTP/1.1 200", 0) == 0; }, 10s))
          << path << "\n" << relay.log();
    }
  std::string status;
  ASSERT_TRUE(step(
      {&pusher},
      [&] {
        status = http_get_close(http_port, "/status");
        return status.find("\"claimed_tenures\":7") != std::string::npos;
      },
      20s))
      << status << "\n" << relay.log();

  // The downloading node: dials the relay, asks for cycles 1 and 2 (named by their mod-1
  // blocks' consensus hashes, 111 and 121), then an unknown hash.
  auto t2 = dp::UringTransport::create({}).value();
  UPeer node(*t2, 92);
  std::vector<Message> replies;
  node.on_message = [&](ByteSpan raw) {
    if (auto m = decode_message(raw); m.ok() && (payload_id(m->payload) == MsgId::kNakamotoInv || payload_id(m->payload) == MsgId::kNack))
      replies.push_back(*m);
  };
  node.dial(launch::sockaddr_of("127.0.0.1", relay.port));
  ASSERT_TRUE(step({&node}, [&] { return node.authenticated(); }, 10s)) << relay.log();
  auto ask = [&](const inv::Hash20& ch) -> std::optional<Message> {
    replies.clear();
    node.send(node.conv->sign(seq++, GetNakamotoInv{ch}));
    if (!step({&node}, [&] { return !replies.empty(); }, 5s)) return std::nullopt;
    return replies.front();
  };
  std::map<std::uint64_t, bool> bit_at;  // burn height → bit
  for (std::uint64_t rc : {std::uint64_t{1}, std::uint64_t{2}}) {
    const auto r = ask(lab.v.sortitions.at(100 + rc * 10 + 1).consensus_hash);
    ASSERT_TRUE(r.has_value()) << "no answer for cycle " << rc;
    ASSERT_EQ(payload_id(r->payload), MsgId::kNakamotoInv);
    const auto& bits = std::get<NakamotoInv>(r->payload).tenures;
    EXPECT_EQ(bits.len, rc == 1 ? 10u : 6u);
    for (std::size_t i = 0; i < bits.len; ++i) bit_at[100 + rc * 10 + i] = bits.get(i);
  }
  const auto unknown = ask(TenureLab::ch_of(0xee));
  ASSERT_TRUE(unknown.has_value());
  ASSERT_EQ(payload_id(unknown->payload), MsgId::kNack);
  EXPECT_EQ(std::get<Nack>(unknown->payload).error_code, ctl::kNackNoSuchBurnchainBlock);
  for (std::size_t t = 1; t < lab.heights.size(); ++t) EXPECT_TRUE(bit_at[lab.heights[t]]) << "T" << t << " not claimed";

  // Follow the inventory as the downloader does, through the data_url (the proxy).
  std::vector<std::uint64_t> set;
  for (const auto& [h, b] : bit_at)
    if (b) set.push_back(h);
  auto fetch_block = [&](const inv::Hash32& id) -> std::optional<NakamotoBlock> {
    const std::string r = http_get_close(cdn_port, "/v3/blocks/" + to_hex(id));
    if (r.rfind("HTTP/1.1 200", 0) != 0 || header_of(r, "Content-Type") != "application/octet-stream") return std::nullopt;
    const std::string body = body_of(r);
    auto b = decode_exact<NakamotoBlock>(ByteSpan(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()), read_nakamoto_block);
    if (!b.ok() || b->block_id != id) return std::nullopt;
    return *b;
  };
  std::size_t downloaded = 0;
  for (std::size_t x = 0; x + 2 < set.size(); ++x) {
    const auto& si = lab.v.sortitions.at(set[x]);
    const inv::Hash32 start_id = lab.v.sortitions.at(set[x + 1]).committed, end_id = lab.v.sortitions.at(set[x + 2]).committed;
    const auto start = fetch_block(start_id);
    ASSERT_TRUE(start.has_value()) << "tenure at height " << set[x] << ": its start block";
    ASSERT_EQ(start->header.consensus_hash, si.consensus_hash);
    const auto end = fetch_block(end_id);
    ASSERT_TRUE(end.has_value()) << "tenure at height " << set[x] << ": its end block";
    ASSERT_FALSE(end->txs.empty());
    EXPECT_EQ(end->txs[0].payload.tenure_change.prev_tenure_consensus_hash, si.consensus_hash);  // the tenure it ends
    // The tenure's blocks, newest first, from the end block's parent back to the start.
    std::vector<NakamotoBlock> got;
    inv::Hash32 next = end->header.parent_block_id;
    for (int rounds = 0; rounds < 10 && (got.empty() || got.back().block_id != start_id); ++rounds) {
      const std::string r = http_get_close(cdn_port, "/v3/tenures/" + to_hex(next));
      ASSERT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r.substr(0, 300);
      const std::string body = body_of(r);
      Reader rd(ByteSpan(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()));
      while (rd.remaining() > 0) {
        NakamotoBlock b;
        read_nakamoto_block(rd, b);
        ASSERT_TRUE(rd.ok()) << "a tenure's body does not decode";
        compute_ids(b);
        ASSERT_EQ(b.block_id, next) << "not the parent chain";
        ASSERT_EQ(b.header.consensus_hash, si.consensus_hash) << "a block of another tenure";
        next = b.header.parent_block_id;
        got.push_back(std::move(b));
        if (got.back().block_id == start_id) break;
      }
    }
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.back().block_id, start_id) << "the walk did not reach the tenure's start";
    ++downloaded;
  }
  EXPECT_EQ(downloaded, 5u);  // T1..T5 (T6 and T7 have no two set bits after them yet)
  // Second time through the proxy: from its cache.
  EXPECT_EQ(header_of(http_get_close(cdn_port, "/v3/blocks/" + to_hex(lab.tenures[3][0].block_id)), "X-Cache-Status"), "HIT");

  // The ongoing tenure, as the unconfirmed downloader asks for it.
  const std::string info = http_get_close(cdn_port, "/v3/tenures/info");
  ASSERT_EQ(info.rfind("HTTP/1.1 200", 0), 0u) << info.substr(0, 300);
  const auto j = nlohmann::json::parse(body_of(info));
  EXPECT_EQ(j["consensus_hash"], to_hex(TenureLab::ch_of(0x47)));
  EXPECT_EQ(j["tenure_start_block_id"], to_hex(lab.tenures[7][0].block_id));
  EXPECT_EQ(j["parent_tenure_start_block_id"], to_hex(lab.tenures[6][0].block_id));
  EXPECT_EQ(j["tip_block_id"], to_hex(lab.tenures[7][2].block_id));
  EXPECT_EQ(j["reward_cycle"], 2u);

  EXPECT_EQ(cdn.stop(), 0);
  EXPECT_EQ(relay.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace relay::test
