// stacks-relay-dataplane — today the whole relay in one process: the io_uring transport,
// sessions and the relay path. (The control process and the shared-memory split come
// next; see README "Status".)
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdarg>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "control/cli/decode.hpp"
#include "control/config/config.hpp"
#include "dataplane/engine/relay_engine.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/base/hex.hpp"
#include "relay/shm/cnc.hpp"

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

void log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "stacks-relay-dataplane: %s\n", buf);
}

// The identity key: read it, or create it (mode 0600) on first start.
std::optional<relay::crypto::SecretKey> load_or_create_key(const std::string& path) {
  std::ifstream f(path);
  if (f) {
    std::string hex;
    f >> hex;
    auto bytes = relay::from_hex(hex);
    if (!bytes) return std::nullopt;
    return relay::crypto::SecretKey::from_bytes(*bytes);
  }
  auto key = relay::crypto::SecretKey::generate();
  if (!key) return std::nullopt;
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty()) ::mkdir(dir.c_str(), 0700);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return std::nullopt;
  std::string line = relay::to_hex(key->bytes()) + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) return std::nullopt;
  log("created a new identity key in %s", path.c_str());
  return key;
}

// resolve: host (IP literal or name) and port → an IPv6 (or v4-mapped) address.
std::optional<sockaddr_in6> resolve(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_INET6;
  hints.ai_flags = AI_V4MAPPED | AI_ALL;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return std::nullopt;
  sockaddr_in6 a{};
  std::memcpy(&a, res->ai_addr, sizeof a);
  a.sin6_port = htons(port);
  ::freeaddrinfo(res);
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace relay;
  CLI::App app{"stacks-relay-dataplane: relays Stacks p2p pushes"};
  std::string config_path;
  ctl::ConfigOverrides ov;
  std::string bind, key_file, network, data_dir;
  std::vector<std::string> peers;
  int stats_every_s = 10;
  app.add_option("--config", config_path, "TOML configuration file (default: built-in defaults)");
  app.add_option("--p2p-bind", bind, "ADDR:PORT to accept nodes on");
  app.add_option("--identity-key-file", key_file, "the relay's secp256k1 key (created if missing)");
  app.add_option("--network", network, "mainnet | testnet");
  app.add_option("--data-dir", data_dir, "state directory");
  app.add_option("--peer", peers, "PUBKEY@HOST:PORT or HOST:PORT to dial (repeatable)");
  app.add_option("--stats-interval", stats_every_s, "seconds between statistics lines (0: never)");
  CLI11_PARSE(app, argc, argv);
  if (!bind.empty()) ov.p2p_bind = bind;
  if (!key_file.empty()) ov.identity_key_file = key_file;
  if (!network.empty()) ov.network = network;
  if (!data_dir.empty()) ov.data_dir = data_dir;
  ov.peers = peers;

  std::string err;
  auto cfg = ctl::load_config_file(config_path, ov, err);
  if (!cfg.ok()) {
    log("configuration: %s", err.c_str());
    return 2;
  }
  auto key = load_or_create_key(cfg->identity_key_path());
  if (!key) {
    log("cannot read or create the identity key %s", cfg->identity_key_path().c_str());
    return 2;
  }
  ctl::LocalPeer local{*key, cfg->network_id, cfg->peer_version, cfg->stable_confirmations, codec::kServiceRelay, {},
                       cfg->bind_port, "", 3600, 0x7fffffffffffffffull};
  local.addrbytes[10] = 0xff;  // ::ffff:0.0.0.0, the any-network address
  local.addrbytes[11] = 0xff;

  dp::EngineOptions eo;
  eo.local = &local;
  eo.relay_2x = cfg->relay_2x;
  eo.pacer_budget = cfg->max_queued_per_peer;
  for (const auto& p : cfg->trusted_peers) {
    if (p.public_key) eo.trusted_pkhs.push_back(crypto::hash160(ByteSpan(p.public_key->data(), 33)));
  }
  if (!cfg->reward_set_file.empty()) {
    std::ifstream rf(cfg->reward_set_file);
    std::stringstream ss;
    ss << rf.rdbuf();
    auto rs = cli::parse_reward_set(ss.str(), err);
    if (!rs) {
      log("reward set %s: %s", cfg->reward_set_file.c_str(), err.c_str());
      return 2;
    }
    eo.reward_set = *rs;
  }

  auto transport = dp::UringTransport::create({});
  if (!transport.ok()) {
    log("io_uring: %s (errno %u)", transport.error().reason, transport.error().offset);
    return 1;
  }
  if (!(*transport)->features().missing.empty())
    log("kernel lacks %s; running without", (*transport)->features().missing.c_str());
  auto bind_addr = resolve(cfg->bind_host, cfg->bind_port);
  if (!bind_addr) {
    log("cannot resolve bind address %s", cfg->bind_host.c_str());
    return 2;
  }
  auto port = (*transport)->listen(*bind_addr);
  if (!port.ok()) {
    log("listen on %s:%u: %s (%s)", cfg->bind_host.c_str(), cfg->bind_port, port.error().reason,
        std::strerror(static_cast<int>(port.error().offset)));
    return 1;
  }
  local.port = *port;  // the port we really listen on (--p2p-bind may ask for any free port)
  dp::RelayEngine<dp::UringTransport> engine(**transport, eo);
  auto pk = key->public_key().compressed();
  log("listening on %s:%u as %s (network_id %u)", cfg->bind_host.c_str(), *port, to_hex(pk).c_str(), cfg->network_id);
  std::printf("READY %u %d\n", *port, static_cast<int>(::getpid()));
  std::fflush(stdout);

  struct Dial {
    ctl::PeerSpec spec;
    dp::ConnId conn = dp::kNoConn;
    std::uint64_t next_ns = 0;
  };
  std::vector<Dial> dials;
  for (const auto& p : cfg->peers) dials.push_back({p});

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  std::uint64_t next_stats = shm::monotonic_ns() + static_cast<std::uint64_t>(stats_every_s) * std::uint64_t{1000000000};
  while (!g_stop.load()) {
    std::uint64_t now = shm::monotonic_ns();
    for (auto& d : dials) {
      if ((d.conn != dp::kNoConn && engine.alive(d.conn)) || now < d.next_ns) continue;
      d.next_ns = now + std::uint64_t{5000000000};  // re-dial every 5 s while down
      auto addr = resolve(d.spec.host, d.spec.port);
      if (!addr) {
        log("cannot resolve peer %s", d.spec.host.c_str());
        continue;
      }
      std::optional<crypto::PublicKey> pinned;
      if (d.spec.public_key) pinned = crypto::parse_public_key(ByteSpan(d.spec.public_key->data(), 33));
      auto c = engine.dial(*addr, pinned);
      d.conn = c.ok() ? *c : dp::kNoConn;
    }
    engine.run_once(now, 10);
    if (stats_every_s > 0 && now >= next_stats) {
      const auto& s = engine.stats();
      log("sessions %zu relayed %llu fanout %llu dup %llu invalid %llu misbehaved %llu", engine.authenticated_sessions(),
          static_cast<unsigned long long>(s.relayed), static_cast<unsigned long long>(s.fanout_sends),
          static_cast<unsigned long long>(s.dup), static_cast<unsigned long long>(s.invalid),
          static_cast<unsigned long long>(s.sessions_closed_misbehaved));
      next_stats = now + static_cast<std::uint64_t>(stats_every_s) * std::uint64_t{1000000000};
    }
  }
  log("stopping");
  return 0;
}
