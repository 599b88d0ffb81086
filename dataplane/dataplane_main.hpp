// dataplane/dataplane_main.hpp — the dataplane process: a transport (io_uring on kernel
// sockets, or DPDK with lwIP: dataplane.backend), framing with streamed digests, and the
// relay path. It joins the shared region `stacks-relay run` created (--shm) and talks to
// stacks-relay-control through its rings.
//
// A template over the engine's fanout policy: stacks-relay-dataplane (main.cpp) runs
// SignOnce; the benchmark builds its stacks-core baseline from the same process.
#pragma once

#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <unistd.h>

#include <jemalloc/jemalloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstring>

#include "dataplane/engine/relay_engine.hpp"
#include "dataplane/sandbox.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
#if RELAY_HAVE_DPDK
#include "dataplane/transport/dpdk/dpdk_transport.hpp"
#endif
#include "relay/base/hex.hpp"
#include "relay/config/privilege.hpp"
#include "relay/config/process_start.hpp"
#include "relay/shm/region.hpp"

namespace relay::dp {

// Flavour: what tells one dataplane program from another.
struct Flavour {
  const char* program;      // in log lines
  const char* description;  // --help
  const char* banner;       // logged at start (nullptr: none)
  void (*tune)(DpOptions&); // adjusts the engine's options (nullptr: none)
};

namespace detail {

inline std::atomic<bool> g_stop{false};
inline void on_signal(int) { g_stop.store(true); }

// bind_address: an IP literal or a name (resolved once, at start-up) and a port;
// nullopt with getaddrinfo's error in `gai_error` when it cannot be resolved.
inline std::optional<sockaddr_in6> bind_address(const std::string& host, std::uint16_t port, int& gai_error) {
  addrinfo hints{};
  hints.ai_family = AF_INET6;
  hints.ai_flags = AI_V4MAPPED | AI_ALL | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  gai_error = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (gai_error != 0 || res == nullptr) {
    if (gai_error == 0) gai_error = EAI_NONAME;
    return std::nullopt;
  }
  sockaddr_in6 a{};
  std::memcpy(&a, res->ai_addr, sizeof a);
  a.sin6_port = htons(port);
  ::freeaddrinfo(res);
  return a;
}

// What both backends hand to serve().
struct Ctx {
  const char* prog;
  const config::CommonArgs* args;
  const config::RelayConfig* cfg;
  const crypto::SecretKey* key;
  const link::Link* lk;
  link::Ends* ends;
  const Flavour* flavour;
};
struct Opened {
  std::uint16_t port;        // the p2p listener's
  std::uint16_t onion_port;  // the onion service's own listener's (0: none)
  std::uint32_t max_conns;   // the transport's connection table
};

// serve: the engine over an open transport, privileges dropped, until SIGINT/SIGTERM.
template <class T, class F>
int serve(const Ctx& x, T& transport, Opened op, std::size_t max_sessions, const MemoryPlan& plan) {
  using config::log_line;
  const char* const kProg = x.prog;
  const config::RelayConfig* cfg = x.cfg;
  const crypto::SecretKey* key = x.key;
  const link::Link* lk = x.lk;
  const config::CommonArgs& args = *x.args;
  const Flavour& flavour = *x.flavour;
  const std::uint16_t port = op.port;
  const std::uint16_t onion_port = op.onion_port;
  DpOptions o{*key, config::network_params(*cfg)};
  o.addrbytes = config::any_network_addr();
  o.port = port;
  o.relay_2x = cfg->relay_2x;
  o.hide_relayer_addresses = cfg->private_mode();
  o.pacer_budget = cfg->max_queued_per_peer;
  o.large_sends_at_once = cfg->large_sends_at_once;
  o.large_sends_in_step = cfg->large_sends_in_step;
  o.large_push_bytes = cfg->large_push_bytes;
  o.max_conns = op.max_conns;  // the transport's connection ids index the session table
  o.max_sessions = max_sessions;
  o.max_inbound = cfg->max_inbound;  // the rest stays free for outbound dials
  o.rx_own_bytes = plan.rx_own_bytes;
  o.rx_pool = plan.rx;
  o.rx_budget = cfg->receive_budget;
  o.tx_bytes_per_s = cfg->tx_bytes_per_s;
  o.tx_burst_bytes = std::max<std::uint64_t>(4 * cfg->tx_bytes_per_s, 2 * std::uint64_t{codec::kMaxTransactionLen});
  o.tx_checks_per_s = cfg->tx_checks_per_s;
  o.tx_checks_burst = std::max<std::uint64_t>(4 * cfg->tx_checks_per_s, 2 * codec::kMaxTxAuthFields + 2);
  if (flavour.tune != nullptr) flavour.tune(o);
  if (flavour.banner != nullptr) log_line(kProg, "%s", flavour.banner);
  // p2p.cpus: the second thread on the second CPU (pinned as the engine starts it), then
  // this thread on the first — after the second thread exists, so that with one CPU
  // given it keeps the process's CPUs instead of inheriting this thread's.
  if (cfg->dataplane_cpus.size() > 1 && o.stream_thread) o.second_thread_cpu = cfg->dataplane_cpus[1];
  RelayEngine<T, F> engine(transport, *x.ends, o);
  if (int e = engine.second_thread_pin_error(); e != 0) {
    log_line(kProg, "error: p2p.cpus: cannot run the second thread on CPU %u: %s", cfg->dataplane_cpus[1],
             std::strerror(e));
    return 1;
  }
  if (!cfg->dataplane_cpus.empty()) {
    if (int e = pin_thread(::pthread_self(), cfg->dataplane_cpus[0]); e != 0) {
      log_line(kProg, "error: p2p.cpus: cannot run on CPU %u: %s", cfg->dataplane_cpus[0], std::strerror(e));
      return 1;
    }
  }
  if (!cfg->dataplane_cpus.empty())
    log_line(kProg, "threads pinned: run loop on CPU %u%s", cfg->dataplane_cpus[0],
             o.second_thread_cpu ? (", second thread on CPU " + std::to_string(cfg->dataplane_cpus[1])).c_str() : "");
  lk->counters->p2p_port.store(port, std::memory_order_release);  // the control plane advertises it
  lk->counters->onion_port.store(onion_port, std::memory_order_release);  // and publishes this one
  // The DPDK port's counters: published every 100 ms, added to what an earlier dataplane
  // of this region counted (its port went with it), so they only grow, as the others do.
  constexpr bool kHasPort = requires { transport.stats().tcp_retransmits; };
  lk->counters->backend.store(static_cast<std::uint64_t>(kHasPort ? link::Backend::kDpdk : link::Backend::kUring),
                              std::memory_order_relaxed);
  link::PortCounters& pc = lk->counters->port;
  link::PortValues port_base;
#define RELAY_X(name, kind, help) port_base.name = link::CounterKind::kind == link::CounterKind::kGauge ? 0 : pc.name.load(std::memory_order_relaxed);
  RELAY_PORT_COUNTERS(RELAY_X)
#undef RELAY_X
  auto publish_port = [&] {
    if constexpr (kHasPort) {
      const auto st = transport.stats();
#define RELAY_X(name, kind, help) pc.name.store(port_base.name + st.name, std::memory_order_relaxed);
      RELAY_PORT_COUNTERS(RELAY_X)
#undef RELAY_X
    }
  };
  // Set up (listening, the ring and its buffers registered, the region mapped): from here
  // on, before a byte from a peer is read, this process is unprivileged.
  if (const int drop = config::become_unprivileged(*cfg, kProg); drop != 0) return drop;
  if (cfg->seccomp && !kSyscallFilterInThisBuild) log_line(kProg, "system-call filter off: a sanitizer build");
  if (cfg->seccomp && kSyscallFilterInThisBuild) {
    if (auto s = install_syscall_filter(cfg->backend == config::RelayConfig::Backend::kDpdk ? FilterFor::kDpdk : FilterFor::kUring); !s.ok()) {
      log_line(kProg, "%s: %s", s.error().reason, std::strerror(static_cast<int>(s.error().offset)));
      return config::kExitFailure;
    }
  }
  std::uint64_t incarnation = 0;
  crypto::fill_random(reinterpret_cast<std::uint8_t*>(&incarnation), sizeof incarnation);
  engine.start(incarnation);

  auto pk = key->public_key().compressed();
  char dpdk_ip[INET_ADDRSTRLEN] = "";
  if (cfg->backend == config::RelayConfig::Backend::kDpdk) ::inet_ntop(AF_INET, &cfg->dpdk.address, dpdk_ip, sizeof dpdk_ip);
  log_line(kProg, "listening on %s:%u as %s (network_id 0x%08x)", dpdk_ip[0] != 0 ? dpdk_ip : cfg->bind_host.c_str(), port,
           to_hex(pk).c_str(), cfg->network_id);
  if (onion_port != 0) log_line(kProg, "onion listener on %s:%u", cfg->tor_bind_host.c_str(), onion_port);
  std::printf("READY %u %d\n", port, static_cast<int>(::getpid()));
  std::fflush(stdout);

  // Heap bytes this (the only) thread allocated: the relay path should add none.
  auto heap_allocated = [] {
    std::uint64_t v = 0;
    std::size_t sz = sizeof v;
    return mallctl("thread.allocated", &v, &sz, nullptr, 0) == 0 ? v : 0;
  };

  signal(SIGINT, detail::on_signal);
  signal(SIGTERM, detail::on_signal);
  signal(SIGPIPE, SIG_IGN);
  const std::uint64_t every = static_cast<std::uint64_t>(args.stats_interval_s) * std::uint64_t{1000000000};
  std::uint64_t next_stats = shm::monotonic_ns() + every;
  std::uint64_t next_heap = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    const std::uint64_t now = shm::monotonic_ns();
    engine.run_once(now, cfg->busy_poll ? 0 : 1);
    if (now >= next_heap) {
      lk->counters->heap_allocated.store(heap_allocated(), std::memory_order_relaxed);
      publish_port();
      next_heap = now + 100'000'000;
    }
    if (every != 0 && now >= next_stats) {
      const auto& c = engine.counters();
      log_line(kProg, "sessions %zu (authenticated %zu) relayed %llu fanout %llu dup %llu invalid %llu heap-allocated %llu B",
               engine.sessions(), engine.authenticated_sessions(), static_cast<unsigned long long>(c.relayed.load()),
               static_cast<unsigned long long>(c.fanout_sends.load()), static_cast<unsigned long long>(c.drop_dup.load()),
               static_cast<unsigned long long>(c.drop_invalid.load()), static_cast<unsigned long long>(heap_allocated()));
      if constexpr (requires { transport.stats().tcp_retransmits; }) {  // the DPDK port's own
        const auto st = transport.stats();
        log_line(kProg, "port: rx %llu tx %llu frames, dropped rx %llu tx %llu, no mbuf %llu, retransmitted %llu, "
                 "checksum errors %llu, copied into frames %llu B, lingering closes %llu",
                 static_cast<unsigned long long>(st.rx_packets), static_cast<unsigned long long>(st.tx_packets),
                 static_cast<unsigned long long>(st.rx_dropped), static_cast<unsigned long long>(st.tx_dropped),
                 static_cast<unsigned long long>(st.no_mbuf), static_cast<unsigned long long>(st.tcp_retransmits),
                 static_cast<unsigned long long>(st.tcp_checksum_errors), static_cast<unsigned long long>(st.copied_tx_bytes),
                 static_cast<unsigned long long>(st.lingering));
      }
      next_stats = now + every;
    }
  }
  shm::cnc_beat(*lk->dp_cnc, shm::CncState::kHalt, static_cast<std::uint32_t>(::getpid()), shm::monotonic_ns());
  log_line(kProg, "stopping");
  return 0;
}

}  // namespace detail

