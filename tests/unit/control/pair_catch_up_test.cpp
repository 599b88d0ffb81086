// The pair's store catch-up: the signed requests (pair_auth), the partner's routes
// (/relay/v1/log, /relay/v1/push/{id} of the real HTTP endpoint over a real block
// store), and CatchUp reading a partner's log into its own store: every block checked
// as a push, none stored twice, its cursor kept across restarts, a corrupted block
// refused and counted, a block it cannot check yet (no reward set) left for later.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "bench/sim/sim_data.hpp"
#include "control/http/relay_api.hpp"
#include "control/pair/catch_up.hpp"
#include "control/pair/pair_auth.hpp"
#include "control/store/store_push.hpp"
#include "relay/base/hex.hpp"
#include "relay/codec/chain.hpp"
#include "tests/support/loopback.hpp"

namespace relay::pair {
namespace {

std::int64_t g_now = 1'800'000'000;
std::int64_t test_wall() { return g_now; }

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/srl-catchup-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { (void)std::system(("rm -rf " + path).c_str()); }
};

TEST(PairAuth, OnlyAPartnersFreshSignatureForThisRelayAndThisRequestPasses) {
  const auto ours = sim::key_from_byte(1), partner = sim::key_from_byte(2), other = sim::key_from_byte(3);
  const auto server = sim::key_from_byte(4).public_key().compressed();
  const std::vector<codec::PubKey33> partners = {ours.public_key().compressed()};
  const std::string h = auth_header(ours, "GET", "/relay/v1/log?from=1", g_now, server);
  codec::PubKey33 who{};
  EXPECT_EQ(check_auth(&h, "GET", "/relay/v1/log?from=1", g_now + 5, server, partners, &who), AuthResult::kOk);
  EXPECT_EQ(who, ours.public_key().compressed());
  EXPECT_EQ(check_auth(nullptr, "GET", "/relay/v1/log?from=1", g_now, server, partners), AuthResult::kMissing);
  EXPECT_EQ(check_auth(&h, "GET", "/relay/v1/log?from=2", g_now, server, partners), AuthResult::kBadSignature);  // another request
  const auto elsewhere = other.public_key().compressed();
  EXPECT_EQ(check_auth(&h, "GET", "/relay/v1/log?from=1", g_now, elsewhere, partners), AuthResult::kBadSignature);  // another relay
  EXPECT_EQ(check_auth(&h, "GET", "/relay/v1/log?from=1", g_now + kAuthWindowS + 1, server, partners), AuthResult::kStale);
  const std::string theirs = auth_header(partner, "GET", "/relay/v1/log?from=1", g_now, server);
  EXPECT_EQ(check_auth(&theirs, "GET", "/relay/v1/log?from=1", g_now, server, partners), AuthResult::kNotAPartner);
  // The key claimed is a partner's, the signature another's.
  std::string forged = h;
  forged.replace(forged.rfind(':') + 1, std::string::npos, theirs.substr(theirs.rfind(':') + 1));
  EXPECT_EQ(check_auth(&forged, "GET", "/relay/v1/log?from=1", g_now, server, partners), AuthResult::kBadSignature);
  for (const std::string& bad : std::vector<std::string>{"StacksRelay ", "StacksRelay zz:1:00", "Basic abc",
                                                         "StacksRelay " + h.substr(12, 66) + ":x:00"})
    EXPECT_NE(check_auth(&bad, "GET", "/relay/v1/log?from=1", g_now, server, partners), AuthResult::kOk) << bad;
}

// A partner: a block store behind the relay's HTTP endpoint.
struct PartnerRelay {
  TempDir dir;
  std::unique_ptr<store::BlockStore> store;
  http::StatusBoard board;
  http::ApiContext ctx;
  std::unique_ptr<http::Server> server;
  crypto::SecretKey key = sim::key_from_byte(20);
  explicit PartnerRelay(const codec::PubKey33& partner, http::Handler wrap = {}) {
    store = std::move(store::BlockStore::open(dir.path + "/blocks", {}).value());
    ctx.public_key = key.public_key().compressed();
    ctx.store = store.get();
    ctx.board = &board;
    ctx.pair_keys = {partner};
    ctx.wall = &test_wall;
    auto api = http::make_relay_api(&ctx);
    server = http::Server::start({}, wrap ? [api, wrap](const http::Request& q, http::Response& r) {
      wrap(q, r);
      if (r.status == 0) api(q, r);
    } : api).value();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }
  Bytes push(const codec::NakamotoBlock& b) {
    Bytes p = store::push_of(store::BlockMeta{}, encode_with(codec::write_nakamoto_block, b));
    codec::PushScratch scratch;
    EXPECT_EQ(store::store_push(*store, p, scratch).stored, 1u);
    return p;
  }
};

struct Us {
  TempDir dir;
  std::unique_ptr<store::BlockStore> store;
  crypto::SecretKey key = sim::key_from_byte(21);
  Us() { store = std::move(store::BlockStore::open(dir.path + "/blocks", {}).value()); }
  CatchUpOptions options() {
    CatchUpOptions o;
    o.key = &key;
    o.store = store.get();
    o.cursor_dir = dir.path;
    o.page = 3;  // several pages for a few blocks
    o.wall = &test_wall;
    return o;
  }
};

TEST(PairRoutes, ArePartnersOnlyAndServeTheLogAndPushes) {
  Us us;
  PartnerRelay p(us.key.public_key().compressed());
  sim::SignerSet signers(4);
  const auto miner = sim::key_from_byte(9, 1);
  const auto b = sim::nakamoto_block(100, signers, miner, 2000);
  const Bytes pushed = p.push(b);
  const std::uint16_t port = p.server->port();
  auto get = [&](const std::string& target, const crypto::SecretKey* k) {
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n";
    if (k != nullptr) req += "Authorization: " + auth_header(*k, "GET", target, g_now, p.ctx.public_key) + "\r\n";
    return test::http_exchange(port, req + "\r\n");
  };
  EXPECT_EQ(get("/relay/v1/log", nullptr).rfind("HTTP/1.1 401", 0), 0u);
  const auto stranger = sim::key_from_byte(22);
  EXPECT_EQ(get("/relay/v1/log", &stranger).rfind("HTTP/1.1 403", 0), 0u);
  const std::string log = get("/relay/v1/log?from=1&limit=10", &us.key);
  ASSERT_EQ(log.rfind("HTTP/1.1 200", 0), 0u) << log;
  EXPECT_NE(log.find("\"next_seq\":2"), std::string::npos) << log;
  EXPECT_NE(log.find(to_hex(b.block_id)), std::string::npos) << log;
  const std::string push = get("/relay/v1/push/" + to_hex(b.block_id), &us.key);
  ASSERT_EQ(push.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(push.substr(push.find("\r\n\r\n") + 4), std::string(pushed.begin(), pushed.end()));
  EXPECT_EQ(get("/relay/v1/push/" + std::string(64, '0'), &us.key).rfind("HTTP/1.1 404", 0), 0u);
  // Without partners the routes do not exist.
  p.ctx.pair_keys.clear();
  EXPECT_EQ(get("/relay/v1/log", &us.key).rfind("HTTP/1.1 404", 0), 0u);
}

TEST(PairCatchUp, FetchesEveryBlockItMissedChecksThemAndCarriesOnAfterARestart) {
  Us us;
  PartnerRelay p(us.key.public_key().compressed());
  sim::SignerSet signers(4);
  const auto miner = sim::key_from_byte(9, 1);
  std::vector<codec::NakamotoBlock> blocks;
  for (std::uint64_t h = 100; h < 107; ++h) blocks.push_back(sim::nakamoto_block(h, signers, miner, 1500));
  for (std::size_t i = 0; i < 5; ++i) p.push(blocks[i]);
  // One of them we had already (it reached us by push): not fetched again.
  {
    codec::PushScratch scratch;
    const Bytes own = store::push_of(store::BlockMeta{}, encode_with(codec::write_nakamoto_block, blocks[2]));
    ASSERT_EQ(store::store_push(*us.store, own, scratch).stored, 1u);
  }
  {
    CatchUp c(us.options());
    c.set_partners({Partner{p.ctx.public_key, p.url()}});
    // No reward set yet: the first block cannot be checked; nothing is skipped.
    c.round();
    ASSERT_EQ(c.view().size(), 1u);
    EXPECT_EQ(c.view()[0].unverifiable, 1u);
    EXPECT_EQ(c.view()[0].cursor, 1u);
    EXPECT_EQ(us.store->totals().blocks, 1u);
    c.set_reward_sets(signers.reward_set, {});
    c.round();
    const auto v = c.view()[0];
    EXPECT_TRUE(v.caught_up());
    EXPECT_EQ(v.cursor, 6u);
    EXPECT_EQ(v.partner_next, 6u);
    EXPECT_EQ(v.stored, 4u);
    EXPECT_EQ(v.already_had, 1u);
    EXPECT_EQ(v.refused, 0u);
    EXPECT_EQ(us.store->totals().blocks, 5u);
    auto snap = us.store->snapshot().value();
    for (std::size_t i = 0; i < 5; ++i) {
      auto got = snap.get(blocks[i].block_id);
      ASSERT_TRUE(got.has_value()) << i;
      EXPECT_EQ(got->meta.height, blocks[i].header.chain_length);
    }
  }
  // Restarted: it goes on from where it was (two more blocks, nothing fetched twice).
  for (std::size_t i = 5; i < 7; ++i) p.push(blocks[i]);
  CatchUp again(us.options());
  again.set_reward_sets(signers.reward_set, {});
  again.set_partners({Partner{p.ctx.public_key, p.url()}});
  EXPECT_EQ(again.view()[0].cursor, 6u);
  again.round();
  EXPECT_EQ(again.view()[0].stored, 2u);
  EXPECT_EQ(again.view()[0].fetched, 2u);
  EXPECT_EQ(us.store->totals().blocks, 7u);
}

// A partner that serves a corrupted block (one byte of a transaction changed: the Merkle
// root no longer matches; or another block than the one asked for): refused, counted,
// never stored; the blocks after it still come.
TEST(PairCatchUp, ACorruptedBlockFromThePartnerIsRefusedAndCounted) {
  Us us;
  sim::SignerSet signers(4);
  const auto miner = sim::key_from_byte(9, 1);
  std::vector<codec::NakamotoBlock> blocks;
  for (std::uint64_t h = 200; h < 204; ++h) blocks.push_back(sim::nakamoto_block(h, signers, miner, 1500));
  std::string corrupt_id = to_hex(blocks[1].block_id), swapped_id = to_hex(blocks[2].block_id);
  Bytes other_push;
  PartnerRelay* self = nullptr;
  PartnerRelay p(us.key.public_key().compressed(), [&](const http::Request& q, http::Response& r) {
    r.status = 0;  // 0: not answered here (the real routes answer)
    if (q.path == "/relay/v1/push/" + corrupt_id) {
      auto snap = self->store->snapshot().value();
      auto b = snap.get(blocks[1].block_id).value();
      Bytes push = store::push_of(b.meta, b.bytes);
      push[push.size() - 10] ^= 0x01;  // inside the last transaction
      r.set_text(200, std::string(push.begin(), push.end()), "application/octet-stream");
    } else if (q.path == "/relay/v1/push/" + swapped_id) {
      r.set_text(200, std::string(other_push.begin(), other_push.end()), "application/octet-stream");
    }
  });
  self = &p;
  for (const auto& b : blocks) p.push(b);
  other_push = store::push_of(store::BlockMeta{}, encode_with(codec::write_nakamoto_block, sim::nakamoto_block(300, signers, miner, 900)));
  std::vector<std::string> lines;
  auto o = us.options();
  o.log = [&](const std::string& l) { lines.push_back(l); };
  CatchUp c(std::move(o));
  c.set_reward_sets(signers.reward_set, {});
  c.set_partners({Partner{p.ctx.public_key, p.url()}});
  c.round();
  const auto v = c.view()[0];
  EXPECT_EQ(v.refused, 2u);
  EXPECT_EQ(v.stored, 2u);
  EXPECT_TRUE(v.caught_up());
  auto snap = us.store->snapshot().value();
  EXPECT_TRUE(snap.get(blocks[0].block_id).has_value());
  EXPECT_FALSE(snap.get(blocks[1].block_id).has_value());
  EXPECT_FALSE(snap.get(blocks[2].block_id).has_value());
  EXPECT_TRUE(snap.get(blocks[3].block_id).has_value());
  EXPECT_EQ(us.store->totals().blocks, 2u);  // nor the block served in place of another
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("block " + corrupt_id + " refused"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("it is not the block asked for"), std::string::npos) << lines[1];
}

// Stopping never waits out a slow partner: a request under way is abandoned.
TEST(PairCatchUp, StopsAtOnceWhileAPartnerIsSlowToAnswer) {
  Us us;
  std::atomic<bool> asked{false};
  PartnerRelay p(us.key.public_key().compressed(), [&](const http::Request& q, http::Response& r) {
    r.status = 0;
    if (q.path == "/relay/v1/log") {
      asked = true;
      std::this_thread::sleep_for(std::chrono::seconds(3));  // (the server's one thread, held)
    }
  });
  auto c = std::make_unique<CatchUp>(us.options());
  c->set_partners({Partner{p.ctx.public_key, p.url()}});
  c->start();
  for (int i = 0; i < 200 && !asked; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(asked.load());
  const auto t0 = std::chrono::steady_clock::now();
  c.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2000));
}

}  // namespace
}  // namespace relay::pair
