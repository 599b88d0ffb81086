#include "bench/suite/scenarios.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <future>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "bench/suite/format.hpp"
#include "bench/suite/floor_beside.hpp"
#include "bench/suite/http_load.hpp"
#include "control/gaia/mirror.hpp"
#include "tests/support/gaia_hub.hpp"
#include "tests/support/launch/netns.hpp"
#include "tests/support/launch/relay_child.hpp"
#include "tests/support/launch/tor_net.hpp"
#include "tests/support/launch/wg_tunnel.hpp"
#include "relay/base/hex.hpp"
#include "relay/crypto/hash.hpp"
#include "relay/net/address.hpp"
#include "relay/shm/cnc.hpp"

namespace relay::bench {

namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ull;

struct Ctx {
  const SuiteOptions& o;
  SuiteResult& res;
  sim::SignerSet signers;
  crypto::SecretKey miner = sim::key_from_byte(1, 0x3a);
  std::string reward_file;
  std::unique_ptr<RelayProc> relay;
  bool relay_is_reference = false;
  bool relay_in_netns = false;  // the veth scenario's relay: replaced by ensure_relay
  std::uint64_t nonce = 1;
  std::uint64_t height = 1;
  std::uint8_t tag = 0x80;
  std::size_t pad = 0;

  Ctx(const SuiteOptions& opts, SuiteResult& r) : o(opts), res(r), signers(opts.signers) {}

  void note(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    res.log.emplace_back(buf);
    std::fprintf(stderr, "bench: %s\n", buf);
  }
};

std::uint64_t drops(const link::DpCounters& c) {
  return c.drop_invalid.load() + c.drop_no_reward_set.load() + c.drop_relayers.load() + c.drop_not_relayed_type.load() +
         c.drop_no_burn_view.load() + c.drop_pacer_tx.load() + c.drop_pacer_chunk.load() + c.drop_pacer_refused.load() + c.drop_bad_signature.load() +
         c.drop_bad_preamble.load() + c.drop_framing.load() + c.drop_ctl_ring_full.load();
}

// IdleRate: the relay's CPU seconds per second while nothing is sent (its timers and
// polling), measured over `ns`; subtracted from per-message CPU figures. cpu: both
// processes, user and system; dp_cpu: the dataplane's (exact: schedstat); dp_user: the
// dataplane's user time (split from dp_cpu by the clock ticks, so coarse).
struct IdleRate {
  double cpu = 0, dp_cpu = 0, dp_user = 0;
};
IdleRate idle_rate(Ctx& c, Swarm& s, std::uint64_t ns) {
  const ProcUsage u0 = c.relay->usage();
  const std::uint64_t t0 = shm::monotonic_ns();
  while (shm::monotonic_ns() - t0 < ns) s.pump(1);
  const double dt = static_cast<double>(shm::monotonic_ns() - t0) / 1e9;
  const ProcUsage u1 = c.relay->usage();
  return {(u1.cpu_s - u0.cpu_s) / dt, (u1.dp_cpu_s - u0.dp_cpu_s) / dt, (u1.dp_user_s - u0.dp_user_s) / dt};
}

// The relay's latency histogram (receive reaped → copies queued) over one step.
struct Hist {
  std::uint64_t b[link::kLatencyBuckets] = {};
  static Hist of(const link::DpCounters& c) {
    Hist h;
    for (std::size_t i = 0; i < link::kLatencyBuckets; ++i) h.b[i] = c.relay_latency_buckets[i].load();
    return h;
  }
  // quantile_us: upper bound of the bucket holding quantile q of (this − before).
  std::uint64_t quantile_us(const Hist& before, double q) const {
    std::uint64_t d[link::kLatencyBuckets];
    for (std::size_t i = 0; i < link::kLatencyBuckets; ++i) d[i] = b[i] - before.b[i];
    return link::latency_quantile_us(d, q);
  }
};

// ensure_relay: the relay running with the streaming algorithm, or (reference) with the
// stacks-core algorithm baseline; one at a time, so they never compete for the cores.
// reference_dataplane: the stacks-core baseline dataplane, built beside stacks-relay.
std::string reference_dataplane(const std::string& relay_bin) {
  const auto slash = relay_bin.rfind('/');
  return (slash == std::string::npos ? std::string() : relay_bin.substr(0, slash + 1)) + "stacks-relay-bench-reference";
}

bool ensure_relay(Ctx& c, bool reference) {
  if (c.relay && c.relay_is_reference == reference && !c.relay_in_netns) return true;
  if (c.relay) {
    if (const int rc = c.relay->stop(); rc != 0) c.note("the relay exited with status %d", rc);
    c.relay.reset();
  }
  std::string err;
  RelayLaunch l;
  l.bin = c.o.relay_bin;
  l.work_dir = c.o.work_dir + (reference ? "/reference" : "/relay");
  (void)std::system(("mkdir -p " + l.work_dir).c_str());
  l.reward_set_file = c.reward_file;
  l.http_bind = "127.0.0.1:0";
  l.busy_poll = c.o.busy_poll;
  l.cpus = c.o.relay_cpus;
  if (reference) l.dataplane_bin = reference_dataplane(c.o.relay_bin);
  auto r = RelayProc::start(l, err);
  if (!r.ok()) {
    c.note("relay: %s", err.c_str());
    return false;
  }
  c.relay = std::move(*r);
  c.relay_is_reference = reference;
  c.relay_in_netns = false;
  c.note("%s up on 127.0.0.1:%u", reference ? "relay (reference algorithm)" : "relay", c.relay->port());
  return true;
}

// stamp_origin: through a relay, the origin's sends are timed by the kernel as they
// leave (its transmit timestamp). A completion is only seen when this thread next reaps,
// and the relay, woken by those very bytes, may run first on this core: timed by the
// completion, a hop could shrink to nothing. (Behind a paced link the completion also
// says nothing of when the last byte left.)
bool stamp_origin(Ctx& c, Swarm& s) {
  if (auto st = s.timestamp_wire(0); !st.ok()) {
    c.note("transmit timestamps: %s", st.error().reason);
    return false;
  }
  return true;
}

// Topologies: "direct" (the origin writes to every peer), "relay", "reference" (the
// relay running the stacks-core algorithm).
std::unique_ptr<Swarm> make_swarm(Ctx& c, std::size_t k, const std::string& topo) {
  const bool direct = topo == "direct";
  auto s = Swarm::create(k, c.tag);
  c.tag = static_cast<std::uint8_t>(c.tag + 2);
  if (!s.ok()) {
    c.note("swarm: %s", s.error().reason);
    return nullptr;
  }
  if (direct) {
    if (auto st = (*s)->connect_direct(); !st.ok()) {
      c.note("direct swarm: %s", st.error().reason);
      return nullptr;
    }
  } else {
    if (!ensure_relay(c, topo == "reference")) return nullptr;
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(c.relay->port());
    ::inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr);
    (*s)->dial_all(a);
  }
  if (!(*s)->wait_up(30 * kSecond)) {
    c.note("%s swarm of %zu: only %zu links up (errors %llu)", topo.c_str(), k, (*s)->links_up(),
           static_cast<unsigned long long>((*s)->errors()));
    return nullptr;
  }
  if (!direct && !stamp_origin(c, **s)) return nullptr;
  return std::move(*s);
}

Bytes payload_of(const codec::Payload& p) { return codec::encode_with(codec::write_payload, p); }

std::vector<Planned> tx_plan(Ctx& c, Swarm& s, std::size_t count, double rate) {
  std::vector<Planned> plan;
  plan.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const Bytes payload = payload_of(codec::Transaction{sim::signed_contract_call(c.nonce++, c.pad)});
    Planned p;
    p.origin = 0;
    p.key = Swarm::payload_key(payload);
    p.msg = s.sign_push(0, payload, static_cast<std::uint32_t>(c.nonce));
    p.at_ns = static_cast<std::uint64_t>(static_cast<double>(i) * 1e9 / rate);
    plan.push_back(std::move(p));
  }
  return plan;
}

// Blocks of about `bytes`, `count` of them, `gap_ns` apart (one transaction list shared
// by all: only the headers differ, so generating them is cheap).
std::vector<Planned> block_plan(Ctx& c, Swarm& s, std::size_t bytes, std::size_t count, std::uint64_t gap_ns,
                                std::uint64_t first_at = 0) {
  auto [txs, root] = sim::block_txs(bytes, 50'000'000 + c.nonce);
  c.nonce += txs.size();
  std::vector<Planned> plan;
  for (std::size_t i = 0; i < count; ++i) {
    codec::NakamotoBlocks nb;
    nb.blocks.push_back(sim::nakamoto_block_of(txs, root, c.height++, c.signers, c.miner));
    const Bytes payload = payload_of(nb);
    Planned p;
    p.origin = 0;
    p.key = Swarm::payload_key(payload);
    p.msg = s.sign_push(0, payload, static_cast<std::uint32_t>(c.height));
    p.at_ns = first_at + i * gap_ns;
    plan.push_back(std::move(p));
  }
  return plan;
}

// ---- baselines ---------------------------------------------------------------------

void baselines(Ctx& c) {
  Baselines& b = c.res.base;
  Bytes buf(1 << 20, 0x5a);
  std::uint64_t t0 = shm::monotonic_ns(), n = 0;
  while (shm::monotonic_ns() - t0 < 300'000'000ull) {
    buf[0] = static_cast<std::uint8_t>(n++);
    (void)crypto::sha512_256(buf);
  }
  b.sha512_256_mb_s = static_cast<double>(n) / (static_cast<double>(shm::monotonic_ns() - t0) / 1e9);
  const auto sk = sim::key_from_byte(9, 9);
  codec::Hash32 d{};
  std::vector<codec::Sig65> sigs;
  t0 = shm::monotonic_ns();
  for (int i = 0; i < 2000; ++i) {
    d[0] = static_cast<std::uint8_t>(i);
    d[1] = static_cast<std::uint8_t>(i >> 8);
    sigs.push_back(sk.sign(d));
  }
  b.sign_us = static_cast<double>(shm::monotonic_ns() - t0) / 1000.0 / 2000.0;
  t0 = shm::monotonic_ns();
  for (int i = 0; i < 2000; ++i) {
    d[0] = static_cast<std::uint8_t>(i);
    d[1] = static_cast<std::uint8_t>(i >> 8);
    (void)crypto::recover(d, sigs[static_cast<std::size_t>(i)], crypto::LowS::kEnforce);
  }
  b.recover_us = static_cast<double>(shm::monotonic_ns() - t0) / 1000.0 / 2000.0;
  c.note("SHA-512/256 %.0f MB/s, sign %.1f us, recover %.1f us", b.sha512_256_mb_s, b.sign_us, b.recover_us);

  // The kernel's loopback TCP ceiling, when iperf3 is installed.
  if (std::system("command -v iperf3 >/dev/null 2>&1") != 0) {
    b.iperf3_note = "iperf3 not installed (apt-get install iperf3)";
    c.note("%s", b.iperf3_note.c_str());
    return;
  }
  const std::string port = std::to_string(20000 + ::getpid() % 20000);
  const std::string cmd = "iperf3 -s -1 -B 127.0.0.1 -p " + port + " >/dev/null 2>&1 & sleep 0.5; iperf3 -c 127.0.0.1 -p " +
                          port + " -t " + (c.o.smoke ? "1" : "3") + " -J 2>/dev/null";
  FILE* f = ::popen(cmd.c_str(), "r");
  std::string out;
  char tmp[4096];
  for (std::size_t k; f != nullptr && (k = std::fread(tmp, 1, sizeof tmp, f)) > 0;) out.append(tmp, k);
  if (f != nullptr) ::pclose(f);
  // "sum_received": {..., "bits_per_second": X, ...}
  const auto at = out.find("\"sum_received\"");
  const auto bps = at == std::string::npos ? std::string::npos : out.find("\"bits_per_second\":", at);
  if (bps != std::string::npos) {
    b.iperf3_gbps = std::strtod(out.c_str() + bps + 18, nullptr) / 1e9;
    c.note("iperf3 loopback: %.1f Gbit/s", b.iperf3_gbps);
  } else {
    b.iperf3_note = "iperf3 gave no result";
    c.note("%s", b.iperf3_note.c_str());
  }
}

// ---- transaction flood ----------------------------------------------------------------

