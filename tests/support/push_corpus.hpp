// tests/support/push_corpus.hpp — one push of every kind the relay path reads, from real
// data where it exists (mainnet and @stacks/transactions transactions of every hash mode,
// payload and post-condition kind; the mainnet Nakamoto block; regtest Nakamoto blocks;
// the VECTORS.md anchored block) and from the simulator otherwise (a 64 KiB Nakamoto block
// signed by a simulated reward set, microblocks, a StackerDB chunk, BlocksAvailable).
// Each payload is the type byte and body, as it follows the relayers on the wire.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "bench/sim/sim_data.hpp"
#include "relay/codec/message.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/test_data.hpp"

namespace relay::test {

struct PushSample {
  enum class Signers { kNone, kReal, kSim, kUnknown };  // which reward set checks it
  std::string name;
  Bytes payload;
  Signers signers = Signers::kNone;
};

struct PushCorpus {
  std::vector<PushSample> samples;
  std::vector<validate::RewardSetSigner> real_signers;  // the mainnet block's (24 of 32 weight)
  std::vector<validate::RewardSetSigner> sim_signers;
};

inline Bytes push_payload(const codec::Payload& p) {
  Bytes b = codec::encode_body({}, p);
  return Bytes(b.begin() + 4, b.end());  // without the empty relayers vector
}

inline PushCorpus push_corpus() {
  using namespace relay::codec;
  PushCorpus c;
  auto tx_sample = [&](const std::string& name, const Bytes& raw) {
    auto tx = decode_exact<StacksTransaction>(raw, read_transaction);
    EXPECT_TRUE(tx.ok()) << name;
    if (tx.ok()) c.samples.push_back({name, push_payload(Transaction{*tx}), PushSample::Signers::kNone});
  };
  {
    std::istringstream in(read_text("stacksjs/generated-seed-5eed0001.jsonl"));
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) tx_sample("stacksjs " + json_field(line, "name"), hex(json_field(line, "hex")));
  }
  for (auto& r : read_tsv_records("real-data/mainnet-txs.tsv"))
    tx_sample("mainnet tx " + r["txid"], hex(r["raw_tx_hex"]));

  auto rows = read_tsv_records("real-data/mainnet-nakamoto-block.tsv");
  auto blk = decode_exact<NakamotoBlock>(hex(rows[0]["block_hex"]), read_nakamoto_block);
  EXPECT_TRUE(blk.ok());
  if (blk.ok()) {
    for (const auto& sig : blk->header.signer_signature)
      c.real_signers.push_back({crypto::recover(blk->block_hash, sig, crypto::LowS::kIgnore)->compressed(), 1});
    for (std::uint8_t i = 0; i < 8; ++i)
      c.real_signers.push_back({sim::key_from_byte(static_cast<std::uint8_t>(0xa0 + i), 0x77).public_key().compressed(), 1});
    NakamotoBlocks nb;
    nb.blocks.push_back(*blk);
    c.samples.push_back({"mainnet Nakamoto block", push_payload(nb), PushSample::Signers::kReal});
  }
  for (auto& r : read_tsv_records("real-data/regtest-nakamoto-blocks.tsv")) {
    auto b = decode_exact<NakamotoBlock>(hex(r["block_hex"]), read_nakamoto_block);
    if (!b.ok()) continue;
    NakamotoBlocks nb;
    nb.blocks.push_back(*b);
    c.samples.push_back({"regtest Nakamoto block", push_payload(nb), PushSample::Signers::kUnknown});
  }
  sim::SignerSet signers(8);
  c.sim_signers = signers.reward_set;
  const auto miner = sim::key_from_byte(0x4d, 0x11);
  {
    NakamotoBlocks nb;
    nb.blocks.push_back(sim::nakamoto_block(7, signers, miner, 64 * 1024));
    nb.blocks.push_back(sim::nakamoto_block(8, signers, miner, 4 * 1024, 2'000'000));
    c.samples.push_back({"simulated Nakamoto blocks", push_payload(nb), PushSample::Signers::kSim});
  }
  {
    Microblocks mbs;
    mbs.microblocks = sim::signed_microblocks(5, 0x61);
    c.samples.push_back({"simulated microblocks", push_payload(mbs), PushSample::Signers::kNone});
  }
  {
    auto h9 = decode_exact<StacksBlock>(vec("H9"), read_stacks_block);
    EXPECT_TRUE(h9.ok());
    Blocks bs;
    bs.blocks.push_back({arr<20>("0101010101010101010101010101010101010101"), *h9});
    c.samples.push_back({"anchored block H9", push_payload(bs), PushSample::Signers::kNone});
  }
  {
    StackerDBPushChunk ch;
    ch.contract_id.address.hash.fill(0x22);
    ch.contract_id.name = "signers-1-0";
    ch.chunk.slot_id = 3;
    ch.chunk.slot_version = 9;
    ch.chunk.data.assign(3000, 0x5c);
    c.samples.push_back({"StackerDB chunk", push_payload(ch), PushSample::Signers::kNone});
  }
  {
    BlocksAvailable ba;
    ba.available.push_back({arr<20>("0202020202020202020202020202020202020202"), {}});
    c.samples.push_back({"BlocksAvailable", push_payload(ba), PushSample::Signers::kNone});
  }
  return c;
}

}  // namespace relay::test
