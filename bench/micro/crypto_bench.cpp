// Hash and signature costs: the per-hop budget of ARCHITECTURE.md §8.
#include <benchmark/benchmark.h>

#include "relay/crypto/fast_random.hpp"
#include "relay/crypto/hash.hpp"
#include "relay/crypto/hash_many.hpp"
#include "relay/crypto/secp256k1.hpp"

namespace relay::bench {
namespace {

void BM_Sha512_256(benchmark::State& state) {
  Bytes data(static_cast<std::size_t>(state.range(0)), 0xab);
  crypto::Sha512_256 h;
  for (auto _ : state) {
    h.update(data);
    benchmark::DoNotOptimize(h.finish());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data.size()));
}
BENCHMARK(BM_Sha512_256)->Arg(256)->Arg(64 << 10)->Arg(2 << 20);

// A block's small hashes, 64 at a time: Arg(0) 180-byte transactions (txids, two
// blocks each), Arg(1) 65-byte Merkle nodes (one block). Every instruction set side by
// side (a set this CPU lacks reports an error row); items are messages.
void BM_Sha512_256Many(benchmark::State& state, crypto::detail::Isa isa) {
  if (!crypto::detail::isa_available(isa)) return state.SkipWithError("this CPU lacks the instruction set");
  const std::size_t len = state.range(0) == 0 ? 180 : 65;
  constexpr std::size_t kBatch = 64;
  Bytes data(kBatch * len);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7);
  std::vector<ByteSpan> in;
  for (std::size_t i = 0; i < kBatch; ++i) in.push_back(ByteSpan(data).subspan(i * len, len));
  std::vector<crypto::Hash32> out(kBatch);
  for (auto _ : state) {
    crypto::detail::sha512_256_many_on(isa, in, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data.size()));
}
BENCHMARK_CAPTURE(BM_Sha512_256Many, scalar, crypto::detail::Isa::kScalar)->Arg(0)->Arg(1);
BENCHMARK_CAPTURE(BM_Sha512_256Many, avx2, crypto::detail::Isa::kAvx2)->Arg(0)->Arg(1);
BENCHMARK_CAPTURE(BM_Sha512_256Many, avx512vl, crypto::detail::Isa::kAvx512vl)->Arg(0)->Arg(1);
BENCHMARK_CAPTURE(BM_Sha512_256Many, avx512, crypto::detail::Isa::kAvx512)->Arg(0)->Arg(1);

// The framer's two digests over one 2 MiB payload behind heads of different lengths
// (165 and 211 bytes, as the sender's message and our forward), fed in 64 KiB reads:
// two scalar passes against the two streams paired in lanes. Compare BM_Sha512_256/2097152
// (one pass); bytes are the payload's.
void BM_Sha512_256Pair_2MiB(benchmark::State& state, crypto::detail::Isa isa) {
  if (!crypto::detail::isa_available(isa)) return state.SkipWithError("this CPU lacks the instruction set");
  const crypto::detail::Isa was = crypto::detail::set_pair_isa(isa);
  Bytes data(2u << 20);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 13);
  std::uint8_t head[211] = {};
  crypto::Sha512_256Pair pair;
  for (auto _ : state) {
    pair.update(0, head, 165);
    pair.update(1, head, 211);
    for (std::size_t at = 0; at < data.size(); at += 65536) pair.update_both(data.data() + at, 65536);
    benchmark::DoNotOptimize(pair.finish(0));
    benchmark::DoNotOptimize(pair.finish(1));
  }
  crypto::detail::set_pair_isa(was);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data.size()));
}
BENCHMARK_CAPTURE(BM_Sha512_256Pair_2MiB, scalar, crypto::detail::Isa::kScalar)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Sha512_256Pair_2MiB, avx2, crypto::detail::Isa::kAvx2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Sha512_256Pair_2MiB, avx512vl, crypto::detail::Isa::kAvx512vl)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Sha512_256Pair_2MiB, avx512, crypto::detail::Isa::kAvx512)->Unit(benchmark::kMillisecond);

// A message's seq: the OS CSPRNG (a getrandom syscall per draw) against the thread's
// generator seeded once (what the relay draws per forward now).
void BM_SeqDraw(benchmark::State& state) {
  std::uint32_t seq = 0;
  for (auto _ : state) {
    if (state.range(0) == 0) crypto::fill_random(reinterpret_cast<std::uint8_t*>(&seq), sizeof seq);
    else seq = crypto::thread_random_u32();
    benchmark::DoNotOptimize(seq);
  }
}
BENCHMARK(BM_SeqDraw)->Arg(0)->Arg(1)->ArgName("thread_generator");

void BM_Sign(benchmark::State& state) {
  auto key = crypto::SecretKey::generate();
  crypto::Hash32 d{};
  std::uint32_t n = 0;
  for (auto _ : state) {
    store_be32(d.data(), n++);
    benchmark::DoNotOptimize(key->sign(d));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sign);

void BM_Recover(benchmark::State& state) {
  auto key = crypto::SecretKey::generate();
  constexpr int kN = 64;
  std::vector<std::pair<crypto::Hash32, crypto::Sig65>> sigs;
  for (int i = 0; i < kN; ++i) {
    crypto::Hash32 d{};
    store_be32(d.data(), static_cast<std::uint32_t>(i));
    sigs.emplace_back(d, key->sign(d));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto& s = sigs[i++ % kN];
    benchmark::DoNotOptimize(crypto::recover(s.first, s.second, crypto::LowS::kEnforce));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Recover);

}  // namespace
}  // namespace relay::bench
