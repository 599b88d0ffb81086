// Hash and signature costs: the per-hop budget of ARCHITECTURE.md §8.
#include <benchmark/benchmark.h>

#include "relay/crypto/hash.hpp"
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
