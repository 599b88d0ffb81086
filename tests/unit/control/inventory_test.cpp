// The Nakamoto inventory (control/inv): bits set exactly at the burn heights where the
// canonical tenures began, only for the newest run of tenures the store can serve whole
// (a tenure not whole ends the run: no gap is ever claimed), all-zero answers for older
// cycles whose request hash is known, Nack (nullopt) for unknown hashes; and the node's
// JSON as the fetcher reads it.
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/support/fake_node_rpc.hpp"
#include "tests/support/tenure_lab.hpp"
#include "control/inv/inventory.hpp"
#include "control/inv/sortition_fetcher.hpp"
#include "control/store/store_push.hpp"
#include "relay/base/hex.hpp"

namespace relay::inv {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/stacks-relay-inv-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { (void)std::system(("rm -rf " + path).c_str()); }
};

Hash20 ch_of(std::uint8_t tag) { return test::TenureLab::ch_of(tag); }

// The chain of tests/support/tenure_lab.hpp, put into a store.
struct Lab : test::TenureLab {
  void store_all(store::BlockStore& st, std::size_t skip_tenure = 99, std::size_t skip_block = 99) const {
    codec::PushScratch scratch;
    for (std::size_t t = 0; t < tenures.size(); ++t)
      for (std::size_t i = 0; i < tenures[t].size(); ++i) {
        if (t == skip_tenure && i == skip_block) continue;
        store::BlockMeta m;
        m.kind = store::BlockKind::kNakamoto;
        const Bytes payload = store::push_of(m, codec::encode_with(codec::write_nakamoto_block, tenures[t][i]));
        ASSERT_EQ(store::store_push(st, payload, scratch).stored, 1u);
      }
  }
};

std::vector<std::size_t> set_bits(const codec::BitVec& b) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < b.len; ++i)
    if (b.get(i)) out.push_back(i);
  return out;
}

TEST(Inventory, BitsMarkTheCanonicalTenuresTheStoreServesWhole) {
  Lab lab;
  TempDir d;
  auto st = store::BlockStore::open(d.path + "/blocks", {}).value();
  lab.store_all(*st);
  ServableCache cache;
  const auto t = build(lab.v, st->snapshot().value(), 0, cache);
  EXPECT_EQ(t.canonical, 7u);
  EXPECT_EQ(t.claimed, 7u);
  EXPECT_EQ(t.stopped.find("newest"), std::string::npos) << t.stopped;
  // Asked with each cycle's mod-1 consensus hash (heights 111 and 121): bit i is height
  // first + rc*L + i.
  const auto c1 = answer(t, ch_of(0x41));  // height 111 is T1's sortition, and cycle 1's mod-1 block
  ASSERT_TRUE(c1.has_value());
  EXPECT_EQ(c1->len, 10u);
  EXPECT_EQ(set_bits(*c1), (std::vector<std::size_t>{1, 3, 4, 6, 8}));
  const auto c2 = answer(t, ch_of(0x46));  // height 121: T6's, cycle 2's mod-1 block
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->len, 6u);  // the ongoing cycle: up to the tip, 125
  EXPECT_EQ(set_bits(*c2), (std::vector<std::size_t>{1, 3}));
  const auto c0 = answer(t, ch_of(0x81));  // cycle 0's mod-1 block (101): known, nothing claimed
  ASSERT_TRUE(c0.has_value());
  EXPECT_EQ(c0->len, 10u);
  EXPECT_TRUE(set_bits(*c0).empty());
  EXPECT_FALSE(answer(t, ch_of(0x8a)).has_value());  // mod-0 of cycle 1: not a request hash
  EXPECT_FALSE(answer(t, ch_of(0xee)).has_value());  // unknown: Nack 2
}

TEST(Inventory, ATenureNotHeldWholeEndsTheRunAndIsNeverAGap) {
  Lab lab;
  TempDir d;
  auto st = store::BlockStore::open(d.path + "/blocks", {}).value();
  lab.store_all(*st, 3, 1);  // T3's middle block missing
  ServableCache cache;
  const auto t = build(lab.v, st->snapshot().value(), 0, cache);
  EXPECT_EQ(t.claimed, 4u);  // T4..T7
  EXPECT_NE(t.stopped.find(to_hex(ch_of(0x43))), std::string::npos) << t.stopped;
  EXPECT_EQ(set_bits(*answer(t, ch_of(0x41))), (std::vector<std::size_t>{6, 8}));
  EXPECT_EQ(set_bits(*answer(t, ch_of(0x46))), (std::vector<std::size_t>{1, 3}));

  // The tip tenure's start block not held: the newest bit goes (tail truncation), the rest
  // stay.
  TempDir d2;
  auto st2 = store::BlockStore::open(d2.path + "/blocks", {}).value();
  lab.store_all(*st2, 7, 0);
  ServableCache cache2;
  const auto t2 = build(lab.v, st2->snapshot().value(), 0, cache2);
  EXPECT_EQ(t2.claimed, 6u);
  EXPECT_EQ(set_bits(*answer(t2, ch_of(0x46))), (std::vector<std::size_t>{1}));
  EXPECT_NE(t2.stopped.find("newest 1"), std::string::npos) << t2.stopped;
  // No chain view: nothing known, every request a Nack.
  ServableCache cache3;
  EXPECT_FALSE(answer(build(ChainView{}, st2->snapshot().value(), 0, cache3), ch_of(0x41)).has_value());
}

