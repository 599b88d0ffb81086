// stacks-relay-simnet — a small simulated Stacks network around a relay: K stock-node
// peers (real TCP through io_uring, the stock handshake) that push transactions at a
// steady rate and, now and then, a Nakamoto block signed by a reward set of their own,
// and measure what reaches the other peers and how fast. It prints live statistics
// (with the relay's own counters when given its shared region) until interrupted.
//
//   stacks-relay-simnet --write-reward-set FILE     the signer set the relay must check blocks with
//   stacks-relay-simnet --relay 127.0.0.1:20444 --peers 8 --tx-rate 200 --block-every 5
#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include "bench/sim/sim_peer.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/base/hex.hpp"
#include "relay/link/link.hpp"
#include "relay/shm/region.hpp"

namespace {

using namespace relay;
using Peer = sim::SimPeer<dp::UringTransport>;

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

struct IdHash {
  std::size_t operator()(const codec::Hash32& h) const noexcept {
    std::size_t v;
    std::memcpy(&v, h.data(), sizeof v);
    return v;
  }
};

struct Node {
  std::unique_ptr<dp::UringTransport> t;
  std::unique_ptr<Peer> p;
};

// Latency samples of one reporting interval (µs), summarised as percentiles.
struct Window {
  std::vector<double> us;
  double pct(double q) {
    if (us.empty()) return 0;
    std::size_t i = static_cast<std::size_t>(q * static_cast<double>(us.size() - 1));
    std::nth_element(us.begin(), us.begin() + static_cast<long>(i), us.end());
    return us[i];
  }
};

std::optional<sockaddr_in6> parse_addr(const std::string& hp) {
  auto colon = hp.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = hp.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<std::uint16_t>(std::stoi(hp.substr(colon + 1))));
  if (inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) == 1) return a;
  if (inet_pton(AF_INET6, ("::ffff:" + host).c_str(), &a.sin6_addr) == 1) return a;
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stacks-relay-simnet: simulated stock Stacks nodes pushing through a relay"};
  std::string relay_hp = "127.0.0.1:20444", reward_out, relay_shm;
  int peers = 8, signers = 10;
  double tx_rate = 200, block_every = 5, duration = 0, interval = 1;
  std::size_t block_bytes = 64 * 1024;
  app.add_option("--relay", relay_hp, "the relay's p2p ADDR:PORT (an IP address)");
  app.add_option("--peers", peers, "simulated nodes")->check(CLI::Range(2, 1000));
  app.add_option("--tx-rate", tx_rate, "transactions pushed per second, across all nodes")->check(CLI::Range(0.0, 1e6));
  app.add_option("--block-every", block_every, "seconds between Nakamoto blocks (0: none)")->check(CLI::Range(0.0, 1e6));
  app.add_option("--block-bytes", block_bytes, "approximate size of each block")->check(CLI::Range(0, 15 << 20));
  app.add_option("--signers", signers, "signers in the simulated reward set")->check(CLI::Range(1, 4000));
  app.add_option("--write-reward-set", reward_out, "write the reward set ('KEY WEIGHT' lines) to FILE and exit");
  app.add_option("--relay-shm", relay_shm, "the relay's shared region: show its counters too");
  app.add_option("--duration", duration, "seconds to run (0: until interrupted)");
  app.add_option("--interval", interval, "seconds between statistics lines")->check(CLI::Range(0.1, 3600.0));
  CLI11_PARSE(app, argc, argv);

  sim::SignerSet set(static_cast<std::size_t>(signers));
  if (!reward_out.empty()) {
    std::ofstream f(reward_out);
    for (const auto& s : set.reward_set) f << to_hex(s.signing_key) << " " << s.weight << "\n";
    if (!f) {
      std::fprintf(stderr, "stacks-relay-simnet: cannot write %s\n", reward_out.c_str());
      return 1;
    }
    return 0;
  }
  auto addr = parse_addr(relay_hp);
  if (!addr) {
    std::fprintf(stderr, "stacks-relay-simnet: --relay wants IP:PORT, got %s\n", relay_hp.c_str());
    return 2;
  }
  const link::DpCounters* relay_counters = nullptr;
  shm::Region region;
  if (!relay_shm.empty()) {
    if (auto r = shm::Region::open(relay_shm); r.ok()) {
      region = std::move(*r);
      if (auto l = link::link_join(region.data(), region.size()); l.ok()) relay_counters = l->counters;
    }
    if (relay_counters == nullptr) std::fprintf(stderr, "stacks-relay-simnet: cannot read %s; going on without\n", relay_shm.c_str());
  }

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  dp::UringConfig small{4, 64, 64, 16 * 1024, 256};
  std::vector<Node> nodes;
  std::unordered_map<codec::Hash32, std::uint64_t, IdHash> sent_at;
  Window win;
  std::uint64_t delivered = 0, delivered_blocks = 0, errors = 0;
  for (int i = 0; i < peers; ++i) {
    auto t = dp::UringTransport::create(small);
    if (!t.ok()) {
      std::fprintf(stderr, "stacks-relay-simnet: io_uring: %s\n", t.error().reason);
      return 1;
    }
    Node n{std::move(*t), nullptr};
    n.p = std::make_unique<Peer>(*n.t, static_cast<std::uint8_t>(i % 250 + 1), static_cast<std::uint8_t>(0x70 + i / 250));
    n.p->keep_pushes = false;
    n.p->on_push = [&](const Bytes& raw) {
      auto m = codec::decode_message(raw);
      if (!m.ok()) return void(++errors);
      codec::Hash32 id{};
      if (auto* tx = std::get_if<codec::Transaction>(&m->payload)) id = tx->tx.txid;
      else if (auto* nb = std::get_if<codec::NakamotoBlocks>(&m->payload); nb && !nb->blocks.empty()) id = nb->blocks[0].block_id;
      auto it = sent_at.find(id);
      if (it == sent_at.end()) return;
      ++delivered;
      if (!std::holds_alternative<codec::Transaction>(m->payload)) ++delivered_blocks;
      win.us.push_back(static_cast<double>(shm::monotonic_ns() - it->second) / 1000.0);
    };
    n.p->on_error = [&](const char*) { ++errors; };
    n.p->dial(*addr);
    nodes.push_back(std::move(n));
  }
  auto pump_all = [&](std::uint64_t now) {
    for (auto& n : nodes) n.p->pump(now, 0);
  };
  const std::uint64_t t0 = shm::monotonic_ns();
  std::size_t up = 0;
  while (!g_stop.load() && shm::monotonic_ns() - t0 < 20'000'000'000ull) {
    pump_all(shm::monotonic_ns());
    up = 0;
    for (auto& n : nodes) up += n.p->authenticated();
    if (up == nodes.size()) break;
    ::usleep(1000);
  }
  if (up != nodes.size()) {
    std::fprintf(stderr, "stacks-relay-simnet: only %zu of %zu nodes completed a handshake with %s\n", up, nodes.size(),
                 relay_hp.c_str());
    return 1;
  }
  std::printf("simnet: %zu nodes connected to the relay at %s; pushing %.0f tx/s%s\n", nodes.size(), relay_hp.c_str(),
              tx_rate, block_every > 0 ? " and Nakamoto blocks" : "");
  std::fflush(stdout);

  const auto miner = sim::key_from_byte(1, 0x3a);
  const std::uint64_t start = shm::monotonic_ns();
  const std::uint64_t tx_gap = tx_rate > 0 ? static_cast<std::uint64_t>(1e9 / tx_rate) : 0;
  const std::uint64_t block_gap = block_every > 0 ? static_cast<std::uint64_t>(block_every * 1e9) : 0;
  const std::uint64_t every = static_cast<std::uint64_t>(interval * 1e9);
  std::uint64_t next_tx = start, next_block = start + block_gap / 2, next_print = start + every;
  std::uint64_t nonce = static_cast<std::uint64_t>(start & 0xffffffffff) * 1000, height = start % 100000;
  std::uint64_t sent_tx = 0, sent_blocks = 0, expect = 0, origin = 0;
  std::uint64_t last_relayed = relay_counters ? relay_counters->relayed.load() : 0;
  while (!g_stop.load()) {
    std::uint64_t now = shm::monotonic_ns();
    if (duration > 0 && now - start > static_cast<std::uint64_t>(duration * 1e9)) break;
    bool busy = false;
    for (int burst = 0; tx_gap != 0 && now >= next_tx && burst < 1000; ++burst, next_tx += tx_gap) {
      Peer& p = *nodes[origin++ % nodes.size()].p;
      auto tx = sim::signed_tx(nonce++);
      sent_at[tx.txid] = shm::monotonic_ns();
      p.send(p.conv->sign(static_cast<std::uint32_t>(nonce), codec::Transaction{tx}));
      ++sent_tx;
      expect += nodes.size() - 1;
      busy = true;
    }
    if (block_gap != 0 && now >= next_block) {
      next_block += block_gap;
      Peer& p = *nodes[origin++ % nodes.size()].p;
      codec::NakamotoBlocks nb;
      nb.blocks.push_back(sim::nakamoto_block(++height, set, miner, block_bytes));
      sent_at[nb.blocks[0].block_id] = shm::monotonic_ns();
      p.send(p.conv->sign(static_cast<std::uint32_t>(height), nb));
      ++sent_blocks;
      expect += nodes.size() - 1;
      busy = true;
    }
    const std::uint64_t before = delivered;
    pump_all(now);
    busy |= delivered != before;
    if (now >= next_print) {
      next_print += every;
      std::size_t live = 0;
      for (auto& n : nodes) live += n.p->authenticated() && !n.p->closed;
      std::printf("t=%5.1fs  sent %llu tx %llu blocks | delivered %llu of %llu (%.1f%%) | hop p50 %.0f us p99 %.0f us | nodes %zu",
                  static_cast<double>(now - start) / 1e9, static_cast<unsigned long long>(sent_tx),
                  static_cast<unsigned long long>(sent_blocks), static_cast<unsigned long long>(delivered),
                  static_cast<unsigned long long>(expect), expect ? 100.0 * static_cast<double>(delivered) / static_cast<double>(expect) : 100.0,
                  win.pct(0.5), win.pct(0.99), live);
      if (relay_counters != nullptr) {
        const auto& c = *relay_counters;
        std::uint64_t r = c.relayed.load();
        std::printf(" | relay: %llu/s relayed, dup %llu, invalid %llu, pacer drops %llu, sessions %llu",
                    static_cast<unsigned long long>(static_cast<double>(r - last_relayed) / interval),
                    static_cast<unsigned long long>(c.drop_dup.load()), static_cast<unsigned long long>(c.drop_invalid.load()),
                    static_cast<unsigned long long>(c.drop_pacer_tx.load() + c.drop_pacer_chunk.load() + c.drop_pacer_refused.load()),
                    static_cast<unsigned long long>(c.sessions_auth_live.load()));
        last_relayed = r;
      }
      if (errors != 0) std::printf(" | ERRORS %llu", static_cast<unsigned long long>(errors));
      std::printf("\n");
      std::fflush(stdout);
      win.us.clear();
      // Forget ids older than 30 s (late or lost deliveries no longer count).
      // (`now` predates what was sent in this turn: compare without wrapping.)
      for (auto it = sent_at.begin(); it != sent_at.end();)
        it = it->second + 30'000'000'000ull < now ? sent_at.erase(it) : std::next(it);
    }
    if (!busy) ::usleep(50);
  }
  std::printf("simnet: sent %llu tx and %llu blocks; %llu of %llu deliveries (%llu blocks); %llu errors\n",
              static_cast<unsigned long long>(sent_tx), static_cast<unsigned long long>(sent_blocks),
              static_cast<unsigned long long>(delivered), static_cast<unsigned long long>(expect),
              static_cast<unsigned long long>(delivered_blocks), static_cast<unsigned long long>(errors));
  return errors == 0 ? 0 : 1;
}