template <class F>
int dataplane_main(int argc, char** argv, const Flavour& flavour) {
  using config::log_line;
  using detail::g_stop;
  const char* const kProg = flavour.program;
  int rc = 0;
  auto start = config::start_process(argc, argv, kProg, flavour.description, rc);
  if (!start) return rc;
  const config::CommonArgs& args = start->args;
  const config::RelayConfig* cfg = &start->cfg;
  const crypto::SecretKey* key = &start->key;
  const link::Link* lk = &start->link;
  auto ends = link::join_ends(*lk, link::Side::kDataplane);
  if (!ends.ok()) {
    log_line(kProg, "shared region %s: %s", start->shm.c_str(), ends.error().reason);
    return 2;
  }
  detail::Ctx x{kProg, &args, cfg, key, lk, &*ends, &flavour};
  // Room for every session the configuration allows, and a few being refused.
  const std::size_t max_sessions = std::size_t{cfg->max_inbound} + cfg->max_outbound;
  const auto max_conns = static_cast<std::uint32_t>(std::max<std::size_t>(1024, max_sessions + 64));
  const MemoryPlan plan = MemoryPlan::relay();
  if (cfg->backend == config::RelayConfig::Backend::kDpdk) {
#if RELAY_HAVE_DPDK
    DpdkConfig dc;
    dc.eal_args = cfg->dpdk.eal_args;
    dc.port = cfg->dpdk.port;
    dc.ipv4 = cfg->dpdk.address;
    dc.prefix_len = cfg->dpdk.prefix_len;
    dc.gateway = cfg->dpdk.gateway;
    dc.mtu = cfg->dpdk.mtu;
    dc.mbufs = cfg->dpdk.mbufs;
    dc.rx_desc = cfg->dpdk.rx_desc;
    dc.tx_desc = cfg->dpdk.tx_desc;
    dc.zero_copy = cfg->dpdk.zero_copy;
    dc.host_iface = cfg->dpdk.host_iface;
    dc.max_conns = std::min<std::uint32_t>(max_conns, 4096);
    dc.send_pool = plan.send;
    dc.cautious_reads = true;  // a 64 KiB window until the control plane authenticated the peer
    if (max_conns > 4096)
      log_line(kProg, "the DPDK backend has room for 4096 connections: p2p.max_inbound + max_outbound is more");
    auto dt = DpdkTransport::create(dc);
    if (!dt.ok()) {
      log_line(kProg, "DPDK: %s (%s)", dt.error().reason, std::strerror(static_cast<int>(dt.error().offset)));
      return 1;
    }
    log_line(kProg, "kernel bypass: %s", (*dt)->describe().c_str());
    auto port = (*dt)->listen(cfg->bind_port, 255, 0);
    if (!port.ok()) {
      log_line(kProg, "listen on port %u: %s (%s)", cfg->bind_port, port.error().reason,
               std::strerror(static_cast<int>(port.error().offset)));
      return 1;
    }
    return detail::serve<DpdkTransport, F>(x, **dt, detail::Opened{*port, 0, dc.max_conns}, max_sessions, plan);
#else
    log_line(kProg, "dataplane.backend = \"dpdk\": this build has no DPDK backend (built with RELAY_DPDK=OFF)");
    return 1;
#endif
  }

  UringConfig ucfg;
  ucfg.max_conns = max_conns;
  ucfg.send_pool = plan.send;
  ucfg.cautious_reads = true;  // a connection's reads are greedy once the control plane authenticated it
  // Large copies paced by their completions need sends that complete near the wire.
  if (cfg->large_sends_at_once != 0) ucfg.notsent_lowat = 128 << 10;
  auto transport = UringTransport::create(ucfg);
  if (!transport.ok()) {
    log_line(kProg, "io_uring: %s (%s)", transport.error().reason,
             std::strerror(static_cast<int>(transport.error().offset)));
    return 1;
  }
  if (!(*transport)->features().missing.empty())
    log_line(kProg, "kernel lacks %s; running without", (*transport)->features().missing.c_str());
  if ((*transport)->features().fixed_buffers)
    log_line(kProg, "fan-out from %zu MiB of registered send buffers (zero-copy sends)",
             (*transport)->pool()->size() >> 20);
  int gai_error = 0;
  auto bind_addr = detail::bind_address(cfg->bind_host, cfg->bind_port, gai_error);
  if (!bind_addr) {
    const auto f = config::resolve_failure(gai_error);
    log_line(kProg, "cannot resolve the p2p bind address %s: %s", cfg->bind_host.c_str(), f.why);
    return f.status;
  }
  // MPTCP (p2p.mptcp, or a peer's own mptcp): probed now, while /proc can still say why
  // it is off; the p2p listener is an MPTCP socket with p2p.mptcp.
  bool any_mptcp = cfg->outbound.mptcp;
  for (const auto& p : cfg->peers) any_mptcp |= p.mptcp.value_or(false);
  if (any_mptcp) log_line(kProg, "MPTCP: %s", (*transport)->mptcp().describe().c_str());
  auto port = (*transport)->listen(*bind_addr, 1024, 0, cfg->outbound.mptcp);
  if (!port.ok()) {
    log_line(kProg, "listen on %s:%u: %s (%s)", cfg->bind_host.c_str(), cfg->bind_port, port.error().reason,
             std::strerror(static_cast<int>(port.error().offset)));
    return 1;
  }

  // The onion service's own listener: Tor connects here for every onion peer, from
  // loopback; its sessions are marked (link::Via::kOnion) so the control plane does not
  // take them for loopback peers.
  std::uint16_t onion_port = 0;
  if (cfg->tor_listener) {
    auto onion_addr = detail::bind_address(cfg->tor_bind_host, cfg->tor_bind_port, gai_error);
    if (!onion_addr) {
      log_line(kProg, "cannot resolve tor.bind %s: %s", cfg->tor_bind_host.c_str(), config::resolve_failure(gai_error).why);
      return config::resolve_failure(gai_error).status;
    }
    auto op = (*transport)->listen(*onion_addr, 1024, static_cast<std::uint8_t>(link::Via::kOnion));
    if (!op.ok()) {
      log_line(kProg, "onion listener on %s:%u: %s (%s)", cfg->tor_bind_host.c_str(), cfg->tor_bind_port, op.error().reason,
               std::strerror(static_cast<int>(op.error().offset)));
      return 1;
    }
    onion_port = *op;
  }

  return detail::serve<UringTransport, F>(x, **transport, detail::Opened{*port, onion_port, ucfg.max_conns}, max_sessions, plan);
}

}  // namespace relay::dp