TxStep tx_step(Ctx& c, Swarm& s, const std::string& topo, double rate, double seconds) {
  TxStep st;
  st.topology = topo;
  st.k = s.size();
  st.target_rate = rate;
  const auto count = static_cast<std::size_t>(rate * seconds);
  auto plan = tx_plan(c, s, count, rate);
  const bool relay = topo != "direct";
  const double idle = relay ? idle_rate(c, s, 500'000'000ull).cpu : 0;
  const ProcUsage u0 = relay ? c.relay->usage() : ProcUsage{};
  const std::uint64_t relayed0 = relay ? c.relay->counters().relayed.load() : 0;
  const std::uint64_t drops0 = relay ? drops(c.relay->counters()) : 0;
  const Hist h0 = relay ? Hist::of(c.relay->counters()) : Hist{};
  auto r = run_trial(s, plan, s.size() - 1, 2 * kSecond);
  const double send_s = static_cast<double>(r.sends_done_ns - r.start_ns) / 1e9;
  const double all_s = static_cast<double>(r.end_ns - r.start_ns) / 1e9;
  const std::uint64_t got = arrivals(r);
  std::size_t sent = 0;
  for (std::uint64_t ns : r.sent_ns) sent += ns != 0;
  st.sent_rate = send_s > 0 ? static_cast<double>(sent) / send_s : 0;
  st.delivered_per_s = all_s > 0 ? static_cast<double>(got) / all_s : 0;
  st.loss = 1.0 - static_cast<double>(got) / static_cast<double>(count * (s.size() - 1));
  st.gbps = all_s > 0 ? static_cast<double>(r.delivered_bytes) * 8 / all_s / 1e9 : 0;
  st.hop = summarize(hop_latencies(r));
  if (relay) {
    const ProcUsage u1 = c.relay->usage();
    const std::uint64_t relayed = c.relay->counters().relayed.load() - relayed0;
    const double busy = std::max(0.0, u1.cpu_s - u0.cpu_s - idle * all_s);
    st.relay_cpu_us_per_msg = relayed != 0 ? busy * 1e6 / static_cast<double>(relayed) : -1;
    st.relay_rss = u1.rss;
    st.relay_drops = drops(c.relay->counters()) - drops0;
    const Hist h1 = Hist::of(c.relay->counters());
    st.relay_hist_p50_us = h1.quantile_us(h0, 0.5);
    st.relay_hist_p99_us = h1.quantile_us(h0, 0.99);
  }
  c.note("tx %s K=%zu %.0f/s: sent %.0f/s, loss %.2f%%, hop p50 %.0f us p99 %.0f us (relay's own p50 <= %llu us, "
         "CPU %.0f us/msg)", topo.c_str(), st.k, rate, st.sent_rate, st.loss * 100, st.hop.p50, st.hop.p99,
         static_cast<unsigned long long>(st.relay_hist_p50_us), st.relay_cpu_us_per_msg);
  return st;
}

void tx_flood(Ctx& c) {
  const std::size_t k = c.o.smoke ? 8 : 16;
  const std::vector<double> rates = c.o.smoke ? std::vector<double>{500, 2000}
                                              : std::vector<double>{500, 1000, 2000, 3000, 4000, 5000, 7500, 10000, 20000, 40000};
  const double secs = c.o.smoke ? 1.0 : 2.0;
  for (const char* topo : {"direct", "relay", "reference"}) {
    auto s = make_swarm(c, k, topo);
    if (!s) return;
    for (double rate : rates) {
      TxStep st = tx_step(c, *s, topo, rate, secs);
      c.res.tx.push_back(st);
      if (st.loss > 0.01 || st.sent_rate < 0.9 * rate) {
        c.note("tx %s: stopping at %.0f/s (loss or the sender could not keep up)", topo, rate);
        break;
      }
    }
  }
}

// ---- block bursts ------------------------------------------------------------------------

// block_step: `reps` blocks of about `bytes` from peer 0, `gap_ns` apart (0: 300 ms for
// 512 KiB and up, else 100 ms).
BlockStep block_step(Ctx& c, Swarm& s, const std::string& topo, std::size_t bytes, std::size_t reps, std::uint64_t gap_ns = 0) {
  BlockStep st;
  st.topology = topo;
  st.k = s.size();
  st.bytes = bytes;
  const std::uint64_t gap = gap_ns != 0 ? gap_ns : bytes >= (512u << 10) ? 300'000'000ull : 100'000'000ull;
  auto plan = block_plan(c, s, bytes, reps, gap);
  const bool via_relay = topo.rfind("direct", 0) != 0;
  // The dataplane's CPU per block (both threads, user and system, net of idle) for large
  // blocks: the block path's own work (framing, digests, the check, signing, queueing)
  // and the kernel's receive and sends. Exact (schedstat); the user share is coarse.
  const bool cpu = via_relay && bytes >= (512u << 10);
  const IdleRate idle = cpu ? idle_rate(c, s, 1'000'000'000ull) : IdleRate{};
  const ProcUsage u0 = cpu ? c.relay->usage() : ProcUsage{};
  const std::uint64_t relayed0 = cpu ? c.relay->counters().relayed.load() : 0;
  const Hist h0 = via_relay ? Hist::of(c.relay->counters()) : Hist{};
  const std::uint64_t streamed0 = via_relay ? c.relay->counters().blocks_streamed.load() : 0;
  auto r = run_trial(s, plan, s.size() - 1, 3 * kSecond);
  if (cpu) {
    const double secs = static_cast<double>(r.end_ns - r.start_ns) / 1e9;
    const std::uint64_t relayed = c.relay->counters().relayed.load() - relayed0;
    const ProcUsage u1 = c.relay->usage();
    const double all = std::max(0.0, u1.dp_cpu_s - u0.dp_cpu_s - idle.dp_cpu * secs);
    if (relayed != 0) st.dp_cpu_ms_per_block = all * 1e3 / static_cast<double>(relayed);
    if (u1.dp_cpu_s > u0.dp_cpu_s) st.dp_user_share = (u1.dp_user_s - u0.dp_user_s) / (u1.dp_cpu_s - u0.dp_cpu_s);
  }
  st.hop = summarize(hop_latencies(r));
  std::vector<double> first, last;
  per_push(r, s.size() - 1, first, last);
  st.first_out = summarize(first);
  st.last_peer = summarize(last);
  if (via_relay) {
    st.relay_latency_p50_us = Hist::of(c.relay->counters()).quantile_us(h0, 0.5);
    st.streamed = c.relay->counters().blocks_streamed.load() - streamed0;
  }
  c.note("block %s K=%zu %zu B: first byte out p50 %.0f us, last peer p50 %.0f us (%zu of %zu complete; %llu checked "
         "while arriving)", topo.c_str(), st.k, bytes, st.first_out.p50, st.last_peer.p50, st.last_peer.n, reps,
         static_cast<unsigned long long>(st.streamed));
  if (st.dp_cpu_ms_per_block >= 0)
    c.note("block %s K=%zu %zu B: dataplane CPU %.2f ms per block (%.0f%% of it user time)", topo.c_str(), st.k, bytes,
           st.dp_cpu_ms_per_block, st.dp_user_share * 100);
  return st;
}

void block_bursts(Ctx& c) {
  const std::size_t k = c.o.smoke ? 8 : 16;
  const std::vector<std::size_t> sizes = c.o.smoke ? std::vector<std::size_t>{2 << 10, 512 << 10}
                                                   : std::vector<std::size_t>{2 << 10, 16 << 10, 128 << 10, 512 << 10, 2 << 20};
  const std::size_t reps = c.o.smoke ? 3 : 8;
  for (const char* topo : {"direct", "relay", "reference"}) {
    auto s = make_swarm(c, k, topo);
    if (!s) return;
    for (std::size_t b : sizes) c.res.blocks.push_back(block_step(c, *s, topo, b, reps));
  }
  // The block path's CPU with one recipient: one receive and one send in the kernel, the
  // rest the relay's own work (the block CPU target).
  for (const char* topo : {"relay", "reference"}) {
    auto s = make_swarm(c, 2, topo);
    if (!s) return;
    c.res.blocks.push_back(block_step(c, *s, std::string(topo) + " (one recipient)", c.o.smoke ? 512u << 10 : 2u << 20,
                                      c.o.smoke ? 3 : 12, 150'000'000ull));
  }
}

// ---- mixed traffic: blocks among transactions ----------------------------------------

void mixed(Ctx& c) {
  Mixed m;
  m.k = c.o.smoke ? 8 : 16;
  m.block_bytes = 512 << 10;
  m.tx_rate = c.o.smoke ? 500 : 1500;  // well below the relay's transaction capacity here
  auto s = make_swarm(c, m.k, "relay");
  if (!s) return;
  const std::size_t nblocks = c.o.smoke ? 3 : 8;
  const std::uint64_t gap = 250'000'000ull;
  {  // idle: blocks alone
    auto plan = block_plan(c, *s, m.block_bytes, nblocks, gap);
    auto r = run_trial(*s, plan, m.k - 1, 3 * kSecond);
    std::vector<double> first, last;
    per_push(r, m.k - 1, first, last);
    m.block_idle = summarize(last);
  }
  {  // loaded: the same blocks among a steady transaction flood
    const double secs = static_cast<double>(nblocks) * 0.25 + 0.25;
    auto plan = tx_plan(c, *s, static_cast<std::size_t>(m.tx_rate * secs), m.tx_rate);
    const std::size_t ntx = plan.size();
    auto blocks = block_plan(c, *s, m.block_bytes, nblocks, gap, 125'000'000ull);
    for (auto& b : blocks) plan.push_back(std::move(b));
    std::stable_sort(plan.begin(), plan.end(), [](const Planned& a, const Planned& b) { return a.at_ns < b.at_ns; });
    auto r = run_trial(*s, plan, m.k - 1, 3 * kSecond);
    TrialResult txs, bl;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      const bool block = plan[i].msg.size() > 100'000;
      (block ? bl : txs).add_push(r, i);
    }
    std::vector<double> first, last;
    per_push(bl, m.k - 1, first, last);
    m.block_loaded = summarize(last);
    m.tx_loaded = summarize(hop_latencies(txs));
    m.tx_loss = 1.0 - static_cast<double>(arrivals(txs)) / static_cast<double>(ntx * (m.k - 1));
  }
  c.note("mixed K=%zu: 512 KiB block to the last peer p50 %.0f us idle, %.0f us among %.0f tx/s (tx loss %.2f%%)", m.k,
         m.block_idle.p50, m.block_loaded.p50, m.tx_rate, m.tx_loss * 100);
  c.res.mixed.push_back(m);
}

// ---- fan-out -------------------------------------------------------------------------