// The fetcher against a fake node RPC serving the lab's chain: the table it builds; then
// the node's tip tenure not among its sortitions (answers that do not fit together): the
// last good table stays.
TEST(Inventory, TheFetcherBuildsTheTableFromTheNodesRpcAndKeepsItThroughABadRound) {
  Lab lab;
  TempDir d;
  auto st = store::BlockStore::open(d.path + "/blocks", {}).value();
  lab.store_all(*st);
  test::FakeNodeRpc rpc;
  rpc.set_chain(100, 10, 125);
  rpc.set_tenure_info(lab.tenure_info_json());
  for (const auto& [h, s] : lab.v.sortitions) rpc.set_sortition(h, lab.sortition_json(h));
  SortitionFetcherOptions o;
  o.node_urls = {rpc.url()};
  o.store = st.get();
  SortitionFetcher f(o);
  ASSERT_TRUE(f.round()) << f.view().state;
  auto t = f.take();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->claimed, 7u);
  EXPECT_EQ(set_bits(*answer(*t, ch_of(0x41))), (std::vector<std::size_t>{1, 3, 4, 6, 8}));
  EXPECT_EQ(f.view().state, "up");
  const auto asked = rpc.requests("/v3/sortitions/burn_height/111");
  ASSERT_TRUE(f.round());  // kept sortitions are not asked again (111 is not among the newest 12)
  EXPECT_EQ(rpc.requests("/v3/sortitions/burn_height/111"), asked);
  EXPECT_NE(f.take(), nullptr);
  rpc.set_tenure_info("{\"consensus_hash\":\"" + std::string(40, '9') + "\",\"tenure_start_block_id\":\"" + std::string(64, '9') + "\"}");
  EXPECT_FALSE(f.round());
  EXPECT_EQ(f.take(), nullptr);  // the engine keeps answering with the last good table
  EXPECT_NE(f.view().state.find("kept the last table"), std::string::npos) << f.view().state;
}

TEST(Inventory, TheNodesJsonAsTheFetcherReadsIt) {
  std::string err;
  const auto s = parse_sortition(
      R"([{"burn_block_hash":"0x11","burn_block_height":960051,"burn_header_timestamp":1,"sortition_id":"0x22",)"
      R"("parent_sortition_id":"0x33","consensus_hash":"0x)" + std::string(40, 'a') +
          R"(","was_sortition":true,"miner_pk_hash160":"0x)" + std::string(40, '1') + R"(","stacks_parent_ch":"0x)" +
          std::string(40, 'b') + R"(","last_sortition_ch":"0x)" + std::string(40, 'c') + R"(","committed_block_hash":"0x)" +
          std::string(64, 'd') + R"(","vrf_seed":"0x00"}])",
      err);
  ASSERT_TRUE(s.has_value()) << err;
  EXPECT_EQ(s->height, 960051u);
  EXPECT_TRUE(s->winner);
  EXPECT_EQ(to_hex(s->consensus_hash), std::string(40, 'a'));
  EXPECT_EQ(to_hex(s->parent_tenure), std::string(40, 'b'));
  EXPECT_EQ(to_hex(s->committed), std::string(64, 'd'));
  const auto none = parse_sortition(R"([{"burn_block_height":5,"consensus_hash":"0x)" + std::string(40, 'e') +
                                        R"(","was_sortition":false,"stacks_parent_ch":null,"committed_block_hash":null}])",
                                    err);
  ASSERT_TRUE(none.has_value()) << err;
  EXPECT_FALSE(none->winner);
  EXPECT_EQ(none->committed, Hash32{});
  EXPECT_FALSE(parse_sortition(R"([{"burn_block_height":5}])", err).has_value());
  EXPECT_FALSE(parse_sortition("not json", err).has_value());
  const auto p = parse_pox(R"({"first_burnchain_block_height":666050,"current_burnchain_block_height":960230,)"
                           R"("reward_cycle_length":2100,"prepare_cycle_length":100})",
                           err);
  ASSERT_TRUE(p.has_value()) << err;
  EXPECT_EQ(p->first_height, 666050u);
  EXPECT_EQ(p->cycle_length, 2100u);
  EXPECT_EQ((p->tip_height - p->first_height) / p->cycle_length, 140u);  // PROTOCOL's example: cycle 140
  EXPECT_FALSE(parse_pox(R"({"first_burnchain_block_height":1,"current_burnchain_block_height":5,"reward_cycle_length":4000})", err));
}

}  // namespace
}  // namespace relay::inv
