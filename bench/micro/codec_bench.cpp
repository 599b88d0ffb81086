// Codec and validation throughput on real objects.
#include <benchmark/benchmark.h>

#include "bench/micro/bench_data.hpp"
#include "bench/sim/sim_data.hpp"
#include "dataplane/engine/stream_worker.hpp"
#include "relay/codec/framer.hpp"
#include "relay/codec/message.hpp"
#include "relay/crypto/hash_many.hpp"
#include "relay/dedup/tag_cache.hpp"
#include "relay/validate/nakamoto_stream.hpp"
#include "relay/validate/push_check.hpp"
#include "relay/validate/validate.hpp"

namespace relay::bench {
namespace {

using namespace relay::codec;

// A signed Transaction message (PROTOCOL vector M3, 392 bytes).
void BM_MessageDecode_Tx(benchmark::State& state) {
  Bytes m = named_vector("M3");
  for (auto _ : state) {
    auto r = decode_message(m);
    benchmark::DoNotOptimize(r);
    if (!r.ok()) state.SkipWithError("decode failed");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(m.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MessageDecode_Tx);

// A NakamotoBlocks message carrying the 23 regtest blocks of one tenure.
void BM_MessageDecode_NakamotoBlocks(benchmark::State& state) {
  Bytes blocks = from_hex(read_file("real-data/regtest-v3-tenures-body-0-e5fdeb1a51ba6eb297797a1c473e715c27dc81a58ba82c698f6a32eeccee9a5b.hex")).value_or(Bytes{});
  Bytes msg = named_vector("B1");
  Bytes body{0, 0, 0, 0, 28, 0, 0, 0, 23};
  body.insert(body.end(), blocks.begin(), blocks.end());
  store_be32(msg.data() + kPreamblePayloadLenOffset, static_cast<std::uint32_t>(body.size()));
  msg.insert(msg.end(), body.begin(), body.end());
  for (auto _ : state) {
    auto r = decode_message(msg);
    benchmark::DoNotOptimize(r);
    if (!r.ok()) state.SkipWithError(r.error().reason);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(msg.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MessageDecode_NakamotoBlocks);

// Transaction decode, which includes computing the txid (one SHA-512/256 pass).
void tx_decode(benchmark::State& state, const Bytes& tx) {
  for (auto _ : state) {
    auto r = decode_exact<StacksTransaction>(tx, read_transaction);
    benchmark::DoNotOptimize(r);
    if (!r.ok()) state.SkipWithError("decode failed");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(tx.size()));
  state.SetItemsProcessed(state.iterations());
}
void BM_TxDecodeTxid_Transfer180B(benchmark::State& state) { tx_decode(state, named_vector("H4")); }
BENCHMARK(BM_TxDecodeTxid_Transfer180B);
void BM_TxDecodeTxid_Contract39KB(benchmark::State& state) {
  tx_decode(state, tsv_hex("real-data/mainnet-txs.tsv", "3f03adba", 10));
}
BENCHMARK(BM_TxDecodeTxid_Contract39KB);

// Decode + origin signature verification (one recover + hashes).
void BM_TxDecodeVerify_Transfer(benchmark::State& state) {
  Bytes tx = named_vector("H4");
  for (auto _ : state) {
    auto r = decode_exact<StacksTransaction>(tx, read_transaction);
    auto c = validate::verify_transaction(*r);
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TxDecodeVerify_Transfer);

// Full Nakamoto validation: decode (ids, Merkle), miner key, 24 signer signatures
// against a 32-signer reward set.
void BM_NakamotoDecodeValidate_Mainnet(benchmark::State& state) {
  Bytes b = tsv_hex("real-data/mainnet-nakamoto-block.tsv", "", 13);
  auto blk = decode_exact<NakamotoBlock>(b, read_nakamoto_block);
  std::vector<validate::RewardSetSigner> set;
  for (const auto& sig : blk->header.signer_signature)
    set.push_back({crypto::recover(blk->block_hash, sig, crypto::LowS::kIgnore)->compressed(), 1});
  for (int i = 0; i < 8; ++i) set.push_back({crypto::SecretKey::generate()->public_key().compressed(), 1});
  for (auto _ : state) {
    auto d = decode_exact<NakamotoBlock>(b, read_nakamoto_block);
    auto miner = validate::nakamoto_miner_key(*d);
    auto s = validate::verify_signer_signatures(*d, set);
    benchmark::DoNotOptimize(miner);
    if (!s.ok) state.SkipWithError(s.reason);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(b.size()));
}
BENCHMARK(BM_NakamotoDecodeValidate_Mainnet)->Unit(benchmark::kMicrosecond);

void BM_NakamotoDecode_Mainnet(benchmark::State& state) {
  Bytes b = tsv_hex("real-data/mainnet-nakamoto-block.tsv", "", 13);
  for (auto _ : state) {
    auto d = decode_exact<NakamotoBlock>(b, read_nakamoto_block);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(b.size()));
}
BENCHMARK(BM_NakamotoDecode_Mainnet);

ByteArray<32> bench_id(std::uint64_t n) {
  ByteArray<32> a{};
  for (int i = 0; i < 8; ++i) a[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  return a;
}

// Dedup insert of always-new ids into a full 64 Ki-deep cache (insert + evict).
void BM_DedupInsert(benchmark::State& state) {
  dedup::TagCache c(65536, 42);
  std::uint64_t n = 0;
  for (auto _ : state) benchmark::DoNotOptimize(c.insert(bench_id(n++)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DedupInsert);

// Dedup lookup of ids that are present.
void BM_DedupLookupHit(benchmark::State& state) {
  dedup::TagCache c(65536, 42);
  for (std::uint64_t i = 0; i < 65536; ++i) c.insert(bench_id(i));
  std::uint64_t n = 0;
  for (auto _ : state) benchmark::DoNotOptimize(c.contains(bench_id((n++) & 65535)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DedupLookupHit);

}  // namespace
}  // namespace relay::bench

namespace relay::bench {
namespace {

// The relay path's framing: both digests streamed over a 2 MiB NakamotoBlocks message in
// 64 KiB reads; compare with BM_Sha512_256/2097152 (one digest). /scalar: the two digests
// one after the other (as before the lanes); /lanes: paired in lanes where this machine
// has them (crypto::detail::pair_isa()).
void BM_FramerTwoDigests_2MiB(benchmark::State& state, bool lanes) {
  using namespace relay::codec;
  const auto was = crypto::detail::set_pair_isa(lanes ? crypto::detail::pair_isa() : crypto::detail::Isa::kScalar);
  constexpr std::size_t kPayload = 2u << 20;
  Bytes msg = named_vector("B1");
  store_be32(msg.data() + kPreamblePayloadLenOffset, static_cast<std::uint32_t>(kPayload));
  msg.resize(kPreambleSize + kPayload, 0x5a);
  store_be32(msg.data() + kPreambleSize, 0);  // no relayers
  ForwardTemplate t;
  t.preamble.burn_block_height = 10;
  Framer f;
  f.set_forward(t);
  for (auto _ : state) {
    f.next();
    for (std::size_t off = 0; off < msg.size();) off += f.feed(ByteSpan(msg).subspan(off, std::min<std::size_t>(65536, msg.size() - off)));
    benchmark::DoNotOptimize(f.forward_digest());
  }
  crypto::detail::set_pair_isa(was);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(msg.size()));
}
BENCHMARK_CAPTURE(BM_FramerTwoDigests_2MiB, scalar, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FramerTwoDigests_2MiB, lanes, true)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace relay::bench

// The relay path's reading of pushes (validate::PushCheck: skim decode, ids, signature
// checks, nothing allocated) next to the full decode of the same bytes above:
//   BM_PushCheck_Transfer180B      vs BM_TxDecodeVerify_Transfer
//   BM_PushCheck_Contract39KB      vs BM_TxDecodeTxid_Contract39KB (decode only both)
//   BM_PushCheck_MainnetBlock      vs BM_NakamotoDecodeValidate_Mainnet
//   BM_PushCheckDecodeOnly_MainnetBlock vs BM_NakamotoDecode_Mainnet
//   BM_PushCheckDecodeOnly_RegtestTenure vs BM_MessageDecode_NakamotoBlocks
namespace relay::bench {
namespace {

using namespace relay::codec;

Bytes as_push(std::uint8_t id, const Bytes& body, bool counted) {
  Bytes p(1 + (counted ? 4 : 0) + body.size(), 0);
  p[0] = id;
  if (counted) p[4] = 1;  // a list of one
  std::copy(body.begin(), body.end(), p.begin() + (counted ? 5 : 1));
  return p;
}

void push_check(benchmark::State& state, const Bytes& payload, bool validate,
                std::span<const validate::RewardSetSigner> set = {}) {
  validate::PushCheck check;
  check.set_reward_set(set);
  for (auto _ : state) {
    auto out = check.check(payload, 0, validate, nullptr);
    benchmark::DoNotOptimize(out);
    if (out.verdict != validate::PushCheck::Verdict::kValid) state.SkipWithError(out.reason);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
}

void BM_PushCheck_Transfer180B(benchmark::State& state) {
  push_check(state, as_push(13, named_vector("H4"), false), true);
}
BENCHMARK(BM_PushCheck_Transfer180B);

void BM_PushCheck_Contract39KB(benchmark::State& state) {
  push_check(state, as_push(13, tsv_hex("real-data/mainnet-txs.tsv", "3f03adba", 10), false), false);
}
BENCHMARK(BM_PushCheck_Contract39KB);

std::vector<validate::RewardSetSigner> mainnet_block_signers(const Bytes& b) {
  auto blk = decode_exact<NakamotoBlock>(b, read_nakamoto_block);
  std::vector<validate::RewardSetSigner> set;
  for (const auto& sig : blk->header.signer_signature)
    set.push_back({crypto::recover(blk->block_hash, sig, crypto::LowS::kIgnore)->compressed(), 1});
  for (int i = 0; i < 8; ++i) set.push_back({crypto::SecretKey::generate()->public_key().compressed(), 1});
  return set;
}

void BM_PushCheck_MainnetBlock(benchmark::State& state) {
  Bytes b = tsv_hex("real-data/mainnet-nakamoto-block.tsv", "", 13);
  push_check(state, as_push(28, b, true), true, mainnet_block_signers(b));
}
BENCHMARK(BM_PushCheck_MainnetBlock)->Unit(benchmark::kMicrosecond);

void BM_PushCheckDecodeOnly_MainnetBlock(benchmark::State& state) {
  push_check(state, as_push(28, tsv_hex("real-data/mainnet-nakamoto-block.tsv", "", 13), true), false);
}
BENCHMARK(BM_PushCheckDecodeOnly_MainnetBlock);

// The 23 regtest blocks of one tenure in one push: compare BM_MessageDecode_NakamotoBlocks.
void BM_PushCheckDecodeOnly_RegtestTenure(benchmark::State& state) {
  Bytes blocks = from_hex(read_file("real-data/regtest-v3-tenures-body-0-e5fdeb1a51ba6eb297797a1c473e715c27dc81a58ba82c698f6a32eeccee9a5b.hex")).value_or(Bytes{});
  Bytes p(5, 0);
  p[0] = 28;
  p[4] = 23;
  p.insert(p.end(), blocks.begin(), blocks.end());
  push_check(state, p, false);
}
BENCHMARK(BM_PushCheckDecodeOnly_RegtestTenure);

// The benchmark suite's 2 MiB block (~11 000 token transfers, 16 signers): what the
// relay path spends on it after its last byte (compare the suite's "first byte out").
const Bytes& sim_block_2mib() {
  static const Bytes payload = [] {
    sim::SignerSet signers(16);
    codec::NakamotoBlocks nb;
    nb.blocks.push_back(sim::nakamoto_block(7, signers, sim::key_from_byte(1, 0x3a), 2 << 20));
    return encode_with(write_payload, Payload{nb});
  }();
  return payload;
}
void BM_PushCheckDecodeOnly_SimBlock2MiB(benchmark::State& state) { push_check(state, sim_block_2mib(), false); }
BENCHMARK(BM_PushCheckDecodeOnly_SimBlock2MiB)->Unit(benchmark::kMillisecond);
void BM_PushCheck_SimBlock2MiB(benchmark::State& state) {
  static const sim::SignerSet signers(16);
  push_check(state, sim_block_2mib(), true, signers.reward_set);
}
BENCHMARK(BM_PushCheck_SimBlock2MiB)->Unit(benchmark::kMillisecond);

// The block check as the relay's second thread runs it: the 2 MiB sim block's payload
// read by a NakamotoStream as it grows by 64 KiB (decode, txids, duplicates, Merkle tree;
// signer signatures off), its hashes on AVX2's four lanes (/avx2, what ran before the
// AVX-512 lanes) and on the best this machine has (/best). Bytes per second = the check's
// speed per MiB.
void BM_NakamotoStream_SimBlock2MiB(benchmark::State& state, bool best) {
  using crypto::detail::Isa;
  if (!crypto::detail::isa_available(Isa::kAvx2)) return state.SkipWithError("no AVX2 on this machine");
  const Isa was = crypto::detail::set_many_isa(best ? crypto::detail::many_isa() : Isa::kAvx2);
  const Bytes& payload = sim_block_2mib();
  validate::PushCheck check;
  validate::NakamotoStream stream;
  for (auto _ : state) {
    stream.begin(payload.size(), false);
    for (std::size_t have = 0; have < payload.size();) {
      have = std::min(payload.size(), have + 65536);
      stream.advance(ByteSpan(payload).first(have), check);
    }
    if (stream.state() != validate::NakamotoStream::State::kPassed) state.SkipWithError(stream.why());
  }
  crypto::detail::set_many_isa(was);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
}
BENCHMARK_CAPTURE(BM_NakamotoStream_SimBlock2MiB, avx2, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_NakamotoStream_SimBlock2MiB, best, true)->Unit(benchmark::kMillisecond);

// A small block (2 KiB, 16 signers: the recoveries are nearly all of it), checked on
// one thread (/0) and with the dataplane's second thread recovering beside it (/1, the
// StreamWorker's TaskBoard: what the relay path does).
void BM_PushCheck_SimBlock2KiB(benchmark::State& state) {
  static const sim::SignerSet signers(16);
  static const Bytes payload = [] {
    codec::NakamotoBlocks nb;
    nb.blocks.push_back(sim::nakamoto_block(8, signers, sim::key_from_byte(1, 0x3b), 2 << 10));
    return encode_with(write_payload, Payload{nb});
  }();
  dp::StreamWorker helper(0, state.range(0) != 0);
  validate::PushCheck check;
  check.set_reward_set(signers.reward_set);
  if (state.range(0) != 0) check.set_parallel(&helper.board());
  for (auto _ : state) {
    auto out = check.check(payload, 0, true, nullptr);
    benchmark::DoNotOptimize(out);
    if (out.verdict != validate::PushCheck::Verdict::kValid) state.SkipWithError(out.reason);
  }
  state.counters["helped"] = static_cast<double>(helper.board().helped_items());
}
BENCHMARK(BM_PushCheck_SimBlock2KiB)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace relay::bench