void fanout(Ctx& c) {
  const std::vector<std::size_t> ks = c.o.smoke ? std::vector<std::size_t>{4, 8}
                                                : std::vector<std::size_t>{8, 16, 32, 64, 128, 256};
  const double rate = 500;
  const std::size_t block_bytes = c.o.smoke ? 512 << 10 : 2 << 20;
  const std::size_t reps = c.o.smoke ? 2 : 4;
  for (std::size_t k : ks) {
    FanoutStep f;
    f.k = k;
    {
      auto s = make_swarm(c, k, "relay");
      if (!s) return;
      auto plan = tx_plan(c, *s, static_cast<std::size_t>(rate * (c.o.smoke ? 0.5 : 1.0)), rate);
      const IdleRate idle = idle_rate(c, *s, 500'000'000ull);
      const ProcUsage u0 = c.relay->usage();
      const std::uint64_t relayed0 = c.relay->counters().relayed.load(), copies0 = c.relay->counters().fanout_sends.load();
      const std::uint64_t work0 = c.relay->counters().relay_work_ns.load();
      const std::uint64_t work_cpu0 = c.relay->counters().relay_work_cpu_ns.load();
      const std::uint64_t waited0 = c.relay->counters().sig_checks_waited_ns.load();
      const std::uint64_t fanout_cpu0 = c.relay->counters().relay_fanout_cpu_ns.load();
      // The floor's operations, timed beside the relay on its run-loop CPU, one set per
      // transaction period, while the trial runs (FloorBeside).
      FloorBeside floor(c.o.relay_cpus.empty() ? std::nullopt : std::optional<unsigned>(c.o.relay_cpus.front()),
                        static_cast<std::uint64_t>(1e9 / rate));
      auto r = run_trial(*s, plan, k - 1, 2 * kSecond);
      floor.stop();
      f.floor_beside_us = floor.median_us();
      f.floor_beside_sets = floor.sets();
      if (!c.o.relay_cpus.empty() && !floor.pinned())
        c.note("fan-out K=%zu: the floor's thread could not be pinned to CPU %u; it ran wherever the scheduler put it", k,
               c.o.relay_cpus.front());
      const double secs = static_cast<double>(r.end_ns - r.start_ns) / 1e9;
      const ProcUsage u1 = c.relay->usage();
      const double cpu = std::max(0.0, u1.cpu_s - u0.cpu_s - idle.cpu * secs) * 1e6;
      const double work_us = static_cast<double>(c.relay->counters().relay_work_ns.load() - work0) / 1000.0;
      const double work_cpu_us = static_cast<double>(c.relay->counters().relay_work_cpu_ns.load() - work_cpu0) / 1000.0;
      const std::uint64_t relayed = c.relay->counters().relayed.load() - relayed0;
      const std::uint64_t copies = c.relay->counters().fanout_sends.load() - copies0;
      f.tx_hop = summarize(hop_latencies(r));
      f.cpu_us_per_msg = relayed ? cpu / static_cast<double>(relayed) : 0;
      f.cpu_us_per_copy = copies ? cpu / static_cast<double>(copies) : 0;
      f.user_us_per_msg = relayed ? work_us / static_cast<double>(relayed) : 0;
      f.path_cpu_us_per_msg = relayed ? work_cpu_us / static_cast<double>(relayed) : 0;
      f.helper_wait_us_per_msg =
          relayed ? static_cast<double>(c.relay->counters().sig_checks_waited_ns.load() - waited0) / 1000.0 / static_cast<double>(relayed) : 0;
      f.fanout_cpu_ns_per_copy =
          copies ? static_cast<double>(c.relay->counters().relay_fanout_cpu_ns.load() - fanout_cpu0) / static_cast<double>(copies) : 0;
      // The kernel's share per copy: the dataplane's system time (its CPU less its user
      // time; the split comes from clock ticks, so coarse), net of idle. The copies of a
      // push go to the kernel in one io_uring submission.
      const double dp_sys = std::max(0.0, (u1.dp_cpu_s - u1.dp_user_s) - (u0.dp_cpu_s - u0.dp_user_s) -
                                              (idle.dp_cpu - idle.dp_user) * secs) * 1e6;
      f.kernel_us_per_copy = copies ? dp_sys / static_cast<double>(copies) : 0;
      auto b = run_trial(*s, block_plan(c, *s, block_bytes, reps, 400'000'000ull), k - 1, 5 * kSecond);
      std::vector<double> first, last;
      per_push(b, k - 1, first, last);
      f.block_first_out = summarize(first);
      f.block_last_peer = summarize(last);
    }
    for (const char* base : {"direct", "reference"}) {
      auto s = make_swarm(c, k, base);
      if (!s) return;
      auto b = run_trial(*s, block_plan(c, *s, block_bytes, reps, 400'000'000ull), k - 1, 5 * kSecond);
      std::vector<double> first, last;
      per_push(b, k - 1, first, last);
      (std::string(base) == "direct" ? f.block_last_peer_direct : f.block_last_peer_reference) = summarize(last);
    }
    c.note("fan-out K=%zu: tx hop p50 %.0f us; block to the last peer %.0f us (direct %.0f us, reference %.0f us); "
           "relay CPU %.1f us/msg (%.1f on the relay path, %.1f of it the run loop's CPU, %.1f waiting for the second thread's "
           "check, %.0f ns per copy queueing the copies); the dataplane's kernel time %.2f us per copy; the floor (2 recover + "
           "sign) beside it %.1f us (%zu sets)", k, f.tx_hop.p50, f.block_last_peer.p50, f.block_last_peer_direct.p50,
           f.block_last_peer_reference.p50, f.cpu_us_per_msg, f.user_us_per_msg, f.path_cpu_us_per_msg, f.helper_wait_us_per_msg,
           f.fanout_cpu_ns_per_copy, f.kernel_us_per_copy, f.floor_beside_us, f.floor_beside_sets);
    c.res.fanout.push_back(f);
  }
}

// ---- HTTP block serving --------------------------------------------------------------

// BenchNginx: one nginx (one worker, as the relay serves from one thread) in a directory
// of its own, serving an http{}-level snippet (@LISTEN@ replaced by a free loopback
// port); stopped (by its PID) when it goes.
struct BenchNginx {
  std::string dir;
  std::uint16_t port = 0;
  pid_t pid = -1;
  bool make_dir() {
    char t[] = "/tmp/stacks-relay-bench-nginx-XXXXXX";
    if (::mkdtemp(t) == nullptr) return false;
    dir = t;
    (void)std::system(("mkdir -p " + dir + "/tmp && chmod -R a+rX " + dir + " && chmod 0777 " + dir + "/tmp").c_str());
    return true;
  }
  bool start(std::string snippet) {
    if (int fd = ::socket(AF_INET, SOCK_STREAM, 0); fd >= 0) {  // a free loopback port, as the kernel picks one
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof a;
      if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
      ::close(fd);
    }
    const std::string listen = snippet.find("listen @LISTEN@") != std::string::npos ? "127.0.0.1:" + std::to_string(port)
                                                                                   : std::to_string(port);
    for (auto at = snippet.find("@LISTEN@"); at != std::string::npos; at = snippet.find("@LISTEN@"))
      snippet.replace(at, 8, listen);
    std::ofstream f(dir + "/nginx.conf");
    f << "daemon off;\nworker_processes 1;\npid " << dir << "/nginx.pid;\nerror_log " << dir << "/error.log;\n"
      << "events { worker_connections 4096; }\n"
      << "http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000000; keepalive_timeout 60;\n"
      << "  client_body_temp_path " << dir << "/tmp; proxy_temp_path " << dir << "/tmp; fastcgi_temp_path " << dir
      << "/tmp; uwsgi_temp_path " << dir << "/tmp; scgi_temp_path " << dir << "/tmp;\n"
      << snippet << "\n}\n";
    f.close();
    pid = ::fork();
    if (pid == 0) {
      ::execlp("nginx", "nginx", "-c", (dir + "/nginx.conf").c_str(), "-p", dir.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid > 0;
  }
  // wait: it answers `path` with `len` bytes (within 5 s).
  bool wait(const std::string& path, std::size_t len) const {
    for (int i = 0; i < 100; ++i) {
      ::usleep(50'000);
      if (http_load(port, path, 1, 0.05, len).requests > 0) return true;
    }
    return false;
  }
  ~BenchNginx() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    if (!dir.empty()) (void)std::system(("rm -rf " + dir).c_str());
  }
};

// A fresh block, relayed (so the relay has it in its store), fetched by many keep-alive
// clients from the relay's HTTP endpoint; then the same bytes from a file by nginx
// (one worker, as the relay serves from one thread), under the same load.
void http_serving(Ctx& c) {
  auto s = make_swarm(c, 2, "relay");
  if (!s) return;
  const std::size_t bytes = c.o.smoke ? 256 << 10 : 2 << 20;
  auto [txs, root] = sim::block_txs(bytes, 70'000'000 + c.nonce);
  c.nonce += txs.size();
  codec::NakamotoBlocks nb;
  nb.blocks.push_back(sim::nakamoto_block_of(txs, root, c.height++, c.signers, c.miner));
  const Bytes block = codec::encode_with(codec::write_nakamoto_block, nb.blocks[0]);
  const std::string path = "/v3/blocks/" + to_hex(nb.blocks[0].block_id);
  s->push(0, payload_of(nb), 0);
  const std::uint64_t t0 = shm::monotonic_ns();
  bool stored = false;
  while (!stored && shm::monotonic_ns() - t0 < 10 * kSecond) {
    s->pump(1);
    stored = http_load(c.relay->http_port(), path, 1, 0.05, block.size()).requests > 0;
  }
  if (!stored) return c.note("http: the relayed block never appeared at %s", path.c_str());
  const std::vector<std::size_t> conns = c.o.smoke ? std::vector<std::size_t>{16} : std::vector<std::size_t>{16, 64, 256};
  const double secs = c.o.smoke ? 1.0 : 3.0;
  auto record = [&](const char* server, std::uint16_t port, std::size_t n) {
    const HttpLoad l = http_load(port, path, n, secs, block.size());
    HttpServe h{server, n, block.size(), static_cast<double>(l.requests) / l.seconds,
                static_cast<double>(l.bytes) * 8 / l.seconds / 1e9, l.errors, l.latency};
    c.note("http %s, %zu clients, block %s: %.0f req/s, %.2f Gbit/s, p50 %.0f us p99 %.0f us, %llu errors", server, n,
           (path.substr(11, 16) + "...").c_str(), h.req_per_s, h.gbps, h.latency.p50, h.latency.p99, static_cast<unsigned long long>(h.errors));
    c.res.http.push_back(h);
  };
  for (std::size_t n : conns) record("relay", c.relay->http_port(), n);

  // nginx, when installed: serving the same bytes from a file at the same path; and as
  // the caching proxy of deploy/cdn/ in front of the relay (its cache warm: what a CDN
  // edge does once a block was asked for).
  if (std::system("command -v nginx >/dev/null 2>&1") != 0) {
    c.res.http_note = "nginx not installed (apt-get install nginx): no comparison";
    return c.note("%s", c.res.http_note.c_str());
  }
  {
    BenchNginx ng;
    if (!ng.make_dir()) return c.note("http: cannot create a directory for nginx");
    (void)std::system(("mkdir -p " + ng.dir + "/www/v3/blocks && chmod -R a+rX " + ng.dir).c_str());
    {
      std::ofstream f(ng.dir + "/www" + path, std::ios::binary);
      f.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(block.size()));
    }
    ::chmod((ng.dir + "/www" + path).c_str(), 0644);
    if (ng.start("server { listen 127.0.0.1:@LISTEN@; root " + ng.dir + "/www; default_type application/octet-stream; }\n") &&
        ng.wait(path, block.size())) {
      for (std::size_t n : conns) record("nginx", ng.port, n);
    } else {
      c.res.http_note = "nginx did not start";
      c.note("%s", c.res.http_note.c_str());
    }
  }
  {
    BenchNginx cdn;
    std::ifstream tf(std::string(RELAY_SOURCE_DIR) + "/deploy/cdn/nginx-cdn.conf");
    std::string snippet((std::istreambuf_iterator<char>(tf)), std::istreambuf_iterator<char>());
    if (snippet.empty() || !cdn.make_dir()) return c.note("http: deploy/cdn/nginx-cdn.conf not found");
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"@ORIGIN@", "127.0.0.1:" + std::to_string(c.relay->http_port())}, {"@CACHE@", cdn.dir + "/cache"}})
      for (auto at = snippet.find(k); at != std::string::npos; at = snippet.find(k)) snippet.replace(at, k.size(), v);
    (void)std::system(("mkdir -p " + cdn.dir + "/cache && chmod 0777 " + cdn.dir + "/cache").c_str());
    if (cdn.start(snippet) && cdn.wait(path, block.size())) {
      for (std::size_t n : conns) record("relay via nginx cache", cdn.port, n);
    } else {
      c.note("http: the caching proxy (deploy/cdn/nginx-cdn.conf) did not start");
    }
  }
}

// ---- gaia: the mirror's outbox against the hub stand-in ---------------------------------

// A block store of N blocks of one size, mirrored from an empty outbox into the hub
// stand-in (tests/support/gaia_hub.hpp) on loopback: files written per second, and bytes.
// Mirror, stand-in and store share this process and the machine's cores.
void gaia_outbox(Ctx& c) {
  const std::vector<std::pair<std::size_t, std::size_t>> sizes =
      c.o.smoke ? std::vector<std::pair<std::size_t, std::size_t>>{{4096, 200}, {256 << 10, 20}}
                : std::vector<std::pair<std::size_t, std::size_t>>{{4096, 3000}, {256 << 10, 300}, {2 << 20, 40}};
  for (const auto& [size, count] : sizes) {
    char t[] = "/tmp/stacks-relay-bench-gaia-XXXXXX";
    if (::mkdtemp(t) == nullptr) return c.note("gaia: cannot create a directory");
    const std::string dir = t;
    {
      auto st = store::BlockStore::open(dir + "/blocks", {}).value();
      Bytes body(size);
      for (std::size_t i = 0; i < count; ++i) {
        store::Hash32 id{};
        store_be32(id.data(), static_cast<std::uint32_t>(i));
        id[31] = 0x6a;
        for (std::size_t k = 0; k < body.size(); k += 64) body[k] = static_cast<std::uint8_t>(i + k);
        store::BlockMeta m;
        m.height = i;
        (void)st->put(id, m, body);
      }
      test::GaiaHubOptions ho;
      ho.max_bytes = std::uint64_t{32} << 20;
      test::GaiaHubStandIn hub(ho);
      gaia::MirrorOptions mo;
      mo.hub_url = hub.url();
      mo.key = crypto::SecretKey::generate();
      mo.store = st.get();
      mo.outbox_dir = dir + "/outbox";
      auto m = gaia::GaiaMirror::open(std::move(mo));
      if (!m.ok()) {
        (void)std::system(("rm -rf " + dir).c_str());
        return c.note("gaia: the outbox did not open: %s", m.error().reason);
      }
      const std::uint64_t t0 = shm::monotonic_ns();
      (*m)->start();
      while ((*m)->view().written < count && shm::monotonic_ns() - t0 < 120 * kSecond) ::usleep(2000);
      const double secs = static_cast<double>(shm::monotonic_ns() - t0) / 1e9;
      const auto v = (*m)->view();
      (*m)->stop();
      GaiaRun g{size, static_cast<std::size_t>(v.written), secs, static_cast<double>(v.written) / secs,
                static_cast<double>(v.written_bytes) / secs / 1e6, v.retries};
      c.note("gaia: %zu files of %zu bytes written in %.2f s: %.0f files/s, %.1f MB/s (%llu retries)%s", g.files, size, secs,
             g.files_per_s, g.mb_per_s, static_cast<unsigned long long>(g.retries), g.files < count ? " - NOT ALL" : "");
      c.res.gaia.push_back(g);
    }
    (void)std::system(("rm -rf " + dir).c_str());
  }
}

