// tests/support/corpus_rounds.hpp — steady relaying for the tests that watch what the
// dataplane allocates: rounds of new 64 KiB Nakamoto blocks and the push corpus'
// transactions of every kind, pushed by two peers, all received by a third.
#pragma once

#include <fstream>
#include <string>

#include "bench/sim/sim_data.hpp"
#include "relay/base/hex.hpp"
#include "tests/support/push_corpus.hpp"
#include "tests/support/uring_peers.hpp"

namespace relay::test {

// write_corpus_reward_set: `dir`/reward-set.txt, the reward set of the corpus' simulated
// blocks (sim::SignerSet(8)); returns its path.
inline std::string write_corpus_reward_set(const std::string& dir, const PushCorpus& corpus) {
  const std::string path = dir + "/reward-set.txt";
  std::ofstream rs(path);
  for (const auto& s : corpus.sim_signers) rs << to_hex(s.signing_key) << " " << s.weight << "\n";
  return path;
}

class CorpusRounds {
 public:
  // a and b push; c receives every push. The relay must check blocks against
  // write_corpus_reward_set's set.
  CorpusRounds(Peers& net, Peer& a, Peer& b, Peer& c, const PushCorpus& corpus)
      : net_(net), a_(a), b_(b), c_(c), corpus_(corpus) {}

  // round: `blocks` new 64 KiB blocks from a, then the corpus' transactions (from
  // `first`, `count` of them) alternately from a and b, in batches the pacers never have
  // to drop from; true once c has every one.
  bool round(int blocks, std::size_t first, std::size_t count) {
    using namespace relay::codec;
    for (int i = 0; i < blocks; ++i) {
      NakamotoBlocks nb;
      ++height_;
      nb.blocks.push_back(sim::nakamoto_block(height_, signers_, miner_, 64 * 1024, height_ * 1'000'000));
      a_.send(a_.conv->sign(++seq_, nb));
      ++want_c_;
      if (!net_.pump_until([&] { return c_.push_count == want_c_; })) return false;
    }
    std::size_t sent = 0;
    for (const auto& s : corpus_.samples) {
      if (s.payload[0] != static_cast<std::uint8_t>(MsgId::kTransaction)) continue;
      if (sent++ < first) continue;
      if (sent > first + count) break;
      Reader r(s.payload);
      Payload p;
      read_payload(r, p);
      Peer& from = sent % 2 == 0 ? a_ : b_;
      from.send(from.conv->sign(++seq_, p));
      ++want_c_;
      if (sent % 16 == 0 && !net_.pump_until([&] { return c_.push_count == want_c_; })) return false;
    }
    return net_.pump_until([&] { return c_.push_count == want_c_; });
  }
  // transactions: how many transactions the corpus holds.
  std::uint64_t transactions() const {
    std::uint64_t n = 0;
    for (const auto& s : corpus_.samples) n += s.payload[0] == static_cast<std::uint8_t>(codec::MsgId::kTransaction);
    return n;
  }
  std::uint64_t want_c() const { return want_c_; }

  // The allocation check's two phases. warm_up: 2 blocks and the first 40 transactions
  // (every pool and table the relay path uses touched once). measure: 10 blocks and the
  // rest of the transactions, and what the dataplane's heap counter (published every
  // 100 ms in `k`) and its relayed count moved by meanwhile.
  struct Measured {
    bool ok = false;  // c received every push
    std::uint64_t allocated = 0, relayed = 0;
  };
  bool warm_up() { return round(2, 0, 40); }
  template <class Counters>
  Measured measure(const Counters& k) {
    auto settled_heap = [&] {
      net_.pump_until([] { return false; }, 1);
      return k.heap_allocated.load();
    };
    Measured m;
    const std::uint64_t before = settled_heap();
    const std::uint64_t relayed_before = k.relayed.load();
    m.ok = round(10, 40, 1000);
    m.allocated = settled_heap() - before;
    m.relayed = k.relayed.load() - relayed_before;
    return m;
  }

 private:
  Peers& net_;
  Peer &a_, &b_, &c_;
  const PushCorpus& corpus_;
  sim::SignerSet signers_{8};
  crypto::SecretKey miner_ = sim::key_from_byte(0x4d, 0x11);
  std::uint32_t seq_ = 100;
  std::uint64_t height_ = 1;
  std::uint64_t want_c_ = 0;
};

}  // namespace relay::test
