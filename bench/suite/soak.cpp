#include "bench/suite/soak.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <unordered_map>

#include "bench/suite/swarm.hpp"
#include "relay/net/address.hpp"
#include "relay/base/hex.hpp"
#include "relay/codec/message.hpp"
#include "relay/crypto/fast_random.hpp"
#include "relay/shm/cnc.hpp"

namespace relay::bench {

namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ull;

// connect_nb: a connected socket from loopback address `from` to 127.0.0.1:`port`, then
// non-blocking (-1 on failure).
int connect_nb(std::uint16_t port, const char* from) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, from, &src.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// gone: the other end closed `fd` (what it sent is read and dropped).
bool gone(int fd) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) continue;
    return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
}

void send_some(int fd, ByteSpan b) { (void)::send(fd, b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT); }

// A pool of attacking connections, topped up to `want` and reaped when the relay closes them.
struct Pool {
  std::vector<int> fds;
  std::uint64_t reap() {
    std::uint64_t n = 0;
    for (auto it = fds.begin(); it != fds.end();) {
      if (gone(*it)) {
        ::close(*it);
        it = fds.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }
  template <class Open>
  void top_up(std::size_t want, Open open) {
    while (fds.size() < want) {
      const int fd = open();
      if (fd < 0) return;
      fds.push_back(fd);
    }
  }
  ~Pool() {
    for (int fd : fds) ::close(fd);
  }
};

Bytes claiming_preamble() {
  codec::Preamble p;
  p.peer_version = 0x18000010;
  p.network_id = 1;
  p.payload_len = codec::kMaxMessageLen - 1;
  p.burn_block_height = 900107;
  p.burn_stable_block_height = 900100;
  Bytes out;
  Writer w(out);
  codec::write_preamble(w, p);
  return out;
}

Bytes payload_of(const codec::Payload& p) { return codec::encode_with(codec::write_payload, p); }

struct HonestPush {
  std::size_t interval;
  std::uint64_t push_ns;
  std::uint32_t arrived = 0;
};

std::uint64_t junk_drops(const link::DpCounters& c) {
  return c.drop_invalid.load() + c.drop_chunk_throttled.load() + c.drop_tx_throttled.load() +
         c.drop_chunk_signer.load() + c.drop_beyond_policy.load() + c.drop_framing.load() +
         c.drop_bad_signature.load();
}

}  // namespace

SoakResult run_soak(RelayProc& relay, const SoakParams& p, const sim::SignerSet& signers,
                    const crypto::SecretKey& miner, const std::function<void(const std::string&)>& note) {
  SoakResult res;
  res.params = p;
  sockaddr_in6 at{};
  at.sin6_family = AF_INET6;
  at.sin6_port = htons(relay.port());
  ::inet_pton(AF_INET6, "::ffff:127.0.0.1", &at.sin6_addr);
  auto honest = Swarm::create(p.honest_peers, 0x50);
  if (!honest.ok()) {
    res.note = std::string("honest swarm: ") + honest.error().reason;
    return res;
  }
  Swarm& hs = **honest;
  hs.dial_all(at);
  if (!hs.wait_up(30 * kSecond)) {
    res.note = "the honest swarm did not come up";
    return res;
  }
  // The attackers come from other loopback addresses than the honest peers (a relay
  // bans a misbehaving address): the authenticated ones with new identities from a new
  // address (127.0.1.N) each time the relay has dropped one, the rest from 127.0.0.3.
  std::unique_ptr<Swarm> js;
  std::uint8_t junk_tag = 0x60;
  unsigned junk_addr = 1;
  auto junk_up = [&] {
    if (js && js->links_up() == p.junk_peers) return true;
    auto j = Swarm::create(p.junk_peers, junk_tag);
    junk_tag = static_cast<std::uint8_t>(junk_tag + 2);
    if (!j.ok()) return false;
    js = std::move(*j);
    net::ConnectOptions how;
    how.bind_source = net::parse_addr("127.0.1." + std::to_string(junk_addr++ % 250 + 1));
    js->dial_all(at, how);
    return js->wait_up(5 * kSecond);
  };
  const std::size_t receivers = p.honest_peers - 1;

  std::vector<HonestPush> pushes;
  std::unordered_map<std::uint64_t, std::size_t> by_key;
  std::vector<std::vector<double>> hops;  // per interval
  hs.on_arrival = [&](const Arrival& a) {
    auto it = by_key.find(a.key);
    if (it == by_key.end()) return;  // junk the relay passed on (within its allowances)
    HonestPush& h = pushes[it->second];
    ++h.arrived;
    hops[h.interval].push_back(static_cast<double>(a.last_ns - h.push_ns) / 1e3);
  };

  auto [txs, root] = sim::block_txs(p.block_bytes, 70'000'000);
  std::uint64_t height = 1'000'000, nonce = 1, junk_nonce = 1;
  std::string tenure_path = "/v2/info";
  const Bytes claim = claiming_preamble();
  const Bytes claim_junk(64 << 10, 0x5a);
  Pool claimants, pipeliners, slow;

  const std::uint64_t t0 = shm::monotonic_ns();
  const auto intervals = static_cast<std::size_t>(p.seconds / p.interval_s + 0.5);
  const auto interval_ns = static_cast<std::uint64_t>(p.interval_s * 1e9);
  const auto tx_gap = static_cast<std::uint64_t>(1e9 / p.tx_rate);
  const auto junk_gap = static_cast<std::uint64_t>(1e9 / (p.junk_rate * static_cast<double>(p.junk_peers)));
  std::uint64_t next_tx = t0, next_block = t0, next_junk = t0;
  ProcUsage u_prev = relay.usage();
  std::uint64_t drops_prev = junk_drops(relay.counters());
  for (std::size_t i = 0; i < intervals; ++i) {
    hops.emplace_back();
    SoakSample s;
    const std::uint64_t end = t0 + (i + 1) * interval_ns;
    std::uint64_t junk_sent = 0;
    // The attackers, topped up at the start of each interval.
    const bool junk_on = junk_up();
    s.claimants_dropped = claimants.reap();
    claimants.top_up(p.claimants, [&] {
      const int fd = connect_nb(relay.port(), "127.0.0.3");
      if (fd >= 0) {
        send_some(fd, claim);
        send_some(fd, claim_junk);
      }
      return fd;
    });
    s.http_cut = pipeliners.reap() + slow.reap();
    pipeliners.top_up(p.pipeliners, [&] {
      const int fd = connect_nb(relay.http_port(), "127.0.0.3");
      std::string flood;
      for (int r = 0; r < 30; ++r) flood += "GET " + tenure_path + " HTTP/1.1\r\nHost: relay\r\n\r\n";
      if (fd >= 0) send_some(fd, ByteSpan(reinterpret_cast<const std::uint8_t*>(flood.data()), flood.size()));
      return fd;
    });
    slow.top_up(p.slow_clients, [&] {
      const int fd = connect_nb(relay.http_port(), "127.0.0.3");
      static const std::string part = "GET /v2/info HTTP/1.1\r\nHost: relay\r\n";
      if (fd >= 0) send_some(fd, ByteSpan(reinterpret_cast<const std::uint8_t*>(part.data()), part.size()));
      return fd;
    });
    for (std::uint64_t now = shm::monotonic_ns(); now < end; now = shm::monotonic_ns()) {
      // Honest: transactions at the rate, a block every two seconds, from peer 0.
      for (; next_tx <= now; next_tx += tx_gap) {
        const Bytes pl = payload_of(codec::Transaction{sim::signed_tx(nonce++)});
        by_key[Swarm::payload_key(pl)] = pushes.size();
        pushes.push_back({i, shm::monotonic_ns()});
        hs.push(0, pl, pushes.size());
        ++s.pushes;
      }
      if (next_block <= now) {
        next_block += 2 * kSecond;
        codec::NakamotoBlocks nb;
        nb.blocks.push_back(sim::nakamoto_block_of(txs, root, height++, signers, miner));
        tenure_path = "/v3/tenures/" + to_hex(nb.blocks[0].block_id);
        const Bytes pl = payload_of(nb);
        by_key[Swarm::payload_key(pl)] = pushes.size();
        pushes.push_back({i, shm::monotonic_ns()});
        hs.push(0, pl, pushes.size());
        ++s.pushes;
      }
      // Junk: invalid transactions and chunks, each a new id, from the attackers in turn.
      for (; next_junk <= now; next_junk += junk_gap) {
        if (!junk_on || js->links_up() == 0) continue;
        const std::size_t from = (junk_nonce / 2) % p.junk_peers;
        Bytes pl;
        if (junk_nonce % 2 == 0) {
          codec::StacksTransaction t = sim::signed_tx(5'000'000 + junk_nonce);
          t.auth.origin.nonce += 1;  // no longer what was signed
          codec::compute_ids(t);
          pl = payload_of(codec::Transaction{t});
        } else {
          codec::StackerDBPushChunk ch;
          ch.contract_id.address.version = 22;
          ch.contract_id.address.hash.fill(0x22);
          ch.contract_id.name = "junk";
          ch.chunk.slot_id = static_cast<std::uint32_t>(junk_nonce);
          ch.chunk.slot_version = 1;
          ch.chunk.data.assign(p.junk_chunk_bytes, static_cast<std::uint8_t>(junk_nonce));
          crypto::fill_random(ch.chunk.sig.data(), ch.chunk.sig.size());
          pl = payload_of(ch);
        }
        ++junk_nonce;
        js->push(from, pl, 0);
        ++junk_sent;
      }
      hs.pump(js ? 0 : 1);
      if (js) js->pump(1);
    }
    // The sample.
    const ProcUsage u = relay.usage();
    s.t_s = static_cast<double>(shm::monotonic_ns() - t0) / 1e9;
    s.dp_rss = u.dp_rss;
    s.rss = u.rss;
    s.dp_cpu = (u.dp_cpu_s - u_prev.dp_cpu_s) / p.interval_s;
    s.cpu = (u.cpu_s - u_prev.cpu_s) / p.interval_s;
    u_prev = u;
    s.junk_sent = junk_sent;
    const std::uint64_t d = junk_drops(relay.counters());
    s.junk_dropped = d - drops_prev;
    drops_prev = d;
    res.samples.push_back(s);
    char line[256];
    std::snprintf(line, sizeof line,
                  "soak %.0f s: RSS dataplane %llu MB, both %llu MB; CPU %.2f cores; %zu honest pushes; %llu junk, %llu dropped",
                  s.t_s, static_cast<unsigned long long>(s.dp_rss >> 20), static_cast<unsigned long long>(s.rss >> 20),
                  s.cpu, s.pushes, static_cast<unsigned long long>(s.junk_sent),
                  static_cast<unsigned long long>(s.junk_dropped));
    note(line);
  }
  // The last pushes' copies get two seconds to arrive; then each interval's delivery.
  for (const std::uint64_t drain = shm::monotonic_ns() + 2 * kSecond; shm::monotonic_ns() < drain;) hs.pump(1);
  for (std::size_t i = 0; i < res.samples.size(); ++i) {
    std::uint64_t want = 0, got = 0;
    for (const auto& h : pushes)
      if (h.interval == i) {
        want += receivers;
        got += h.arrived;
      }
    res.samples[i].delivered = want == 0 ? 0 : static_cast<double>(got) / static_cast<double>(want);
    res.samples[i].hop = summarize(std::move(hops[i]));
  }
  res.junk_peers_dropped = relay.counters().closed_invalid_pushes.load();
  return res;
}

}  // namespace relay::bench