// ---- over veth, between network namespaces ----------------------------------------

bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

// NetnsLab: the relay's namespace and the nodes', joined by a veth pair (198.18.5.1 on
// the relay's side, .2 on the nodes'); removed again when it goes. With `real_packets`
// the nodes' side sends what an Ethernet link carries — one 1 500-byte-MTU segment per
// packet (no segmentation offload), on the veth and on the nodes' own loopback — so a
// paced sender's bytes arrive spread out as on a real link, not in 64 KiB bursts.
struct NetnsLab {
  std::string tag, nr, np, vr, vp;  // namespaces (relay's, nodes'), and their ends of the veth
  bool ok = false;
  NetnsLab(const std::string& suffix, bool real_packets) {
    tag = std::to_string(::getpid()) + suffix;
    nr = "srb-" + tag + "-r";
    np = "srb-" + tag + "-p";
    vr = "vr" + tag;
    vp = "vp" + tag;
    ok = sh("ip netns add " + nr) && sh("ip netns add " + np) &&
         sh("ip link add " + vr + " netns " + nr + " type veth peer name " + vp + " netns " + np) &&
         sh("ip -n " + nr + " addr add 198.18.5.1/24 dev " + vr) && sh("ip -n " + np + " addr add 198.18.5.2/24 dev " + vp) &&
         sh("ip -n " + nr + " link set " + vr + " up") && sh("ip -n " + np + " link set " + vp + " up") &&
         sh("ip -n " + nr + " link set lo up") && sh("ip -n " + np + " link set lo up");
    if (ok && real_packets)
      ok = sh("ip -n " + np + " link set " + vp + " gso_max_segs 1") && sh("ip -n " + np + " link set lo mtu 1500") &&
           sh("ip -n " + np + " link set lo gso_max_segs 1");
  }
  ~NetnsLab() {
    sh("ip netns del " + nr);
    sh("ip netns del " + np);
  }
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;
};

// start_relay_in: the relay (or the reference algorithm) inside network namespace
// `netns`, listening on `bind`, its files under <work_dir>/ns-<name>, `extra_toml` added
// to its config. It becomes c.relay (replaced by ensure_relay when a scenario on
// loopback needs one).
bool start_relay_in(Ctx& c, const std::string& netns, const std::string& bind, const std::string& name, bool reference,
                    const std::string& extra_toml = "", const std::string& p2p_extra = "") {
  if (c.relay) {
    (void)c.relay->stop();
    c.relay.reset();
  }
  RelayLaunch l;
  l.bin = c.o.relay_bin;
  l.work_dir = c.o.work_dir + "/ns-" + name + (reference ? "-reference" : "");
  (void)std::system(("mkdir -p " + l.work_dir).c_str());
  l.reward_set_file = c.reward_file;
  l.p2p_bind = bind;
  l.busy_poll = c.o.busy_poll;
  l.cpus = c.o.relay_cpus;
  l.netns = netns;
  l.extra_toml = extra_toml;
  l.p2p_extra = p2p_extra;
  if (reference) l.dataplane_bin = reference_dataplane(c.o.relay_bin);
  std::string err;
  auto r = RelayProc::start(l, err);
  if (!r.ok()) {
    c.note("relay in %s: %s", netns.c_str(), err.c_str());
    return false;
  }
  c.relay = std::move(*r);
  c.relay_is_reference = reference;
  c.relay_in_netns = true;
  c.note("%s up in namespace %s on %s", reference ? "relay (reference algorithm)" : "relay", netns.c_str(), bind.c_str());
  return true;
}
bool start_relay_in(Ctx& c, const NetnsLab& lab, bool reference) {
  return start_relay_in(c, lab.nr, "198.18.5.1:20444", lab.tag, reference);
}

// in_netns: run `fn` on this thread inside network namespace `netns` (the sockets it
// makes live there; the swarm's io_uring may only be driven from this thread), then come
// back. False (and `fn` not run) when the namespace cannot be entered.
bool in_netns(Ctx& c, const std::string& netns, const std::function<void()>& fn) {
  const int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0 || !launch::enter_netns(netns)) {
    if (home >= 0) ::close(home);
    c.note("cannot enter %s", netns.c_str());
    return false;
  }
  fn();
  const bool back = ::setns(home, CLONE_NEWNET) == 0;
  ::close(home);
  if (!back) {
    c.note("cannot return to the original namespace");  // nothing after this can be trusted
    std::abort();
  }
  return true;
}

// swarm_in: K nodes whose sockets live in network namespace `netns`, linked up there by
// `link_up` (which dials the relay, or connects the direct topology: nullptr when it
// went well, else why not), authenticated within `up_ns`; through a relay the origin's
// sends are stamped by the kernel.
std::unique_ptr<Swarm> swarm_in(Ctx& c, const std::string& netns, std::size_t k, bool through_relay,
                                const std::function<const char*(Swarm&)>& link_up, std::uint64_t up_ns = 30 * kSecond) {
  auto sw = Swarm::create(k, c.tag);
  c.tag = static_cast<std::uint8_t>(c.tag + 2);
  if (!sw.ok()) {
    c.note("swarm: %s", sw.error().reason);
    return nullptr;
  }
  const char* failed = "cannot enter the namespace";
  if (!in_netns(c, netns, [&] { failed = link_up(**sw); })) return nullptr;  // the sockets are made in there
  if (failed != nullptr) {
    c.note("swarm in %s: %s", netns.c_str(), failed);
    return nullptr;
  }
  if (!(*sw)->wait_up(up_ns)) {
    c.note("swarm in %s: only %zu links up of K=%zu (errors %llu)", netns.c_str(), (*sw)->links_up(), k,
           static_cast<unsigned long long>((*sw)->errors()));
    return nullptr;
  }
  if (through_relay && !stamp_origin(c, **sw)) return nullptr;
  return std::move(*sw);
}

// lab_swarm: K nodes in the lab's nodes namespace, dialing the relay over the veth, or
// (direct) connected to each other there.
std::unique_ptr<Swarm> lab_swarm(Ctx& c, const NetnsLab& lab, std::size_t k, bool direct) {
  return swarm_in(c, lab.np, k, !direct, [&](Swarm& s) -> const char* {
    if (direct) {
      auto st = s.connect_direct();
      return st.ok() ? nullptr : st.error().reason;
    }
    s.dial_all(launch::sockaddr_of("198.18.5.1", 20444));
    return nullptr;
  });
}

// RampStep: one offered transaction rate held for a while through the relay, and what
// its dataplane process spent on it.
struct RampStep {
  double rate = 0, sent_rate = 0, loss = 0;
  double relayed_per_s = 0, dp_cores = 0;
  double busy_cores = 0;   // dp_cores less the DPDK poll loop's passes that found nothing
  double path_us = 0;      // relay path per relayed push
  double per_copy_us = 0;  // dataplane CPU beyond the relay path, per copy (net of idle polling)
};

RampStep ramp_step(Ctx& c, Swarm& s, double rate, double seconds) {
  RampStep st;
  st.rate = rate;
  const auto count = static_cast<std::size_t>(rate * seconds);
  auto plan = tx_plan(c, s, count, rate);
  const link::DpCounters& k = c.relay->counters();
  const ProcUsage u0 = c.relay->usage();
  const std::uint64_t relayed0 = k.relayed.load(), copies0 = k.fanout_sends.load(), work0 = k.relay_work_ns.load();
  const std::uint64_t idle0 = k.port.idle_poll_ns.load();
  auto r = run_trial(s, plan, s.size() - 1, 2 * kSecond);
  const ProcUsage u1 = c.relay->usage();
  const double secs = static_cast<double>(r.end_ns - r.start_ns) / 1e9;
  const double send_s = static_cast<double>(r.sends_done_ns - r.start_ns) / 1e9;
  std::size_t sent = 0;
  for (std::uint64_t ns : r.sent_ns) sent += ns != 0;
  st.sent_rate = send_s > 0 ? static_cast<double>(sent) / send_s : 0;
  st.loss = 1.0 - static_cast<double>(arrivals(r)) / static_cast<double>(count * (s.size() - 1));
  const auto relayed = static_cast<double>(k.relayed.load() - relayed0);
  const auto copies = static_cast<double>(k.fanout_sends.load() - copies0);
  const double dp = u1.dp_cpu_s - u0.dp_cpu_s, path = static_cast<double>(k.relay_work_ns.load() - work0) / 1e9;
  st.relayed_per_s = secs > 0 ? relayed / secs : 0;
  st.dp_cores = secs > 0 ? dp / secs : 0;
  const double idle = static_cast<double>(k.port.idle_poll_ns.load() - idle0) / 1e9;
  st.busy_cores = secs > 0 ? std::max(0.0, dp - idle) / secs : 0;
  st.path_us = relayed > 0 ? path * 1e6 / relayed : 0;
  // (Net of idle polling: a DPDK loop's passes that found nothing are no copy's cost.)
  st.per_copy_us = copies > 0 ? std::max(0.0, dp - idle - path) * 1e6 / copies : 0;
  return st;
}

// The relay in one namespace, the nodes in another, a veth pair between: packets cross
// a (virtual) link with its own queueing instead of loopback's shortcut. The relay runs
// on each dataplane backend in turn over the same wire: io_uring on the kernel's TCP,
// then DPDK with lwIP on a vdev on its end of the veth (AF_XDP, then AF_PACKET), the
// kernel's address taken off that end meanwhile. For each: transactions at a fixed rate
// (hop), a ramp of rates up to where delivery fails (messages per dataplane core at the
// top, CPU per copy), blocks to the last peer, and (DPDK) the bytes copied per byte
// sent. Offloads are off on both ends for every backend: the kernel's partial checksums
// would fail lwIP's check. Needs root.
void veth(Ctx& c) {
  if (::geteuid() != 0) return c.note("veth: skipped (needs root to create network namespaces)");
  NetnsLab lab("v", false);
  if (!lab.ok || !launch::offloads_off(lab.nr, lab.vr) || !launch::offloads_off(lab.np, lab.vp))
    return c.note("veth: could not set up the namespaces");
  const std::size_t k = c.o.smoke ? 8 : 16;
  const std::vector<double> rates = c.o.smoke ? std::vector<double>{500, 1500}
                                              : std::vector<double>{1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000};
  const std::vector<std::size_t> sizes = c.o.smoke ? std::vector<std::size_t>{512 << 10} : std::vector<std::size_t>{512 << 10, 2 << 20};
  struct Backend {
    const char* key;   // as --backend names it
    const char* name;
    const char* vdev;  // "" for io_uring
  };
  for (const Backend& b : {Backend{"uring", "io_uring", ""}, Backend{"af_xdp", "dpdk net_af_xdp", "net_af_xdp"},
                           Backend{"af_packet", "dpdk net_af_packet", "net_af_packet"}}) {
    if (!c.o.backends.empty() && std::find(c.o.backends.begin(), c.o.backends.end(), b.key) == c.o.backends.end()) continue;
    const bool dpdk = b.vdev[0] != '\0';
    // On DPDK the port owns the relay's address; the kernel must not answer for it too.
    sh("ip -n " + lab.nr + " addr " + (dpdk ? "del" : "add") + " 198.18.5.1/24 dev " + lab.vr);
    const std::string topo = std::string("relay (veth, ") + b.name + ")";
    if (!start_relay_in(c, lab.nr, "198.18.5.1:20444", lab.tag + (dpdk ? std::string("-") + b.vdev : std::string()), false,
                        dpdk ? launch::dpdk_vdev_toml(b.vdev, lab.vr, "198.18.5.1/24", 512) : std::string())) {
      c.res.backends_note += topo + ": the relay did not start (see the log). ";
      continue;
    }
    auto s = lab_swarm(c, lab, k, false);
    if (!s) {
      c.res.backends_note += topo + ": the nodes could not connect. ";
      (void)c.relay->stop();
      c.relay.reset();
      continue;
    }
    BackendRun run;
    run.backend = b.name;
    run.k = k;
    // A veth drops what arrives faster than the receiving CPU's backlog takes
    // (net.core.netdev_max_backlog frames), counted at either end: a veth's own loss,
    // which a NIC's wire and ring do not have; TCP recovers it (lwIP by its timer, mostly).
    auto veth_rx_dropped = [&] {
      unsigned long long n = 0;
      for (const auto& [ns, dev] : {std::pair{lab.np, lab.vp}, std::pair{lab.nr, lab.vr}})
        for (const char* what : {"rx_dropped", "tx_dropped"})
          n += std::strtoull(
              launch::command_output("ip netns exec " + ns + " cat /sys/class/net/" + dev + "/statistics/" + what).c_str(),
              nullptr, 10);
      return n;
    };
    const unsigned long long veth_dropped0 = veth_rx_dropped();
    const link::PortCounters& port = c.relay->counters().port;
    const std::uint64_t copied0 = port.copied_tx_bytes.load(), sent0 = port.tx_bytes.load(), rexmit0 = port.tcp_retransmits.load();
    TxStep fixed = tx_step(c, *s, topo, c.o.smoke ? 500 : 1000, c.o.smoke ? 1.0 : 2.0);
    if (dpdk)
      c.note("veth %s hop step: AF_XDP ring full %llu", b.name, static_cast<unsigned long long>(port.xdp_rx_ring_full.load()));
    run.tx_hop = fixed.hop;
    c.res.tx.push_back(fixed);
    run.ramp_end = "every rate delivered";
    for (double rate : rates) {
      const std::uint64_t ring_full0 = port.xdp_rx_ring_full.load(), timeouts0 = port.tcp_timeouts.load();
      const RampStep st = ramp_step(c, *s, rate, c.o.smoke ? 1.0 : 2.0);
      // (Per step: whether the port lost frames at a rate the machine carries, or only
      // past it, where every backend loses.)
      const std::string port_step =
          dpdk ? fmt("; AF_XDP ring full %.0f", static_cast<double>(port.xdp_rx_ring_full.load() - ring_full0)) +
                     fmt(", retransmission timeouts %.0f", static_cast<double>(port.tcp_timeouts.load() - timeouts0))
               : std::string();
      c.note("veth %s ramp %.0f/s: sent %.0f/s, loss %.2f%%, relayed %.0f/s on %.2f dataplane cores (relay path %.1f us/push, "
             "%.2f us/copy beyond it; %.2f cores busy, the rest idle polling%s)", b.name, rate, st.sent_rate, st.loss * 100,
             st.relayed_per_s, st.dp_cores, st.path_us, st.per_copy_us, st.busy_cores, port_step.c_str());
      if (st.sent_rate < 0.9 * rate) {
        run.ramp_end = fmt("the nodes could not send %.0f/s", rate);
        break;
      }
      if (st.loss > 0.01) {
        run.ramp_end = fmt("%.1f %% lost", st.loss * 100) + fmt(" at %.0f/s", rate);
        break;
      }
      run.top_rate = rate;
      run.relayed_per_s = st.relayed_per_s;
      run.dp_cores = st.dp_cores;
      run.msgs_per_core = st.dp_cores > 0 ? st.relayed_per_s / st.dp_cores : 0;
      run.busy_cores = st.busy_cores;
      run.msgs_per_busy_core = st.busy_cores > 0 ? st.relayed_per_s / st.busy_cores : 0;
      run.relay_path_us = st.path_us;
      run.transport_us_per_copy = st.per_copy_us;
    }
    for (std::size_t bytes : sizes) {
      const std::uint64_t ring_full0 = port.xdp_rx_ring_full.load(), probes0 = port.tcp_loss_probes.load();
      BlockStep bs = block_step(c, *s, topo, bytes, c.o.smoke ? 3 : 6);
      if (dpdk)
        c.note("veth %s blocks of %zu KiB: AF_XDP ring full %llu, tail-loss probes %llu", b.name, bytes >> 10,
               static_cast<unsigned long long>(port.xdp_rx_ring_full.load() - ring_full0),
               static_cast<unsigned long long>(port.tcp_loss_probes.load() - probes0));
      run.block_bytes = bytes;
      run.block_first_out = bs.first_out;
      run.block_last_peer = bs.last_peer;
      c.res.blocks.push_back(std::move(bs));
    }
    if (dpdk) {
      const std::uint64_t sent = port.tx_bytes.load() - sent0;
      run.copied_per_byte = sent != 0 ? static_cast<double>(port.copied_tx_bytes.load() - copied0) / static_cast<double>(sent) : -1;
      run.retransmits = port.tcp_retransmits.load() - rexmit0;
    }
    if (dpdk)
      c.note("veth %s port: rx %llu tx %llu frames, missed %llu (AF_XDP ring full %llu, fill ring empty %llu), dropped rx %llu tx "
             "%llu, no mbuf %llu, fast retransmits %llu, tail-loss probes %llu (losses found %llu), retransmission timeouts %llu, "
             "%llu mbufs free",
             b.name, static_cast<unsigned long long>(port.rx_packets.load()), static_cast<unsigned long long>(port.tx_packets.load()),
             static_cast<unsigned long long>(port.rx_missed.load()), static_cast<unsigned long long>(port.xdp_rx_ring_full.load()),
             static_cast<unsigned long long>(port.xdp_fill_ring_empty.load()), static_cast<unsigned long long>(port.rx_dropped.load()), static_cast<unsigned long long>(port.tx_dropped.load()),
             static_cast<unsigned long long>(port.no_mbuf.load()), static_cast<unsigned long long>(port.tcp_retransmits.load()),
             static_cast<unsigned long long>(port.tcp_loss_probes.load()), static_cast<unsigned long long>(port.tcp_probe_recoveries.load()),
             static_cast<unsigned long long>(port.tcp_timeouts.load()),
             static_cast<unsigned long long>(port.mbufs_free.load()));
    run.veth_rx_dropped = veth_rx_dropped() - veth_dropped0;
    c.note("veth %s: %.0f relayed/s per dataplane core at %.0f tx/s (%s), %.2f us per copy beyond the relay path, 2 MiB "
           "block to the last of %zu peers p50 %.0f us; the veth dropped %llu frames", b.name, run.msgs_per_core,
           run.top_rate, run.ramp_end.c_str(), run.transport_us_per_copy, k - 1, run.block_last_peer.p50, run.veth_rx_dropped);
    c.res.backends.push_back(std::move(run));
    s.reset();
    (void)c.relay->stop();
    c.relay.reset();
  }
}

// An origin behind a real link: its uplink paced by the kernel to `link_mbps` in all
// (its copies share it in the direct topology), 1 500-byte packets, the relay across a
// veth. Loopback hands a relay a whole 2 MiB block in about a millisecond, faster than
// any check of it can run, so "last byte in → first byte out" only means something
// when the bytes arrive as they do from a node: here. Then the same 2 MiB block over
// slower and faster origin links: the delay after the last byte shows the rate up to
// which the relay keeps up with the link. Needs root.
void origin_link(Ctx& c) {
  if (::geteuid() != 0) return c.note("link: skipped (needs root to create network namespaces)");
  NetnsLab lab("l", true);
  if (!lab.ok) return c.note("link: could not set up the namespaces");
  const std::size_t reps = c.o.smoke ? 2 : 6;
  auto run = [&](const char* topo, std::size_t k, std::uint32_t mbps, const std::vector<std::size_t>& sizes) {
    const bool direct = std::string(topo) == "direct";
    auto s = lab_swarm(c, lab, k, direct);
    if (!s) return false;
    if (auto st = s->set_uplink(0, std::uint64_t{mbps} * 125'000); !st.ok()) {
      c.note("link: %s", st.error().reason);
      return false;
    }
    for (std::size_t b : sizes) {
      BlockStep st = block_step(c, *s, std::string(topo) + fmt(" (%.0f Mbit/s origin link)", static_cast<double>(mbps)), b, reps);
      st.link_mbps = mbps;
      c.res.blocks.push_back(st);
    }
    return true;
  };
  const std::uint32_t mbps = c.o.link_mbps;
  const std::size_t k = c.o.smoke ? 8 : 16;
  const std::vector<std::size_t> sizes =
      c.o.smoke ? std::vector<std::size_t>{512 << 10} : std::vector<std::size_t>{128 << 10, 512 << 10, 2 << 20};
  if (!run("direct", k, mbps, sizes)) return;
  if (!start_relay_in(c, lab, false) || !run("relay", k, mbps, sizes)) return;
  if (!c.o.smoke) {
    if (!run("relay", 64, mbps, {2 << 20})) return;
    for (std::uint32_t slower : {100u, 250u, 500u})
      if (slower < mbps && !run("relay", k, slower, {2 << 20})) return;
  }
  if (!start_relay_in(c, lab, true) || !run("reference", k, mbps, sizes)) return;
  (void)c.relay->stop();
  c.relay.reset();
}

// ---- the relay's own uplink as the bottleneck: earliest-first fan-out -----------------

// relay_uplink: the relay in one namespace, its side of the veth shaped to
// `link_mbps` (tbf), K nodes in the other; one of them pushes 2 MiB blocks (512 KiB in
// the smoke run). The relay's copies share its uplink: sent to every peer at once, each
// finishes near the end of all of them; sent to a few at a time (p2p.large_sends_at_once)
// the first ones finish K / n times sooner. The same blocks, once each way, one relay
// after the other; per block, the median recipient's time and the last one's.
void relay_uplink(Ctx& c) {
  if (::geteuid() != 0) {
    c.res.uplink_note = "not measured: needs root (network namespaces, tbf)";
    return c.note("uplink: skipped (needs root)");
  }
  NetnsLab lab("u", false);
  const std::uint32_t mbps = c.o.link_mbps;
  if (!lab.ok || !launch::offloads_off(lab.nr, lab.vr) || !launch::offloads_off(lab.np, lab.vp) ||
      !sh("ip netns exec " + lab.nr + " tc qdisc replace dev " + lab.vr + " root tbf rate " + std::to_string(mbps) +
          "mbit burst 64kb latency 100ms")) {
    c.res.uplink_note = "not measured: the namespaces or the shaper could not be set up";
    return c.note("uplink: could not set up the namespaces or the shaper");
  }
  const std::size_t k = c.o.smoke ? 8 : 16;
  const std::size_t bytes = c.o.smoke ? (512u << 10) : (2u << 20);
  const std::size_t reps = c.o.smoke ? 3 : 6;
  // Every peer at once; two at a time (what the target judges); one at a time, the
  // sequential schedule: the earliest a median peer can have it through this uplink,
  // shown beside the judged pair so a run says how near its floor it is.
  for (std::uint32_t at_once : {0u, 2u, 1u}) {
    const std::string name = lab.tag + "-n" + std::to_string(at_once);
    if (!start_relay_in(c, lab.nr, "198.18.5.1:20444", name, false, "",
                        "large_sends_at_once = " + std::to_string(at_once) + "\n")) {
      c.res.uplink_note = "the relay did not start (see the log)";
      return;
    }
    auto s = lab_swarm(c, lab, k, false);
    if (!s) {
      c.res.uplink_note = "the nodes could not connect";
      break;
    }
    const std::uint64_t waited0 = c.relay->counters().large_sends_waited.load();
    // A block's copies take K × its size at the shaped rate; the next waits that long
    // again so that blocks do not overlap.
    const auto spread = static_cast<std::uint64_t>(static_cast<double>(bytes * k * 8) / (mbps * 1e6) * 1e9);
    auto plan = block_plan(c, *s, bytes, reps, 2 * spread + 100'000'000ull);
    auto r = run_trial(*s, plan, k - 1, 3 * kSecond + 2 * spread);
    std::vector<double> first, last, median;
    per_push(r, k - 1, first, last, &median);
    UplinkStep st;
    st.at_once = at_once;
    st.k = k;
    st.bytes = bytes;
    st.uplink_mbps = mbps;
    st.median_peer = summarize(median);
    st.last_peer = summarize(last);
    st.waited = c.relay->counters().large_sends_waited.load() - waited0;
    c.note("uplink %u Mbit/s, %s a time: %zu B to %zu peers, median peer p50 %.0f us, last peer p50 %.0f us (%zu of %zu "
           "complete; %llu copies waited for a slot)", mbps, at_once == 0 ? "every peer at" : (std::to_string(at_once) + " at").c_str(),
           bytes, k - 1, st.median_peer.p50, st.last_peer.p50, st.last_peer.n, reps, static_cast<unsigned long long>(st.waited));
    c.res.uplink.push_back(st);
    s.reset();
  }
  if (c.relay) {
    (void)c.relay->stop();
    c.relay.reset();
  }
}

// ---- privacy: what Tor and WireGuard cost ----------------------------------------------

// measure_path: the transaction hop and a 512 KiB block's time to the last peer, for a
// swarm already up through c.relay along `path`. Every path gets the same load: a
// modest transaction rate (Tor carries each peer on a circuit of its own) and blocks a
// second apart.
void measure_path(Ctx& c, Swarm& s, const std::string& lab, const std::string& path) {
  PrivacyPath p{lab, path, {}, {}};
  const std::string topo = "relay (" + lab + ": " + path + ")";
  p.tx = tx_step(c, s, topo, c.o.smoke ? 50 : 200, c.o.smoke ? 1.0 : 3.0);
  p.block = block_step(c, s, topo, 512 << 10, c.o.smoke ? 2 : 6, kSecond);
  c.res.privacy.push_back(std::move(p));
}

// tor_costs: a private Tor network in a namespace of its own (tests/support/launch/
// tor_net.hpp): the relay there publishes its onion service through the "near" Tor's
// control port; the nodes reach it through the "far" Tor's SOCKS port, each on a
// circuit of its own (a SOCKS login per node: Tor's IsolateSOCKSAuth), then directly on
// the relay's plain listener. The same relay and nodes, one after the other. Everything
// is on loopback, so this is Tor's own cost (cells, six relays' work each way, flow
// control), not the Internet's round trips a real Tor path adds.
void tor_costs(Ctx& c, std::size_t k) {
  if (!launch::have("/usr/sbin/tor") || !launch::have("/usr/bin/tor-gencert")) {
    c.res.privacy_note += "Tor: not measured (tor is not installed; ./deploy/dev.sh deps installs it). ";
    return c.note("privacy: tor is not installed; the Tor lab is skipped");
  }
  const std::uint64_t t0 = shm::monotonic_ns();
  launch::TorNet net(0);
  if (!net.up() || !net.wait_bootstrapped(120)) {
    c.res.privacy_note += "Tor: the private network did not come up (" + net.why + "). ";
    return c.note("privacy: the private Tor network: %s", net.why.c_str());
  }
  c.note("privacy: a private Tor network (3 authorities, 5 relays, 2 clients) up in %.0f s",
         static_cast<double>(shm::monotonic_ns() - t0) / 1e9);
  if (!start_relay_in(c, net.ns.name, "127.0.0.1:20444", "tor", false,
                      "[tor]\ncontrol = \"127.0.0.1:" + std::to_string(launch::TorNet::kNearControl) + "\"\n"))
    return;
  const std::string onion_file = c.o.work_dir + "/ns-tor/data/onion_address";
  std::string onion;
  for (int i = 0; i < 600 && onion.empty(); ++i) {
    onion = launch::file_text(onion_file);
    if (onion.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  onion.erase(onion.find_last_not_of("\n") + 1);
  std::string err;
  const auto at = net::PeerAddress::parse(onion + ":20444", err);
  if (!at) {
    c.res.privacy_note += "Tor: the relay published no onion service. ";
    return c.note("privacy: no onion service from the relay in 60 s (%s)", err.c_str());
  }
  c.note("privacy: the relay's onion service is %s", onion.c_str());

  if (auto s = swarm_in(c, net.ns.name, k, true, [](Swarm& sw) -> const char* {
        sw.dial_all(launch::sockaddr_of("127.0.0.1", 20444));
        return nullptr;
      }))
    measure_path(c, *s, "tor", "direct");
  // A fresh onion service's descriptor can take a few tries to be found: a swarm whose
  // links do not all come up is dropped and made again.
  std::unique_ptr<Swarm> s;
  const std::uint64_t t1 = shm::monotonic_ns();
  for (int attempt = 0; attempt < 4 && !s; ++attempt)
    s = swarm_in(c, net.ns.name, k, true, [&](Swarm& sw) -> const char* {
      for (std::size_t p = 0; p < k; ++p) {
        net::ConnectOptions how;
        how.socks5 = net::Socks5Proxy{*net::parse_addr("127.0.0.1"), launch::TorNet::kFarSocks,
                                      net::ProxyLogin{"node-" + std::to_string(p), "bench"}};
        if (!sw.dial(p, *at, how)) return "the transport refused a dial";
      }
      return nullptr;
    }, 90 * kSecond);
  if (!s) {
    c.res.privacy_note += "Tor: the nodes could not reach the relay's onion service. ";
    return;
  }
  c.note("privacy: %zu nodes reached the onion service in %.1f s", k, static_cast<double>(shm::monotonic_ns() - t1) / 1e9);
  measure_path(c, *s, "tor", "tor");
  s.reset();
  (void)c.relay->stop();
  c.relay.reset();
}

// wireguard_costs: two namespaces joined by a veth and a userspace WireGuard tunnel over
// it (tests/support/launch/wg_tunnel.hpp; wireguard-go, as this kernel has no WireGuard
// module). The relay on the "cloud" side, the nodes on the "home" side: first over the
// veth in the clear, then through the tunnel (the relay listening on each address in
// turn).
void wireguard_costs(Ctx& c, std::size_t k) {
  if (!launch::have("/usr/bin/wireguard-go") || !launch::have("/usr/bin/wg")) {
    c.res.privacy_note += "WireGuard: not measured (wireguard-go or wg missing; ./deploy/dev.sh deps installs them). ";
    return c.note("privacy: wireguard-go is not installed; the WireGuard lab is skipped");
  }
  launch::WgTunnel tun;
  if (!tun.ok) {
    c.res.privacy_note += "WireGuard: the tunnel did not come up (" + tun.why + "). ";
    return c.note("privacy: the WireGuard tunnel: %s", tun.why.c_str());
  }
  const std::pair<const char*, const char*> paths[] = {{"direct", "198.18.1.2"}, {"wireguard", "198.19.0.2"}};
  for (const auto& [path, ip] : paths) {
    if (!start_relay_in(c, tun.cloud->ns.name, std::string(ip) + ":20444", std::string("wg-") + path, false)) return;
    auto s = swarm_in(c, tun.home->ns.name, k, true, [ip = ip](Swarm& sw) -> const char* {
      sw.dial_all(launch::sockaddr_of(ip, 20444));
      return nullptr;
    });
    if (!s) return;
    measure_path(c, *s, "wireguard", path);
  }
  (void)c.relay->stop();
  c.relay.reset();
}

// What privacy costs: the transaction hop and a 512 KiB block's time to the last peer
// through Tor and through WireGuard, each next to the direct path in the same lab.
// Needs root (namespaces) and the programs ./deploy/dev.sh deps installs.
void privacy(Ctx& c) {
  if (::geteuid() != 0) {
    c.res.privacy_note = "not measured: needs root to create network namespaces.";
    return c.note("privacy: skipped (needs root to create network namespaces)");
  }
  const std::size_t k = c.o.smoke ? 4 : 8;
  tor_costs(c, k);
  wireguard_costs(c, k);
}

// ---- failover: a relay pair losing one relay under load ------------------------------------

// status_json: GET /status of a relay listening at `ip`:`port` inside `netns` (the socket
// is made in there); an empty object when it does not answer.
nlohmann::json status_json(Ctx& c, const std::string& netns, const char* ip, std::uint16_t port) {
  int fd = -1;
  (void)in_netns(c, netns, [&] { fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0); });
  if (fd < 0) return nlohmann::json::object();
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const sockaddr_in6 a = launch::sockaddr_of(ip, port);
  std::string got;
  const std::string req = "GET /status HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n";
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[16384];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto body = got.find("\r\n\r\n");
  auto j = nlohmann::json::parse(body == std::string::npos ? std::string("{}") : got.substr(body + 4), nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

// A relay pair under load losing one relay: "cloud" (the lab's relay namespace,
// 198.18.5.1) and "home" (the nodes' namespace, 198.18.5.2), each naming the other in
// [pair] peers, with HTTP endpoints (their data_urls, for the store catch-up). K nodes
// in "home" each keep a session with both relays, as nodes configured with both do, and
// push transactions in turn at a steady rate, and a 64 KiB block now and then. A third
// of the way in, cloud is killed (-9, all its processes); two thirds in, it is started
// again and the nodes dial it again. Reported: the longest time a node went without a
// new transaction before the kill and around the outage (next to the sender's own
// interval), deliveries lost, and how long cloud took to listen again and to hold every
// block home stored meanwhile (its store catch-up).
void failover(Ctx& c) {
  if (::geteuid() != 0) {
    c.res.failover_note = "not measured: needs root to create network namespaces.";
    return c.note("failover: skipped (needs root to create network namespaces)");
  }
  NetnsLab lab("f", false);
  if (!lab.ok) return c.note("failover: could not make the namespaces");
  Failover f;
  f.k = c.o.smoke ? 4 : 8;
  f.tx_rate = c.o.smoke ? 100 : 200;
  f.seconds = c.o.smoke ? 9 : 30;
  f.block_every_s = 0.5;
  f.kill_at_s = f.seconds / 3;
  f.restart_at_s = 2 * f.seconds / 3;
  const auto key_home = sim::key_from_byte(1, 0x71), key_cloud = sim::key_from_byte(2, 0x71);
  auto launch_of = [&](bool home) {
    RelayLaunch l;
    l.bin = c.o.relay_bin;
    l.work_dir = c.o.work_dir + (home ? "/pair-home" : "/pair-cloud");
    (void)std::system(("mkdir -p " + l.work_dir).c_str());
    l.reward_set_file = c.reward_file;
    l.netns = home ? lab.np : lab.nr;
    l.p2p_bind = home ? "198.18.5.2:20444" : "198.18.5.1:20444";
    l.http_bind = home ? "198.18.5.2:20480" : "198.18.5.1:20480";
    l.identity_key_file = l.work_dir + "/identity.key";
    const auto& own = home ? key_home : key_cloud;
    std::ofstream(l.identity_key_file) << to_hex(own.bytes()) << "\n";
    ::chmod(l.identity_key_file.c_str(), 0600);
    const auto other = (home ? key_cloud : key_home).public_key().compressed();
    l.extra_toml = "[pair]\npeers = [\"" + to_hex(ByteSpan(other.data(), other.size())) + "@" +
                   (home ? "198.18.5.1" : "198.18.5.2") + ":20444\"]\n";
    return l;
  };
  std::string err;
  auto home = RelayProc::start(launch_of(true), err);
  auto cloud = RelayProc::start(launch_of(false), err);
  if (!home.ok() || !cloud.ok()) return c.note("failover: a relay did not start: %s", err.c_str());
  const auto home_at = launch::sockaddr_of("198.18.5.2", 20444), cloud_at = launch::sockaddr_of("198.18.5.1", 20444);
  auto s = swarm_in(c, lab.np, f.k, false, [&](Swarm& sw) -> const char* {
    sw.dial_all(home_at);
    return nullptr;
  });
  if (!s || !in_netns(c, lab.np, [&] { s->dial_all(cloud_at); })) return;
  if (!s->wait_links(2 * f.k, 20 * kSecond))
    return c.note("failover: the nodes did not reach both relays (%zu links of %zu up, %llu errors)", s->links_up(), 2 * f.k,
                  static_cast<unsigned long long>(s->errors()));
  // Each node's first arrival of each transaction (it may come through both relays).
  std::vector<std::unordered_map<std::uint64_t, std::uint64_t>> seen(f.k);
  std::unordered_map<std::uint64_t, std::size_t> origin_of;  // transaction key → its origin
  s->on_arrival = [&](const Arrival& a) {
    if (origin_of.count(a.key) != 0) seen[a.peer].emplace(a.key, a.last_ns);
  };
  const std::uint64_t t0 = shm::monotonic_ns();
  const auto at = [&](double sec) { return t0 + static_cast<std::uint64_t>(sec * 1e9); };
  const auto count = static_cast<std::uint64_t>(f.tx_rate * f.seconds);
  std::uint64_t restart_ns = 0, ready_ns = 0, caught_ns = 0, next_block_ns = t0, next_status_ns = 0;
  bool killed = false;
  std::future<std::pair<Result<std::unique_ptr<RelayProc>>, std::string>> restarting;
  auto [txs, root] = sim::block_txs(64 << 10, 70'000'000 + c.nonce);
  c.nonce += txs.size();
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t due = t0 + static_cast<std::uint64_t>(static_cast<double>(i) * 1e9 / f.tx_rate);
    while (shm::monotonic_ns() < due) s->pump(0);
    const std::size_t p = i % f.k;
    const Bytes payload = payload_of(codec::Transaction{sim::signed_contract_call(c.nonce++, c.pad)});
    origin_of[Swarm::payload_key(payload)] = p;
    s->push(p, payload, i);
    ++f.sent;
    const std::uint64_t now = shm::monotonic_ns();
    if (now >= next_block_ns) {  // a block, from the next node
      codec::NakamotoBlocks nb;
      nb.blocks.push_back(sim::nakamoto_block_of(txs, root, c.height++, c.signers, c.miner));
      s->push((p + 1) % f.k, payload_of(nb), ~i);
      ++f.blocks_pushed;
      if (killed && restart_ns == 0) ++f.blocks_missed;
      next_block_ns = now + static_cast<std::uint64_t>(f.block_every_s * 1e9);
    }
    if (!killed && now >= at(f.kill_at_s)) {
      (*cloud)->kill_all();
      killed = true;
      c.note("failover: cloud killed (-9) at %.1f s", static_cast<double>(now - t0) / 1e9);
    }
    if (killed && restart_ns == 0 && now >= at(f.restart_at_s)) {
      // Started on a thread of its own: the nodes go on pushing and reading meanwhile.
      restart_ns = now;
      cloud->reset();
      restarting = std::async(std::launch::async, [&, l = launch_of(false)] {
        std::string e;
        auto r = RelayProc::start(l, e);
        return std::make_pair(std::move(r), e);
      });
    }
    if (restarting.valid() && restarting.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      auto [r, e] = restarting.get();
      if (!r.ok()) return c.note("failover: cloud did not start again: %s", e.c_str());
      cloud = std::move(r);
      ready_ns = shm::monotonic_ns();
      (void)in_netns(c, lab.np, [&] { s->dial_all(cloud_at); });
      c.note("failover: cloud listening again %.2f s after its restart began", static_cast<double>(ready_ns - restart_ns) / 1e9);
    }
    if (ready_ns != 0 && caught_ns == 0 && now >= next_status_ns) {  // has cloud every block home has?
      next_status_ns = now + 100'000'000;
      const auto st = status_json(c, lab.nr, "198.18.5.1", 20480);
      const auto blocks = st.value("block_store", nlohmann::json::object()).value("blocks", std::uint64_t{0});
      if (blocks >= f.blocks_pushed) caught_ns = shm::monotonic_ns();
    }
  }
  if (restarting.valid()) {  // the run ended before cloud was back
    auto [r, e] = restarting.get();
    if (!r.ok()) return c.note("failover: cloud did not start again: %s", e.c_str());
    cloud = std::move(r);
    ready_ns = shm::monotonic_ns();
  }
  // Stragglers, and the catch-up if it is still going.
  const std::uint64_t end_wait = shm::monotonic_ns() + 20 * kSecond;
  std::uint64_t settle = shm::monotonic_ns() + 2 * kSecond;
  while (shm::monotonic_ns() < std::max(settle, caught_ns == 0 ? end_wait : settle)) {
    s->pump(1);
    if (caught_ns == 0 && shm::monotonic_ns() >= next_status_ns) {
      next_status_ns = shm::monotonic_ns() + 100'000'000;
      const auto st = status_json(c, lab.nr, "198.18.5.1", 20480);
      if (st.value("block_store", nlohmann::json::object()).value("blocks", std::uint64_t{0}) >= f.blocks_pushed)
        caught_ns = shm::monotonic_ns();
    }
    if (caught_ns != 0 && shm::monotonic_ns() >= settle) break;
  }
  const auto st = status_json(c, lab.nr, "198.18.5.1", 20480);
  for (const auto& cu : st.value("catch_up", nlohmann::json::array())) f.catch_up_stored += cu.value("stored", std::uint64_t{0});
  f.restart_ready_s = static_cast<double>(ready_ns - restart_ns) / 1e9;
  f.catch_up_s = caught_ns != 0 ? static_cast<double>(caught_ns - restart_ns) / 1e9 : -1;
  // Deliveries, and each node's longest stretch without a new transaction.
  f.expected = f.sent * (f.k - 1);
  f.gap_ms_send = 1e3 / f.tx_rate;
  const std::uint64_t kill_ns = at(f.kill_at_s), outage_end = restart_ns + 2 * kSecond;
  for (std::size_t p = 0; p < f.k; ++p) {
    std::vector<std::uint64_t> times;
    for (const auto& [key, ns] : seen[p])
      if (origin_of[key] != p) times.push_back(ns);
    f.delivered += times.size();
    std::sort(times.begin(), times.end());
    for (std::size_t i = 1; i < times.size(); ++i) {
      const double gap = static_cast<double>(times[i] - times[i - 1]) / 1e6;
      if (times[i] <= kill_ns) f.gap_ms_before = std::max(f.gap_ms_before, gap);
      else if (times[i - 1] < outage_end) f.gap_ms_outage = std::max(f.gap_ms_outage, gap);
    }
  }
  if (f.catch_up_s < 0) f.note = "cloud's store did not hold every block within 20 s of the end of the run";
  c.note("failover: home dropped %llu pushes (%llu by the transaction pacer)", static_cast<unsigned long long>(drops((*home)->counters())),
         static_cast<unsigned long long>((*home)->counters().drop_pacer_tx.load()));
  c.note("failover K=%zu %.0f tx/s: delivered %llu of %llu; longest gap %.1f ms before the kill, %.1f ms around the "
         "outage (sender interval %.1f ms); cloud listening %.2f s after its restart began, store caught up (%llu of %llu "
         "blocks missed, %llu fetched from home) after %.2f s",
         f.k, f.tx_rate, static_cast<unsigned long long>(f.delivered), static_cast<unsigned long long>(f.expected),
         f.gap_ms_before, f.gap_ms_outage, f.gap_ms_send, f.restart_ready_s, static_cast<unsigned long long>(f.blocks_missed),
         static_cast<unsigned long long>(f.blocks_pushed), static_cast<unsigned long long>(f.catch_up_stored), f.catch_up_s);
  c.res.failover.push_back(std::move(f));
  s.reset();
}

// ---- targets -------------------------------------------------------------------------

// ---- soak: honest traffic among every attack, over time ----------------------------------

void soak(Ctx& c) {
  if (!ensure_relay(c, false)) return;
  SoakParams p;
  p.seconds = c.o.smoke ? 12 : c.o.soak_seconds;
  p.interval_s = c.o.smoke ? 3 : (p.seconds >= 1800 ? 60 : 10);
  p.tx_rate = c.o.smoke ? 200 : 500;
  if (c.o.smoke) {
    p.claimants = 16;
    p.pipeliners = 4;
  }
  c.note("soak: %.0f s, %zu honest peers, %.0f tx/s and a %zu KiB block every 2 s; attackers: %zu claimants, %zu junk "
         "peers at %.0f/s each, %zu HTTP pipeliners, %zu slow HTTP clients",
         p.seconds, p.honest_peers, p.tx_rate, p.block_bytes >> 10, p.claimants, p.junk_peers, p.junk_rate, p.pipeliners,
         p.slow_clients);
  c.res.soak.push_back(run_soak(*c.relay, p, c.signers, c.miner, [&](const std::string& s) { c.note("%s", s.c_str()); }));
  if (!c.res.soak.back().note.empty()) c.note("soak: %s", c.res.soak.back().note.c_str());
}

void targets(Ctx& c) {
  SuiteResult& r = c.res;
  // Transaction hop: the relay's p50 at the lowest rate vs direct's, plus one recover,
  // one sign and 30 µs.
  const TxStep* rel = nullptr;
  const TxStep* dir = nullptr;
  for (const auto& t : r.tx) {
    if (t.topology == "relay" && !rel) rel = &t;
    if (t.topology == "direct" && !dir) dir = &t;
  }
  Target t1{"transaction hop p50 (relay vs direct + recover + sign + 30 us)", "", "", -1, ""};
  if (rel && dir && rel->hop.n && dir->hop.n) {
    const double limit = dir->hop.p50 + r.base.recover_us + r.base.sign_us + 30;
    t1.measured = fmt("%.1f us", rel->hop.p50);
    t1.limit = fmt("<= %.1f us", limit);
    t1.pass = Target::kNotJudgedHere;
    t1.note = fmt("at %.0f tx/s", rel->target_rate) + (rel->hop.p50 <= limit ? " (within the limit)" : " (over the limit)") +
              "; needs dedicated cores: on this machine's two vCPUs the relay's 15 loopback sends run one after another, each "
              "doing the receiver's TCP work inline, beside the origin and the nodes, so the median recipient waits behind "
              "about 8 of them (bench/README)";
  }
  r.targets.push_back(t1);
  // The block targets, over the origin link scenario (the bytes arrive as from a node)
  // and over unpaced loopback (the fan-out scenario, every K), each stated on its own.
  auto link_step = [&](const std::string& topo, std::size_t k, std::uint32_t mbps) -> const BlockStep* {
    for (const auto& b : r.blocks)
      if (b.link_mbps == mbps && b.k == k && b.bytes == (2u << 20) && b.topology.rfind(topo + " (", 0) == 0 && b.last_peer.n)
        return &b;
    return nullptr;
  };
  const std::uint32_t mbps = c.o.link_mbps;
  const std::string over = fmt(", %.0f Mbit/s origin link", static_cast<double>(mbps));
  {
    Target t{"2 MiB block: relay first byte out after the origin's last byte left" + over + ", K = 16 and 64", "", "<= 300 us", -1, ""};
    double worst = -1;
    for (std::size_t k : {std::size_t{16}, std::size_t{64}})
      if (const BlockStep* b = link_step("relay", k, mbps)) worst = std::max(worst, b->first_out.p50);
    if (worst >= 0) {
      t.measured = fmt("%.0f us (p50, worst K)", worst);
      t.pass = worst <= 300;
      std::string sweep;
      for (const auto& b : r.blocks)
        if (b.bytes == (2u << 20) && b.k == 16 && b.link_mbps != 0 && b.link_mbps != mbps && b.topology.rfind("relay (", 0) == 0)
          sweep += (sweep.empty() ? "" : ", ") + fmt("%.0f us", b.first_out.p50) + fmt(" at %.0f Mbit/s", static_cast<double>(b.link_mbps));
      if (!sweep.empty()) t.note = "K = 16 over slower links: " + sweep;
    }
    r.targets.push_back(t);
  }
  {
    Target t{"2 MiB block: relay first byte out after the origin's last byte left, unpaced loopback, every K", "", "<= 300 us", -1,
             "loopback delivers the block in ~1 ms, far faster than it can be checked"};
    double worst = -1;
    for (const auto& b : r.blocks)
      if (b.topology == "relay" && b.bytes == (2u << 20) && b.first_out.n) worst = std::max(worst, b.first_out.p50);
    for (const auto& f : r.fanout)
      if (f.block_first_out.n && !r.smoke) worst = std::max(worst, f.block_first_out.p50);
    if (worst >= 0) {
      t.measured = fmt("%.0f us (p50, worst K)", worst);
      t.pass = worst <= 300;
    }
    r.targets.push_back(t);
  }
  // Time to the last of 16 peers, from the moment the origin starts writing: the relay
  // against direct (at most 1.25 × its time) and against the reference (at least 4 ×
  // faster), each over the link and over loopback. relay/base are last-peer p50s (µs;
  // negative: not measured).
  // Over unpaced loopback the block arrives in about a millisecond and the relay, the
  // origin and every node share two vCPUs: those rows are shown, not judged here.
  const std::string unpaced_why =
      "needs dedicated cores: over unpaced loopback the block arrives in about 1 ms while the relay, the origin and 16 "
      "nodes share this machine's two vCPUs, so the relay's copies queue behind the nodes' own receiving";
  auto last_peer_target = [&](const std::string& name, double relay_us, double base_us, bool vs_reference, const std::string& note,
                              bool judged) {
    Target t{name, "", vs_reference ? ">= 4 x faster" : "<= 1.25 x direct", -1, note};
    if (relay_us > 0 && base_us > 0) {
      const double ratio = vs_reference ? base_us / relay_us : relay_us / base_us;
      t.measured = fmt(vs_reference ? "%.2f x faster" : "%.2f x", ratio) + fmt(" (%.0f us", relay_us) + fmt(" vs %.0f us)", base_us);
      t.pass = !judged ? Target::kNotJudgedHere : vs_reference ? ratio >= 4 : ratio <= 1.25;
    }
    r.targets.push_back(t);
  };
  auto link_last = [&](const char* topo) {
    const BlockStep* b = link_step(topo, 16, mbps);
    return b != nullptr ? b->last_peer.p50 : -1.0;
  };
  double loop_relay = -1, loop_direct = -1, loop_reference = -1;
  for (const auto& f : r.fanout)
    if (f.k == 16 && f.block_last_peer.n && f.block_last_peer_direct.n && f.block_last_peer_reference.n) {
      loop_relay = f.block_last_peer.p50;
      loop_direct = f.block_last_peer_direct.p50;
      loop_reference = f.block_last_peer_reference.p50;
    }
  const std::string direct_row = "2 MiB block to the last of 16 peers vs the origin writing to them itself";
  const std::string reference_row = "2 MiB block to the last of 16 peers vs the reference node's algorithm";
  last_peer_target(direct_row + over, link_last("relay"), link_last("direct"), false, "the origin's copies share its uplink", true);
  last_peer_target(direct_row + ", unpaced loopback", loop_relay, loop_direct, false, unpaced_why, false);
  last_peer_target(reference_row + over, link_last("relay"), link_last("reference"), true, "", true);
  last_peer_target(reference_row + ", unpaced loopback", loop_relay, loop_reference, true, unpaced_why, false);
  // The relay path per transaction against the ECDSA work it cannot avoid — the
  // message's signature recovered, the transaction's own (one: the simulated transfers
  // are single-signature) and one signature of ours — at every K: the copies must not
  // add to it. The path is the run loop's CPU time from the push's last byte to its
  // copies queued (relay_work_cpu_ns: its elapsed time less preemption by the nodes
  // sharing the cores; waiting for the sender's signature, recovered on the second
  // thread beside it, is mostly spent spinning, so counted). The elapsed time and the process
  // total, the kernel's sends included, are shown beside it.
  //
  // The floor is those operations timed beside the relay during each K's trial
  // (FloorBeside: one set per transaction period on the run-loop CPU, its CPU time), not
  // back to back in a loop with everything warm: the relay meets one transaction every
  // 2 ms with the nodes and the kernel on its core in between, and so do they. The ratio
  // to the back-to-back figure is shown in the note.
  Target t5{"relay path CPU per transaction vs message recover + transaction recover + one sign beside it, every K", "",
            "<= 1.1 x", -1, ""};
  if (!r.fanout.empty() && r.base.recover_us > 0 && r.base.sign_us > 0) {
    const double loop_floor_us = 2 * r.base.recover_us + r.base.sign_us;
    const FanoutStep* worst = nullptr;
    std::string each;
    for (const auto& f : r.fanout) {
      if (f.path_cpu_us_per_msg <= 0 || f.floor_beside_us <= 0) continue;
      if (worst == nullptr || f.path_cpu_us_per_msg / f.floor_beside_us > worst->path_cpu_us_per_msg / worst->floor_beside_us)
        worst = &f;
      each += (each.empty() ? "" : ", ") + fmt("%.0f", f.path_cpu_us_per_msg) + fmt(" vs %.0f", f.floor_beside_us) +
              fmt(" (copies %.0f ns each)", f.fanout_cpu_ns_per_copy) + " at K = " + std::to_string(f.k);
    }
    if (worst != nullptr) {
      const double ratio = worst->path_cpu_us_per_msg / worst->floor_beside_us;
      t5.measured = fmt("%.2f x", ratio) + fmt(" (worst: %.0f us", worst->path_cpu_us_per_msg) + " at K = " +
                    std::to_string(worst->k) + fmt(" vs %.0f us)", worst->floor_beside_us);
      t5.pass = ratio <= 1.1;
      double worst_loop = 0;
      for (const auto& f : r.fanout) worst_loop = std::max(worst_loop, f.path_cpu_us_per_msg / loop_floor_us);
      t5.note = "CPU us per transaction, path vs floor beside it: " + each +
                fmt("; against the floor back to back (%.0f us) the worst is ", loop_floor_us) + fmt("%.2f x", worst_loop) +
                fmt("; with the kernel's sends (both processes): %.0f", r.fanout.front().cpu_us_per_msg) +
                fmt(" → %.0f us", r.fanout.back().cpu_us_per_msg);
    }
  }
  r.targets.push_back(t5);
  // A 2 MiB block's work in the dataplane against one SHA-512/256 pass over it (OpenSSL,
  // this run's baseline): both digests, the copies, the check (txids, Merkle tree,
  // decode), the signature, and the kernel's one receive and one send — the blocks
  // scenario's relay with one recipient, so the copies to many peers are left out.
  {
    Target t{"2 MiB block: dataplane CPU per block (both threads, net of idle, one recipient) vs one SHA-512/256 pass over it",
             "", "<= 2 x", -1, ""};
    const BlockStep* blk = nullptr;
    const BlockStep* ref = nullptr;
    for (const auto& b : r.blocks) {
      if (b.bytes != (2u << 20) || b.dp_cpu_ms_per_block < 0) continue;
      if (b.topology == "relay (one recipient)") blk = &b;
      if (b.topology == "reference (one recipient)") ref = &b;
    }
    if (blk != nullptr && r.base.sha512_256_mb_s > 0) {
      const double pass_ms = 2.0 / r.base.sha512_256_mb_s * 1e3;  // the baseline hashes 1 MiB buffers: MiB/s
      const double ratio = blk->dp_cpu_ms_per_block / pass_ms;
      t.measured = fmt("%.2f x", ratio) + fmt(" (%.2f", blk->dp_cpu_ms_per_block) + fmt(" vs %.2f ms)", pass_ms);
      t.pass = ratio <= 2;
      t.note = fmt("%.0f%% of it user time", blk->dp_user_share * 100) + "; the control plane's copy (its block store) is not counted";
      if (ref != nullptr) t.note += fmt("; the reference algorithm: %.2f ms", ref->dp_cpu_ms_per_block);
    }
    r.targets.push_back(t);
  }
  // The DPDK backend against io_uring over the veth (the same wire, one run): relayed
  // transactions per dataplane core at the top of the ramp, and the dataplane's CPU per
  // copy beyond the relay path (the transport's share: the kernel's TCP, or lwIP and the
  // port).
  {
    // Judged only on a NIC: the veth scenario's DPDK ports are virtual devices (a veth's
    // far side is the kernel), so these two are measured and shown, never passed or
    // failed here.
    const std::string why =
        "needs a NIC and a dedicated core: over a veth every frame still crosses the kernel (AF_XDP: a copy into its ring, "
        "a wake-up, the veth's own path; AF_PACKET: a copy and a system call per burst), which a NIC's queues do not cost, "
        "and the nodes, the kernel and the relay share this machine's cores";
    const BackendRun* uring = nullptr;
    const BackendRun* best = nullptr;
    for (const auto& b : r.backends) {
      if (b.backend == "io_uring") uring = &b;
      else if (b.top_rate > 0 && (best == nullptr || b.msgs_per_core > best->msgs_per_core)) best = &b;
    }
    Target t{"DPDK dataplane: relayed transactions per second per dataplane core, K = 16, vs io_uring", "", ">= 2 x", -1, why};
    Target u{"DPDK dataplane: relay CPU per transaction copy, beyond the relay path", "", "<= 1 us", -1, why};
    if (uring != nullptr && best != nullptr && uring->msgs_per_core > 0 && best->k == 16) {
      const double ratio = best->msgs_per_core / uring->msgs_per_core;
      t.measured = fmt("%.2f x", ratio) + " (" + best->backend + fmt(" %.0f", best->msgs_per_core) +
                   fmt(" vs %.0f relayed/s per core)", uring->msgs_per_core) +
                   fmt("; per busy core (idle polling left out) %.2f x", uring->msgs_per_busy_core > 0 ? best->msgs_per_busy_core / uring->msgs_per_busy_core : 0);
      t.pass = Target::kNotJudgedHere;
      u.measured = fmt("%.2f us", best->transport_us_per_copy) + " (" + best->backend + fmt("; io_uring %.2f us)", uring->transport_us_per_copy);
      u.pass = Target::kNotJudgedHere;
    }
    r.targets.push_back(t);
    r.targets.push_back(u);
  }
  // Earliest-first fan-out through the relay's shaped uplink, against every peer at once
  // in the same run: the median recipient sooner, the last one no later.
  {
    const UplinkStep* all = nullptr;
    const UplinkStep* few = nullptr;  // two at a time: judged
    const UplinkStep* one = nullptr;  // one at a time: shown
    for (const auto& u : r.uplink) {
      if (u.at_once == 0) all = &u;
      if (u.at_once == 2) few = &u;
      if (u.at_once == 1) one = &u;
    }
    Target tm{"relay uplink shaped, a few peers at a time vs all at once: the median peer's time to the block", "", "<= 0.6 x", -1,
              r.uplink_note};
    Target tl{"relay uplink shaped, a few peers at a time vs all at once: the last peer's time to the block", "", "<= 1.05 x", -1,
              r.uplink_note};
    if (all != nullptr && few != nullptr && all->median_peer.p50 > 0 && all->last_peer.p50 > 0 && few->last_peer.n > 0) {
      const double m = few->median_peer.p50 / all->median_peer.p50, l = few->last_peer.p50 / all->last_peer.p50;
      const std::string what = fmt(" (%.0f at a time", few->at_once) + fmt(", %.0f Mbit/s", few->uplink_mbps) +
                               fmt(", K = %.0f", static_cast<double>(few->k)) + ")";
      tm.measured = fmt("%.2f x", m) + fmt(" (%.1f", few->median_peer.p50 / 1000) + fmt(" vs %.1f ms)", all->median_peer.p50 / 1000);
      tm.pass = m <= 0.6;
      tm.note = "p50 over the blocks" + what;
      if (one != nullptr && one->median_peer.p50 > 0)
        tm.note += "; one at a time, the sequential schedule, in the same run (not judged): " +
                   fmt("%.2f x", one->median_peer.p50 / all->median_peer.p50);
      tl.measured = fmt("%.2f x", l) + fmt(" (%.1f", few->last_peer.p50 / 1000) + fmt(" vs %.1f ms)", all->last_peer.p50 / 1000);
      tl.pass = l <= 1.05;
      tl.note = "p50 over the blocks" + what;
    }
    r.targets.push_back(tm);
    r.targets.push_back(tl);
  }
  // The soak: honest delivery in its worst interval, and whether memory grew between its
  // first and last samples (a leak or an attack that holds memory shows as growth).
  Target t6{"soak: honest pushes delivered while every attack runs, worst interval", "", ">= 99.9 %", -1, ""};
  Target t7{"soak: relay RSS growth, first to last sample", "", "<= 16 MiB", -1, ""};
  if (!r.soak.empty() && r.soak.front().samples.size() >= 2) {
    const auto& sm = r.soak.front().samples;
    double worst = 1;
    for (const auto& x : sm) worst = std::min(worst, x.delivered);
    t6.measured = fmt("%.3f %%", worst * 100);
    t6.pass = worst >= 0.999;
    t6.note = fmt("over %.0f s", sm.back().t_s);
    const double grew = (static_cast<double>(sm.back().rss) - static_cast<double>(sm.front().rss)) / (1 << 20);
    t7.measured = fmt("%+.1f MiB", grew);
    t7.pass = grew <= 16;
    t7.note = fmt("%.0f MiB", static_cast<double>(sm.front().rss) / (1 << 20)) +
              fmt(" → %.0f MiB (both processes)", static_cast<double>(sm.back().rss) / (1 << 20));
  }
  r.targets.push_back(t6);
  r.targets.push_back(t7);
}

std::string read_first_line(const std::string& cmd) {
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return "";
  char buf[512] = {};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
  ::pclose(f);
  std::string s = ok ? buf : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

SuiteResult run_suite(const SuiteOptions& o) {
  SuiteResult res;
  res.smoke = o.smoke;
  res.busy_poll = o.busy_poll;
  res.relay_cpus = o.relay_cpus;
  const std::uint64_t t0 = shm::monotonic_ns();
  {
    char buf[64];
    std::time_t now = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    res.date = buf;
    utsname u{};
    ::uname(&u);
    res.kernel = std::string(u.sysname) + " " + u.release;
    res.machine = read_first_line("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'");
    res.cores = static_cast<std::size_t>(::sysconf(_SC_NPROCESSORS_ONLN));
    res.commit = read_first_line("git rev-parse --short HEAD 2>/dev/null");
  }
  Ctx c(o, res);
  c.pad = sim::contract_call_pad(o.tx_bytes);
  c.reward_file = o.work_dir + "/reward-set.txt";
  {
    std::ofstream f(c.reward_file);
    for (const auto& s : c.signers.reward_set) f << to_hex(s.signing_key) << " " << s.weight << "\n";
  }
  auto want = [&](const char* name) {
    return o.only.empty() || std::find(o.only.begin(), o.only.end(), name) != o.only.end();
  };
  baselines(c);
  if (want("tx")) tx_flood(c);
  if (want("blocks")) block_bursts(c);
  if (want("mixed")) mixed(c);
  if (want("fanout")) fanout(c);
  if (want("http")) http_serving(c);
  if (want("veth")) veth(c);
  if (want("link")) origin_link(c);
  if (want("uplink")) relay_uplink(c);
  if (want("privacy")) privacy(c);
  if (want("failover")) failover(c);
  if (want("gaia")) gaia_outbox(c);
  if (want("soak")) soak(c);
  targets(c);
  if (c.relay) {
    const int rc = c.relay->stop();
    if (rc != 0) c.note("the relay exited with status %d", rc);
  }
  res.seconds = static_cast<double>(shm::monotonic_ns() - t0) / 1e9;
  return res;
}

}  // namespace relay::bench
